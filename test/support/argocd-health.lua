-- Runs an Argo CD health check as util/lua/lua.go does, once per object of OBJS, and prints one JSON
-- line per object about what the check returned. argocd-lua.ts puts HEALTH_SCRIPT, OBJS and
-- OPEN_LIBS before this text.

-- Taken before the sandbox closes: the harness needs them after the script ran.
local write, format, gsub, byte, concat, sort = io.write, string.format, string.gsub, string.byte, table.concat, table.sort
local string_mt = getmetatable("")

local function json(v)
  local t = type(v)
  if t == "nil" then
    return "null"
  elseif t == "boolean" then
    return tostring(v)
  elseif t == "number" then
    return format("%.17g", v)
  elseif t == "string" then
    return '"' .. gsub(v, '[%c"\\]', function(c)
      if c == '"' or c == "\\" then
        return "\\" .. c
      end
      return format("\\u%04x", byte(c))
    end) .. '"'
  elseif t == "table" then
    local n = 0
    for _ in pairs(v) do
      n = n + 1
    end
    local items = {}
    if n > 0 and n == #v then
      for i = 1, n do
        items[i] = json(v[i])
      end
      return "[" .. concat(items, ",") .. "]"
    end
    local keys = {}
    for k in pairs(v) do
      keys[#keys + 1] = tostring(k)
    end
    sort(keys)
    for i, k in ipairs(keys) do
      items[i] = json(k) .. ":" .. json(v[k])
    end
    return "{" .. concat(items, ",") .. "}"
  end
  return json("<" .. t .. ">")
end

local function report(value)
  write(json(value), "\n")
end

local chunk, syntax_error = loadstring(HEALTH_SCRIPT, "=health.lua")

local function sandbox()
  if OPEN_LIBS then
    return setmetatable({}, { __index = _G })
  end
  -- lua.go opens package, base, table and its safe os (time, date) only. Lua 5.1's base library
  -- also brings coroutine, which gopher-lua keeps apart, so it is left out here as well.
  local env = {
    assert = assert, collectgarbage = collectgarbage, dofile = dofile, error = error, getfenv = getfenv,
    getmetatable = getmetatable, ipairs = ipairs, load = load, loadfile = loadfile, loadstring = loadstring,
    module = module, next = next, pairs = pairs, pcall = pcall, print = print, rawequal = rawequal,
    rawget = rawget, rawset = rawset, require = require, select = select, setfenv = setfenv,
    setmetatable = setmetatable, tonumber = tonumber, tostring = tostring, type = type, unpack = unpack,
    xpcall = xpcall, _VERSION = _VERSION,
    package = package, table = table, os = { time = os.time, date = os.date },
  }
  env._G = env
  return env
end

-- Each object gets a fresh environment, as each check gets a fresh LState in lua.go.
local function check(obj)
  if not chunk then
    return { error = syntax_error }
  end
  local env = sandbox()
  env.obj = obj
  env.actionParams = {}
  setfenv(chunk, env)
  -- Without OpenString gopher-lua has no string metatable, so method calls on strings fail too.
  local string_index = string_mt.__index
  if not OPEN_LIBS then
    string_mt.__index = nil
  end
  local results
  local ok, run_error = pcall(function()
    local function keep(...)
      results = { n = select("#", ...), ... }
    end
    keep(chunk())
  end)
  string_mt.__index = string_index
  if not ok then
    return { error = tostring(run_error) }
  end
  -- lua.go reads the top of the stack: the last value returned, nil when there was none.
  local value = results[results.n]
  local out = { type = type(value) }
  if type(value) == "table" then
    out.empty = next(value) == nil
    out.status = value.status
    out.message = value.message
    out.statusType = type(value.status)
    out.messageType = type(value.message)
  end
  return out
end

for i = 1, #OBJS do
  report(check(OBJS[i]))
end
