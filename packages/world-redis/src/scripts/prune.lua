-- Forgets acknowledged messages whose idempotency window has passed, in one partition.
-- ARGV[1]: JSON { base, retention }
local P = cjson.decode(ARGV[1])
local now = clock()
local ackedKey = P.base .. ':acked'
local old = redis.call('ZRANGEBYSCORE', ackedKey, '-inf', now - P.retention, 'LIMIT', 0, 1000)
for _, id in ipairs(old) do
  local mk = P.base .. ':m:' .. id
  local f = redis.call('HMGET', mk, 'topic', 'idem')
  if f[1] and f[2] then
    local ik = P.base .. ':q:' .. f[1] .. ':idem'
    if redis.call('HGET', ik, f[2]) == id then redis.call('HDEL', ik, f[2]) end
  end
  redis.call('DEL', mk)
  redis.call('ZREM', ackedKey, id)
end
return #old
