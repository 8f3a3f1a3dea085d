-- Ban and captcha pages for an SPOE bouncer (in the style of CrowdSec's HAProxy bouncer): the
-- agent decides (txn.cs.remediation = "ban" or "captcha"), Lua answers the client. A solved
-- captcha leaves a cookie signed with the agent's per-client token, which lets the next
-- requests through.
--
--   global
--       lua-load remediation.lua
--   frontend fe
--       filter spoe engine cs config spoe.conf
--       http-request lua.remediate if { var(txn.cs.remediation) -m found }

local BAN_PAGE = [[<!DOCTYPE html>
<html><head><title>Access denied</title></head>
<body><h1>Access denied</h1>
<p>Your address %s was blocked by %s.</p>
<p>Reference: %s</p></body></html>
]]

local CAPTCHA_PAGE = [[<!DOCTYPE html>
<html><head><title>Verify you are human</title></head>
<body><form method="POST" action="%s">
<div class="captcha" data-sitekey="%s"></div>
<input type="hidden" name="redirect" value="%s">
</form></body></html>
]]

local function escape_html(s)
  return (s:gsub("[<>&\"']", {
    ["<"] = "&lt;", [">"] = "&gt;", ["&"] = "&amp;", ['"'] = "&quot;", ["'"] = "&#39;",
  }))
end

local function cookie(txn, name)
  local header = txn.sf:req_hdr("cookie")
  for k, v in header:gmatch("([^=;%s]+)=([^;]*)") do
    if k == name then return v end
  end
  return nil
end

local function ban(txn)
  local origin = txn:get_var("txn.cs.origin") or "the security policy"
  local reply = txn:reply()
  reply:set_status(403, "Forbidden")
  reply:add_header("content-type", "text/html; charset=utf-8")
  reply:add_header("cache-control", "no-store")
  reply:set_body(string.format(BAN_PAGE, escape_html(txn.sf:src()), escape_html(origin),
    escape_html(txn.sf:req_hdr("x-request-id"))))
  txn:done(reply)
end

local function captcha(txn)
  local token = txn:get_var("txn.cs.token")
  if token and cookie(txn, "cs_captcha") == token then
    txn:set_var("txn.cs.captcha_passed", true)
    return act.CONTINUE
  end
  txn:done({
    status = 200,
    headers = {
      ["content-type"] = { "text/html; charset=utf-8" },
      ["cache-control"] = { "no-cache", "no-store" },
      ["set-cookie"] = { "cs_pending=1; Path=/; HttpOnly" },
    },
    body = string.format(CAPTCHA_PAGE, "/captcha/verify", "site-key-42",
      escape_html(txn.f:path())),
  })
end

core.register_action("remediate", { "http-req" }, function(txn)
  local remediation = txn:get_var("txn.cs.remediation")
  if remediation == "ban" then
    return ban(txn)
  elseif remediation == "captcha" then
    return captcha(txn)
  end
  -- Unknown remediations are logged and let through (the bouncer's fail-open default).
  txn:Warning("unknown remediation " .. tostring(remediation))
end)
