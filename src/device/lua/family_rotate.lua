-- Completes a claimed refresh: the next handle becomes current with the IdP's (new) token.
-- KEYS[1] family hash
-- ARGV[1] lease id, ARGV[2] digest of the next handle, ARGV[3] sealed IdP token, ARGV[4] TTL (ms),
-- ARGV[5] until when the handle just used answers busy rather than reused (ms)
if redis.call('HGET', KEYS[1], 'l') ~= ARGV[1] then return 0 end -- lease lost: the family ended or was taken over
local used = redis.call('HGET', KEYS[1], 'h')
redis.call('HDEL', KEYS[1], 'l', 'lu')                        -- no refresh in flight now
redis.call('HSET', KEYS[1], 'h', ARGV[2], 'u', ARGV[3], 'p', used, 'pu', ARGV[5]) -- the used handle is no longer current
redis.call('PEXPIRE', KEYS[1], ARGV[4])                       -- the family lives on from this refresh
return 1
