-- What Debian's Lua 5.3 (built with LUA_COMPAT_5_2, as HAProxy 2.6 links it) has beyond plain
-- Lua 5.3: the bit32 library and the deprecated math functions. Written from the Lua 5.2
-- manual's definitions, on 5.3's integer operators.
local M = 0xFFFFFFFF

local function u32(x)
  x = math.tointeger(x) or error("number has no integer representation", 3)
  return x & M
end

local bit32 = {}

function bit32.band(...)
  local r = M
  for i = 1, select("#", ...) do r = r & u32((select(i, ...))) end
  return r
end

function bit32.bor(...)
  local r = 0
  for i = 1, select("#", ...) do r = r | u32((select(i, ...))) end
  return r
end

function bit32.bxor(...)
  local r = 0
  for i = 1, select("#", ...) do r = r ~ u32((select(i, ...))) end
  return r
end

function bit32.btest(...) return bit32.band(...) ~= 0 end

function bit32.bnot(x) return (~u32(x)) & M end

function bit32.lshift(x, n)
  x, n = u32(x), math.tointeger(n)
  if n <= -32 or n >= 32 then return 0 end
  if n < 0 then return x >> -n end
  return (x << n) & M
end

function bit32.rshift(x, n)
  x, n = u32(x), math.tointeger(n)
  if n <= -32 or n >= 32 then return 0 end
  if n < 0 then return (x << -n) & M end
  return x >> n
end

function bit32.arshift(x, n)
  x, n = u32(x), math.tointeger(n)
  if n < 0 then return bit32.lshift(x, -n) end
  if x & 0x80000000 == 0 then return bit32.rshift(x, n) end
  if n >= 32 then return M end
  return ((x >> n) | (M << (32 - n))) & M
end

function bit32.lrotate(x, n)
  x, n = u32(x), math.tointeger(n) % 32
  return ((x << n) | (x >> (32 - n))) & M
end

function bit32.rrotate(x, n) return bit32.lrotate(x, -(math.tointeger(n) % 32)) end

local function field(f, w)
  w = w or 1
  if f < 0 or w <= 0 or f + w > 32 then error("trying to access non-existent bits", 3) end
  return f, w
end

function bit32.extract(x, f, w)
  f, w = field(math.tointeger(f), math.tointeger(w))
  return (u32(x) >> f) & ((1 << w) - 1)
end

function bit32.replace(x, v, f, w)
  f, w = field(math.tointeger(f), math.tointeger(w))
  local mask = ((1 << w) - 1) << f
  return (u32(x) & ~mask | ((u32(v) << f) & mask)) & M
end

_G.bit32 = bit32
package.loaded.bit32 = bit32

function math.pow(x, y) return x ^ y end
function math.cosh(x) return (math.exp(x) + math.exp(-x)) / 2 end
function math.sinh(x) return (math.exp(x) - math.exp(-x)) / 2 end
function math.tanh(x) return math.sinh(x) / math.cosh(x) end
function math.log10(x) return math.log(x, 10) end
function math.ldexp(m, e) return m * 2.0 ^ e end
function math.frexp(x)
  if x == 0 or x ~= x or x == math.huge or x == -math.huge then return x, 0 end
  local e = math.floor(math.log(math.abs(x), 2)) + 1
  local m = x / 2.0 ^ e
  if math.abs(m) >= 1 then m, e = m / 2, e + 1 end
  if math.abs(m) < 0.5 then m, e = m * 2, e - 1 end
  return m, math.tointeger(e)
end
