"""Load from a separate process: wrk when installed (C, one thread), else bench.loadgen (asyncio).

A `Workload` is what to send: a method, the paths to cycle through, headers and an optional body
template whose `%d` becomes a number that changes on every pass over the paths, so that repeated
PUTs to the same cells really write. `run_load` returns the throughput, latency percentiles, the
answers that were not 2xx, and the CPU time the client itself used (to tell when it is the limit).
"""

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

WRK = shutil.which("wrk")
MARK = "BENCHJSON "


@dataclass(frozen=True)
class Workload:
    method: str
    paths: list[str]
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None  # with one %d, replaced by `base + pass`
    base: int = 0


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    http_errors: int
    socket_errors: int
    client_cpu_s: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def client_name(prefer: str | None = None) -> str:
    choice = prefer or os.environ.get("BENCH_CLIENT")
    if choice == "python" or WRK is None:
        return "python"
    return "wrk"


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal for our text


def wrk_script(work: Workload) -> str:
    paths = ", ".join(_lua_string(p) for p in work.paths)
    headers = ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in work.headers.items())
    template = _lua_string(work.body) if work.body is not None else "nil"
    return f"""
local paths = {{{paths}}}
local headers = {{{headers}}}
local template = {template}
local method = {_lua_string(work.method)}
local base = {work.base}
local n = #paths
local counter = 0
local fixed = nil

init = function(args)
  if n == 1 and template == nil then fixed = wrk.format(method, paths[1], headers, nil) end
end

request = function()
  if fixed ~= nil then return fixed end
  local i = counter % n
  local pass = math.floor(counter / n)
  counter = counter + 1
  local body = nil
  if template ~= nil then body = string.format(template, base + pass) end
  return wrk.format(method, paths[i + 1], headers, body)
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{MARK}{{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "http_errors": %d, ' ..
    '"socket_errors": %d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), e.status,
    e.connect + e.read + e.write + e.timeout))
end
"""


def run_load(
    base_url: str, work: Workload, *, connections: int, seconds: float, client: str | None = None
) -> LoadResult:
    """Drive `work` against `base_url` for `seconds` over `connections` keep-alive connections."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    if client_name(client) == "wrk":
        assert WRK is not None
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
            handle.write(wrk_script(work))
        try:
            command = [
                WRK,
                "-t1",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",  # wrk counts whole seconds
                "--timeout",
                "10s",
                "-s",
                handle.name,
                base_url + work.paths[0],
            ]
            out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30, check=True)
        finally:
            Path(handle.name).unlink(missing_ok=True)
    else:
        spec = json.dumps({"base_url": base_url, "work": asdict(work), "connections": connections})
        command = [sys.executable, "-m", "bench.loadgen", spec, str(seconds)]
        out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next((x for x in out.stdout.splitlines() if x.startswith(MARK)), None)
    if line is None:
        raise RuntimeError(f"the load generator printed no figures: {out.stdout[-500:]} {out.stderr[-500:]}")
    raw = json.loads(line.removeprefix(MARK))
    return LoadResult(
        requests=int(raw["requests"]),
        seconds=raw["duration_us"] / 1e6,
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        http_errors=int(raw["http_errors"]),
        socket_errors=int(raw["socket_errors"]),
        client_cpu_s=(after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
    )
