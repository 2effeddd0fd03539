-- fail.lua: a reservation that can never be written gives back what it took,
-- once. What it took depends on why it failed: one the database could not
-- store gives back its seat and its member ('1'); one the database had no
-- room for took a seat Redis only believed it had (Redis had lost an earlier
-- admission), so only its member goes ('m'); one whose member already holds
-- a seat in the database gives back neither ('0'): Redis had forgotten that
-- member, and this admission's seat stands for the member's real one.
-- A seated reservation gives back its own seats (seats.lua) but those the
-- database says another reservation holds: they stay taken.
-- KEYS: 1 stock  2 members  3 inflight  4 inflight:t  5 released  6 holds
--       7-10 seat bitmap, rows, owner, res
-- ARGV: 1 now (ms)  2 tombstone retention (ms), then quadruples: reservation id,
--       member id, what ('1', 'm', '0'), seat ids to keep taken (comma-separated)
-- Returns how many seats went back.
local returned = 0
local settled = 0
for i = 3, #ARGV, 4 do
  local id, member, what = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  redis.call('ZREM', KEYS[6], id .. '|' .. member) -- a failed reservation never expires
  if not redis.call('ZSCORE', KEYS[5], id) and redis.call('HEXISTS', KEYS[3], id) == 1 then
    redis.call('HDEL', KEYS[3], id)
    redis.call('ZREM', KEYS[4], id)
    local keep = {}
    for sid in string.gmatch(ARGV[i + 3], '[^,]+') do
      keep[sid] = true
    end
    local seats = free_seats(KEYS[7], KEYS[8], KEYS[9], KEYS[10], id, keep)
    if seats >= 0 then
      -- Numbered seats: the bitmap says which are free, whatever the reason.
      redis.call('INCRBY', KEYS[1], seats)
      returned = returned + seats
    elseif what == '1' then
      redis.call('INCR', KEYS[1])
      returned = returned + 1
    end
    if what ~= '0' then
      redis.call('SREM', KEYS[2], member)
    end
    redis.call('ZADD', KEYS[5], ARGV[1], id)
    settled = settled + 1
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
if settled > 0 then
  -- A concert whose failures stop still lets its tombstones go after the retention.
  redis.call('PEXPIRE', KEYS[5], ARGV[2])
end
return returned
