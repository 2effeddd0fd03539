-- fail.lua: a reservation that can never be written gives its seat back, once.
-- KEYS: 1 stock  2 members  3 inflight  4 inflight:t  5 released  6 holds
-- ARGV: 1 now (ms)  2 tombstone retention (ms), then pairs: reservation id, member id
-- Returns how many seats went back.
local returned = 0
for i = 3, #ARGV, 2 do
  local id, member = ARGV[i], ARGV[i + 1]
  redis.call('ZREM', KEYS[6], id .. '|' .. member) -- a failed reservation never expires
  if not redis.call('ZSCORE', KEYS[5], id) and redis.call('HEXISTS', KEYS[3], id) == 1 then
    redis.call('HDEL', KEYS[3], id)
    redis.call('ZREM', KEYS[4], id)
    redis.call('INCR', KEYS[1])
    redis.call('SREM', KEYS[2], member)
    redis.call('ZADD', KEYS[5], ARGV[1], id)
    returned = returned + 1
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
if returned > 0 then
  -- A concert whose failures stop still lets its tombstones go after the retention.
  redis.call('PEXPIRE', KEYS[5], ARGV[2])
end
return returned
