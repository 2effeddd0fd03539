-- Sets a waiting room's settings, creating its state on first use.
-- KEYS[1] room hash, KEYS[2] the post-open arrivals (list)
-- ARGV: opensAt (unix ms), rate (1/s), maxActive, passTTL (ms)
-- Returns {1, opensAt in force}: a room that has opened (or whose opening
-- time has passed, or that queued anyone after it) keeps its opening time,
-- since positions were handed out against it.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local opensAt = tonumber(ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'opened', 0, 'drawn', 0, 'admitted', 0, 'expired', 0, 'tokens', 0, 'last', 0,
    'state', 'scheduled', 'soldOutAt', 0, 'version', 0, 'notified', 0, 'soNotified', 0)
else
  local old = tonumber(redis.call('HGET', KEYS[1], 'opensAt'))
  local opened = redis.call('HGET', KEYS[1], 'opened') == '1'
  if old and old ~= opensAt and (opened or now >= old or redis.call('LLEN', KEYS[2]) > 0) then
    opensAt = old
  end
end
redis.call('HSET', KEYS[1], 'opensAt', opensAt, 'rate', ARGV[2], 'maxActive', ARGV[3], 'passTTL', ARGV[4])
redis.call('HINCRBY', KEYS[1], 'version', 1)
return {1, opensAt}
