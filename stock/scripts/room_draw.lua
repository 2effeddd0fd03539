-- Opens a waiting room: draws every pre-open arrival into the order the
-- caller shuffled (a permutation of 1..n, from a CSPRNG-seeded shuffle in
-- Go), once.
-- KEYS[1] room hash, KEYS[2] tickets, KEYS[3] pre-open arrivals,
-- KEYS[4] the drawn order (list: position i → member)
-- ARGV: the permutation, position by position
-- Returns {1, n} when it drew, {0} when the room had opened already, {-1}
-- without a room, {-2} before the opening time, {-3, n} when the
-- permutation is not of the n arrivals there are.
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
if redis.call('HGET', KEYS[1], 'opened') == '1' then return {0} end
local tm = redis.call('TIME')
local now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)
if now < tonumber(redis.call('HGET', KEYS[1], 'opensAt')) then return {-2} end
local n = redis.call('LLEN', KEYS[3])
if #ARGV ~= n then return {-3, n} end
local members = redis.call('LRANGE', KEYS[3], 0, -1)
local seen, order = {}, {}
for i = 1, n do
  local j = tonumber(ARGV[i])
  if not j or j < 1 or j > n or seen[j] then return {-3, n} end
  seen[j] = true
  order[i] = members[j]
end
redis.call('DEL', KEYS[4])
for i = 1, n, 1000 do
  redis.call('RPUSH', KEYS[4], unpack(order, i, math.min(i + 999, n)))
end
for i = 1, n do
  local t = redis.call('HGET', KEYS[2], order[i])
  local _, rest = string.match(t, '^(%d+):(.*)$')
  redis.call('HSET', KEYS[2], order[i], i .. ':' .. rest)
end
redis.call('HSET', KEYS[1], 'opened', 1, 'drawn', n, 'openedAt', now, 'last', now, 'tokens', 0, 'state', 'open')
redis.call('HINCRBY', KEYS[1], 'version', 1)
return {1, n}
