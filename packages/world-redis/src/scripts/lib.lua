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

-- The queue's send, shared by queue.send, the append's outbox and the outbox relay.
-- m: { id, topic, payload, group?, idem?, delay, enqueuedAt?, relayed? }. Returns id, deduplicated.
local function queue_send(base, channel, m, now, retention)
  local tb = base .. ':q:' .. m.topic
  local mk = base .. ':m:' .. m.id
  if redis.call('EXISTS', mk) == 1 then
    -- This very send ran before (a relay repeated, or a command sent again after its reply
    -- was lost: ids are minted per send): it was not a duplicate of another message then.
    return m.id, m.relayed == true
  end
  if m.relayed then
    -- A relay may run twice (a crash after the insert, before the outbox entry was removed).
    if redis.call('EXISTS', base .. ':seen:' .. m.id) == 1 then
      return m.id, true
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
          return prior, true
        end
        redis.call('DEL', pk)
        redis.call('ZREM', base .. ':acked', prior)
      end
    end
    redis.call('HSET', ik, m.idem, m.id)
  end
  local enqueued = m.enqueuedAt or now
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
  return m.id, false
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
