-- One device poll (RFC 8628 §3.4-3.5), atomically: client check, expiry, interval (+step on
-- slow_down up to a ceiling, persisted), then the state; approved tokens leave once and the grant
-- is redeemed. The same decision table as pollInPlace in grant.ts.
-- KEYS[1] grant hash, KEYS[2] parked tokens
-- ARGV[1] client_id, ARGV[2] now (ms), ARGV[3] slow_down step (s), ARGV[4] interval ceiling (s)
local g = redis.call('HMGET', KEYS[1], 'c', 's', 'ea', 'iv', 'lp', 'sub', 'dn')
if not g[1] or g[1] ~= ARGV[1] then return {'unknown'} end   -- unknown, or another client's code
if g[2] == 'redeemed' then return {'redeemed'} end
local now = tonumber(ARGV[2])
local expires = tonumber(g[3])
if now >= expires then                                        -- expired: tokens never leave now
  redis.call('DEL', KEYS[2])
  return {'expired'}
end
local interval = tonumber(g[4])
if g[5] and now - tonumber(g[5]) < interval * 1000 then      -- too soon: slow_down
  local ceiling = tonumber(ARGV[4])
  if interval < ceiling then                                  -- +step for good, up to the ceiling
    interval = math.min(interval + tonumber(ARGV[3]), ceiling)
  end
  redis.call('HSET', KEYS[1], 'iv', interval, 'lp', now)
  local left = math.ceil((expires - now) / 1000)              -- never longer than the code has left
  return {'slow_down', tostring(math.min(interval, left))}
end
redis.call('HSET', KEYS[1], 'lp', now)                        -- this poll counts from now
if g[2] == 'issued' then return {'pending'} end
if g[2] == 'denied' then return {'denied', g[7] or ''} end
local tokens = redis.call('GET', KEYS[2])                     -- approved: take the parked tokens
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[1], 's', 'redeemed')
if not tokens then return {'redeemed'} end                    -- already taken or lapsed
return {'approved', tokens, g[6] or ''}
