-- hold.lua: reserve.lua for a concert with numbered seats: all of the seats
-- or none, in one atomic step — the seats named, or the best available —
-- with the same idempotency, member rule, in-flight record and hold.
-- KEYS: 1-7 as reserve.lua (stock, members, inflight, inflight:t, idempotency
--       key, holds, epoch)  8 seat bitmap  9 seat rows  10 seat owner  11 seat res
--       12 row starts (zset 'start:len:SECTION:row' -> start: the row of an index)
-- ARGV: 1-7 as reserve.lua (id, member, payload, now, idempotency ttl, has key,
--       expires-at)  8 'n' (named) or 'b' (best available)
--       9 'n': the seat ids, comma-separated; 'b': the section ('' any)
--       10 'b': how many seats  11 'b': '1' when they must be adjacent
-- Best available: sections in map order (or the one asked for), rows in map
-- order, and in each row the leftmost run of count free seats; not adjacent,
-- the first count free seats in that order. Seat indices follow that order,
-- so one BITPOS over the section's range skips every full row at once (a
-- scan row by row cost one call per full row: 613 holds/s at a third full).
-- Returns {code, reservation id, in-flight state, seat ids, payload}: the
-- seats held (or, refused, the ones at fault) and the event as stored, which
-- carries the seats. Codes are named in ../scripts.go.
local id, member = ARGV[1], ARGV[2]

if ARGV[6] == '1' then
  local prev = redis.call('GET', KEYS[5])
  if prev then
    local sep = string.find(prev, '|', 1, true)
    local prevID, prevMember = string.sub(prev, 1, sep - 1), string.sub(prev, sep + 1)
    if prevMember ~= member then
      return {6, prevID, '', '', ''}
    end
    local rec = redis.call('HGET', KEYS[3], prevID)
    return {5, prevID, rec and string.sub(rec, 1, 1) or '', redis.call('HGET', KEYS[11], prevID) or '', ''}
  end
end

local rec = redis.call('HGET', KEYS[3], id)
if rec then
  return {5, id, string.sub(rec, 1, 1), redis.call('HGET', KEYS[11], id) or '', ''}
end

local stock = redis.call('GET', KEYS[1])
local epoch = redis.call('GET', KEYS[7])
if not epoch then
  if not stock then
    return {4, '', '', '', ''}
  end
  return {7, '', '', '', ''}
end
if not stock then
  return {4, '', '', '', ''}
end
if string.sub(epoch, -2) ~= '/s' then
  return {8, '', '', '', ''} -- general admission: no seats to name
end
if redis.call('SISMEMBER', KEYS[2], member) == 1 then
  return {3, '', '', '', ''}
end
stock = tonumber(stock)
if stock <= 0 then
  return {2, '', '', '', ''}
end

local picked, sids = {}, {}
if ARGV[8] == 'n' then
  local taken = {}
  for sid in string.gmatch(ARGV[9], '[^,]+') do
    local idx = seat_index(KEYS[9], sid)
    if not idx then
      return {10, '', '', sid, ''}
    end
    if redis.call('GETBIT', KEYS[8], idx) == 1 then
      taken[#taken + 1] = sid
    end
    picked[#picked + 1] = idx
    sids[#sids + 1] = sid
  end
  if #taken > 0 then
    return {9, '', '', table.concat(taken, ','), ''}
  end
  if #picked > stock then
    return {11, '', '', '', ''} -- the count disagrees with the bitmap: sell nothing
  end
else
  local count, adjacent = tonumber(ARGV[10]), ARGV[11] == '1'
  if count > stock then
    return {11, '', '', '', ''}
  end
  -- The range of indices to search: the section's, or the whole map's ('*').
  local range = redis.call('HGET', KEYS[9], ARGV[9] == '' and '*' or ARGV[9])
  if not range then
    return {10, '', '', ARGV[9], ''}
  end
  local colon = string.find(range, ':', 1, true)
  local pos, hi = tonumber(string.sub(range, 1, colon - 1)), tonumber(string.sub(range, colon + 1))
  local done = false
  while pos <= hi do
    local free = bitpos(KEYS[8], 0, pos, hi)
    if free < 0 then break end
    local row = redis.call('ZREVRANGEBYSCORE', KEYS[12], free, '-inf', 'LIMIT', 0, 1)[1]
    local start, len, sec, num = string.match(row, '^(%d+):(%d+):([^:]+):(%d+)$')
    start = tonumber(start)
    local last = start + tonumber(len) - 1
    if adjacent and count > 1 then
      local busy = bitpos(KEYS[8], 1, free, last)
      local runEnd = last
      if busy >= 0 then runEnd = busy - 1 end
      if runEnd - free + 1 >= count then
        for i = 0, count - 1 do
          picked[#picked + 1] = free + i
          sids[#sids + 1] = sec .. '-' .. num .. '-' .. (free + i - start + 1)
        end
        done = true
        break
      end
      pos = runEnd + 1 -- the taken seat that ends the run, or the next row's first
      if busy >= 0 then pos = busy + 1 end
    else
      picked[#picked + 1] = free
      sids[#sids + 1] = sec .. '-' .. num .. '-' .. (free - start + 1)
      if #picked == count then
        done = true
        break
      end
      pos = free + 1
    end
  end
  if not done then
    return {11, '', '', '', ''}
  end
end

for _, idx in ipairs(picked) do
  redis.call('SETBIT', KEYS[8], idx, 1)
  redis.call('HSET', KEYS[10], idx, id)
end
local list = table.concat(sids, ',')
redis.call('HSET', KEYS[11], id, list)
-- stock stays the number of free seats, for Remaining, reads and audits.
redis.call('DECRBY', KEYS[1], #picked)
redis.call('SADD', KEYS[2], member)
-- The event carries its seats: the last field, as event.Encode writes it.
local payload = string.sub(ARGV[3], 1, -2) .. ',"seats":["' .. table.concat(sids, '","') .. '"]}'
redis.call('HSET', KEYS[3], id, 'P' .. payload)
redis.call('ZADD', KEYS[4], ARGV[4], id)
if ARGV[6] == '1' then
  redis.call('SET', KEYS[5], id .. '|' .. member, 'PX', ARGV[5])
end
if ARGV[7] ~= '0' then
  redis.call('ZADD', KEYS[6], ARGV[7], id .. '|' .. member)
end
return {1, id, 'P', list, payload}
