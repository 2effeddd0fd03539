-- unlock.lua: release a distlock, but only the holder's own: a holder whose
-- lease expired must not delete the lock a waiter has taken since. Only a real
-- release wakes the waiters.
-- KEYS: 1 lock   ARGV: 1 token  2 wake-up channel (same hash tag as the lock)
-- Returns a code named in ../scripts.go.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[2], 'released')
return 1
