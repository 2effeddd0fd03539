-- transfer_apply.lua: the home bucket's half of a stock transfer: adds the
-- seats the donor took, once per transfer id.
-- KEYS: 1 stock  2 xfer:in (zset id -> ms, applied transfers)  3 epoch
-- ARGV: 1 transfer id  2 seats  3 the donor's epoch when it took them
--       4 now (ms)  5 retention of applied ids (ms)
-- Returns 1 applied now, 2 applied before, 0 refused: the home bucket's
-- marker is not the donor's (the stock was reloaded or unmarked since, and
-- a reload counts these seats itself): the donor is to take them back.
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  return 2
end
if redis.call('GET', KEYS[3]) ~= ARGV[3] then
  return 0
end
redis.call('INCRBY', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', tonumber(ARGV[4]) - tonumber(ARGV[5]))
return 1
