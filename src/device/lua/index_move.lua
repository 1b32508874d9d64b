-- Puts a grant id into the state index set of its status, scored by the grant's expires_at:
-- moved from whichever of the other sets holds it (keeping its score), or added with ARGV[2].
-- The set's TTL is raised to outlive its newest member's tombstone, so no key lives forever.
-- KEYS[1] destination set, KEYS[2..] sets it may be in now (all share the {idx} hash tag)
-- ARGV[1] grant id, ARGV[2] score when new ('' = only move), ARGV[3] now (ms), ARGV[4] lifetime (ms)
local score = nil
for i = 2, #KEYS do
  score = redis.call('ZSCORE', KEYS[i], ARGV[1])
  if score then
    redis.call('ZREM', KEYS[i], ARGV[1])
    break
  end
end
if not score then
  if ARGV[2] == '' then return 0 end
  score = ARGV[2]
end
redis.call('ZADD', KEYS[1], score, ARGV[1])
local ttl = tonumber(score) - tonumber(ARGV[3]) + tonumber(ARGV[4])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], math.max(1, ttl)) end
return 1
