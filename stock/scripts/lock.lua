-- lock.lua: try to take a concert's distlock (the distlock comparison strategy).
-- One round trip tells a waiter both whether it got the lock and, if not, how
-- long the holder's lease still runs, so it can sleep until then at the latest.
-- KEYS: 1 lock   ARGV: 1 token (random per attempt)  2 lease (ms)
-- Returns {code, pttl}; codes are named in ../scripts.go.
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {1, 0}
end
return {2, redis.call('PTTL', KEYS[1])}
