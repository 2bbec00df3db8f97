-- wrk script for bench/compare.py: one wrk thread = one connection = one visitor.
--
-- Environment (set by compare.py):
--   BENCH_SYSTEM    playground | floor | datasette
--   BENCH_WORKLOAD  w1 .. w5
--   BENCH_ENGINE    sqlite | postgresql (the playground's engine selector)
--   BENCH_VISITORS  playground only: a file with one "session-cookie<TAB>csrf-token" line per visitor
-- It prints one JSON line at the end (requests, errors, latency percentiles in microseconds, and
-- for W5 the writes the playground committed; for the playground's pages W1 and W3, the pages
-- shown: its Run answers with a redirect (Post/Redirect/Get) and the page is the GET after it,
-- so one page is those two requests, as a browser makes them).

local system = os.getenv("BENCH_SYSTEM")
local workload = os.getenv("BENCH_WORKLOAD")
local engine = os.getenv("BENCH_ENGINE") or "sqlite"
local visitors_file = os.getenv("BENCH_VISITORS")

local SQL = {
  w1 = "select * from users where id = :id",
  w3 = "select * from users where age > :age limit 1000",
  w4 = "select count(*) from users where age between :lo and :hi",
  w5 = "update users set age = :age where id = :id",
}

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("index", counter)
  table.insert(threads, thread)
end

local function urlencode(s)
  return (string.gsub(s, "[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

local function json_string(s)
  return '"' .. string.gsub(s, '[%c"\\]', function(c) return string.format("\\u%04x", string.byte(c)) end) .. '"'
end

local cookie, csrf
local token = nil  -- W5: the preview waiting for its commit
local page = nil  -- W1, W3: the page the playground's Run redirected to
committed = 0
pages = 0
server_errors = 0

function init(args)
  math.randomseed(index * 7919 + os.time())
  if system == "playground" then
    local n = 0
    for line in io.lines(visitors_file) do
      n = n + 1
      if n == index then
        cookie, csrf = string.match(line, "^([^\t]+)\t(.+)$")
      end
    end
    if cookie == nil then error("no visitor line " .. index .. " in " .. visitors_file) end
  end
end

local function age() return math.random(18, 77) end
local function id() return math.random(1, 100000) end

local function playground_api(path, body)
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/json",
    ["Cookie"] = "session=" .. cookie,
    ["X-CSRFToken"] = csrf,
  }, body)
end

local function playground_run(sql, params)
  local fields = {}
  for name, value in pairs(params) do table.insert(fields, json_string(name) .. ":" .. value) end
  return playground_api("/api/run", '{"sql":' .. json_string(sql) .. ',"engine":"' .. engine ..
    '","params":{' .. table.concat(fields, ",") .. "}}")
end

local function playground_page(sql, name, value)
  local body = "csrf_token=" .. urlencode(csrf) .. "&sql=" .. urlencode(sql) .. "&engine=" .. engine ..
    "&col-0=" .. name .. "&type-0=auto&rows=1&cell-0-0=" .. value .. "&action=run"
  return wrk.format("POST", "/run", {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Cookie"] = "session=" .. cookie,
  }, body)
end

local function datasette_get(ext, sql, params)
  local path = "/bench" .. ext .. "?sql=" .. urlencode(sql)
  for name, value in pairs(params) do path = path .. "&" .. name .. "=" .. value end
  if ext == ".json" then path = path .. "&_shape=array" end
  return wrk.format("GET", path)
end

function request()
  if system == "playground" then
    if page and (workload == "w1" or workload == "w3") then
      return wrk.format("GET", page, {["Cookie"] = "session=" .. cookie})
    end
    if workload == "w1" then return playground_page(SQL.w1, "id", id()) end
    if workload == "w2" then return playground_run(SQL.w1, {id = id()}) end
    if workload == "w3" then return playground_page(SQL.w3, "age", age()) end
    if workload == "w4" then local lo = age(); return playground_run(SQL.w4, {lo = lo, hi = lo + 10}) end
    if workload == "w5" then
      if token then return playground_api("/api/commit", '{"token":"' .. token .. '"}') end
      return playground_run(SQL.w5, {age = age(), id = id()})
    end
  elseif system == "floor" then
    if workload == "w1" then return wrk.format("GET", "/w1?id=" .. id()) end
    if workload == "w2" then return wrk.format("POST", "/w2", {["Content-Type"] = "application/json"}, '{"id":' .. id() .. "}") end
    if workload == "w3" then return wrk.format("GET", "/w3?age=" .. age()) end
    if workload == "w4" then local lo = age(); return wrk.format("POST", "/w4", {["Content-Type"] = "application/json"}, '{"lo":' .. lo .. ',"hi":' .. lo + 10 .. "}") end
    if workload == "w5" then return wrk.format("POST", "/w5", {["Content-Type"] = "application/json"}, '{"age":' .. age() .. ',"id":' .. id() .. "}") end
  elseif system == "datasette" then
    if workload == "w1" then return datasette_get("", SQL.w1, {id = id()}) end
    if workload == "w2" then return datasette_get(".json", SQL.w1, {id = id()}) end
    if workload == "w3" then return datasette_get("", SQL.w3, {age = age()}) end
    if workload == "w4" then local lo = age(); return datasette_get(".json", SQL.w4, {lo = lo, hi = lo + 10}) end
    if workload == "w5" then
      return wrk.format("POST", "/bench/set_age", {["Content-Type"] = "application/x-www-form-urlencoded"},
        "age=" .. age() .. "&id=" .. id() .. "&_json=1")
    end
  end
  error("unknown system/workload " .. tostring(system) .. "/" .. tostring(workload))
end

function response(status, headers, body)
  if status >= 500 then server_errors = server_errors + 1 end
  if system == "playground" and (workload == "w1" or workload == "w3") then
    if page then
      page = nil
      if status == 200 then pages = pages + 1 end
    elseif status == 303 then
      local location = headers["Location"] or headers["location"] or ""
      page = string.gsub(string.gsub(location, "^https?://[^/]+", ""), "#.*$", "")
    end
  end
  if workload == "w5" then
    if system == "playground" then
      if token then
        token = nil
        if status == 200 then committed = committed + 1 end
      elseif status == 200 then
        token = string.match(body, '"token"%s*:%s*"([^"]+)"')
      end
    elseif status == 200 or status == 302 then
      committed = committed + 1
    end
  end
end

function done(summary, latency, requests)
  local writes, fivexx, shown = 0, 0, 0
  for _, thread in ipairs(threads) do
    writes = writes + (thread:get("committed") or 0)
    shown = shown + (thread:get("pages") or 0)
    fivexx = fivexx + (thread:get("server_errors") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"errors_status":%d,"errors_connect":%d,"errors_read":%d,"errors_write":%d,"errors_timeout":%d,' ..
    '"server_errors":%d,"writes":%d,"pages":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.status, e.connect, e.read, e.write, e.timeout, fivexx, writes, shown))
end
