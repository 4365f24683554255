// The server-side Lua script of the Redis ledger (redis_ledger.h). One script,
// dispatched on ARGV[1]; ARGV[2] is the caller's time in ms. Amounts are
// integers passed as strings; the script formats every number it writes with
// %d so that Redis never sees a float.
namespace tollgate::ledger::internal {

extern const char kRedisScript[] = R"lua(
local op = ARGV[1]
local now = tonumber(ARGV[2])
local function I(n) return string.format('%d', n) end
local function num(v) return tonumber(v) or 0 end

-- Drops sliding-log entries that left the window (at <= now - len) when
-- the hash's `_old` (a lower bound of the oldest entry's time) says some
-- may have; keeps `_sum`, `_res` and `_old` up to date. `old` is the `_old`
-- field as read (or nil). Returns the `_sum` adjustment (<= 0), whether it
-- wrote `_old`, and the `_res` adjustment (<= 0: entries of reservations
-- still open). A log that does not exist (expired, or never admitted on) is
-- left alone: writing `_old` would create it without an expiry.
local function prune(z, h, len, old)
  if len <= 0 then return 0, false, 0 end
  if old and tonumber(old) > now - len then return 0, false, 0 end
  if not old and redis.call('EXISTS', h) == 0 then return 0, false, 0 end
  local s, r = 0, 0
  while true do
    local gone = redis.call('ZRANGEBYSCORE', z, '-inf', I(now - len), 'LIMIT', 0, 500)
    if #gone == 0 then break end
    local amounts = redis.call('HMGET', h, unpack(gone))
    for j, a in ipairs(amounts) do
      s = s + num(a)
      if redis.call('EXISTS', 'tg:r:' .. gone[j]) == 1 then r = r + num(a) end
    end
    redis.call('HDEL', h, unpack(gone))
    redis.call('ZREM', z, unpack(gone))
  end
  local first = redis.call('ZRANGE', z, 0, 0, 'WITHSCORES')
  local new_old = now
  if #first == 2 then new_old = tonumber(first[2]) end
  if s ~= 0 then redis.call('HINCRBY', h, '_sum', I(-s)) end
  if r ~= 0 then redis.call('HINCRBY', h, '_res', I(-r)) end
  redis.call('HSET', h, '_old', I(new_old))
  return -s, true, -r
end

-- Milliseconds until `need` units have left the window, or -1. Walks the
-- oldest entries in chunks (usually the first chunk answers).
local function retry_ms(z, h, len, need)
  local freed, from = 0, 0
  while true do
    local entries = redis.call('ZRANGE', z, from, from + 63, 'WITHSCORES')
    if #entries == 0 then return -1 end
    local ids = {}
    for j = 1, #entries, 2 do ids[#ids + 1] = entries[j] end
    local amounts = redis.call('HMGET', h, unpack(ids))
    for j, a in ipairs(amounts) do
      freed = freed + num(a)
      if freed >= need then return tonumber(entries[2 * j]) + len - now end
    end
    from = from + 64
  end
end

-- Closes reservation id: 'settle' (cost, tokens), 'release' or 'expire'.
-- `_sum` counts the units of entries in the window; `_res` those of them
-- that belong to open reservations (an open reservation whose entry left the
-- window counts in neither: prune took it out of both), so 0 <= `_res` <=
-- `_sum`. A reservation whose entry is gone changes nothing in the log.
local function close(id, mode, cost, tokens)
  local raw = redis.call('GET', 'tg:r:' .. id)
  if not raw then
    redis.call('ZREM', 'tg:rexp', id)
    return 0
  end
  local r = cjson.decode(raw)
  for _, c in ipairs(r.c) do
    local a = tonumber(c.a)
    if c.t == 'b' then
      -- A budget counter expires a day after its window ends; one closed
      -- later has nothing left to charge (HINCRBY would recreate it as a
      -- stray key without expiry).
      if redis.call('EXISTS', c.k) == 1 then
        redis.call('HINCRBY', c.k, 'reserved', I(-a))
        if mode == 'settle' then redis.call('HINCRBY', c.k, 'spent', I(cost))
        elseif mode == 'expire' then redis.call('HINCRBY', c.k, 'spent', I(a)) end
      end
    elseif mode ~= 'release' and c.u ~= 'tokens' then
      -- A request keeps its 1 (or what it reserved): only `_res` changes.
      -- HEXISTS first: never recreate an expired log (a stray key).
      if redis.call('HEXISTS', c.k, id) == 1 then
        redis.call('HINCRBY', c.k, '_res', I(-a))
        if c.len == 0 then redis.call('HDEL', c.k, id) end
      end
    else
      local v = redis.call('HMGET', c.k, id, '_sum', '_res')
      if v[1] then  -- else the entry left the window (or the log expired): nothing to update
        local cur = tonumber(v[1])
        local res = num(v[3]) - cur
        local units = cur
        if mode == 'release' then units = 0
        elseif mode == 'settle' then units = tokens end
        local sum = num(v[2]) + units - cur
        if c.len == 0 or units == 0 then
          redis.call('HDEL', c.k, id)
          redis.call('HSET', c.k, '_sum', I(sum), '_res', I(res))
          if c.len > 0 then redis.call('ZREM', c.z, id) end
        else
          redis.call('HSET', c.k, id, I(units), '_sum', I(sum), '_res', I(res))
        end
      end
    end
  end
  redis.call('DEL', 'tg:r:' .. id)
  redis.call('ZREM', 'tg:rexp', id)
  return 1
end

local function sweep()
  local due = redis.call('ZRANGEBYSCORE', 'tg:rexp', '-inf', I(now), 'LIMIT', 0, 16)
  for _, id in ipairs(due) do close(id, 'expire', 0, 0) end
  return #due
end

if op == 'reserve' then
  local ttl = tonumber(ARGV[3])
  local nb, nl = tonumber(ARGV[4]), tonumber(ARGV[5])
  local i = 6
  local bs, ls = {}, {}
  for b = 1, nb do
    bs[b] = {k = ARGV[i], limit = tonumber(ARGV[i + 1]), a = tonumber(ARGV[i + 2]), exp = tonumber(ARGV[i + 3]),
             name = ARGV[i + 4], key = ARGV[i + 5], win = ARGV[i + 6], start = ARGV[i + 7]}
    i = i + 8
  end
  for l = 1, nl do
    ls[l] = {z = ARGV[i], h = ARGV[i + 1], max = tonumber(ARGV[i + 2]), a = tonumber(ARGV[i + 3]),
             len = tonumber(ARGV[i + 4]), name = ARGV[i + 5], key = ARGV[i + 6], win = ARGV[i + 7], unit = ARGV[i + 8]}
    ls[l].horizon = math.max(ls[l].len, ttl)
    i = i + 9
  end
  for b, x in ipairs(bs) do
    local v = redis.call('HMGET', x.k, 'spent', 'reserved', 'limit')
    local used = num(v[1]) + num(v[2])
    x.fresh = not v[3]
    x.same_limit = v[3] and tonumber(v[3]) == x.limit
    if used + x.a > x.limit then return {1, b, I(x.limit - used), 0} end
  end
  for l, x in ipairs(ls) do
    local v = redis.call('HMGET', x.h, '_sum', 'max', '_res', '_old', '_exp')
    local adj, wrote_old, res_adj = prune(x.z, x.h, x.len, v[4])
    local used = num(v[1]) + adj
    x.sum, x.res, x.exp = used, num(v[3]) + res_adj, num(v[5])
    x.fresh = not v[2]
    x.same_max = v[2] and tonumber(v[2]) == x.max
    x.has_old = v[4] or wrote_old
    if used + x.a > x.max then
      local retry = -1
      if x.len > 0 and x.a <= x.max then retry = retry_ms(x.z, x.h, x.len, used + x.a - x.max) end
      return {2, l, I(x.max - used), I(retry)}
    end
  end
  local id = redis.call('INCR', 'tg:seq')
  -- Every 8th admission charges up to 16 expired reservations (expiry moves
  -- reserved to spent, so it never changes what fits: it can wait).
  if id % 8 == 0 then sweep() end
  for _, x in ipairs(bs) do
    redis.call('HINCRBY', x.k, 'reserved', I(x.a))
    if x.fresh then
      redis.call('HSET', x.k, 'limit', I(x.limit), 'name', x.name, 'key', x.key, 'window', x.win, 'start', x.start)
      -- Relative to the server's clock, so that a caller clock off by any
      -- amount (or a test's fixed clock) never expires a live key.
      if x.exp > 0 then redis.call('PEXPIRE', x.k, I(math.max(1000, x.exp - now))) end
    elseif not x.same_limit then
      redis.call('HSET', x.k, 'limit', I(x.limit))
    end
  end
  for _, x in ipairs(ls) do
    -- One HSET: the entry, the totals, and what changed of the rest.
    local f = {id, I(x.a), '_sum', I(x.sum + x.a), '_res', I(x.res + x.a)}
    if x.fresh then
      for _, e in ipairs({'name', x.name, 'key', x.key, 'window', x.win, 'unit', x.unit}) do f[#f + 1] = e end
    end
    if not x.same_max then f[#f + 1] = 'max'; f[#f + 1] = I(x.max) end
    if x.len > 0 then
      if not x.has_old then f[#f + 1] = '_old'; f[#f + 1] = I(now) end
      -- Both keys outlive the last admission by at least the window and the
      -- reservation ttl (its entry and its reservation); set to twice that
      -- ahead, renewed when less than once is left: one PEXPIRE per key
      -- now and then, not per admission.
      if x.exp < now + x.horizon then f[#f + 1] = '_exp'; f[#f + 1] = I(now + 2 * x.horizon) end
    end
    redis.call('HSET', x.h, unpack(f))
    if x.len > 0 then
      redis.call('ZADD', x.z, I(now), id)
      if x.exp < now + x.horizon then
        redis.call('PEXPIRE', x.z, I(2 * x.horizon))
        redis.call('PEXPIRE', x.h, I(2 * x.horizon))
      end
    end
  end
  -- The reservation's charges, as JSON built by the client from the same
  -- arguments (saves building and encoding it here):
  -- {"c":[{"t":"b","k":KEY,"a":"AMOUNT"}, {"t":"l","k":HASH,"z":ZSET,"a":"AMOUNT","u":UNIT,"len":MS}]}
  redis.call('SET', 'tg:r:' .. id, ARGV[i])
  redis.call('ZADD', 'tg:rexp', I(now + ttl), id)
  return {0, id}
elseif op == 'settle' or op == 'release' then
  return close(ARGV[3], op, tonumber(ARGV[4]) or 0, tonumber(ARGV[5]) or 0)
elseif op == 'expire' then
  return sweep()
elseif op == 'move' then
  sweep()
  local id = ARGV[3]
  local cost, tokens = tonumber(ARGV[4]), tonumber(ARGV[5])
  local raw = redis.call('GET', 'tg:r:' .. id)
  if not raw then return {3} end
  local r = cjson.decode(raw)
  local news, curs = {}, {}
  for j, c in ipairs(r.c) do
    local a = tonumber(c.a)
    if c.t == 'b' then
      local v = redis.call('HMGET', c.k, 'spent', 'reserved', 'limit', 'name', 'key', 'window', 'start')
      local used = num(v[1]) + num(v[2]) - a
      news[j] = cost
      curs[j] = v[3]  -- nil: the counter expired with its window (nothing to check or charge)
      if v[3] and used + cost > num(v[3]) then return {1, v[4], v[5], v[6], v[7], v[3], I(num(v[3]) - used), I(cost)} end
    else
      local v = redis.call('HMGET', c.k, id, '_sum', 'max', 'name', 'key', 'window', '_old')
      local pruned = prune(c.z, c.k, c.len, v[7])  -- (first value only)
      if pruned ~= 0 then v[1] = redis.call('HGET', c.k, id) end
      local cur = num(v[1])
      curs[j] = v[1]
      local new = a
      if c.u == 'tokens' then new = tokens end
      news[j] = new
      local used = num(v[2]) + pruned - cur
      if used + new > num(v[3]) then
        local retry = -1
        if c.len > 0 and new <= num(v[3]) then retry = retry_ms(c.z, c.k, c.len, used + new - num(v[3])) end
        return {2, v[4], v[5], v[6], '', v[3], I(num(v[3]) - used), I(new), I(retry)}
      end
    end
  end
  for j, c in ipairs(r.c) do
    local a = tonumber(c.a)
    if c.t == 'b' then
      if curs[j] then redis.call('HINCRBY', c.k, 'reserved', I(news[j] - a)) end
    else
      if curs[j] then  -- (an entry that left the window is in neither `_sum` nor `_res`)
        redis.call('HINCRBY', c.k, '_res', I(news[j] - tonumber(curs[j])))
        redis.call('HINCRBY', c.k, '_sum', I(news[j] - tonumber(curs[j])))
        redis.call('HSET', c.k, id, I(news[j]))
      end
    end
    c.a = I(news[j])
  end
  redis.call('SET', 'tg:r:' .. id, cjson.encode(r))
  return {0, id}
elseif op == 'peek' then
  sweep()
  local nb, nl = tonumber(ARGV[3]), tonumber(ARGV[4])
  local out = {}
  local i = 5
  for _ = 1, nb do
    local v = redis.call('HMGET', ARGV[i], 'spent', 'reserved')
    out[#out + 1] = I(num(v[1])); out[#out + 1] = I(num(v[2]))
    i = i + 1
  end
  for _ = 1, nl do
    local v = redis.call('HMGET', ARGV[i + 1], '_sum', '_res', '_old')
    local adj, _, res_adj = prune(ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), v[3])
    local sum = num(v[1]) + adj
    out[#out + 1] = I(sum); out[#out + 1] = I(num(v[2]) + res_adj)
    i = i + 3
  end
  return out
end
return redis.error_reply('tollgate ledger script: unknown op ' .. tostring(op))
)lua";

}  // namespace tollgate::ledger::internal
