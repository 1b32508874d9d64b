-- One throttled attempt (DeviceStore.attempt): an address's counter and its scope's shared counter,
-- counted and decided in one step, so concurrent attempts never run past the allowance.
-- KEYS[1] the address's counter, KEYS[2] the shared counter (one hash tag: one Cluster slot)
-- ARGV[1] per-address max, ARGV[2] per-address window (ms), ARGV[3] shared max,
-- ARGV[4] shared window (ms), ARGV[5] per-address max once the shared max is reached
-- Returns {allowed 0|1, tightened 0|1 (the shared max is reached and holds an address still under its
-- own max), attempts left, ms until the address may try again}
local amax, awindow = tonumber(ARGV[1]), tonumber(ARGV[2])
local smax, swindow = tonumber(ARGV[3]), tonumber(ARGV[4])
local reached = tonumber(ARGV[5])

-- what the address may make: its own max, or the tightened allowance once the shared bound is reached
local function allowance (shared)
  if shared >= smax then return math.min(amax, reached) end
  return amax
end

-- ms left in a counter's window (a whole window when none is open)
local function ttl (key, window)
  local left = redis.call('PTTL', key)
  if left < 0 then return window end
  return left
end

-- the answer, from the counters as they stand; held only by the tightening, the address is free
-- again when either window ends
local function verdict (allowed, own, shared)
  local tightened, wait = 0, ttl(KEYS[1], awindow)
  if shared >= smax and own < amax then
    tightened, wait = 1, math.min(wait, ttl(KEYS[2], swindow))
  end
  return {allowed, tightened, math.max(0, allowance(shared) - own), wait}
end

local own = tonumber(redis.call('GET', KEYS[1]) or '0')
local shared = tonumber(redis.call('GET', KEYS[2]) or '0')
-- over the allowance: refused, nothing counted
if own >= allowance(shared) then return verdict(0, own, shared) end
-- count on both; a counter without a window opens one (a refund leaves the window as it was)
own = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], awindow) end
shared = redis.call('INCR', KEYS[2])
if redis.call('PTTL', KEYS[2]) < 0 then redis.call('PEXPIRE', KEYS[2], swindow) end
return verdict(1, own, shared)
