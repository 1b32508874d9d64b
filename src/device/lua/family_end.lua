-- Ends a refresh family now (revocation, or the IdP refused its token).
-- KEYS[1] family hash
-- ARGV[1] client_id it must belong to ('' = any)
-- Returns {client_id, sealed IdP token, subject, scopes (false: not kept)}, or false when gone or another client's.
local f = redis.call('HMGET', KEYS[1], 'c', 'u', 's', 'sc')   -- client, token, subject, scopes granted
if not f[1] then return false end                             -- gone: expired or ended
if ARGV[1] ~= '' and f[1] ~= ARGV[1] then return false end    -- another client's: untouched
redis.call('DEL', KEYS[1])
return {f[1], f[2], f[3] or '', f[4]}
