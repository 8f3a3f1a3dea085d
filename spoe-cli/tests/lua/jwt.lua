-- JWT (HS256) verification for HAProxy, in plain Lua 5.3 (no C module): the bearer token of
-- the Authorization header is checked against a shared secret, its expiry against the clock.
--
--   global
--       lua-load jwt.lua
--   frontend fe
--       http-request lua.jwt_verify secret-key-value
--       http-request deny deny_status 401 unless { var(txn.jwt.valid) -m bool }
--       http-request set-header x-user %[var(txn.jwt.sub)]
--
-- Sets txn.jwt.valid (0/1), txn.jwt.reason (why not), and txn.jwt.sub, txn.jwt.scope.

local K = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}

local function rrot(x, n) return ((x >> n) | (x << (32 - n))) & 0xffffffff end

local function sha256(msg)
  local h0, h1, h2, h3 = 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a
  local h4, h5, h6, h7 = 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19
  local ml = #msg * 8
  msg = msg .. "\128" .. string.rep("\0", (55 - #msg) % 64) .. string.pack(">I8", ml)
  local w = {}
  for chunk = 1, #msg, 64 do
    for i = 0, 15 do w[i] = string.unpack(">I4", msg, chunk + i * 4) end
    for i = 16, 63 do
      local s0 = rrot(w[i - 15], 7) ~ rrot(w[i - 15], 18) ~ (w[i - 15] >> 3)
      local s1 = rrot(w[i - 2], 17) ~ rrot(w[i - 2], 19) ~ (w[i - 2] >> 10)
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) & 0xffffffff
    end
    local a, b, c, d, e, f, g, h = h0, h1, h2, h3, h4, h5, h6, h7
    for i = 0, 63 do
      local S1 = rrot(e, 6) ~ rrot(e, 11) ~ rrot(e, 25)
      local ch = (e & f) ~ (~e & g)
      local t1 = (h + S1 + ch + K[i + 1] + w[i]) & 0xffffffff
      local S0 = rrot(a, 2) ~ rrot(a, 13) ~ rrot(a, 22)
      local maj = (a & b) ~ (a & c) ~ (b & c)
      local t2 = (S0 + maj) & 0xffffffff
      h, g, f, e, d, c, b, a = g, f, e, (d + t1) & 0xffffffff, c, b, a, (t1 + t2) & 0xffffffff
    end
    h0, h1, h2, h3 = (h0 + a) & 0xffffffff, (h1 + b) & 0xffffffff, (h2 + c) & 0xffffffff, (h3 + d) & 0xffffffff
    h4, h5, h6, h7 = (h4 + e) & 0xffffffff, (h5 + f) & 0xffffffff, (h6 + g) & 0xffffffff, (h7 + h) & 0xffffffff
  end
  return string.pack(">I4I4I4I4I4I4I4I4", h0, h1, h2, h3, h4, h5, h6, h7)
end

local function hmac_sha256(key, msg)
  if #key > 64 then key = sha256(key) end
  key = key .. string.rep("\0", 64 - #key)
  local ipad = key:gsub(".", function(c) return string.char(c:byte() ~ 0x36) end)
  local opad = key:gsub(".", function(c) return string.char(c:byte() ~ 0x5c) end)
  return sha256(opad .. sha256(ipad .. msg))
end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
local B64_INDEX = {}
for i = 1, #B64 do B64_INDEX[B64:byte(i)] = i - 1 end

local function b64url_decode(s)
  local out, bits, nbits = {}, 0, 0
  for i = 1, #s do
    local v = B64_INDEX[s:byte(i)]
    if v == nil then return nil end
    bits = (bits << 6) | v
    nbits = nbits + 6
    if nbits >= 8 then
      nbits = nbits - 8
      out[#out + 1] = string.char((bits >> nbits) & 0xff)
    end
  end
  return table.concat(out)
end

local function b64url_encode(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = (a << 16) | ((b or 0) << 8) | (c or 0)
    local chars = 2 + (b and 1 or 0) + (c and 1 or 0)
    for j = 1, chars do
      local idx = (n >> (18 - 6 * (j - 1))) & 63
      out[#out + 1] = B64:sub(idx + 1, idx + 1)
    end
  end
  return table.concat(out)
end

-- Just enough JSON for a JWT's flat objects: strings, numbers, booleans.
local function claims(json)
  local t = {}
  for k, v in json:gmatch('"([^"]+)"%s*:%s*("[^"]*"?)') do t[k] = v:sub(2, -2) end
  for k, v in json:gmatch('"([^"]+)"%s*:%s*(%-?%d+)') do t[k] = math.tointeger(tonumber(v)) end
  for k, v in json:gmatch('"([^"]+)"%s*:%s*(true)') do t[k] = true end
  return t
end

local function verify(token, secret, now)
  local h, p, s = token:match("^([%w_-]+)%.([%w_-]+)%.([%w_-]+)$")
  if not h then return false, "malformed" end
  local header = b64url_decode(h)
  if not header or claims(header).alg ~= "HS256" then return false, "algorithm" end
  if b64url_encode(hmac_sha256(secret, h .. "." .. p)) ~= s then return false, "signature" end
  local payload = claims(b64url_decode(p) or "")
  if payload.exp and payload.exp < now then return false, "expired" end
  return true, payload
end

core.register_action("jwt_verify", { "http-req" }, function(txn, secret)
  local auth = txn.sf:req_hdr("authorization")
  local token = auth:match("^[Bb]earer%s+(%S+)$")
  if not token then
    txn:set_var("txn.jwt.valid", 0)
    txn:set_var("txn.jwt.reason", "missing")
    return
  end
  local ok, payload = verify(token, secret, core.now().sec)
  if not ok then
    txn:set_var("txn.jwt.valid", 0)
    txn:set_var("txn.jwt.reason", payload)
    return
  end
  txn:set_var("txn.jwt.valid", 1)
  txn:set_var("txn.jwt.sub", payload.sub or "")
  txn:set_var("txn.jwt.scope", payload.scope or "")
end, 1)

-- Signs claims: used by the tests' token service, and handy for debugging.
core.register_converters("jwt_sign_hs256", function(payload_json, secret)
  local h = b64url_encode('{"alg":"HS256","typ":"JWT"}')
  local p = b64url_encode(payload_json)
  return h .. "." .. p .. "." .. b64url_encode(hmac_sha256(secret, h .. "." .. p))
end)

core.register_converters("sha256_hex", function(s)
  return (sha256(s):gsub(".", function(c) return string.format("%02x", c:byte()) end))
end)
