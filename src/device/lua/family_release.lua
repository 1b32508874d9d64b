-- Gives a claimed handle back unchanged (the IdP could not be asked).
-- KEYS[1] family hash
-- ARGV[1] lease id
if redis.call('HGET', KEYS[1], 'l') ~= ARGV[1] then return 0 end -- not this refresh's any more
redis.call('HDEL', KEYS[1], 'l', 'lu')                        -- the current handle is free again
return 1
