-- settle.lua: after the writer committed a decision's transition, forget the
-- decision and, for a cancel or an expiry, give the seat back: once, because
-- only the first call finds the decision.
-- A seated reservation gives back exactly its own seats (seats.lua).
-- KEYS: 1 stock  2 members  3 decided  4 outbox  5-8 seat bitmap, rows, owner, res
-- ARGV: triples: reservation id, member id, "1" to return the seat
-- Returns how many seats went back.
local returned = 0
for i = 1, #ARGV, 3 do
  local id = ARGV[i]
  if redis.call('HDEL', KEYS[3], id) == 1 then
    redis.call('ZREM', KEYS[4], id)
    if ARGV[i + 2] == '1' then
      local seats = free_seats(KEYS[5], KEYS[6], KEYS[7], KEYS[8], id, nil)
      if seats < 0 then
        seats = 1
      end
      redis.call('INCRBY', KEYS[1], seats)
      redis.call('SREM', KEYS[2], ARGV[i + 1])
      returned = returned + seats
    end
  end
end
return returned
