-- done.lua: after the DB commit, the rows are the record; drop the in-flight copies.
-- KEYS: 1 inflight  2 inflight:t   ARGV: reservation ids
-- Idempotent: a missing id is a no-op. One HDEL and one ZREM a chunk of ids,
-- not one of each an id (see claim.lua).
local chunk = 1000
for first = 1, #ARGV, chunk do
  local last = math.min(first + chunk - 1, #ARGV)
  redis.call('HDEL', KEYS[1], unpack(ARGV, first, last))
  redis.call('ZREM', KEYS[2], unpack(ARGV, first, last))
end
return #ARGV
