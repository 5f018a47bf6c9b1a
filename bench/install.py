"""Installing what dwp is compared against, from Debian, only when it is missing."""

from __future__ import annotations

import os
import shutil
import subprocess

PACKAGES = {"nginx": "nginx", "etcd": "etcd-server", "wrk": "wrk"}  # binary -> package


def missing() -> list[str]:
    return [pkg for tool, pkg in PACKAGES.items() if shutil.which(tool) is None]


def ensure_tools() -> list[str]:
    """apt-get install whatever is missing; returns what was installed."""
    todo = missing()
    if not todo:
        return []
    if os.geteuid() != 0:
        raise SystemExit(f"missing {', '.join(todo)}; run as root or apt-get install them")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, timeout=300)
    subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *todo],
                   check=True, env=env, timeout=600)
    if missing():
        raise SystemExit(f"still missing after apt-get: {', '.join(missing())}")
    return todo
