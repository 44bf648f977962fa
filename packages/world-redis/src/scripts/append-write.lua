-- Part of append.lua (scripts.ts joins them): the writes of an append whose every request
-- passed. The events, the run's hash and its indexes, the entities the draft changed, the
-- hook tokens it claimed and released, the outbox, and the notifications. Returns what
-- the reply carries besides the results: the tokens freed, the outbox entries to relay,
-- the claims taken.
local function write_append(draft, P, run, results, seq, start_status, now_ms, now_us)
  local base, runId = P.base, P.runId
  local runKey = base .. ':r:' .. runId
  local eventsKey = base .. ':e:' .. runId
  local first = seq - #P.requests
  for index, req in ipairs(P.requests) do
    redis.call('HSET', eventsKey, fmt(first + index), fmt(results[index].at) .. '|' .. ARGV[req.raw])
  end
  local outbox, claims = outbox_write(P, now_ms)
  repeat_record(base, runId, P.id, fmt(first + 1) .. '|' .. fmt(now_ms) .. '|' .. claims, now_ms, P.window)
  if P.creates then
    -- Creation order across partitions: server microseconds, made strictly increasing per partition.
    local clockKey = base .. ':clock'
    local order = math.max(now_us, (tonumber(redis.call('GET', clockKey)) or 0) + 1)
    redis.call('SET', clockKey, fmt(order))
    run._order = cjson.encode(string.format('%016d', order) .. ':' .. runId)
  end
  local fields = {}
  for k, v in pairs(run) do
    table.insert(fields, k)
    table.insert(fields, v)
  end
  redis.call('HSET', runKey, unpack(fields))
  if run.waiting == nil then redis.call('HDEL', runKey, 'waiting') end
  local member = cjson.decode(run._order)
  if P.creates then
    redis.call('ZADD', base .. ':runs', 0, member)
    redis.call('ZADD', base .. ':runs:w:' .. run.workflowName, 0, member)
  end
  if run.status ~= start_status then
    if start_status then redis.call('ZREM', base .. ':runs:s:' .. start_status, member) end
    redis.call('ZADD', base .. ':runs:s:' .. run.status, 0, member)
  end
  for kind, ids in pairs(draft.changed) do
    local hashKey = base .. ':' .. kind .. ':' .. runId
    for id in pairs(ids) do
      local entity = draft.cache[kind][id]
      redis.call('HSET', hashKey, id, draft.encoded[entity] or cjson.encode(entity))
    end
    for _, id in ipairs(draft.created[kind]) do redis.call('RPUSH', base .. ':' .. kind .. 'o:' .. runId, id) end
  end
  local tokensKey = base .. ':t:' .. runId
  local freed = {}
  for token in pairs(draft.released) do
    redis.call('HDEL', tokensKey, token)
    table.insert(freed, token)
  end
  for token, hookId in pairs(draft.claimed) do redis.call('HSET', tokensKey, token, hookId) end
  -- Kept for the life of the run, like its log: a delivery id stays taken after its hook ends.
  for id, hookId in pairs(draft.delivered) do redis.call('HSET', draft.deliveriesKey, id, hookId) end
  if terminal[run.status] then
    redis.call('DEL', base .. ':rv:' .. runId)
    -- Streams end with their run (the capability streams.closedWithRun): the run's open
    -- streams close in this same step, and their live readers are woken below. (A batch to
    -- an ended run was refused by the checks, so the run ended here.)
    local metaKey = base .. ':x:' .. runId
    local metas = redis.call('HGETALL', metaKey)
    local closedAny = false
    for i = 1, #metas, 2 do
      local meta = cjson.decode(metas[i + 1])
      if meta.closed ~= '1' then
        meta.closed, meta.updatedAt = '1', run.updatedAt
        redis.call('HSET', metaKey, metas[i], cjson.encode(meta))
        closedAny = true
      end
    end
    if closedAny then redis.call('PUBLISH', P.channel, 's:' .. runId) end
  end
  -- The run's tail rides along (keys.ts, eventKey): a watch for the end skips the rest unread.
  redis.call('PUBLISH', P.channel, 'e:' .. runId .. ' ' .. fmt(seq) .. ' ' .. string.sub(run.status, 2, -2))
  return freed, outbox, claims
end
