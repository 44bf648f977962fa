-- Step two of taking over a token another run claimed, run in that run's partition: is
-- the token live there? If not, revoke that claim's nonce, so an append of that run still
-- in flight with the old claim is refused (CLAIM_REVOKED) instead of creating a second
-- live holder. After this the claim may safely be replaced. A terminal run can create no
-- hook, so it needs no revocation.
-- ARGV[1]: JSON { base, runId, token, nonce }
local P = cjson.decode(ARGV[1])
local hookId = redis.call('HGET', P.base .. ':t:' .. P.runId, P.token)
if hookId then return cjson.encode({ live = hookId }) end
local status = redis.call('HGET', P.base .. ':r:' .. P.runId, 'status')
if status ~= '"completed"' and status ~= '"failed"' and status ~= '"cancelled"' then
  redis.call('SADD', P.base .. ':rv:' .. P.runId, P.token .. '|' .. P.nonce)
end
return cjson.encode({ free = true })
