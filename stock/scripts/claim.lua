-- claim.lua: the writer takes reservations before its DB commit, so that no
-- undo can return their stock while the rows are being written.
-- KEYS: 1 inflight  2 released   ARGV: reservation ids
-- Returns one code per id: 1 claimed, 0 released (skip it), 2 unknown
-- (no record: written before and cleared, or Redis lost it).
local out = {}
for i, id in ipairs(ARGV) do
  local rec = redis.call('HGET', KEYS[1], id)
  if rec then
    if string.sub(rec, 1, 1) ~= 'C' then
      redis.call('HSET', KEYS[1], id, 'C' .. string.sub(rec, 2))
    end
    out[i] = 1
  elseif redis.call('ZSCORE', KEYS[2], id) then
    out[i] = 0
  else
    out[i] = 2
  end
end
return out
