-- Claims or finishes the next range of a waiting room's notifications:
-- "admitted" for positions the counter passed, "sold_out" for those still
-- waiting when the room sold out. A claim is a lease, so one gateway at a
-- time publishes a range; a gateway that dies mid-range loses the lease and
-- the next one publishes it again (at least once, like the notifier).
-- KEYS[1] room hash, KEYS[2] pre-open arrivals, KEYS[3] post-open arrivals
-- ARGV: 'claim', kind, owner, lease (ms), most positions
--   or  'done', kind, owner, to
-- claim returns {1, from, to} (positions from..to to publish) or {0};
-- done returns 1 when the cursor moved.
local kind = ARGV[2]
local cursor, lease = 'notified', 'notifyLease'
if kind == 'sold_out' then cursor, lease = 'soNotified', 'soldOutLease' end
if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
local tm = redis.call('TIME')
local now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)
local held = redis.call('HGET', KEYS[1], lease)
if ARGV[1] == 'done' then
  if held and string.match(held, '^(.*):%d+$') == ARGV[3] then redis.call('HDEL', KEYS[1], lease) end
  if tonumber(redis.call('HGET', KEYS[1], cursor)) < tonumber(ARGV[4]) then
    redis.call('HSET', KEYS[1], cursor, ARGV[4])
    return 1
  end
  return 0
end
if held then
  local owner, untilMs = string.match(held, '^(.*):(%d+)$')
  if owner ~= ARGV[3] and tonumber(untilMs) > now then return {0} end
end
local r = redis.call('HMGET', KEYS[1], cursor, 'admitted', 'state')
local done, admitted = tonumber(r[1]), tonumber(r[2])
local from, to
if kind == 'sold_out' then
  if r[3] ~= 'sold_out' then return {0} end
  from = math.max(done, admitted) + 1
  to = math.min(redis.call('LLEN', KEYS[2]) + redis.call('LLEN', KEYS[3]), from + tonumber(ARGV[5]) - 1)
else
  from = done + 1
  to = math.min(admitted, done + tonumber(ARGV[5]))
end
if to < from then return {0} end
redis.call('HSET', KEYS[1], lease, ARGV[3] .. ':' .. (now + tonumber(ARGV[4])))
return {1, from, to}
