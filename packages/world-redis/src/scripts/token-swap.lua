-- Step three: replace (or, with no replacement, delete) a token claim, only if it is still
-- exactly the one that was checked.
-- ARGV[1]: JSON { key, expected, replacement? }
local P = cjson.decode(ARGV[1])
if redis.call('GET', P.key) ~= P.expected then return 0 end
if P.replacement then redis.call('SET', P.key, P.replacement) else redis.call('DEL', P.key) end
return 1
