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
-- written, so a refused append writes nothing. scripts.ts sends this file as one script
-- with its parts before it: the draft (append-draft.lua), the rules per request
-- (append-requests.lua) and the writes (append-write.lua).
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


  local draft = new_draft(base, runId)
  local results = {}
  local seq = run and tonumber(run.lastSeq) or 0
  local start_status = run and run.status or nil
  for index, req in ipairs(P.requests) do
    seq = seq + 1
    local at_n = math.max(now, run and tonumber(run.updatedAt) or 0)
    local d = {}
    for field, i in pairs(req.d) do d[field] = ARGV[i] end
    local result = { seq = seq, at = at_n }
    run = apply_request(draft, P, run, req, d, seq, fmt(at_n), result)
    -- Snapshots as they are right after this request, encoded now: later requests change the tables.
    result.run = cjson.encode(run)
    if result.entity then
      local text = cjson.encode(result.entity)
      draft.encoded[result.entity] = text
      result.entity = text
    end
    results[index] = result
  end

  local taken, taken_id = outbox_taken_id(P)
  if taken then fail({ code = 'MESSAGE_TAKEN', index = taken, id = taken_id }) end

  -- Every request passed: write the events, the views and the outbox.
  local freed, outbox, claims = write_append(draft, P, run, results, seq, start_status, now_ms, now_us)
  return reply(results, freed, outbox, claims)
end

return run_main(main)
