"""Every module of ``dwp/core`` is sans-I/O: it imports no asyncio, Ray, SQLite, sockets,
HTTP or wall clock, itself or through what it imports. The folder is the list: a module
added to the core is checked without anyone remembering to add it here."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import dwp.core

CORE = Path(dwp.core.__file__).parent
FORBIDDEN = ["ray", "sqlite3", "asyncio", "socket", "fastapi", "httpx"]
CLOCKS = ["time"]  # loaded by Python itself at start-up, so checked by name only
UPWARD = ["dwp.node", "dwp.client", "dwp.local", "gateway", "browser_cli"]


def core_modules() -> list[str]:
    return sorted(f"dwp.core.{p.stem}" for p in CORE.glob("*.py") if p.stem != "__init__")


def imported(path: Path) -> set[str]:
    """Every module a file names in an import statement, at any depth of its code."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_the_core_is_the_folder() -> None:
    assert {"dwp.core.replica", "dwp.core.sessions", "dwp.core.store",
            "dwp.core.transport", "dwp.core.answers", "dwp.core.reads",
            "dwp.core.tally"} <= set(core_modules())


def test_no_core_module_names_io_or_an_upper_floor() -> None:
    bad = {f"{p.name}: {name}" for p in CORE.glob("*.py") for name in imported(p)
           if any(name == f or name.startswith(f + ".") for f in FORBIDDEN + CLOCKS + UPWARD)}
    assert not bad, f"core modules import I/O or a floor above: {sorted(bad)}"


def test_importing_the_core_loads_no_io() -> None:
    code = ("import sys\n" + "".join(f"import {m}\n" for m in core_modules())
            + f"print(','.join(m for m in {FORBIDDEN!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "", f"core modules pulled in: {out}"
