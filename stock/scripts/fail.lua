-- fail.lua: a reservation that can never be written gives back what it took,
-- once. What it took depends on why it failed: one the database could not
-- store gives back its seat and its member ('1'); one the database had no
-- room for took a seat Redis only believed it had (Redis had lost an earlier
-- admission), so only its member goes ('m'); one whose member already holds
-- a seat in the database gives back neither ('0'): Redis had forgotten that
-- member, and this admission's seat stands for the member's real one.
-- KEYS: 1 stock  2 members  3 inflight  4 inflight:t  5 released  6 holds
-- ARGV: 1 now (ms)  2 tombstone retention (ms), then triples: reservation id, member id, what ('1', 'm', '0')
-- Returns how many seats went back.
local returned = 0
local settled = 0
for i = 3, #ARGV, 3 do
  local id, member, what = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  redis.call('ZREM', KEYS[6], id .. '|' .. member) -- a failed reservation never expires
  if not redis.call('ZSCORE', KEYS[5], id) and redis.call('HEXISTS', KEYS[3], id) == 1 then
    redis.call('HDEL', KEYS[3], id)
    redis.call('ZREM', KEYS[4], id)
    if what == '1' then
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
