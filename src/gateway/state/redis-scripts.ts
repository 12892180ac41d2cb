/**
 * The Lua scripts RedisStore runs. Redis runs a script atomically (no other command runs in
 * between, https://redis.io/docs/latest/develop/interact/programmability/eval-intro/), which is
 * what makes a lease safe across nodes: "is this address free?" and "it is mine now" are one step.
 * Addresses travel as decimal strings of the unsigned 32-bit value (exact in Lua's doubles).
 */

/**
 * KEYS: 1 byAddr hash (address -> holder), 2 byHolder hash (holder -> address), 3 cursor,
 *       4 holder-pool hash (holder -> pool key, so a reaper finds the lease of a vanished session)
 * ARGV: 1 holder, 2 first, 3 last, 4 own (never leased), 5 hint or '', 6 pool key
 * Returns the address, or nil when the pool is full.
 */
export const LEASE = `
local holder = ARGV[1]
local first = tonumber(ARGV[2])
local last = tonumber(ARGV[3])
local own = tonumber(ARGV[4])
local have = redis.call('HGET', KEYS[2], holder)
if have then return tonumber(have) end
local function take(a)
  if a < first or a > last or a == own then return false end
  if redis.call('HSETNX', KEYS[1], tostring(a), holder) == 1 then
    redis.call('HSET', KEYS[2], holder, tostring(a))
    redis.call('HSET', KEYS[4], holder, ARGV[6])
    return true
  end
  return false
end
if ARGV[5] ~= '' then
  local h = tonumber(ARGV[5])
  if h and take(h) then return h end
end
local c = tonumber(redis.call('GET', KEYS[3]) or ARGV[2])
if c < first or c > last then c = first end
for i = 1, last - first + 1 do
  local a = c
  if a >= last then c = first else c = a + 1 end
  if take(a) then
    redis.call('SET', KEYS[3], tostring(c))
    return a
  end
end
return false
`;

/** KEYS: 1 byAddr, 2 byHolder, 3 holder-pool. ARGV: 1 holder. Returns 1 if a lease was freed. */
export const RELEASE = `
local a = redis.call('HGET', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
if not a then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
if redis.call('HGET', KEYS[1], a) == ARGV[1] then redis.call('HDEL', KEYS[1], a) end
return 1
`;

/**
 * Writes a session record and indexes it; returns the record it replaced (or nil), so the writer
 * sees whether another node held the session (a move). The id counter is raised to the record's
 * id if it is behind (a record written back after a restore must not see its id handed out again).
 * KEYS: 1 the record, 2 the index set, 3 the id counter. ARGV: 1 JSON, 2 TTL in ms or '',
 * 3 cookie hash, 4 the record's id.
 */
export const PUT_SESSION = `
local old = redis.call('GET', KEYS[1])
if tonumber(redis.call('GET', KEYS[3]) or '0') < tonumber(ARGV[4]) then redis.call('SET', KEYS[3], ARGV[4]) end
if ARGV[2] == '' then
  redis.call('SET', KEYS[1], ARGV[1])
else
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
redis.call('SADD', KEYS[2], ARGV[3])
return old
`;

/**
 * Compare-and-set of a record (the reaper must not overwrite what a node wrote meanwhile).
 * KEYS: 1 the record. ARGV: 1 expected JSON, 2 new JSON, 3 TTL in ms or ''. Returns 1 if written.
 */
export const CAS_SESSION = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[3] == '' then
  redis.call('SET', KEYS[1], ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return 1
`;
