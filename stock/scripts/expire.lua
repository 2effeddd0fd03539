-- expire.lua: claim holds that are due. Each claimed hold is decided 'E' and
-- put in the outbox, so if this expirer dies before publishing, the outbox
-- hands the event out again later. Safe with several expirers at once.
-- KEYS: 1 holds  2 decided  3 outbox
-- ARGV: 1 now (ms)  2 most to claim  3 republish-at (ms)
-- Returns the claimed "id|member" entries.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, m in ipairs(due) do
  redis.call('ZREM', KEYS[1], m)
  local sep = string.find(m, '|', 1, true)
  local id = string.sub(m, 1, sep - 1)
  redis.call('HSET', KEYS[2], id, 'E' .. string.sub(m, sep))
  redis.call('ZADD', KEYS[3], ARGV[3], id)
end
return due
