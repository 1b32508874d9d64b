-- Gives back one counted attempt (DeviceStore.refundAttempt: a right user code).
-- KEYS[1] the address's counter, KEYS[2] the shared counter
for i = 1, 2 do
  -- less one, never below 0; DECR keeps the key's window (TTL); a missing key stays missing
  if tonumber(redis.call('GET', KEYS[i]) or '0') > 0 then redis.call('DECR', KEYS[i]) end
end
return 1
