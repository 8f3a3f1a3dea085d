-- Small JSON endpoints served by HAProxy itself (http-request use-service lua.NAME): a status
-- document built from the request and variables, and an echo of a posted body.

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    local map = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }
    return map[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function query_params(qs)
  local keys, params = {}, {}
  for k, v in qs:gmatch("([^&=]+)=?([^&]*)") do
    if params[k] == nil then keys[#keys + 1] = k end
    params[k] = v
  end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = json_string(k) .. ":" .. json_string(params[k]) end
  return "{" .. table.concat(parts, ",") .. "}"
end

core.register_service("status_json", "http", function(applet)
  local count = (applet:get_var("txn.hits") or 0) + 1
  applet:set_var("txn.hits", count)
  local body = "{" .. table.concat({
    '"service":"status"',
    '"method":' .. json_string(applet.method),
    '"path":' .. json_string(applet.path),
    '"query":' .. query_params(applet.qs),
    '"agent":' .. json_string(applet.headers["user-agent"] and applet.headers["user-agent"][0] or ""),
    '"score":' .. tostring(applet:get_var("txn.cs.score") or "null"),
    '"hits":' .. count,
  }, ",") .. "}\n"
  applet:set_status(200)
  applet:add_header("content-type", "application/json")
  applet:add_header("content-length", #body)
  applet:add_header("x-served-by", "lua")
  applet:start_response()
  applet:send(body)
end)

core.register_service("echo_body", "http", function(applet)
  local lines = {}
  while true do
    local line = applet:getline()
    if line == "" then break end
    lines[#lines + 1] = line:gsub("\n$", "")
  end
  applet:set_status(201, "Stored")
  applet:add_header("content-type", "text/plain")
  applet:start_response()
  for i, line in ipairs(lines) do
    applet:send(i .. ": " .. line:upper() .. "\n")
  end
end)
