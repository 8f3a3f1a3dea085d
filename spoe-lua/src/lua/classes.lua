-- HAProxy's Lua classes, as tables around one userdata ([0]) that holds the transaction, the
-- way hlua.c builds them: TXN (with f, sf, c, sc, http), HTTP, Fetches, Converters, Reply,
-- Concat, AppletHTTP. Loaded once per state; returns the constructors the Rust side uses.
local fetch_names, converter_names, resolve_fetch, resolve_converter = ...
local math_type, select, type = math.type, select, type

-- The object of each userdata's current call. An action's userdata serves call after call
-- (the Rust side lends it each transaction in turn), while each call gets a TXN object of its
-- own: an object a script kept from an earlier call is no longer its userdata's current one,
-- and reaches nothing (HAProxy's objects would point to a freed stream).
local current = setmetatable({}, { __mode = "k" })

-- The userdata of `obj` (a TXN or AppletHTTP object), if it is its call's. (`obj[0]` is set in
-- the object itself: reading it calls no metamethod.)
local ENDED = "the transaction of this object has ended"
local function ud(obj)
  local u = obj[0]
  if current[u] ~= obj then error(ENDED, 3) end
  return u
end

-- The call sites of fetch or converter `name`: `sites[key]` is the index of the call the Rust
-- side resolved (calls.rs) for key, or false for the by-name path. A call's key is its
-- arguments (after the object, and for converters the input) when there is none (NOARG) or
-- one string, integer or boolean; other calls take the by-name path. `resolved(...)` gives
-- the index for any arguments, resolving their key when first seen; at most 64 keys per name
-- are kept.
--
-- The methods look a one-argument call up in `sites` themselves: the common call then costs
-- a `select` and a table lookup, no Lua call (every VM instruction of a call goes through the
-- count hook). A float argument with an integral value finds the integer's site, as Lua
-- normalises the key; the by-name path would make the same call (it converts the argument to
-- that integer).
local NOARG = {}
local function call_sites(resolve, name)
  local sites, count = {}, 0
  local function resolved(...)
    local n, key = select("#", ...), nil
    if n == 0 then
      key = NOARG
    elseif n == 1 then
      local a = ...
      local t = type(a)
      if t == "string" or t == "boolean" or math_type(a) == "integer" then key = a end
    end
    if key == nil then return false end
    local id = sites[key]
    if id == nil then
      if count >= 64 then return false end
      id = resolve(name, ...) or false
      sites[key] = id
      count = count + 1
    end
    return id
  end
  return sites, resolved
end

local function method_table(names, method)
  local methods = {}
  for _, name in ipairs(names) do
    methods[(name:gsub("[.%-+]", "_"))] = method(name)
  end
  return methods
end

-- Fetches and Converters objects are { TXN object, as string }; the methods check the TXN
-- object inline (as `ud()` does) rather than call it.
local fetches_mt = {
  __index = method_table(fetch_names, function(name)
    local sites, resolved = call_sites(resolve_fetch, name)
    return function(obj, ...)
      local t = obj[1]
      local u = t[0]
      if current[u] ~= t then error(ENDED, 2) end
      local id
      if select("#", ...) == 1 then id = sites[...] end
      if id == nil then id = resolved(...) end
      if id then return u:fetch_at(id, obj[2]) end
      return u:fetch(name, obj[2], ...)
    end
  end),
  __name = "Fetches",
}
local converters_mt = {
  __index = method_table(converter_names, function(name)
    local sites, resolved = call_sites(resolve_converter, name)
    return function(obj, input, ...)
      local t = obj[1]
      local u = t[0]
      if current[u] ~= t then error(ENDED, 2) end
      local id
      if select("#", ...) == 1 then id = sites[...] end
      if id == nil then id = resolved(...) end
      if id then return u:convert_at(id, obj[2], input) end
      return u:convert(name, obj[2], input, ...)
    end
  end),
  __name = "Converters",
}

-- HTTP objects hold their TXN object ([0]).
local HTTP = {}
function HTTP.req_get_headers(h) return ud(h[0]):headers("req") end
function HTTP.res_get_headers(h) return ud(h[0]):headers("res") end
function HTTP.req_add_header(h, n, v) return ud(h[0]):header("req", "add", n, v) end
function HTTP.res_add_header(h, n, v) return ud(h[0]):header("res", "add", n, v) end
function HTTP.req_set_header(h, n, v) return ud(h[0]):header("req", "set", n, v) end
function HTTP.res_set_header(h, n, v) return ud(h[0]):header("res", "set", n, v) end
function HTTP.req_del_header(h, n) return ud(h[0]):header("req", "del", n) end
function HTTP.res_del_header(h, n) return ud(h[0]):header("res", "del", n) end
function HTTP.req_rep_header(h, n, re, rep) return ud(h[0]):header("req", "rep", n, re, rep) end
function HTTP.res_rep_header(h, n, re, rep) return ud(h[0]):header("res", "rep", n, re, rep) end
function HTTP.req_set_method(h, m) return ud(h[0]):set_request("method", m) end
function HTTP.req_set_path(h, p) return ud(h[0]):set_request("path", p) end
function HTTP.req_set_query(h, q) return ud(h[0]):set_request("query", q) end
function HTTP.req_set_uri(h, u) return ud(h[0]):set_request("uri", u) end
function HTTP.res_set_status(h, s, r) return ud(h[0]):set_status(s, r) end
local http_mt = { __index = HTTP, __name = "HTTP" }

local Reply = {}
function Reply.set_status(r, status, reason)
  r.status = math.tointeger(status) or error("'set_status' expects an integer status", 2)
  r.reason = reason
end
function Reply.add_header(r, name, value)
  local values = r.headers[name]
  if values == nil then
    values = {}
    r.headers[name] = values
  end
  values[#values + 1] = value
end
function Reply.del_header(r, name) r.headers[name] = nil end
function Reply.set_body(r, body) r.body = body end
local reply_mt = { __index = Reply, __name = "Reply" }

local function new_reply(init)
  local r = setmetatable({ status = 200, headers = {}, body = "" }, reply_mt)
  if type(init) == "table" then
    for k, v in pairs(init) do r[k] = v end
  end
  return r
end

-- Methods TXN and AppletHTTP share: variables and private data.
local function shared_methods(class)
  -- The variable methods check their object inline (as `ud()` does): scripts call them most.
  function class.get_var(t, name)
    local u = t[0]
    if current[u] ~= t then error(ENDED, 2) end
    return u:get_var(name)
  end
  function class.set_var(t, name, value, ifexist)
    local u = t[0]
    if current[u] ~= t then error(ENDED, 2) end
    return u:set_var(name, value, ifexist)
  end
  function class.unset_var(t, name)
    local u = t[0]
    if current[u] ~= t then error(ENDED, 2) end
    return u:unset_var(name)
  end
  function class.get_priv(t) return ud(t):get_priv() end
  function class.set_priv(t, data) return ud(t):set_priv(data) end
  return class
end

-- Fields created when first read: most actions never touch them.
local function lazy(class, with_http)
  return function(t, k)
    local m = class[k]
    if m ~= nil then return m end
    local v
    if k == "f" then v = setmetatable({ t, false }, fetches_mt)
    elseif k == "sf" then v = setmetatable({ t, true }, fetches_mt)
    elseif k == "c" then v = setmetatable({ t, false }, converters_mt)
    elseif k == "sc" then v = setmetatable({ t, true }, converters_mt)
    elseif k == "http" and with_http then v = setmetatable({ [0] = t }, http_mt)
    else return nil end
    -- A plain store (no __newindex on these objects): no C call.
    t[k] = v
    return v
  end
end

local TXN = shared_methods({})
function TXN.log(t, level, msg) t[0]:log(level, msg) end
function TXN.deflog(t, msg) t[0]:log(core.info, msg) end
function TXN.Debug(t, msg) t[0]:log(core.debug, msg) end
function TXN.Info(t, msg) t[0]:log(core.info, msg) end
function TXN.Warning(t, msg) t[0]:log(core.warning, msg) end
function TXN.Alert(t, msg) t[0]:log(core.alert, msg) end
function TXN.reply(t, init) return new_reply(init) end
function TXN.done(t, reply) return ud(t):done(reply) end
function TXN.set_loglevel(t, level) return ud(t):set_loglevel(level) end
for _, name in ipairs({ "set_tos", "set_mark", "set_priority_class", "set_priority_offset" }) do
  TXN[name] = function() error("txn:" .. name .. "() is not supported by the gateway", 2) end
end
local txn_mt = { __index = lazy(TXN, true), __name = "TXN" }

local Applet = shared_methods({})
function Applet.set_status(a, code, reason) return a[0]:set_status(code, reason) end
function Applet.add_header(a, name, value) return a[0]:add_header(name, value) end
function Applet.start_response(a) return a[0]:start_response() end
function Applet.getline(a) return a[0]:getline() end
function Applet.receive(a, size) return a[0]:receive(size) end
function Applet.send(a, msg) return a[0]:send(msg) end
local applet_mt = { __index = lazy(Applet, false), __name = "AppletHTTP" }

local Concat = {}
function Concat.add(c, s)
  if type(s) ~= "string" and type(s) ~= "number" then
    error("bad argument #1 to 'add' (string expected, got " .. type(s) .. ")", 2)
  end
  c.n = c.n + 1
  c[c.n] = s
end
function Concat.dump(c) return table.concat(c, "", 1, c.n) end
local concat_mt = { __index = Concat, __name = "Concat" }
core.concat = function() return setmetatable({ n = 0 }, concat_mt) end

-- Room for the lazy fields scripts read most (the constructor sizes the table for its four
-- fields): creating one later then stores into the table instead of growing it.
local function new_txn(access)
  local t = setmetatable({ [0] = access, f = nil, sf = nil, http = nil }, txn_mt)
  current[access] = t
  return t
end

return {
  txn = new_txn,
  -- An action's call: `f(txn, ...)` with a new TXN object around the action's userdata.
  -- (new_txn inline: one Lua call less per action.)
  action = function(access, f, ...)
    local t = setmetatable({ [0] = access, f = nil, sf = nil, http = nil }, txn_mt)
    current[access] = t
    return f(t, ...)
  end,
  applet = function(access, fields)
    fields[0] = access
    setmetatable(fields, applet_mt)
    current[access] = fields
    return fields
  end,
}
