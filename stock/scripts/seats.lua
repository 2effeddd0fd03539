-- seats.lua: the helpers of every script that knows numbered seats; scripts.go
-- puts this file before each of them. A seated concert's keys:
--   seat bitmap: bit <index> is 1 while the seat is taken (Load sizes it to
--     the whole map, so BITPOS never runs past its end)
--   seat rows (hash): 'SECTION-ROW' -> 'start:len'; 'SECTION' -> the range
--     of its indices, 'first:last'; '*' -> the whole map's, '0:last'
--   row starts (zset, hold.lua only): 'start:len:SECTION:row' -> start
--   seat owner (hash): index -> the reservation id holding the seat
--   seat res (hash): reservation id -> its seat ids, 'A-1-7,A-1-8'
-- The res hash is the only list of seats a release ever gives back: seats
-- named by a caller are never freed, and a seat goes back only while the
-- owner hash still names that reservation.

-- bitpos is the first bit equal to bit in [lo, hi] of key, or -1. BITPOS
-- counts in bytes here (its BIT form is Redis 7's, and miniredis, the dev
-- stand-in, lacks it): the partial first byte is read bit by bit, at most 7.
local function bitpos(key, bit, lo, hi)
  local i = lo
  while i <= hi and i % 8 ~= 0 do
    if redis.call('GETBIT', key, i) == bit then return i end
    i = i + 1
  end
  if i > hi then return -1 end
  local r = redis.call('BITPOS', key, bit, math.floor(i / 8), math.floor(hi / 8))
  if r < 0 or r > hi then return -1 end
  return r
end

-- seat_index is the bit of a seat id, or nil when the map has no such seat.
local function seat_index(rows, sid)
  local dash = string.find(sid, '-[^-]*$')
  if not dash then return nil end
  local r = redis.call('HGET', rows, string.sub(sid, 1, dash - 1))
  if not r then return nil end
  local colon = string.find(r, ':', 1, true)
  local start, len = tonumber(string.sub(r, 1, colon - 1)), tonumber(string.sub(r, colon + 1))
  local n = tonumber(string.sub(sid, dash + 1))
  if not n or n < 1 or n > len then return nil end
  return start + n - 1
end

-- free_seats gives back the seats recorded for reservation id, once (the
-- record goes with them), each only while id owns it; seat ids in keep stay
-- taken, without an owner (the database says another reservation has them).
-- Returns how many went back, or -1 when the concert has no numbered seats
-- (general admission: the caller gives back its one seat).
local function free_seats(bits, rows, owner, res, id, keep)
  local list = redis.call('HGET', res, id)
  if not list then
    if redis.call('EXISTS', rows) == 1 then return 0 end
    return -1
  end
  redis.call('HDEL', res, id)
  local n = 0
  for sid in string.gmatch(list, '[^,]+') do
    local idx = seat_index(rows, sid)
    if idx and redis.call('HGET', owner, idx) == id then
      redis.call('HDEL', owner, idx)
      if not (keep and keep[sid]) then
        redis.call('SETBIT', bits, idx, 0)
        n = n + 1
      end
    end
  end
  return n
end
