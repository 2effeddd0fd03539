-- Puts a member in a waiting room's queue, once.
-- KEYS[1] room hash, KEYS[2] tickets (member → ticket), KEYS[3] pre-open
-- arrivals (list, arrival order), KEYS[4] post-open arrivals (list)
-- ARGV[1] member
-- A ticket is "position:joinedAt:tier:seq": tier p (joined before opening;
-- position 0 until the draw) or q (after; FIFO behind every pre-open
-- arrival), seq its place in its tier's arrival order.
-- Returns {1, ticket} for a new ticket, {0, ticket} for the one the member
-- has, {-1} when there is no room.
local t = redis.call('HGET', KEYS[2], ARGV[1])
if t then return {0, t} end
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
local tm = redis.call('TIME')
local now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)
local opensAt = tonumber(redis.call('HGET', KEYS[1], 'opensAt'))
if now < opensAt and redis.call('HGET', KEYS[1], 'opened') ~= '1' then
  local seq = redis.call('RPUSH', KEYS[3], ARGV[1])
  t = '0:' .. now .. ':p:' .. seq
else
  -- The pre-open list no longer grows once the opening time has passed,
  -- so its length is every pre-open arrival, drawn or about to be.
  local seq = redis.call('RPUSH', KEYS[4], ARGV[1])
  t = (redis.call('LLEN', KEYS[3]) + seq) .. ':' .. now .. ':q:' .. seq
end
redis.call('HSET', KEYS[2], ARGV[1], t)
redis.call('HINCRBY', KEYS[1], 'version', 1)
return {1, t}
