-- CORS for HAProxy (in the style of haproxy-lua-cors): the request action remembers the
-- Origin and answers preflight requests itself; the response action adds the headers.
--
--   http-request lua.cors "GET,PUT,POST" "example.com,*.example.org" "X-Custom,Authorization"
--   http-response lua.cors_response

local function split(list)
  local out = {}
  for item in list:gmatch("[^,%s]+") do out[#out + 1] = item:lower() end
  return out
end

local function origin_allowed(origin, allowed)
  local host = origin:lower():match("^https?://([^/:]+)") or ""
  for _, a in ipairs(allowed) do
    if a == "*" or a == host then return true end
    local suffix = a:match("^%*(%..+)$")
    if suffix and host:sub(-#suffix) == suffix then return true end
  end
  return false
end

core.register_action("cors", { "http-req" }, function(txn, methods, origins, headers)
  local origin = txn.sf:req_hdr("origin")
  if origin == "" then return end
  local allowed = origin_allowed(origin, split(origins))
  txn:set_var("txn.cors.origin", allowed and origin or "")
  if txn.f:method() == "OPTIONS" and txn.sf:req_hdr("access-control-request-method") ~= "" then
    local reply = txn:reply({ status = 204 })
    if allowed then
      reply:add_header("access-control-allow-origin", origin)
      reply:add_header("access-control-allow-methods", methods)
      reply:add_header("access-control-allow-headers", headers)
      reply:add_header("access-control-max-age", "600")
      reply:add_header("vary", "Origin")
    end
    txn:done(reply)
  end
end, 3)

core.register_action("cors_response", { "http-res" }, function(txn)
  local origin = txn:get_var("txn.cors.origin")
  if origin and origin ~= "" then
    txn.http:res_set_header("access-control-allow-origin", origin)
    txn.http:res_add_header("vary", "Origin")
  end
end)
