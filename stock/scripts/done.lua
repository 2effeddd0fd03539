-- done.lua: after the DB commit, the rows are the record; drop the in-flight copies.
-- KEYS: 1 inflight  2 inflight:t   ARGV: reservation ids
for _, id in ipairs(ARGV) do
  redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
end
return #ARGV
