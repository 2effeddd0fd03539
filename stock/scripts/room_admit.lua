-- One tick of a waiting room: expires passes whose time is over, then
-- advances the serving counter by what the rate allows since the last tick.
-- Any number of gateways call it: the token bucket lives here, so together
-- they admit at the rate, never more than one tick's worth ahead of it.
-- KEYS[1] room hash, KEYS[2] cohorts (sorted set: score = the last position
-- of an admission step, member "upTo:at:expiresAt"), KEYS[3] pre-open
-- arrivals, KEYS[4] post-open arrivals
-- ARGV[1] the stock: 0 seats left, 1 none left but some may come back
-- (holds, reservations in flight), 2 none and none can come back;
-- ARGV[2] the tick (ms): the bucket holds at most one tick's worth
-- Returns {code, admitted, from, joined, active, drawn, version, soldOutAt,
-- state, now}: code 1 it admitted positions from+1..admitted, 0 it did not,
-- -1 no room.
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
local tm = redis.call('TIME')
local now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)
local r = redis.call('HMGET', KEYS[1], 'opened', 'admitted', 'expired', 'tokens', 'last', 'state', 'rate',
  'maxActive', 'passTTL', 'drawn', 'soldOutAt')
local admitted, drawn = tonumber(r[2]), tonumber(r[10])
local joined = redis.call('LLEN', KEYS[3]) + redis.call('LLEN', KEYS[4])
if r[1] ~= '1' then
  return {0, admitted, admitted, joined, 0, drawn, tonumber(redis.call('HGET', KEYS[1], 'version')), 0, r[6], now}
end
local expired = tonumber(r[3])
for _ = 1, 1000 do
  local c = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. expired, '+inf', 'LIMIT', 0, 1)
  if #c == 0 then break end
  local upTo, _, exp = string.match(c[1], '^(%d+):(%d+):(%d+)$')
  if tonumber(exp) > now then break end
  expired = tonumber(upTo)
end
local active = admitted - expired
local state = 'open'
if ARGV[1] == '1' then state = 'paused' elseif ARGV[1] == '2' then state = 'sold_out' end
local rate, maxActive = tonumber(r[7]), tonumber(r[8])
local tokens, last = tonumber(r[4]), tonumber(r[5])
local burst = math.max(1, rate * tonumber(ARGV[2]) / 1000)
local n = 0
if state == 'open' then
  tokens = math.min(burst, tokens + math.max(0, now - last) * rate / 1000)
  n = math.min(math.floor(tokens), joined - admitted, maxActive - active)
  if n > 0 then
    tokens = tokens - n
    admitted = admitted + n
    active = active + n
    redis.call('ZADD', KEYS[2], admitted, admitted .. ':' .. now .. ':' .. (now + tonumber(r[9])))
  else
    n = 0
  end
else
  -- No credit piles up while nobody may be admitted: a resumed sale
  -- starts at the rate, not with a burst.
  tokens = 0
end
local soldOutAt = tonumber(r[11])
local changed = n > 0 or expired ~= tonumber(r[3])
if state ~= r[6] then
  changed = true
  if state == 'sold_out' then soldOutAt = now end
end
redis.call('HSET', KEYS[1], 'admitted', admitted, 'expired', expired, 'tokens', tokens, 'last', now, 'state', state,
  'soldOutAt', soldOutAt)
local version
if changed then
  version = redis.call('HINCRBY', KEYS[1], 'version', 1)
else
  version = tonumber(redis.call('HGET', KEYS[1], 'version'))
end
local code = 0
if n > 0 then code = 1 end
return {code, admitted, admitted - n, joined, active, drawn, version, soldOutAt, state, now}
