-- Settles a leased message: ack, retry (after a handler failed), unlease (leased by a
-- consumer that stopped before delivering it) or extend (the handler needs longer). A claim
-- (a message leased to its writer) is settled here too, under its token.
-- Every mode needs the lease token, and all but unlease an unexpired lease; an ack relayed
-- from an append in another partition needs the lease to have been live at `since`, the
-- append's commit (claim_acknowledge in lib.lua).
-- ARGV[1]: JSON { base, channel, id, token, mode, delayMs?, leaseMs?, backoffMs?, since? }
local P = cjson.decode(ARGV[1])
local now = clock()
if P.mode == 'ack' then return claim_acknowledge(P.base, P.channel, P.id, P.token, now, P.since or now) end
local mk = P.base .. ':m:' .. P.id
local f = redis.call('HMGET', mk, 'token', 'leaseUntil', 'topic', 'group', 'backoff', 'attempt', 'dueAt')
if f[1] ~= P.token then return 0 end
if P.mode ~= 'unlease' and tonumber(f[2]) <= now then return 0 end
local topic = f[3]
local tb = P.base .. ':q:' .. topic
local dueKey = tb .. ':due'
if P.mode == 'extend' then
  -- A claim names no backoff: the one its lease was taken with stands.
  local backoff = P.backoffMs or tonumber(f[5]) or 0
  redis.call('HSET', mk, 'leaseUntil', fmt(now + P.leaseMs))
  redis.call('ZADD', dueKey, now + P.leaseMs + backoff, P.id)
  return 1
end
local group = f[4]
redis.call('ZREM', dueKey, P.id)
local due = P.mode == 'retry' and now + P.delayMs or tonumber(f[7])
redis.call('HDEL', mk, 'token', 'leaseUntil')
if P.mode == 'unlease' then redis.call('HSET', mk, 'attempt', fmt(tonumber(f[6]) - 1)) end
if group then
  redis.call('HSET', mk, 'due', fmt(due))
  -- The group is free again: it comes due with its earliest message.
  redis.call('DEL', tb .. ':gb:' .. group)
  group_refresh(P.base, topic, group)
else
  redis.call('ZADD', dueKey, due, P.id)
end
redis.call('PUBLISH', P.channel, 'q:' .. topic .. ' ' .. P.base)
return 1
