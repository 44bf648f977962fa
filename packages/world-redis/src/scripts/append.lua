-- One append (a single event or a batch) to one run, atomically: the fence check, seq
-- allocation, the entity rules, the view updates and the transactional outbox.
--
-- Why one script and not WATCH/MULTI or a read followed by writes: a script runs alone on
-- the server, so the tail it checks is the tail it appends after, with no window for a
-- second writer in between. WATCH/MULTI would make N writers holding one tail all read,
-- all but one fail at EXEC, and retry the whole read; a conflict would carry no tail; and
-- every attempt costs several round trips. A read then client-side writes would let two
-- writers pass the same fence. Here a lost fence is decided in one round trip.
--
-- The rules mirror RunDraft in @cairn/core (run-draft.ts) one for one; the conformance
-- suite checks every one of them against this script. All checks come first, in request
-- order, against a draft held in Lua tables; only when every request passed is anything
-- written, so a refused append writes nothing.
--
-- ARGV[1]: JSON { id?, window, base, runId, runIdJ, channel, creates, last?, asOf?, createdAt?,
--   maxAhead, retention, requests = [{ t, c?, cj?, tok?, dv?, raw = i, d = { field = i } }],
--   tokens = { [token] = { n = nonce } | { r = runId, h = hookId } },
--   messages = [{ id, topic, payload, group?, idem?, delay, here, base, claim = { token, lease }?, chosen? }],
--   acks = [{ ack, id, token, topic, here, base }] }
-- Each request's JSON and its fields' JSON texts come as ARGV[i] of their own: nested in
-- ARGV[1], a step's kilobytes of input or output would be escaped twice and run through
-- cjson's decoder on every append; as arguments they are stored as they came.
local P = cjson.decode(ARGV[1])

-- The reply is an array: our own JSON first, then the run and entity snapshots it points
-- at by index. They carry user data, which encoded into the JSON would be escaped again.
local function reply(results, freed, outbox, claims)
  local out = { false }
  for _, result in ipairs(results) do
    table.insert(out, result.run)
    result.run = #out - 1
    if result.entity then
      table.insert(out, result.entity)
      result.entity = #out - 1
    end
  end
  out[1] = cjson.encode({ results = results, freed = freed, outbox = outbox, claims = claims })
  return out
end

-- The reply to a repeat of an append that committed (see repeat_find in lib.lua): its
-- events read back, with the run and each entity as they are now, which is as they were
-- right after it unless a later append changed them. Outbox entries still waiting are
-- handed back to be relayed (a relay is idempotent); released tokens are left to takeover.
local function repeated(outcome)
  local first, enqueued_at, claims = string.match(outcome, '^(%d+)|(%d+)|?([01]*)$')
  first, enqueued_at = tonumber(first), tonumber(enqueued_at)
  local base, runId = P.base, P.runId
  local flat = redis.call('HGETALL', base .. ':r:' .. runId)
  local run = {}
  for i = 1, #flat, 2 do run[flat[i]] = flat[i + 1] end
  local run_text = cjson.encode(run)
  local hashes = { step = 's', hook = 'h', wait = 'w' }
  local results = {}
  for index, req in ipairs(P.requests) do
    local seq = first + index - 1
    local entry = redis.call('HGET', base .. ':e:' .. runId, fmt(seq))
    local at = tonumber(string.sub(entry, 1, string.find(entry, '|', 1, true) - 1))
    local result = { seq = seq, at = at, run = run_text }
    local kind = string.match(req.t, '^(%a+)_')
    if hashes[kind] then
      result.kind = kind
      result.entity = redis.call('HGET', base .. ':' .. hashes[kind] .. ':' .. runId, req.c)
    end
    results[index] = result
  end
  return reply(results, {}, outbox_repeat(P, enqueued_at), claims)
end

local function main()
  local base, runId = P.base, P.runId
  local runKey = base .. ':r:' .. runId
  local now_ms, now_us = clock()
  local earlier = repeat_find(base, runId, P.id)
  if earlier then return repeated(earlier) end
  local run = nil
  if redis.call('EXISTS', runKey) == 1 then
    local flat = redis.call('HGETALL', runKey)
    run = {}
    for i = 1, #flat, 2 do run[flat[i]] = flat[i + 1] end
  end
  if not run and not P.creates then
    fail({ code = 'RUN_NOT_FOUND' })
  end
  local function tail_failure(expected, reason)
    return {
      code = 'FENCE_CONFLICT',
      expected = expected or cjson.null,
      tailEventId = run and cjson.decode(run.lastEventId) or '(none)',
      tailSeq = run and tonumber(run.lastSeq) or 0,
      reason = reason or cjson.null,
    }
  end
  -- The fence: the named (or resolved) tail must still be the run's tail.
  if run then
    local expected, fenced = nil, false
    if P.last ~= nil then
      expected, fenced = P.last, true
    elseif P.asOf ~= nil then
      -- createdAt never decreases within a run: binary search for the last event before asOf.
      local eventsKey = base .. ':e:' .. runId
      local lo, hi = 0, tonumber(run.lastSeq)
      while lo < hi do
        local mid = math.floor((lo + hi + 1) / 2)
        local entry = redis.call('HGET', eventsKey, fmt(mid))
        local at = tonumber(string.sub(entry, 1, string.find(entry, '|', 1, true) - 1))
        if at < P.asOf then lo = mid else hi = mid - 1 end
      end
      if lo > 0 then expected = event_id(lo) end
      fenced = true
    end
    if fenced and expected ~= cjson.decode(run.lastEventId) then
      fail(tail_failure(expected))
    end
  end
  local now = now_ms
  if P.createdAt ~= nil then
    local c = P.createdAt
    local last = run and tonumber(run.updatedAt) or 0
    if not (c >= now_ms and c <= now_ms + P.maxAhead and c >= last) then
      local reason
      if c < now_ms then reason = 'proposed createdAt ' .. fmt(c) .. ' is ' .. fmt(now_ms - c) .. ' ms in the past'
      else reason = 'proposed createdAt ' .. fmt(c) .. ' is out of range' end
      fail(tail_failure(run and cjson.decode(run.lastEventId) or nil, reason))
    end
    now = c
  end

  -- The draft. Entities are tables of JSON text, cached as read: false = does not exist.
  local kinds = { step = 's', hook = 'h', wait = 'w' }
  local cache = { s = {}, h = {}, w = {} }
  local changed = { s = {}, h = {}, w = {} }
  local created = { s = {}, h = {}, w = {} }
  -- Entity tables are never changed once put (a change puts a copy), so the text a result
  -- encoded one as is also what its hash field gets: its payload is encoded once.
  local encoded = {}
  local claimed, released = {}, {}
  -- Delivery ids this append's hook_received events carry, with the hook that received each.
  local delivered = {}
  local deliveriesKey = base .. ':d:' .. runId
  local function delivery_holder(id)
    return delivered[id] or redis.call('HGET', deliveriesKey, id) or nil
  end
  local function load(kind, id)
    local v = cache[kind][id]
    if v == nil then
      local raw = redis.call('HGET', base .. ':' .. kind .. ':' .. runId, id)
      if raw then v = cjson.decode(raw) else v = false end
      cache[kind][id] = v
    end
    return v
  end
  local function put(kind, id, entity, is_new)
    cache[kind][id] = entity
    if not changed[kind][id] then
      changed[kind][id] = true
      if is_new then table.insert(created[kind], id) end
    end
    return entity
  end
  local function copy(t)
    local out = {}
    for k, v in pairs(t) do out[k] = v end
    return out
  end
  local function conflict(entity, id, message)
    fail({ code = 'ENTITY_CONFLICT', entity = entity, correlationId = id or cjson.null, message = message })
  end
  local function local_holder(token)
    if claimed[token] then return claimed[token] end
    if released[token] then return nil end
    local hookId = redis.call('HGET', base .. ':t:' .. runId, token)
    if hookId then return hookId end
    return nil
  end
  local function dispose(hook, at)
    local token = cjson.decode(hook.token)
    claimed[token] = nil
    released[token] = true
    local h = copy(hook)
    h.status, h.updatedAt, h.disposedAt = '"disposed"', at, at
    return put('h', cjson.decode(h.hookId), h, false)
  end
  local function release_hooks(at)
    local ids = {}
    local flat = redis.call('HGETALL', base .. ':t:' .. runId)
    for i = 2, #flat, 2 do ids[flat[i]] = true end
    for id in pairs(cache.h) do ids[id] = true end
    for id in pairs(ids) do
      local h = load('h', id)
      if h and h.status == '"active"' then dispose(h, at) end
    end
  end

  local results = {}
  local seq = run and tonumber(run.lastSeq) or 0
  local start_status = run and run.status or nil
  for index, req in ipairs(P.requests) do
    seq = seq + 1
    local at_n = math.max(now, run and tonumber(run.updatedAt) or 0)
    local at = fmt(at_n)
    local t, c, d = req.t, req.c, {}
    for field, i in pairs(req.d) do d[field] = ARGV[i] end
    local result = { seq = seq, at = at_n }
    if t == 'run_created' then
      if run then conflict('run', nil, 'Run ' .. runId .. ' already exists') end
      run = { runId = P.runIdJ, workflowName = d.workflowName, status = '"pending"', createdAt = at,
        updatedAt = at, lastSeq = fmt(seq), lastEventId = cjson.encode(event_id(seq)) }
      run.input, run.metadata, run.parentRunId = d.input, d.metadata, d.parentRunId
    else
      if not run then fail({ code = 'RUN_NOT_FOUND' }) end
      if terminal[run.status] then
        fail({ code = 'RUN_TERMINAL', status = cjson.decode(run.status), eventType = t })
      end
      local nr = copy(run)
      nr.updatedAt, nr.lastSeq, nr.lastEventId = at, fmt(seq), cjson.encode(event_id(seq))
      -- Why a run waits to start stops mattering once it starts or ends.
      if t == 'run_started' or t == 'run_completed' or t == 'run_failed' or t == 'run_cancelled' then
        nr.waiting = nil
      end
      if t == 'run_started' then
        if run.status ~= '"pending"' then conflict('run', nil, 'Run ' .. runId .. ' was already started') end
        nr.status, nr.startedAt = '"running"', at
      elseif t == 'run_waiting' then
        if run.status ~= '"pending"' then
          conflict('run', nil, 'Run ' .. runId .. ' is already ' .. cjson.decode(run.status) .. '; refusing run_waiting')
        end
        -- The view is built here as text, reason first and since last, so a later report
        -- reads both back without parsing the message (which came from a user's worker).
        local since = at
        if run.waiting and string.match(run.waiting, '^{"reason":("[^"]*")') == d.reason then
          since = string.match(run.waiting, '"since":(%d+)}$')
        end
        nr.waiting = '{"reason":' .. d.reason .. ',"message":' .. d.message
          .. (d.workerWorkflows and (',"workerWorkflows":' .. d.workerWorkflows) or '')
          .. ',"since":' .. since .. '}'
      elseif t == 'run_completed' then
        nr.status, nr.completedAt = '"completed"', at
        if d.output then nr.output = d.output end
        release_hooks(at)
      elseif t == 'run_failed' then
        nr.status, nr.completedAt, nr.error = '"failed"', at, d.error
        release_hooks(at)
      elseif t == 'run_cancelled' then
        nr.status, nr.completedAt = '"cancelled"', at
        if d.reason then nr.cancelReason = d.reason end
        release_hooks(at)
      elseif t == 'step_created' then
        if load('s', c) then conflict('step', c, 'Step ' .. c .. ' already exists on run ' .. runId) end
        local s = { runId = P.runIdJ, stepId = req.cj, stepName = d.stepName, status = '"pending"',
          attempt = '0', retries = '0', createdAt = at, updatedAt = at, input = d.input }
        result.kind, result.entity = 'step', put('s', c, s, true)
      elseif t == 'step_started' or t == 'step_completed' or t == 'step_failed' or t == 'step_retrying' then
        local current = load('s', c)
        if not current then fail({ code = 'STEP_NOT_FOUND', id = c }) end
        if current.status == '"completed"' or current.status == '"failed"' then
          conflict('step', c, 'Step ' .. c .. ' on run ' .. runId .. ' is already ' .. cjson.decode(current.status)
            .. '; refusing ' .. t)
        end
        local s = copy(current)
        s.updatedAt = at
        if t == 'step_started' then
          s.status, s.attempt = '"running"', fmt(tonumber(s.attempt) + 1)
          if not s.startedAt then s.startedAt = at end
          s.retryAfter = nil
        elseif t == 'step_completed' then
          s.status, s.completedAt = '"completed"', at
          if d.output then s.output = d.output end
        elseif t == 'step_failed' then
          s.status, s.completedAt, s.error = '"failed"', at, d.error
        else
          s.status, s.error, s.retries = '"pending"', d.error, fmt(tonumber(s.retries) + 1)
          if d.retryAfter then s.retryAfter = d.retryAfter end
        end
        result.kind, result.entity = 'step', put('s', c, s, false)
      elseif t == 'hook_created' then
        if load('h', c) then conflict('hook', c, 'Hook ' .. c .. ' already exists on run ' .. runId) end
        local token = req.tok
        local holder = local_holder(token)
        if holder then
          fail({ code = 'HOOK_TOKEN_CONFLICT', token = token, runId = runId, hookId = holder })
        end
        local claim = P.tokens[token]
        if claim and claim.r then
          fail({ code = 'HOOK_TOKEN_CONFLICT', token = token, runId = claim.r, hookId = claim.h })
        end
        if not claim or redis.call('SISMEMBER', base .. ':rv:' .. runId, token .. '|' .. claim.n) == 1 then
          -- Our claim on the token was found stale and taken over: claim again, then retry.
          fail({ code = 'CLAIM_REVOKED', token = token })
        end
        local h = { runId = P.runIdJ, hookId = req.cj, token = cjson.encode(token), status = '"active"',
          receivedCount = '0', createdAt = at, updatedAt = at, metadata = d.metadata }
        claimed[token] = c
        released[token] = nil
        result.kind, result.entity = 'hook', put('h', c, h, true)
      elseif t == 'hook_received' or t == 'hook_disposed' then
        -- Checked before the hook's status: a repeat stays a repeat once its hook is gone,
        -- so its sender learns that the first delivery landed.
        local holder = req.dv and delivery_holder(req.dv)
        if holder then
          fail({ code = 'DUPLICATE_DELIVERY', deliveryId = req.dv, hookId = holder })
        end
        local current = load('h', c)
        if not current or current.status ~= '"active"' then fail({ code = 'HOOK_NOT_FOUND', id = c }) end
        if req.dv then delivered[req.dv] = c end
        if t == 'hook_received' then
          local h = copy(current)
          h.receivedCount, h.updatedAt = fmt(tonumber(h.receivedCount) + 1), at
          result.entity = put('h', c, h, false)
        else
          result.entity = dispose(current, at)
        end
        result.kind = 'hook'
      elseif t == 'wait_created' then
        if load('w', c) then conflict('wait', c, 'Wait ' .. c .. ' already exists on run ' .. runId) end
        local w = { runId = P.runIdJ, waitId = req.cj, status = '"waiting"', resumeAt = d.resumeAt, createdAt = at }
        result.kind, result.entity = 'wait', put('w', c, w, true)
      elseif t == 'wait_completed' then
        local current = load('w', c)
        if not current then fail({ code = 'WAIT_NOT_FOUND', id = c }) end
        if current.status == '"completed"' then
          conflict('wait', c, 'Wait ' .. c .. ' on run ' .. runId .. ' is already completed')
        end
        local w = copy(current)
        w.status, w.completedAt = '"completed"', at
        result.kind, result.entity = 'wait', put('w', c, w, false)
      else
        fail({ code = 'UNKNOWN_EVENT', eventType = t })
      end
      run = nr
    end
    -- Snapshots as they are right after this request, encoded now: later requests change the tables.
    result.run = cjson.encode(run)
    if result.entity then
      local text = cjson.encode(result.entity)
      encoded[result.entity] = text
      result.entity = text
    end
    results[index] = result
  end

  local taken, taken_id = outbox_taken_id(P)
  if taken then fail({ code = 'MESSAGE_TAKEN', index = taken, id = taken_id }) end

  -- Every request passed: write the events, the views and the outbox.
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
  for kind, ids in pairs(changed) do
    local hashKey = base .. ':' .. kind .. ':' .. runId
    for id in pairs(ids) do
      local entity = cache[kind][id]
      redis.call('HSET', hashKey, id, encoded[entity] or cjson.encode(entity))
    end
    for _, id in ipairs(created[kind]) do redis.call('RPUSH', base .. ':' .. kind .. 'o:' .. runId, id) end
  end
  local tokensKey = base .. ':t:' .. runId
  local freed = {}
  for token in pairs(released) do
    redis.call('HDEL', tokensKey, token)
    table.insert(freed, token)
  end
  for token, hookId in pairs(claimed) do redis.call('HSET', tokensKey, token, hookId) end
  -- Kept for the life of the run, like its log: a delivery id stays taken after its hook ends.
  for id, hookId in pairs(delivered) do redis.call('HSET', deliveriesKey, id, hookId) end
  if terminal[run.status] then
    redis.call('DEL', base .. ':rv:' .. runId)
    -- Streams end with their run (the capability streams.closedWithRun): the run's open
    -- streams close in this same step, and their live readers are woken below. (A batch to
    -- an ended run was refused above, so the run ended here.)
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
  return reply(results, freed, outbox, claims)
end

return run_main(main)
