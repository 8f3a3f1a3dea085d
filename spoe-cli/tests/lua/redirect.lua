-- Redirect helpers: a fetch computing a site's canonical URL, a converter normalising paths,
-- and an action for the moves a table lists.
--
--   http-request redirect location %[lua.canonical_url(www.example.com)] code 301 if !canonical
--   http-request set-path %[path,lua.normalize_path]
--   http-request lua.moved

local MOVED = {
  ["/old-blog"] = "/blog",
  ["/docs/v1"] = "/docs/latest",
}

core.register_fetches("canonical_url", function(txn, host)
  local path = txn.f:path()
  local query = txn.f:query()
  local url = "https://" .. host .. path
  if query and query ~= "" then url = url .. "?" .. query end
  return url
end)

core.register_converters("normalize_path", function(path)
  path = path:gsub("//+", "/"):lower()
  if #path > 1 then path = path:gsub("/$", "") end
  return path
end)

core.register_action("moved", { "http-req" }, function(txn)
  local target = MOVED[txn.f:path()]
  if target then
    txn:done({ status = 308, headers = { location = { target } } })
  end
end)
