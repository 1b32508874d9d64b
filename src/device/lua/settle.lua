-- issued -> approved | denied, once. Approved tokens are parked, sealed, under their own key.
-- KEYS[1] grant hash, KEYS[2] parked tokens
-- ARGV[1] now (ms), ARGV[2] 'approved' | 'denied', ARGV[3] state digest to expect ('' = any),
-- ARGV[4] sealed tokens, ARGV[5] subject, ARGV[6] denial reason
-- Returns the grant's user code (its index is dropped by the caller), or false.
local g = redis.call('HMGET', KEYS[1], 's', 'ea', 'ls', 'uc') -- status, expires_at, login state, user code
if g[1] ~= 'issued' then return false end                     -- settles once
local left = tonumber(g[2]) - tonumber(ARGV[1])
if left <= 0 then return false end                            -- not after expiry
if ARGV[3] ~= '' and g[3] ~= ARGV[3] then return false end    -- only the grant's latest login
redis.call('HDEL', KEYS[1], 'ls', 'lg')                       -- login secrets are done with
redis.call('HSET', KEYS[1], 's', ARGV[2])
if ARGV[2] == 'approved' then
  redis.call('SET', KEYS[2], ARGV[4], 'PX', left)             -- parked until the poll or expiry
  if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'sub', ARGV[5]) end
elseif ARGV[6] ~= '' then
  redis.call('HSET', KEYS[1], 'dn', ARGV[6])
end
return g[4]
