-- Step one of creating a hook: claim its token in the token's own partition (hook tokens
-- are unique across runs, which live in other partitions). The claim names the run, not
-- the hook: which of the run's hooks holds the token is the run's own business, decided
-- atomically by its append. Returns the claim's nonce, or the other run holding it.
-- ARGV[1]: JSON { key, runId, nonce }
local P = cjson.decode(ARGV[1])
local current = redis.call('GET', P.key)
if not current then
  redis.call('SET', P.key, cjson.encode({ r = P.runId, n = P.nonce }))
  return cjson.encode({ nonce = P.nonce })
end
local holder = cjson.decode(current)
if holder.r == P.runId then return cjson.encode({ nonce = holder.n }) end
return cjson.encode({ held = holder, raw = current })
