-- Settles a leased message: ack, retry (after a handler failed), unlease (leased by a
-- consumer that stopped before delivering it) or extend (the handler needs longer).
-- Every mode needs the lease token, and all but unlease an unexpired lease.
-- ARGV[1]: JSON { base, channel, id, token, mode, delayMs?, leaseMs?, backoffMs? }
local P = cjson.decode(ARGV[1])
local now = clock()
local mk = P.base .. ':m:' .. P.id
local f = redis.call('HMGET', mk, 'token', 'leaseUntil', 'topic', 'group', 'idem', 'attempt', 'dueAt')
if f[1] ~= P.token then return 0 end
if P.mode ~= 'unlease' and tonumber(f[2]) <= now then return 0 end
local topic = f[3]
local tb = P.base .. ':q:' .. topic
local dueKey = tb .. ':due'
if P.mode == 'extend' then
  redis.call('HSET', mk, 'leaseUntil', fmt(now + P.leaseMs))
  redis.call('ZADD', dueKey, now + P.leaseMs + P.backoffMs, P.id)
  return 1
end
local group = f[4]
redis.call('ZREM', dueKey, P.id)
if P.mode == 'ack' then
  if group then redis.call('LREM', tb .. ':g:' .. group, 1, P.id) end
  if f[5] then
    -- Kept, without its payload, while its idempotency key must still deduplicate.
    redis.call('HDEL', mk, 'payload', 'token', 'leaseUntil')
    redis.call('HSET', mk, 'ackedAt', fmt(now))
    redis.call('ZADD', P.base .. ':acked', now, P.id)
  else
    redis.call('DEL', mk)
  end
else
  local due = P.mode == 'retry' and now + P.delayMs or tonumber(f[7])
  redis.call('HDEL', mk, 'token', 'leaseUntil')
  if P.mode == 'unlease' then redis.call('HSET', mk, 'attempt', fmt(tonumber(f[6]) - 1)) end
  if group then
    redis.call('HSET', mk, 'due', fmt(due))
  else
    redis.call('ZADD', dueKey, due, P.id)
  end
end
if group then
  -- The group is free again: it comes due with its earliest message.
  redis.call('DEL', tb .. ':gb:' .. group)
  group_refresh(P.base, topic, group)
end
redis.call('PUBLISH', P.channel, 'q:' .. topic .. ' ' .. P.base)
return 1
