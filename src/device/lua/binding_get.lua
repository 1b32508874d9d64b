-- What a refresh token's digest is bound to.
-- KEYS[1] binding key
-- Returns {client_id, scopes or false}, or false when there is no binding.
local kind = redis.call('TYPE', KEYS[1]).ok
if kind == 'hash' then return redis.call('HMGET', KEYS[1], 'c', 's') end -- client, scopes (false: not known)
if kind == 'string' then return {redis.call('GET', KEYS[1])} end         -- written before scopes were kept: the client alone
return false                                                  -- none, expired or revoked
