-- Part of append.lua (scripts.ts joins them): what each request does to the run's view and
-- its entities, checked against the draft (append-draft.lua). The rules are RunDraft's in
-- @cairn/core (run-draft.ts), one for one. A refusal fails the whole append; nothing has
-- been written when it does.

-- A run event other than its creation: changes `nr`, the run's next view (a copy of
-- `run`), and says whether `t` was one.
local function apply_run_event(draft, run, nr, t, d, at, runId)
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
    draft.release_hooks(at)
  elseif t == 'run_failed' then
    nr.status, nr.completedAt, nr.error = '"failed"', at, d.error
    draft.release_hooks(at)
  elseif t == 'run_cancelled' then
    nr.status, nr.completedAt = '"cancelled"', at
    if d.reason then nr.cancelReason = d.reason end
    draft.release_hooks(at)
  else
    return false
  end
  return true
end

-- A step, hook or wait event: puts the entity as it is after request `req` in the draft and
-- names it in `result`.
local function apply_entity_event(draft, P, req, d, at, result)
  local base, runId = P.base, P.runId
  local t, c = req.t, req.c
  if t == 'step_created' then
    if draft.load('s', c) then conflict('step', c, 'Step ' .. c .. ' already exists on run ' .. runId) end
    local s = { runId = P.runIdJ, stepId = req.cj, stepName = d.stepName, status = '"pending"',
      attempt = '0', retries = '0', createdAt = at, updatedAt = at, input = d.input }
    result.kind, result.entity = 'step', draft.put('s', c, s, true)
  elseif t == 'step_started' or t == 'step_completed' or t == 'step_failed' or t == 'step_retrying' then
    local current = draft.load('s', c)
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
    result.kind, result.entity = 'step', draft.put('s', c, s, false)
  elseif t == 'hook_created' then
    if draft.load('h', c) then conflict('hook', c, 'Hook ' .. c .. ' already exists on run ' .. runId) end
    local token = req.tok
    local holder = draft.local_holder(token)
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
    draft.claimed[token] = c
    draft.released[token] = nil
    result.kind, result.entity = 'hook', draft.put('h', c, h, true)
  elseif t == 'hook_received' or t == 'hook_disposed' then
    -- Checked before the hook's status: a repeat stays a repeat once its hook is gone,
    -- so its sender learns that the first delivery landed.
    local holder = req.dv and draft.delivery_holder(req.dv)
    if holder then
      fail({ code = 'DUPLICATE_DELIVERY', deliveryId = req.dv, hookId = holder })
    end
    local current = draft.load('h', c)
    if not current or current.status ~= '"active"' then fail({ code = 'HOOK_NOT_FOUND', id = c }) end
    if req.dv then draft.delivered[req.dv] = c end
    if t == 'hook_received' then
      local h = copy(current)
      h.receivedCount, h.updatedAt = fmt(tonumber(h.receivedCount) + 1), at
      result.entity = draft.put('h', c, h, false)
    else
      result.entity = draft.dispose(current, at)
    end
    result.kind = 'hook'
  elseif t == 'wait_created' then
    if draft.load('w', c) then conflict('wait', c, 'Wait ' .. c .. ' already exists on run ' .. runId) end
    local w = { runId = P.runIdJ, waitId = req.cj, status = '"waiting"', resumeAt = d.resumeAt, createdAt = at }
    result.kind, result.entity = 'wait', draft.put('w', c, w, true)
  elseif t == 'wait_completed' then
    local current = draft.load('w', c)
    if not current then fail({ code = 'WAIT_NOT_FOUND', id = c }) end
    if current.status == '"completed"' then
      conflict('wait', c, 'Wait ' .. c .. ' on run ' .. runId .. ' is already completed')
    end
    local w = copy(current)
    w.status, w.completedAt = '"completed"', at
    result.kind, result.entity = 'wait', draft.put('w', c, w, false)
  else
    fail({ code = 'UNKNOWN_EVENT', eventType = t })
  end
end

-- Request `req` (its event type `t`, correlation id `c`, field texts `d`) as event `seq`
-- at `at`: returns the run as it is after it.
local function apply_request(draft, P, run, req, d, seq, at, result)
  local t, runId = req.t, P.runId
  if t == 'run_created' then
    if run then conflict('run', nil, 'Run ' .. runId .. ' already exists') end
    local created = { runId = P.runIdJ, workflowName = d.workflowName, status = '"pending"', createdAt = at,
      updatedAt = at, lastSeq = fmt(seq), lastEventId = cjson.encode(event_id(seq)) }
    created.input, created.metadata, created.parentRunId = d.input, d.metadata, d.parentRunId
    return created
  end
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
  if not apply_run_event(draft, run, nr, t, d, at, runId) then
    apply_entity_event(draft, P, req, d, at, result)
  end
  return nr
end
