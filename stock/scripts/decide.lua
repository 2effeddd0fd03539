-- decide.lua: confirm ('C') or cancel ('X') a held reservation. The hold's
-- entry in the delay queue is the token: whoever removes it (this script or
-- expire.lua) decides, exactly once. A hold whose deadline has passed is
-- expired here, even if the expirer has not come round to it yet (it lags,
-- or its writer is down): the deadline wins, never a late payment.
-- KEYS: 1 holds  2 decided (hash id -> decision|member)  3 outbox (zset id -> republish-at ms)
-- ARGV: 1 reservation id  2 member id  3 decision ('C' or 'X')  4 republish-at (ms)  5 now (ms)
-- Returns {code, decision}: 1 decided now; 2 decided before (decision says which); 0 not held.
local id = ARGV[1]
local hold = id .. '|' .. ARGV[2]
local due = redis.call('ZSCORE', KEYS[1], hold)
if due then
  redis.call('ZREM', KEYS[1], hold)
  if tonumber(due) <= tonumber(ARGV[5]) then
    -- Expired as expire.lua would, and due in the outbox now, so the
    -- expirer's next pass publishes the expiry.
    redis.call('HSET', KEYS[2], id, 'E|' .. ARGV[2])
    redis.call('ZADD', KEYS[3], ARGV[5], id)
    return {2, 'E'}
  end
  redis.call('HSET', KEYS[2], id, ARGV[3] .. '|' .. ARGV[2])
  -- Until the writer applies it, the outbox republishes the decision's event.
  redis.call('ZADD', KEYS[3], ARGV[4], id)
  return {1, ARGV[3]}
end
local d = redis.call('HGET', KEYS[2], id)
if d then
  return {2, string.sub(d, 1, 1)}
end
return {0, ''}
