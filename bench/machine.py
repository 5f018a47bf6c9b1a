"""What the numbers were measured on: CPU, memory and the disk holding the data."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path


def _cpuinfo_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _meminfo_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 2**20
    return 0.0


def _df(path: Path) -> str:
    try:
        out = subprocess.run(["df", "-h", "--output=fstype,size,avail", str(path)],
                             capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    lines = out.strip().splitlines()
    return " ".join(lines[-1].split()) if len(lines) > 1 else "unknown"


def _version(argv: list[str]) -> str:
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return (r.stdout or r.stderr).strip().splitlines()[0] if (r.stdout or r.stderr) else "?"


def describe(data_dir: Path) -> dict[str, str]:
    """A few facts from /proc and df, as label -> text."""
    loadavg = Path("/proc/loadavg").read_text().split()[:3]
    return {
        "CPU": f"{os.cpu_count()} cores, {_cpuinfo_model()}",
        "Memory": f"{_meminfo_gib():.1f} GiB",
        "Disk (data dir)": f"{_df(data_dir)} (fstype size avail)",
        "Kernel": platform.release(),
        "Python": platform.python_version(),
        "Load average at start": " ".join(loadavg),
        "nginx": _version(["nginx", "-v"]),
        "etcd": _version(["etcd", "--version"]),
        "wrk": _version(["wrk", "--version"]),
        "Free space": f"{shutil.disk_usage(data_dir).free / 2**30:.0f} GiB",
    }
