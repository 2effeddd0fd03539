-- decide.lua: confirm ('C') or cancel ('X') a held reservation. The hold's
-- entry in the delay queue is the token: whoever removes it (this script or
-- expire.lua) decides, exactly once.
-- KEYS: 1 holds  2 decided (hash id -> decision|member)  3 outbox (zset id -> republish-at ms)
-- ARGV: 1 reservation id  2 member id  3 decision ('C' or 'X')  4 republish-at (ms)
-- Returns {code, decision}: 1 decided now; 2 decided before (decision says which); 0 not held.
local id = ARGV[1]
if redis.call('ZREM', KEYS[1], id .. '|' .. ARGV[2]) == 1 then
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
