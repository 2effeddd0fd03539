-- transfer_take.lua: the donor's half of a stock transfer between two buckets
-- of one concert (see ../buckets.go). It takes a quarter of what the bucket
-- has, at most ARGV[2] and at least one: so the donor's own members are not
-- the next to borrow, and from a donor of fewer than 8 seats — the end of a
-- sale — one seat, the borrower's own, so that no surplus lands in a bucket
-- another borrower has just found empty. It records them under the transfer
-- id until the home bucket has applied them: a crash between the two halves
-- leaves this record for CompleteTransfers, so no seat leaks.
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
local k = math.max(1, math.min(tonumber(ARGV[2]), math.floor(stock / 4)))
redis.call('DECRBY', KEYS[1], k)
redis.call('HSET', KEYS[2], ARGV[1], k .. '|' .. ARGV[3] .. '|' .. ARGV[4] .. '|' .. epoch)
return {k, epoch}
