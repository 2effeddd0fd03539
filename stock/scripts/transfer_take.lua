-- transfer_take.lua: the donor's half of a stock transfer between two buckets
-- of one concert (see ../buckets.go). It takes up to ARGV[2] seats, never
-- more than half of what the bucket has (so the donor's own members are not
-- the next to borrow), and records them under the transfer id until the
-- home bucket has applied them: a crash between the two halves leaves this
-- record for CompleteTransfers, so no seat leaks.
-- KEYS: 1 stock  2 xfer:out (hash id -> "k|home|ms|epoch")
--       3 xfer:done (zset id -> ms, settled transfers)  4 epoch
-- ARGV: 1 transfer id  2 most to take  3 home bucket  4 now (ms)
-- Returns {k, epoch}: the seats this id took (now or by an earlier call),
-- 0 when the bucket has none, is not loaded, or the id was settled before.
local rec = redis.call('HGET', KEYS[2], ARGV[1])
if rec then
  local k, _, _, epoch = string.match(rec, '^(%d+)|(%d+)|(%d+)|(.*)$')
  return {tonumber(k), epoch}
end
if redis.call('ZSCORE', KEYS[3], ARGV[1]) then
  return {0, ''}
end
local epoch = redis.call('GET', KEYS[4])
local stock = tonumber(redis.call('GET', KEYS[1]) or '0')
if not epoch or stock <= 0 then
  return {0, ''}
end
local k = math.min(tonumber(ARGV[2]), math.ceil(stock / 2))
redis.call('DECRBY', KEYS[1], k)
redis.call('HSET', KEYS[2], ARGV[1], k .. '|' .. ARGV[3] .. '|' .. ARGV[4] .. '|' .. epoch)
return {k, epoch}
