-- queue.send, and the outbox relay's insert into the destination partition.
-- ARGV[1]: JSON { base, channel, retention, message = { id, topic, payload, group?, idem?, delay, enqueuedAt?, relayed?, claim? } }
local P = cjson.decode(ARGV[1])
local now = clock()
local id, deduplicated, held = queue_send(P.base, P.channel, P.message, now, P.retention)
return cjson.encode({ id = id, deduplicated = deduplicated, held = held })
