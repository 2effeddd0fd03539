-- reserve.lua: the only admission decision on the hot path, one atomic step.
-- KEYS: 1 stock  2 members  3 inflight (hash id -> state..event)
--       4 inflight:t (zset id -> accepted-at ms)  5 idempotency key (same slot)
--       6 holds (zset "id|member" -> expires-at ms, the expiry delay queue)
--       7 epoch (the marker Load writes with the stock: without it, Redis does
--         not know this concert's stock, and admits nobody; ending in '/s',
--         the concert has numbered seats and hold.lua takes them)
-- ARGV: 1 reservation id  2 member id  3 event payload  4 now (ms)
--       5 idempotency ttl (ms)  6 "1" when an Idempotency-Key was sent
--       7 expires-at (ms), "0" when the seat is confirmed on write (no hold)
-- Returns {code, reservation id, in-flight state}; codes are named in ../scripts.go.
local id, member = ARGV[1], ARGV[2]

if ARGV[6] == '1' then
  local prev = redis.call('GET', KEYS[5])
  if prev then
    -- prev is "<reservation id>|<member id>": the same key must mean the same request.
    local sep = string.find(prev, '|', 1, true)
    local prevID, prevMember = string.sub(prev, 1, sep - 1), string.sub(prev, sep + 1)
    if prevMember ~= member then
      return {6, prevID, ''}
    end
    local rec = redis.call('HGET', KEYS[3], prevID)
    return {5, prevID, rec and string.sub(rec, 1, 1) or ''}
  end
end

-- The same reservation id twice (a replayed call) must not take stock twice.
local rec = redis.call('HGET', KEYS[3], id)
if rec then
  return {5, id, string.sub(rec, 1, 1)}
end

local stock = redis.call('GET', KEYS[1])
local epoch = redis.call('GET', KEYS[7])
if not epoch then
  if not stock then
    return {4, '', ''} -- never loaded, or everything lost: the caller asks MySQL
  end
  return {7, '', ''} -- a stock without its marker: not to be trusted
end
if not stock then
  return {4, '', ''}
end
if string.sub(epoch, -2) == '/s' then
  return {8, '', ''} -- numbered seats: the caller runs hold.lua
end
if redis.call('SISMEMBER', KEYS[2], member) == 1 then
  return {3, '', ''}
end
if tonumber(stock) <= 0 then
  return {2, '', ''}
end

redis.call('DECR', KEYS[1])
redis.call('SADD', KEYS[2], member)
-- 'P': admitted, Kafka's ack not yet seen by anyone.
redis.call('HSET', KEYS[3], id, 'P' .. ARGV[3])
redis.call('ZADD', KEYS[4], ARGV[4], id)
if ARGV[6] == '1' then
  redis.call('SET', KEYS[5], id .. '|' .. member, 'PX', ARGV[5])
end
if ARGV[7] ~= '0' then
  -- The hold's clock starts at admission, so a seat comes back on time even
  -- if the writer lags.
  redis.call('ZADD', KEYS[6], ARGV[7], id .. '|' .. member)
end
return {1, id, 'P'}
