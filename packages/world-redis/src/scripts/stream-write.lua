-- Appends one chunk to a run's stream (or closes it), atomically with the run check, the
-- closed check and the idempotency key, so concurrent writers get dense, distinct indexes.
-- ARGV[1]: JSON { id, window, base, channel, runId, name, chunk?, idem?, close? }
local P = cjson.decode(ARGV[1])
local function main()
  local base, runId, name = P.base, P.runId, P.name
  local status = redis.call('HGET', base .. ':r:' .. runId, 'status')
  if not status then fail({ code = 'RUN_NOT_FOUND' }) end
  local now = clock()
  local metaKey = base .. ':x:' .. runId
  local raw = redis.call('HGET', metaKey, name)
  local meta = raw and cjson.decode(raw) or nil
  local idemKey = base .. ':xi:' .. runId .. ':' .. name
  if P.idem then
    local prior = redis.call('HGET', idemKey, P.idem)
    if prior then return cjson.encode({ index = tonumber(prior) }) end
  elseif not P.close then
    -- Without a key of the caller's, a chunk is still added once when its write is repeated.
    local earlier = repeat_find(base, runId, P.id)
    if earlier then return cjson.encode({ index = tonumber(earlier) }) end
  end
  if P.close then
    if meta and meta.closed == '1' then return cjson.encode({ index = cjson.null }) end
  elseif (meta and meta.closed == '1') or terminal[status] then
    -- The append that ended the run closed its streams: one opened after it would have
    -- nothing to close it, and its readers would wait forever.
    fail({ code = 'STREAM_CLOSED' })
  end
  if not meta then
    meta = { createdAt = fmt(now), closed = '0' }
    redis.call('RPUSH', base .. ':xo:' .. runId, name)
  end
  meta.updatedAt = fmt(now)
  local index = cjson.null
  if P.close then
    meta.closed = '1'
  else
    index = redis.call('RPUSH', base .. ':xc:' .. runId .. ':' .. name, fmt(now) .. '|' .. P.chunk) - 1
    if P.idem then
      redis.call('HSET', idemKey, P.idem, fmt(index))
    else
      repeat_record(base, runId, P.id, fmt(index), now, P.window)
    end
  end
  redis.call('HSET', metaKey, name, cjson.encode(meta))
  redis.call('PUBLISH', P.channel, 's:' .. runId)
  return cjson.encode({ index = index })
end
return run_main(main)
