-- release.lua: the gateway's undo when Kafka did not acknowledge in time.
-- Returns stock only while nobody else can have seen the reservation: state 'P'.
-- KEYS: 1 stock  2 members  3 inflight  4 inflight:t  5 released (zset id -> ms)
--       6 idempotency key (same slot)  7 holds  8-11 seat bitmap, rows, owner, res
--       (seats.lua; a seated reservation gives back exactly its own seats)
-- ARGV: 1 reservation id  2 member id  3 now (ms)  4 "1" when an Idempotency-Key was sent
--       5 tombstone retention (ms)
local id = ARGV[1]
local rec = redis.call('HGET', KEYS[3], id)
if not rec then
  if redis.call('ZSCORE', KEYS[5], id) then
    return 3 -- already released
  end
  return 2 -- the writer committed it and cleared the record: it exists
end
if string.sub(rec, 1, 1) ~= 'P' then
  return 4 -- acknowledged or claimed by the writer: it will be written
end
redis.call('HDEL', KEYS[3], id)
redis.call('ZREM', KEYS[4], id)
local seats = free_seats(KEYS[8], KEYS[9], KEYS[10], KEYS[11], id, nil)
if seats < 0 then
  redis.call('INCR', KEYS[1])
elseif seats > 0 then
  redis.call('INCRBY', KEYS[1], seats)
end
redis.call('SREM', KEYS[2], ARGV[2])
redis.call('ZREM', KEYS[7], id .. '|' .. ARGV[2])
-- The tombstone tells a writer that consumes a late copy of the event to skip it.
redis.call('ZADD', KEYS[5], ARGV[3], id)
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', tonumber(ARGV[3]) - tonumber(ARGV[5]))
-- A concert whose undos stop still lets its tombstones go after the retention.
redis.call('PEXPIRE', KEYS[5], ARGV[5])
if ARGV[4] == '1' then
  redis.call('DEL', KEYS[6])
end
return 1
