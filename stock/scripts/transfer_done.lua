-- transfer_done.lua: the donor forgets a transfer the home bucket answered,
-- once. When the home bucket refused it (ARGV[2] = '1') the seats come back
-- to the donor, but only under the marker they were taken under: a reload
-- since then has counted them already.
-- KEYS: 1 stock  2 xfer:out  3 xfer:done  4 epoch
-- ARGV: 1 transfer id  2 '1' to give the seats back  3 now (ms)  4 retention (ms)
-- Returns the seats given back.
local rec = redis.call('HGET', KEYS[2], ARGV[1])
if not rec then
  return 0
end
local back = 0
if ARGV[2] == '1' then
  local k, _, _, epoch = string.match(rec, '^(%d+)|(%d+)|(%d+)|(.*)$')
  if redis.call('GET', KEYS[4]) == epoch then
    redis.call('INCRBY', KEYS[1], k)
    back = tonumber(k)
  end
end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', tonumber(ARGV[3]) - tonumber(ARGV[4]))
return back
