"""Processes the harness starts: each in its own process group, remembered by PID, and
stopped by that PID and group only (plus the descendants it spawned), never by name."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx


@dataclass
class Started:
    """One process we started, its group, and every descendant seen while it ran."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    seen: dict[int, str] = field(default_factory=dict)  # pid -> /proc start time

    @property
    def pid(self) -> int:
        return self.proc.pid


_running: list[Started] = []


def start(name: str, argv: list[str], log: Path, env: dict[str, str] | None = None,
          cwd: Path | None = None) -> Started:
    """Start ``argv`` in a new session (its own process group), output to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                env={**os.environ, **(env or {})}, cwd=cwd,
                                start_new_session=True)
    started = Started(name, proc, log)
    _running.append(started)
    return started


def _start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            ppid = int(Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def descendants(pid: int) -> list[int]:
    kids, out, todo = _children(), [], [pid]
    while todo:
        for child in kids.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def remember_descendants(p: Started) -> None:
    """Note the process tree now, so a stop also ends what got re-parented to init."""
    for pid in descendants(p.pid):
        stamp = _start_time(pid)
        if stamp:
            p.seen.setdefault(pid, stamp)


def _alive_as_seen(pid: int, stamp: str) -> bool:
    return _start_time(pid) == stamp


def stop(p: Started, grace: float = 20.0) -> None:
    """SIGTERM the leader, wait, then SIGKILL its group and any remembered descendant."""
    if p in _running:
        _running.remove(p)
    remember_descendants(p)
    if p.proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.proc.wait(grace)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(p.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        p.proc.wait(5)
    deadline = time.monotonic() + 5
    for pid, stamp in p.seen.items():
        if _alive_as_seen(pid, stamp):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    while time.monotonic() < deadline and any(
            _alive_as_seen(pid, s) for pid, s in p.seen.items()):
        time.sleep(0.1)


def stop_all() -> None:
    """Stop everything still running, newest first (the harness's finally/atexit)."""
    for p in reversed(list(_running)):
        stop(p, grace=10.0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float, p: Started | None = None,
              method: str = "GET", ok: tuple[int, ...] = (200,)) -> None:
    """Poll ``url`` until it answers one of ``ok``; fail early if ``p`` exits."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if p is not None and p.proc.poll() is not None:
            raise RuntimeError(f"{p.name} exited ({p.proc.returncode}); see {p.log}")
        try:
            r = httpx.request(method, url, timeout=2.0)
            if r.status_code in ok:
                return
            last = f"HTTP {r.status_code}"
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        time.sleep(0.3)
    raise TimeoutError(f"{url} not ready after {timeout:.0f}s ({last})")


def rss_mib(pid: int) -> float | None:
    """Resident set size of one process, from /proc."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def json_child(name: str, args: list[str], workdir: Path, timeout: float) -> Any:
    """Run ``python -m bench.NAME *ARGS OUT`` in its own process group (a private Ray
    lives and dies with it); the JSON it wrote to OUT."""
    out = workdir / "logs" / f"{name}.json"
    p = start(name, [sys.executable, "-m", f"bench.{name}", *args, str(out)],
              workdir / "logs" / f"{name}.log", env={"RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0"},
              cwd=Path(__file__).resolve().parent.parent)
    try:
        p.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        pass
    finally:
        stop(p)
    if not out.exists():
        raise RuntimeError(f"bench.{name} gave no answer; see {p.log}")
    return json.loads(out.read_text())
