-- claim.lua: the writer takes reservations before its DB commit, so that no
-- undo can return their stock while the rows are being written.
-- KEYS: 1 inflight  2 released   ARGV: reservation ids
-- Returns one code per id: 1 claimed, 0 released (skip it), 2 unknown
-- (no record: written before and cleared, or Redis lost it).
-- Idempotent on each id: a claimed record is left as it is.
-- A few commands a chunk of ids (HMGET, one HSET, ZMSCORE), not two or three
-- an id: each redis.call has a fixed cost, about 0.4 µs here, that a batch of
-- 1,000 ids paid 2,000 times; with done.lua's chunks the writer's scripts took
-- 2.83 s of Redis instead of 3.40 s over 300,000 rows (docs/performance.md,
-- "Inside Redis").
local chunk = 1000 -- well under Lua's limit on unpack's values (8,000)
local out = {}
for first = 1, #ARGV, chunk do
  local last = math.min(first + chunk - 1, #ARGV)
  local ids = {unpack(ARGV, first, last)}
  local recs = redis.call('HMGET', KEYS[1], unpack(ids))
  local set, missing = {}, {}
  for i = 1, #ids do
    local rec = recs[i]
    if rec then
      if string.sub(rec, 1, 1) ~= 'C' then
        set[#set + 1] = ids[i]
        set[#set + 1] = 'C' .. string.sub(rec, 2)
      end
      out[first + i - 1] = 1
    else
      missing[#missing + 1] = i
    end
  end
  if #set > 0 then
    redis.call('HSET', KEYS[1], unpack(set))
  end
  if #missing > 0 then
    local gone = {}
    for k, i in ipairs(missing) do gone[k] = ids[i] end
    local scores = redis.call('ZMSCORE', KEYS[2], unpack(gone))
    for k, i in ipairs(missing) do
      out[first + i - 1] = scores[k] and 0 or 2
    end
  end
end
return out
