-- outbox.lua: claim decisions whose event the writer has not applied by
-- their republish time, and push that time forward (a lease), so another
-- claimer does not take them meanwhile.
-- KEYS: 1 decided  2 outbox   ARGV: 1 now (ms)  2 most to claim  3 next republish-at (ms)
-- Returns a flat list: id, decision|member, id, decision|member, ...
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, id in ipairs(due) do
  local d = redis.call('HGET', KEYS[1], id)
  if d then
    redis.call('ZADD', KEYS[2], ARGV[3], id)
    out[#out + 1] = id
    out[#out + 1] = d
  else
    redis.call('ZREM', KEYS[2], id)
  end
end
return out
