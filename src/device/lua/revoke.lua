-- An operator's revocation: issued, or approved with tokens not yet taken, becomes denied.
-- KEYS[1] grant hash, KEYS[2] parked tokens
-- ARGV[1] now (ms), ARGV[2] denial reason
-- Returns the grant's user code (its index is dropped by the caller), or false.
local g = redis.call('HMGET', KEYS[1], 's', 'ea', 'uc')       -- status, expires_at, user code
if g[1] ~= 'issued' and g[1] ~= 'approved' then return false end
if tonumber(g[2]) <= tonumber(ARGV[1]) then return false end  -- expired: nothing left to revoke
redis.call('HDEL', KEYS[1], 'ls', 'lg', 'sub')                -- login secrets and subject go
redis.call('HSET', KEYS[1], 's', 'denied', 'dn', ARGV[2])
redis.call('DEL', KEYS[2])                                    -- parked tokens are never handed out
return g[3]
