-- Shared helpers, prepended to every script by scripts.ts (Lua scripts cannot include each other).
-- Values that came from users (names, inputs, outputs, payloads) arrive as JSON text and are
-- stored as JSON text: the scripts never parse them, so nothing is lost to cjson's number
-- precision or its empty-table ambiguity. cjson only decodes our own envelopes of strings.

local function fmt(n)
  return string.format('%d', n)
end

-- The World's one clock: the server's. Returns epoch milliseconds and microseconds.
local function clock()
  local t = redis.call('TIME')
  local seconds, micros = tonumber(t[1]), tonumber(t[2])
  return seconds * 1000 + math.floor(micros / 1000), seconds * 1000000 + micros
end

-- A run's status as its hash stores it (JSON text), for the statuses that end it.
local terminal = { ['"completed"'] = true, ['"failed"'] = true, ['"cancelled"'] = true }

local function event_id(seq)
  return string.format('evt_%012d', seq)
end

-- A structured failure: main() runs under pcall, and every write comes after every check.
local function fail(reply)
  error(reply, 0)
end

local function run_main(main)
  local ok, result = pcall(main)
  if ok then
    return result
  end
  if type(result) == 'table' then
    return cjson.encode({ failure = result })
  end
  error(result, 0)
end

-- A group that no delivery holds is one entry, `G:<group>`, in its topic's due set, due
-- when its earliest message is. Leasing it takes the first message in send order that is
-- due, so a message retried after a failure waits out its backoff (the group's next message
-- may go meanwhile) and then goes before every later one. While one of its messages is
-- leased the group is busy (`gb:<group>` names it) and has no entry.
local function group_refresh(base, topic, group)
  local tb = base .. ':q:' .. topic
  local ids = redis.call('LRANGE', tb .. ':g:' .. group, 0, -1)
  if #ids == 0 then
    redis.call('ZREM', tb .. ':due', 'G:' .. group)
    return
  end
  local earliest = nil
  for _, id in ipairs(ids) do
    local due = tonumber(redis.call('HGET', base .. ':m:' .. id, 'due'))
    if due and (earliest == nil or due < earliest) then earliest = due end
  end
  if earliest then redis.call('ZADD', tb .. ':due', earliest, 'G:' .. group) end
end

-- How long a claim that lapsed waits, past its lease, before a consumer gets it: a
-- consumer's first backoff step, as a delivery's lease would have.
local claim_backoff_ms = 100

-- Queues message m (see queue_send) already leased to its writer under m.claim.token, as a
-- consumer's first delivery of it would be, unless its group is busy. The lease runs from
-- m's enqueue time (its append's commit), even when the relay brings it here later.
-- Returns whether the claim holds; when it does not, the caller queues m as usual.
local function queue_claimed(base, m, enqueued)
  local tb = base .. ':q:' .. m.topic
  if m.group and redis.call('EXISTS', tb .. ':gb:' .. m.group) == 1 then return false end
  local mk = base .. ':m:' .. m.id
  local lease_until = enqueued + m.claim.lease
  redis.call('HSET', mk, 'topic', m.topic, 'payload', m.payload, 'enqueuedAt', fmt(enqueued),
    'deliverAt', fmt(enqueued), 'dueAt', fmt(enqueued), 'attempt', '1', 'token', m.claim.token,
    'leaseUntil', fmt(lease_until), 'backoff', fmt(claim_backoff_ms))
  if m.group then
    -- The group is busy with the claim from now on, as a consumer's lease makes it.
    redis.call('HSET', mk, 'group', m.group, 'due', fmt(enqueued))
    redis.call('RPUSH', tb .. ':g:' .. m.group, m.id)
    redis.call('SET', tb .. ':gb:' .. m.group, m.id)
    redis.call('ZREM', tb .. ':due', 'G:' .. m.group)
  end
  -- Comes due by itself if its writer never settles it, as a lapsed delivery does. Nobody is
  -- woken now: the message is its writer's.
  redis.call('ZADD', tb .. ':due', lease_until + claim_backoff_ms, m.id)
  return true
end

-- The queue's send, shared by queue.send, the append's outbox and the outbox relay.
-- m: { id, topic, payload, group?, idem?, delay, enqueuedAt?, relayed?, claim = { token, lease }? }.
-- Returns id, deduplicated, and whether m's claim holds.
local function queue_send(base, channel, m, now, retention)
  local tb = base .. ':q:' .. m.topic
  local mk = base .. ':m:' .. m.id
  if redis.call('EXISTS', mk) == 1 then
    -- This very send ran before (a relay repeated, or a command sent again after its reply
    -- was lost: ids are minted per send): it was not a duplicate of another message then.
    -- Its claim holds as long as the message is still leased under the claim's token.
    local held = m.claim ~= nil and redis.call('HGET', mk, 'token') == m.claim.token
    return m.id, m.relayed == true, held
  end
  if m.relayed then
    -- A relay may run twice (a crash after the insert, before the outbox entry was removed).
    if redis.call('EXISTS', base .. ':seen:' .. m.id) == 1 then
      return m.id, true, false
    end
    redis.call('SET', base .. ':seen:' .. m.id, '1', 'PX', math.max(retention, 3600000))
  end
  if m.idem then
    local ik = tb .. ':idem'
    local prior = redis.call('HGET', ik, m.idem)
    if prior then
      local pk = base .. ':m:' .. prior
      if redis.call('EXISTS', pk) == 1 then
        local acked = redis.call('HGET', pk, 'ackedAt')
        if (not acked) or tonumber(acked) >= now - retention then
          return prior, true, false
        end
        redis.call('DEL', pk)
        redis.call('ZREM', base .. ':acked', prior)
      end
    end
    redis.call('HSET', ik, m.idem, m.id)
  end
  local enqueued = m.enqueuedAt or now
  if m.claim and queue_claimed(base, m, enqueued) then return m.id, false, true end
  local deliver_at = enqueued + (m.delay or 0)
  redis.call('HSET', mk, 'topic', m.topic, 'payload', m.payload, 'enqueuedAt', fmt(enqueued),
    'deliverAt', fmt(deliver_at), 'attempt', '0')
  if m.idem then redis.call('HSET', mk, 'idem', m.idem) end
  if m.group then
    -- A group is one entry in the due set (see group_refresh), never its messages one by one.
    redis.call('HSET', mk, 'group', m.group, 'due', fmt(deliver_at))
    redis.call('RPUSH', tb .. ':g:' .. m.group, m.id)
    if redis.call('EXISTS', tb .. ':gb:' .. m.group) == 0 then
      redis.call('ZADD', tb .. ':due', 'LT', deliver_at, 'G:' .. m.group)
    end
  else
    redis.call('ZADD', tb .. ':due', deliver_at, m.id)
  end
  redis.call('PUBLISH', channel, 'q:' .. m.topic .. ' ' .. base)
  return m.id, false, false
end

-- Ends a leased message (its handler, or its claim's writer, is done): gone, or kept without
-- its payload while its idempotency key must still deduplicate; its group is free again.
local function message_end(base, channel, id, topic, group, idem, now)
  local tb = base .. ':q:' .. topic
  local mk = base .. ':m:' .. id
  redis.call('ZREM', tb .. ':due', id)
  if group then redis.call('LREM', tb .. ':g:' .. group, 1, id) end
  if idem then
    redis.call('HDEL', mk, 'payload', 'token', 'leaseUntil')
    redis.call('HSET', mk, 'ackedAt', fmt(now))
    redis.call('ZADD', base .. ':acked', now, id)
  else
    redis.call('DEL', mk)
  end
  if group then
    redis.call('DEL', tb .. ':gb:' .. group)
    group_refresh(base, topic, group)
  end
  redis.call('PUBLISH', channel, 'q:' .. topic .. ' ' .. base)
end

-- Acknowledges message `id` under lease `token` if that lease was still live at `since`:
-- now, for a consumer or a writer settling here; the commit time of an append whose
-- acknowledgement the outbox relay brings from another partition. A lease that has run out
-- since then still counts, even once a consumer took the message again (lease.lua keeps
-- the lapsed lease's end as `lapsed:<token>`): the append committed while it held. Returns
-- 1 when it acknowledged, 0 when the lease was lost or settled first.
local function claim_acknowledge(base, channel, id, token, now, since)
  local mk = base .. ':m:' .. id
  local f = redis.call('HMGET', mk, 'token', 'leaseUntil', 'topic', 'group', 'idem', 'ackedAt',
    'lapsed:' .. token)
  if not f[3] or f[6] then return 0 end
  local live = f[1] == token and tonumber(f[2]) > since
  if not live and not (f[7] and tonumber(f[7]) > since) then return 0 end
  message_end(base, channel, id, f[3], f[4] or nil, f[5] or nil, now)
  return 1
end

-- An outbox entry: what the relay carries from this append's partition to another (see
-- outbox-relay.ts). A message keeps its commit time as its enqueue time; an acknowledgement
-- keeps it as the instant its claim's lease must have held at.
local function outbox_entry(item, at)
  if item.ack then item.since = at else item.enqueuedAt, item.relayed = at, true end
  return cjson.encode(item)
end

-- The append's outbox, once its events are written: messages for this partition are queued
-- (a claimed one leased to the writer when it can be) and claims here it acknowledges are
-- settled, in the append's own step; the rest wait in the partition's outbox for the relay.
-- Returns the outbox entries, and per message '1' where its claim holds here, else '0'.
local function outbox_write(P, now)
  local outbox, held = {}, {}
  for index, m in ipairs(P.messages) do
    local claimed = false
    if m.here then
      claimed = select(3, queue_send(P.base, P.channel, m, now, P.retention))
    else
      local entry = outbox_entry(m, now)
      redis.call('ZADD', P.base .. ':outbox', now, entry)
      table.insert(outbox, entry)
    end
    held[index] = claimed and '1' or '0'
  end
  for _, ack in ipairs(P.acks or {}) do
    if ack.here then
      claim_acknowledge(P.base, P.channel, ack.id, ack.token, now, now)
    else
      local entry = outbox_entry(ack, now)
      redis.call('ZADD', P.base .. ':outbox', now, entry)
      table.insert(outbox, entry)
    end
  end
  return outbox, table.concat(held)
end

-- The outbox entries a repeat of an append hands back to the relay: those still waiting,
-- and every claimed message, wherever it is by now, so the claims reported are those that
-- hold (a relay is idempotent, and a relayed claim answers whether its lease still holds).
local function outbox_repeat(P, at)
  local outbox = {}
  local function consider(item, always)
    if item.here then return end
    local entry = outbox_entry(item, at)
    if always or redis.call('ZSCORE', P.base .. ':outbox', entry) then table.insert(outbox, entry) end
  end
  for _, m in ipairs(P.messages) do consider(m, m.claim ~= nil) end
  for _, ack in ipairs(P.acks or {}) do consider(ack, false) end
  return outbox
end

-- A message id the writer chose for a claim here that the queue already holds (or held,
-- as a relayed message): the index (from 0) of the first such message, or nil.
local function outbox_taken_id(P)
  for index, m in ipairs(P.messages) do
    if m.chosen and m.here and (redis.call('EXISTS', P.base .. ':m:' .. m.id) == 1
        or redis.call('EXISTS', P.base .. ':seen:' .. m.id) == 1) then
      return index - 1, m.id
    end
  end
  return nil
end

-- Writes a client may send twice. ioredis sends a command again once it has reconnected
-- when the connection dropped before the reply came, and by then the script may have run.
-- A write that is not harmless to repeat carries an id, and what it did is kept under that
-- id in its run's partition for `window` ms (longer than a client keeps a command to send
-- again); a repeat finds it, writes nothing and answers as the first run did.
local function repeat_find(base, runId, id)
  if id == nil then return nil end
  return redis.call('HGET', base .. ':rp:' .. runId, id) or nil
end

local function repeat_record(base, runId, id, outcome, now, window)
  if id == nil then return end
  local outcomes, times = base .. ':rp:' .. runId, base .. ':rpt:' .. runId
  local old = redis.call('ZRANGEBYSCORE', times, '-inf', now - window, 'LIMIT', 0, 100)
  if #old > 0 then
    redis.call('HDEL', outcomes, unpack(old))
    redis.call('ZREM', times, unpack(old))
  end
  redis.call('HSET', outcomes, id, outcome)
  redis.call('ZADD', times, now, id)
  redis.call('PEXPIRE', outcomes, window)
  redis.call('PEXPIRE', times, window)
end
