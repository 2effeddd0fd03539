-- rank.lua: one reservation fact into a concert's sales buckets, once.
-- The buckets count, per minute a seat was taken (the requested event's own
-- time), the seats taken then that have not come back, and of those how many
-- are paid. A return (cancelled, expired, failed) is counted against the
-- minute of its take, so a window's sales never go negative, and a return
-- seen before its take (the two arrive on different topics) makes the take
-- count for nothing when it comes.
-- KEYS: 1 the concert's buckets (hash: t:<minute> taken, c:<minute> paid,
--       cap), 2 this reservation's record (hash: m = minute of its take,
--       back = its seat came back, and one field per fact type seen)
-- ARGV: 1 kind: "take", "pay" or "back"; 2 the fact's type (the dedup
--       field); 3 minute of the take (take only); 4 now's minute; 5 oldest
--       minute kept; 6 record TTL in seconds; 7 capacity (take only; 0 unknown)
-- A payment seen before its take is remembered the same way.
-- Returns: 0 a duplicate (this type was seen for this reservation before),
-- 1 counted, 2 nothing to count (its take is unknown or older than kept, or
-- its seat already came back).
local kind = ARGV[1]
if redis.call('HSETNX', KEYS[2], ARGV[2], '1') == 0 then
  return 0
end
redis.call('EXPIRE', KEYS[2], ARGV[6])
local oldest = tonumber(ARGV[5])
if kind == 'take' then
  local minute = tonumber(ARGV[3])
  if ARGV[7] ~= '0' then
    redis.call('HSET', KEYS[1], 'cap', ARGV[7])
  end
  if minute < oldest or redis.call('HEXISTS', KEYS[2], 'back') == 1 then
    return 2
  end
  redis.call('HSET', KEYS[2], 'm', minute)
  local field = 't:' .. minute
  if redis.call('HEXISTS', KEYS[1], field) == 0 then
    -- A new minute: drop the ones past the oldest kept (once a minute per
    -- concert, not per event).
    for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
      local m = tonumber(string.sub(f, 3))
      if m and m < oldest then
        redis.call('HDEL', KEYS[1], f)
      end
    end
  end
  redis.call('HINCRBY', KEYS[1], field, 1)
  -- A concert that stops selling leaves no buckets behind: past the record
  -- TTL after its last take, none of them counts in any window.
  redis.call('EXPIRE', KEYS[1], ARGV[6])
  if redis.call('HEXISTS', KEYS[2], 'paid') == 1 then
    redis.call('HINCRBY', KEYS[1], 'c:' .. minute, 1)
  end
  return 1
end
local minute = tonumber(redis.call('HGET', KEYS[2], 'm'))
if kind == 'back' then
  if redis.call('HSETNX', KEYS[2], 'back', '1') == 0 then
    return 2
  end
  if not minute or minute < oldest then
    return 2
  end
  redis.call('HINCRBY', KEYS[1], 't:' .. minute, -1)
  if redis.call('HEXISTS', KEYS[2], 'paid') == 1 then
    redis.call('HINCRBY', KEYS[1], 'c:' .. minute, -1)
  end
  return 1
end
-- pay: remembered even before its take, which then counts it paid.
if redis.call('HEXISTS', KEYS[2], 'back') == 1 then
  return 2
end
redis.call('HSET', KEYS[2], 'paid', '1')
if not minute or minute < oldest then
  return 2
end
redis.call('HINCRBY', KEYS[1], 'c:' .. minute, 1)
return 1
