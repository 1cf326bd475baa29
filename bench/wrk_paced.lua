-- wrk script for the benchmark: POSTs one fixed body, optionally paced to a fixed offered
-- load, and prints its summary as one JSON line for bench/loadgen.py to parse.
--   BENCH_BODY_FILE  file whose bytes are the request body (empty: no body)
--   BENCH_RATE       requests per second per wrk thread; unset or 0: as fast as possible
local rate = tonumber(os.getenv("BENCH_RATE") or "0") or 0
local body_file = os.getenv("BENCH_BODY_FILE") or ""
local prepared

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "text/plain;charset=UTF-8"
  wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) bench"
  if body_file ~= "" then
    local f = assert(io.open(body_file, "rb"))
    wrk.body = f:read("*a")
    f:close()
  end
  prepared = wrk.format()
end

function request()
  return prepared
end

if rate > 0 then
  -- Pacing: each request reserves the next slot of a per-thread schedule, so requests leave
  -- at `rate` per second whatever the latency (as long as a connection is free).
  local ffi = require("ffi")
  ffi.cdef[[
    typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
    int clock_gettime(int clk_id, bench_timespec *tp);
  ]]
  local ts = ffi.new("bench_timespec")
  local interval = 1000.0 / rate
  local next_at = 0

  local function now_ms()
    ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
    return tonumber(ts.tv_sec) * 1000.0 + tonumber(ts.tv_nsec) / 1e6
  end

  function delay()
    local now = now_ms()
    if next_at < now then next_at = now end
    local wait = next_at - now
    next_at = next_at + interval
    return math.floor(wait)
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"status_errors":%d,"timeout_errors":%d,' ..
    '"p50_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max, latency.mean))
end
