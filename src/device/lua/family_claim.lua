-- Claims a handle of a refresh family for one refresh, atomically (RFC 9700 §4.14.2 reuse detection).
-- KEYS[1] family hash
-- ARGV[1] digest of the presented handle, ARGV[2] client_id, ARGV[3] lease id, ARGV[4] now (ms),
-- ARGV[5] lease length (ms)
-- Returns {'claimed', sealed IdP token, subject, scopes} | {'busy'} | {'reused', sealed IdP token, subject, scopes}
-- | {'unknown'}; scopes are false in a family stored before they were kept
local f = redis.call('HMGET', KEYS[1], 'c', 'h', 'l', 'lu', 'u', 's', 'p', 'pu', 'sc') -- client, current handle, lease, lease until, token, subject, previous handle, its grace, scopes granted
if not f[1] or f[1] ~= ARGV[2] then return {'unknown'} end    -- no such family, or another client's
local now = tonumber(ARGV[4])
if f[2] ~= ARGV[1] then
  if f[7] == ARGV[1] and now < tonumber(f[8]) then return {'busy'} end -- a duplicate of the last refresh, moments late
  redis.call('DEL', KEYS[1])                                  -- a handle already used: the family ends
  return {'reused', f[5], f[6] or '', f[9]}                   -- once, so the caller revokes the IdP token
end
if f[3] and tonumber(f[4]) > now then return {'busy'} end     -- another refresh holds it
redis.call('HSET', KEYS[1], 'l', ARGV[3], 'lu', now + tonumber(ARGV[5])) -- leased to this refresh
return {'claimed', f[5], f[6] or '', f[9]}
