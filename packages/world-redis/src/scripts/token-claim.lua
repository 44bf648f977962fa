-- Step one of creating a hook: claim its token in the token's own partition (hook tokens
-- are unique across runs, which live in other partitions). The claim names the run, not
-- the hook: which of the run's hooks holds the token is the run's own business, decided
-- atomically by its append. Returns the claim's nonce, or the other run holding it.
--
-- `revoked` is the nonce of this run's claim that its append was just refused with. A
-- takeover (or a release) revokes a nonce and then replaces the claim; cut off in between,
-- it leaves the run's claim with a nonce no append of the run can ever use. Such a claim is
-- renewed here; whoever revoked it and still means to replace it finds the claim changed,
-- and checks the run again.
-- ARGV[1]: JSON { key, runId, nonce, revoked? }
local P = cjson.decode(ARGV[1])
local current = redis.call('GET', P.key)
local holder = current and cjson.decode(current)
if not current or (holder.r == P.runId and P.revoked ~= nil and holder.n == P.revoked) then
  redis.call('SET', P.key, cjson.encode({ r = P.runId, n = P.nonce }))
  return cjson.encode({ nonce = P.nonce })
end
if holder.r == P.runId then return cjson.encode({ nonce = holder.n }) end
return cjson.encode({ held = holder, raw = current })
