-- ack.lua: record that Kafka acknowledged the event ('P' -> 'A'), so that a
-- retry with the same Idempotency-Key may answer 202 and no undo may run.
-- KEYS: 1 inflight   ARGV: 1 reservation id
local rec = redis.call('HGET', KEYS[1], ARGV[1])
if rec and string.sub(rec, 1, 1) == 'P' then
  redis.call('HSET', KEYS[1], ARGV[1], 'A' .. string.sub(rec, 2))
  return 1
end
return 0
