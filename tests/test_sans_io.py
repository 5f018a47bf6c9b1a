"""The core's decision modules import no Ray, SQLite, asyncio or sockets."""

from __future__ import annotations

import subprocess
import sys

PURE = ["dwp.clock", "dwp.codec", "dwp.keys", "dwp.labels", "dwp.lineage", "dwp.messages",
        "dwp.placement", "dwp.rebalance", "dwp.redirects", "dwp.replica", "dwp.sessions",
        "dwp.sizes", "dwp.storage", "dwp.token", "dwp.version", "dwp.view"]
FORBIDDEN = ["ray", "sqlite3", "asyncio", "socket", "fastapi", "httpx"]


def test_pure_modules_import_no_io() -> None:
    code = ("import sys\n" + "".join(f"import {m}\n" for m in PURE)
            + f"print(','.join(m for m in {FORBIDDEN!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "", f"pure modules pulled in: {out}"
