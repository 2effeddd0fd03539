-- A member's place in a waiting room, and the pass when admitted.
-- KEYS[1] room hash, KEYS[2] tickets, KEYS[3] cohorts, KEYS[4] passes
-- issued (member → when first)
-- ARGV[1] member, ARGV[2] 1 to record a pass given now
-- Returns {-1} without a room, {0} when the member never joined, else
-- {1, ticket, admitted, state, cohort or "", first (1 when this call
-- recorded the member's first pass), now, opened}.
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
local t = redis.call('HGET', KEYS[2], ARGV[1])
if not t then return {0} end
local tm = redis.call('TIME')
local now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)
local r = redis.call('HMGET', KEYS[1], 'admitted', 'state', 'opened')
local pos = tonumber(string.match(t, '^(%d+):'))
local cohort, first = '', 0
if pos > 0 and pos <= tonumber(r[1]) then
  local c = redis.call('ZRANGEBYSCORE', KEYS[3], pos, '+inf', 'LIMIT', 0, 1)
  if #c > 0 then
    cohort = c[1]
    local exp = tonumber(string.match(cohort, ':(%d+)$'))
    -- A sold-out room gives no more passes, even to those it admitted.
    if ARGV[2] == '1' and exp > now and r[2] ~= 'sold_out' then
      first = redis.call('HSETNX', KEYS[4], ARGV[1], now)
    end
  end
end
return {1, t, tonumber(r[1]), r[2], cohort, first, now, r[3]}
