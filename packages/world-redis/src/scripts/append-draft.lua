-- Part of append.lua (scripts.ts joins them): the draft an append checks its requests
-- against before it writes anything. It holds the run's entities (steps, hooks, waits) as
-- read or as changed so far, the hook tokens the append claims and releases, and the
-- delivery ids its hook_received events carry. Entities are tables of JSON text, cached as
-- read (false: does not exist).

local function copy(t)
  local out = {}
  for k, v in pairs(t) do out[k] = v end
  return out
end

local function conflict(entity, id, message)
  fail({ code = 'ENTITY_CONFLICT', entity = entity, correlationId = id or cjson.null, message = message })
end

local function new_draft(base, runId)
  local draft = {
    cache = { s = {}, h = {}, w = {} },
    changed = { s = {}, h = {}, w = {} },
    created = { s = {}, h = {}, w = {} },
    -- Entity tables are never changed once put (a change puts a copy), so the text a result
    -- encoded one as is also what its hash field gets: its payload is encoded once.
    encoded = {},
    claimed = {},
    released = {},
    -- Delivery ids this append's hook_received events carry, with the hook that received each.
    delivered = {},
    deliveriesKey = base .. ':d:' .. runId,
  }
  local cache, changed, created = draft.cache, draft.changed, draft.created
  local claimed, released, delivered = draft.claimed, draft.released, draft.delivered

  function draft.delivery_holder(id)
    return delivered[id] or redis.call('HGET', draft.deliveriesKey, id) or nil
  end
  function draft.load(kind, id)
    local v = cache[kind][id]
    if v == nil then
      local raw = redis.call('HGET', base .. ':' .. kind .. ':' .. runId, id)
      if raw then v = cjson.decode(raw) else v = false end
      cache[kind][id] = v
    end
    return v
  end
  function draft.put(kind, id, entity, is_new)
    cache[kind][id] = entity
    if not changed[kind][id] then
      changed[kind][id] = true
      if is_new then table.insert(created[kind], id) end
    end
    return entity
  end
  function draft.local_holder(token)
    if claimed[token] then return claimed[token] end
    if released[token] then return nil end
    local hookId = redis.call('HGET', base .. ':t:' .. runId, token)
    if hookId then return hookId end
    return nil
  end
  function draft.dispose(hook, at)
    local token = cjson.decode(hook.token)
    claimed[token] = nil
    released[token] = true
    local h = copy(hook)
    h.status, h.updatedAt, h.disposedAt = '"disposed"', at, at
    return draft.put('h', cjson.decode(h.hookId), h, false)
  end
  function draft.release_hooks(at)
    local ids = {}
    local flat = redis.call('HGETALL', base .. ':t:' .. runId)
    for i = 2, #flat, 2 do ids[flat[i]] = true end
    for id in pairs(cache.h) do ids[id] = true end
    for id in pairs(ids) do
      local h = draft.load('h', id)
      if h and h.status == '"active"' then draft.dispose(h, at) end
    end
  end
  return draft
end
