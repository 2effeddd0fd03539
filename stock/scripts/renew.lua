-- renew.lua: the holder's watchdog extends its lease while it works; a lock
-- that expired or changed hands is left alone.
-- KEYS: 1 lock   ARGV: 1 token  2 lease (ms)
-- Returns a code named in ../scripts.go.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
