-- Leases up to n due messages of one topic in one partition.
--
-- A lease is a visibility timeout: the message's due time moves to the lease's end plus the
-- retry backoff, so a consumer that dies needs no cleanup; its message simply comes due
-- again, same id, attempt + 1. Settling needs the lease token and an unexpired lease, so a
-- late settlement changes nothing. A free group is one `G:<group>` entry (see group_refresh
-- in lib.lua); leasing it takes the group's first due message and marks the group busy.
--
-- ARGV[1]: JSON { base, topic, n, token, leaseMs, initialMs, factor, maxMs }
local P = cjson.decode(ARGV[1])
local now = clock()
local tb = P.base .. ':q:' .. P.topic
local dueKey = tb .. ':due'
local due = redis.call('ZRANGEBYSCORE', dueKey, '-inf', now, 'WITHSCORES', 'LIMIT', 0, P.n)
local out = {}
local function lease(id, score)
  local mk = P.base .. ':m:' .. id
  local f = redis.call('HMGET', mk, 'payload', 'group', 'idem', 'enqueuedAt', 'attempt', 'token', 'leaseUntil')
  if not f[4] then
    redis.call('ZREM', dueKey, id)
    return
  end
  -- A lease that ran out (settling clears the token): an append that committed while it
  -- held may still be relayed its acknowledgement (claim_acknowledge in lib.lua).
  if f[6] then redis.call('HSET', mk, 'lapsed:' .. f[6], f[7]) end
  local attempt = tonumber(f[5]) + 1
  -- Whole milliseconds, as retryBackoffMs in @cairn/core computes them; a power too large is
  -- inf, which maxMs caps, and 0 * inf is guarded.
  local backoff = 0
  if P.initialMs > 0 then
    backoff = math.floor(math.min(P.maxMs, P.initialMs * P.factor ^ (attempt - 1)))
  end
  redis.call('HSET', mk, 'attempt', fmt(attempt), 'token', P.token, 'leaseUntil', fmt(now + P.leaseMs),
    'dueAt', fmt(score), 'backoff', fmt(backoff))
  redis.call('ZADD', dueKey, now + P.leaseMs + backoff, id)
  table.insert(out, { id = id, payload = f[1], group = f[2] or cjson.null, idem = f[3] or cjson.null,
    enqueuedAt = tonumber(f[4]), deliverAt = score, attempt = attempt })
end
for i = 1, #due, 2 do
  local member, score = due[i], tonumber(due[i + 1])
  if string.sub(member, 1, 2) == 'G:' then
    -- A free group: lease its first message in send order that is due.
    local group = string.sub(member, 3)
    redis.call('ZREM', dueKey, member)
    local chosen, chosenDue = nil, nil
    for _, id in ipairs(redis.call('LRANGE', tb .. ':g:' .. group, 0, -1)) do
      local d = tonumber(redis.call('HGET', P.base .. ':m:' .. id, 'due'))
      if d and d <= now then
        chosen, chosenDue = id, d
        break
      end
    end
    if chosen then
      redis.call('SET', tb .. ':gb:' .. group, chosen)
      lease(chosen, chosenDue)
    else
      group_refresh(P.base, P.topic, group)
    end
  else
    -- An ungrouped message, or a grouped one whose lease ran out (its group is still busy with it).
    lease(member, score)
  end
end
local next = redis.call('ZRANGE', dueKey, 0, 0, 'WITHSCORES')
return cjson.encode({ now = now, next = next[2] and tonumber(next[2]) or cjson.null, messages = out })
