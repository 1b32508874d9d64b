-- Binds a confidential client's refresh token (by its digest) to its client and the scopes granted.
-- KEYS[1] binding key
-- ARGV[1] TTL (ms), ARGV[2] client_id, ARGV[3] the scopes granted, space-separated ('' none granted;
-- left out when not known)
redis.call('DEL', KEYS[1])                                    -- replaces any earlier binding, an older version's plain string too
if ARGV[3] then
  redis.call('HSET', KEYS[1], 'c', ARGV[2], 's', ARGV[3])     -- client and scopes in one write
else
  redis.call('HSET', KEYS[1], 'c', ARGV[2])
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])                       -- forgotten with the refresh token's lifetime
return 1
