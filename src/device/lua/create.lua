-- Saves a new grant (a hash) unless one already has this id, with its TTL.
-- KEYS[1] grant hash
-- ARGV[1] TTL in ms (lifetime + one more lifetime as tombstone); ARGV[2..] field, value pairs
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end      -- never overwrite a grant
redis.call('HSET', KEYS[1], unpack(ARGV, 2))                 -- all fields in one write
redis.call('PEXPIRE', KEYS[1], ARGV[1])                      -- the grant and its tombstone expire together
return 1
