-- A fixed-window counter for throttles.
-- KEYS[1] counter
-- ARGV[1] amount to add (0 only reads), ARGV[2] window (ms)
local add = tonumber(ARGV[1])
local count
if add > 0 then
  count = redis.call('INCRBY', KEYS[1], add)
  if count == add then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end  -- first hit opens the window
else
  count = tonumber(redis.call('GET', KEYS[1]) or '0')
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then ttl = tonumber(ARGV[2]) end                  -- no window open yet
return {count, ttl}
