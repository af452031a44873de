"""Closed-loop peaks with wrk (Debian's `wrk` package): a generated Lua script, parsed results.

wrk is the reference closed-loop client: a C event loop with no garbage collector to pause it,
so its latencies are the server's. Each wrk thread builds a pool of distinct
requests in `init()` from the same texts as `traffic.py` (random user of `users`, signal type,
text, reference number, session) and cycles through it: building bodies per request, or defining
`response()`, costs wrk a third of its speed. The server generates every event id, so a repeated
body is still a new event. Answers >= 400 are counted by wrk itself (`errors.status`); `done()`
prints one machine-readable `RESULT` line that `run_wrk` parses.

wrk stops with requests in flight and drops them, though the server may still journal them:
after a wrk run the journal holds between `ok` and `ok + connections` more records.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
from traffic import SIGNAL_TYPES, build_texts

_SCRIPT = r"""
local texts = {%(texts)s}
local types = {%(types)s}
local batch = %(batch)d
local users = %(users)d
local pool_size = %(pool)d
local path = "%(path)s"
local headers = {["Content-Type"] = "application/json"}
local threads = {}
local pool = {}
local counter = 0
local next_index = 0

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local function event()
  counter = counter + 1
  local user = math.random(0, users - 1)
  return string.format(
    '{"user_id":"user-%%d","signal_type":"%%s","text":%%s (ref %%d)",' ..
    '"agent_id":"agent-%%d","session_id":"s-%%d-%%d-%%d"}',
    user, types[math.random(#types)], texts[math.random(#texts)], math.random(0, 999999),
    user %% 97, user, id, counter)
end

function init(args)
  math.randomseed(%(seed)d + id * 7919)
  for n = 1, pool_size do
    local body
    if batch > 1 then
      local parts = {}
      for i = 1, batch do parts[i] = event() end
      body = "[" .. table.concat(parts, ",") .. "]"
    else
      body = event()
    end
    pool[n] = wrk.format("POST", path, headers, body)
  end
end

function request()
  next_index = next_index %% pool_size + 1
  return pool[next_index]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %%d %%d %%d %%d %%.1f %%.1f %%d\n",
    summary.requests - e.status, e.status, summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout))
end
"""


@dataclass
class WrkResult:
    ok: int  # answers below 400 (202: no request repeats an event id)
    other: int  # answers >= 400
    requests: int
    seconds: float
    p50: float  # seconds
    p99: float
    errors: int
    events_per_request: int = 1
    output: str = field(default="", repr=False)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def events_per_second(self) -> float:
        return self.rps * self.events_per_request


def _lua_text(text: str) -> str:
    # A JSON string without its closing quote (the script appends the reference inside it),
    # as a Lua long string so no Lua escaping is needed.
    return "[==[" + msgspec.json.encode(text).decode()[:-1] + "]==]"


def write_script(directory: Path, path: str, batch: int, users: int, seed: int) -> Path:
    script = directory / f"wrk-{batch}.lua"
    script.write_text(
        _SCRIPT
        % {
            "texts": ",".join(_lua_text(text) for text in build_texts(seed)),
            "types": ",".join(f'"{name}"' for name in SIGNAL_TYPES),
            "batch": batch,
            "users": users,
            "path": path,
            "seed": seed,
            "pool": 40 if batch > 1 else 8000,
        }
    )
    return script


def run_wrk(
    url: str,
    *,
    connections: int,
    duration: float,
    batch: int = 1,
    threads: int = 1,
    cpu: int | None = None,
    users: int = 100_000,
    seed: int = 7,
    timeout: float = 10.0,
) -> WrkResult:
    """Run wrk closed-loop against `url` (its path is the endpoint), pinned to `cpu` if given."""
    path = "/" + url.split("/", 3)[3] if url.count("/") >= 3 else "/"
    with tempfile.TemporaryDirectory() as temp:
        script = write_script(Path(temp), path, batch, users, seed)
        command = [
            "wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s",
            f"--timeout={timeout:g}s", "-s", str(script), url,
        ]  # fmt: skip
        if cpu is not None:
            command = ["taskset", "-c", str(cpu), *command]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next((row for row in output.splitlines() if row.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no RESULT line:\n{output}")
    ok, other, requests, micros, p50, p99, errors = line.split()[1:]
    return WrkResult(
        ok=int(ok),
        other=int(other),
        requests=int(requests),
        seconds=int(micros) / 1e6,
        p50=float(p50) / 1e6,
        p99=float(p99) / 1e6,
        errors=int(errors),
        events_per_request=batch,
        output=output,
    )
