"""Driving wrk: one Lua script shape for every workload (method, paths, body, headers),
an optional request budget, and a JSON line out of ``done`` that we parse."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

DONE_MARK = "BENCH-BUDGET-DONE"
RESULT_MARK = "BENCH-RESULT "


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx/3xx answers plus socket errors
    first_bad: str = ""  # the first failed answer's status and body start (budget runs)
    truncated: bool = False  # the time bound ended a budget run before its budget

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class Spec:
    """What each request is. ``{i}`` in ``path`` (and ``{key}`` in ``body``) is the
    request's index; ``keys`` lists per-index strings for bodies (e.g. base64 keys)."""

    method: str = "GET"
    path: str = "/"
    body: str = ""
    body_size: int = 0  # a generated body of this many bytes, when ``body`` is empty
    headers: tuple[tuple[str, str], ...] = ()
    count: int = 0  # index range: 0..count-1 (0: the path is fixed)
    budget: int = 0  # stop after this many answers (0: run for the duration)
    keys: tuple[str, ...] = ()


def _lua_str(s: str) -> str:
    return json.dumps(s)  # a JSON string is a valid Lua string literal for ASCII text


def lua_script(spec: Spec) -> str:
    """The Lua for one run: each thread walks its own stride of the index range."""
    headers = "".join(f"  [{_lua_str(k)}] = {_lua_str(v)},\n" for k, v in spec.headers)
    path_head, _, path_tail = spec.path.partition("{i}")
    body_head, _, body_tail = spec.body.partition("{key}")
    keys = ",".join(_lua_str(k) for k in spec.keys)
    return f"""
local method = {_lua_str(spec.method)}
local headers = {{
{headers}}}
local count, budget = {spec.count}, {spec.budget}
local path_head, path_tail = {_lua_str(path_head)}, {_lua_str(path_tail)}
local has_index = {"true" if "{i}" in spec.path else "false"}
local body_head, body_tail = {_lua_str(body_head)}, {_lua_str(body_tail)}
local has_key = {"true" if "{key}" in spec.body else "false"}
local keys = {{{keys}}}
local fixed_body = nil
if {spec.body_size} > 0 then fixed_body = string.rep("d", {spec.body_size}) end

local threads = {{}}
local next_id = 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  nthreads = tonumber(args[1]) or 1
  sent, answered = 0, 0
  -- wrk calls thread 0's request() once more, to verify it, before the run starts
  if id == 0 then sent = -1 end
end

function request()
  local i = id + sent * nthreads
  sent = sent + 1
  if count > 0 then i = i % count end
  local path = path_head
  if has_index then path = path_head .. i .. path_tail end
  local body = fixed_body
  if has_key then body = body_head .. keys[(i % #keys) + 1] .. body_tail
  elseif #body_head > 0 then body = body_head end
  return wrk.format(method, path, headers, body)
end

if budget > 0 then
  function response(status, hdrs, body)
    answered = answered + 1
    if status >= 400 and bad == nil then
      bad = status .. " " .. string.gsub(string.sub(body or "", 1, 120), "%s", " ")
    end
    if answered >= budget then
      io.write("{DONE_MARK}\\n")
      io.flush()
      wrk.thread:stop()
    end
  end
end

function done(summary, latency, requests)
  for _, t in ipairs(threads) do
    local b = t:get("bad")
    if b then io.write("BENCH-BAD " .. b .. "\\n") end
  end
  local e = summary.errors
  io.write(string.format(
    '{RESULT_MARK}{{"requests":%d,"us":%d,"p50":%d,"p99":%d,"errors":%d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status + e.connect + e.read + e.write + e.timeout))
end
"""


def run(url: str, spec: Spec, *, connections: int, seconds: float, workdir: Path,
        threads: int | None = None, timeout: float | None = None) -> WrkResult:
    """One wrk run. With a budget, each of the ``threads`` stops after its share and we
    interrupt wrk (SIGINT, its own way to end early) once every thread has said so."""
    threads = threads or (1 if spec.budget or connections < 2 else 2)
    script = workdir / f"wrk-{os.getpid()}-{time.monotonic_ns()}.lua"
    per_thread = -(-spec.budget // threads) if spec.budget else 0
    script.write_text(lua_script(Spec(**{**spec.__dict__, "budget": per_thread})))
    argv = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds:.0f}s",
            "--timeout", "10s", "-s", str(script), url, "--", str(threads)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + (timeout or seconds + 30)
    lines: list[str] = []
    finished, truncated = 0, False
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    buf = b""
    try:
        while time.monotonic() < deadline:
            if not sel.select(timeout=0.5):
                if proc.poll() is not None:
                    break
                continue
            data = os.read(proc.stdout.fileno(), 65536)
            if not data:
                break
            buf += data
            *complete, buf = buf.split(b"\n")
            for raw in complete:
                line = raw.decode(errors="replace")
                lines.append(line)
                if line == DONE_MARK:
                    finished += 1
                    if finished == threads:
                        proc.send_signal(signal.SIGINT)
        else:
            truncated = True
            proc.send_signal(signal.SIGINT)  # wrk still prints what it measured
            lines += _drain(proc)
    finally:
        sel.close()
        if proc.poll() is None:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
    lines.append(buf.decode(errors="replace"))
    bad = next((line[10:] for line in lines if line.startswith("BENCH-BAD ")), "")
    for line in lines:
        if line.startswith(RESULT_MARK):
            d = json.loads(line[len(RESULT_MARK):])
            return WrkResult(d["requests"], d["us"] / 1e6, d["p50"] / 1e3, d["p99"] / 1e3,
                             d["errors"], bad, truncated)
    raise RuntimeError("wrk gave no result:\n" + "\n".join(lines[-20:]))


def _drain(proc: subprocess.Popen[bytes]) -> list[str]:
    """What wrk prints after SIGINT (its summary and our done() line)."""
    try:
        out, _ = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out.decode(errors="replace").splitlines()
