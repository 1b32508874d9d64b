-- Records the upstream login started for an issued, unexpired grant (a newer one replaces it).
-- KEYS[1] grant hash
-- ARGV[1] now (ms), ARGV[2] digest of the login's state, ARGV[3] sealed login secrets
local g = redis.call('HMGET', KEYS[1], 's', 'ea')            -- status, expires_at
if g[1] ~= 'issued' then return 0 end                         -- gone, settled or redeemed
if tonumber(ARGV[1]) >= tonumber(g[2]) then return 0 end      -- expired
redis.call('HSET', KEYS[1], 'ls', ARGV[2], 'lg', ARGV[3])     -- HSET keeps the key's TTL
return 1
