"""Every ``dwp`` command that README.md and docs/ show runs here exactly as written, and
prints what the docs say it prints (dates, hashes, timings and process ids aside).

The session in docs/cli.md starts with its own ``dwp up --port 54631 --data-dir garden-net``
(a private Ray in a child process), then the README's session runs against it on a
fresh copy of the same folder, its URLs read as on the README's port 8000. The commands
another test file covers, and the ones that need a LAN, are listed in ``ELSEWHERE`` with
where they are covered; a command the docs gain that is in neither place fails
``test_every_documented_command_is_run``.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from browser_cli.main import app
from tests.conftest import eventually

ROOT = Path(__file__).resolve().parent.parent
CLI_DOC, README = ROOT / "docs" / "cli.md", ROOT / "README.md"
ELSEWHERE = {
    "dwp network join": "the network commands' own tests",
    "dwp network leave": "the network commands' own tests",
    "dwp network create": "the network commands' own tests",
    "dwp node start": "the network commands' own tests",
    "dwp up --data-dir .dwp --data-dir ~/club": "needs `dwp network create club` first",
    "dwp network status --gateway http://192.168.1.10:8000": "a LAN address (docs/deploy.md)",
    "dwp up --host 192.168.1.10 --site-domain dwp.lan":
        "binds a LAN address (docs/web.md); tests/test_up_site_domain.py runs `dwp up "
        "--site-domain dwp.lan` on loopback and reaches it as a LAN client would",
}
DOCS_PORT, README_PORT = 54631, 8000  # docs/cli.md's `dwp up --port`; the README's `make up`


@dataclass
class Step:
    command: str
    expected: list[str] = field(default_factory=list)
    exit_code: int = 0


def blocks(path: Path) -> list[list[str]]:
    """The lines of each fenced code block of a Markdown file."""
    found, current = [], None
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            if current is None:
                current = []
            else:
                found.append(current)
                current = None
        elif current is not None:
            current.append(line)
    return found


def session(lines: list[str]) -> list[Step]:
    """``$ command`` lines and the output under each; ``$ echo $?`` sets the exit code."""
    steps: list[Step] = []
    for line in lines:
        if line.startswith("$ echo $?"):
            steps[-1].exit_code = -1
        elif line.startswith("$ "):
            steps.append(Step(line[2:]))
        elif steps and steps[-1].exit_code == -1:
            steps[-1].exit_code = int(line)
        elif steps:
            steps[-1].expected.append(line)
    return steps


def documented() -> set[str]:
    """Every dwp command in a code block of the README or docs/, comments dropped."""
    commands = set()
    for path in [README, *sorted((ROOT / "docs").glob("*.md"))]:
        for block in blocks(path):
            for line in block:
                command = line.removeprefix("$ ").split("  #")[0].strip()
                if command.startswith("dwp "):
                    commands.add(command)
    return commands


# A version id names a replica, whose incarnation is random: the ids a session prints
# differ from run to run, so the ids the docs show stand for the ones the run made.
VERSION_ID = re.compile(r"\b[\w-]+\.[0-9a-f]{6}:\d+\b")
VARYING = [
    (re.compile(r"\b[0-9a-f]{64}\b"), "<hash>"),
    (VERSION_ID, "<version>"),
    (re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d"), "<date>"),
    (re.compile(r"\bin \d+\.\ds$"), "in <t>s"),
    (re.compile(r'"mtime": [0-9.]+'), '"mtime": <t>'),
    (re.compile(r"\?login=[\w.-]+"), "?login=<code>"),
]
TABLE_RULES = set("│┃┏┓┗┛┡┩└┘┳┻╇━")  # a status table: its widths follow the pids


def normal(lines: list[str]) -> list[str]:
    out = []
    for line in lines:
        if TABLE_RULES & set(line):
            continue
        for pattern, placeholder in VARYING:
            line = pattern.sub(placeholder, line)
        out.append(line.rstrip())
    while out and not out[-1]:
        out.pop()
    return out


def run(step: Step, port: int = DOCS_PORT, ids: dict[str, str] | None = None) -> None:
    """Run ``step`` against the docs' gateway, as if it were on ``port`` as the session
    shows (the README's runs on the default port, which a test cannot count on).
    ``ids``: the version ids the docs show mapped to those this run printed in their
    place, learnt from each step's output and used in the commands that follow."""
    ids = {} if ids is None else ids
    command = VERSION_ID.sub(lambda m: ids.get(m.group(), m.group()), step.command)
    result = CliRunner().invoke(app, shlex.split(command)[1:])
    assert result.exit_code == step.exit_code, (command, result.output)
    output = result.output.replace(f":{DOCS_PORT}", f":{port}")
    for shown, printed in zip(step.expected, output.splitlines(), strict=False):
        ids.update(zip(VERSION_ID.findall(shown), VERSION_ID.findall(printed), strict=False))
    assert normal(output.splitlines()) == normal(step.expected), step.command


def garden(root: Path) -> None:
    """The folder the docs publish: four files of the sizes the docs list."""
    (root / "notes").mkdir(parents=True)
    index = ('<!doctype html><html><head><title>Garden notes</title></head><body>\n'
             '<h1>Garden notes</h1>\n<p>What grows where, and when to water it.</p>\n'
             '<ul><li><a href="notes/tomatoes.html">Tomatoes</a></li>\n'
             '<li><a href="notes/basil.html">Basil</a></li></ul>\n'
             '<p>Rule of thumb: water = 2 * litres a day in summer.</p>\n</body></html>\n')
    (root / "index.html").write_text(index.ljust(361 - 1) + "\n")
    (root / "notes" / "basil.html").write_text(
        '<h1>Basil</h1><p>Pinch the flowers. <a href="../index.html">Back</a></p>\n')
    (root / "notes" / "tomatoes.html").write_text(
        '<h1>Tomatoes</h1><p>Stake them early. <a href="../index.html">Back</a></p>'.ljust(97)
        + "\n")
    (root / "photo.jpg").write_bytes(random.Random(7).randbytes(250_000))


def change_garden(root: Path) -> None:
    """What docs/cli.md does between its two blocks: change one page, delete another and
    add a symlink."""
    (root / "notes" / "basil.html").write_text(
        '<h1>Basil</h1><p>Pinch the flowers; keep it warm. <a href="../index.html">Back</a>'
        '</p>'.ljust(89) + "\n")
    (root / "notes" / "tomatoes.html").unlink()
    (root / "home.html").symlink_to("index.html")


@pytest.fixture
def docs_gateway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Step]:
    """docs/cli.md's own ``dwp up``, run as written in the session's folder; yields it
    with the lines it printed."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.delenv("DWP_TOKEN", raising=False)
    up = session(blocks(CLI_DOC)[0])[0]
    assert up.command == "dwp up --port 54631 --data-dir garden-net"
    log = tmp_path / "up.log"
    proc = subprocess.Popen([sys.executable, "-m", "browser_cli.main",
                             *shlex.split(up.command)[1:]], cwd=tmp_path,
                            start_new_session=True, stdout=log.open("wb"),
                            stderr=subprocess.STDOUT, env={**os.environ, "COLUMNS": "80"})

    def ready() -> bool:
        assert proc.poll() is None, log.read_text()
        with contextlib.suppress(httpx.HTTPError):
            health = httpx.get(f"http://127.0.0.1:{DOCS_PORT}/healthz", timeout=5)
            return health.status_code == 200
        return False
    try:
        eventually(ready, 120, 0.5)
        printed = log.read_text().splitlines()
        yield Step(up.command, printed)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)


def test_the_cli_guide_and_the_readme_sessions_as_written(
        docs_gateway: Step, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    up = session(blocks(CLI_DOC)[0])[0]
    # Ray may print its own notices first (token authentication); dwp's lines end it.
    assert normal(docs_gateway.expected)[-len(up.expected):] == normal(up.expected)
    monkeypatch.setenv("DWP_GATEWAY", f"http://127.0.0.1:{DOCS_PORT}")  # as docs/cli.md does

    garden(tmp_path / "garden")
    first, second = (session(b) for b in blocks(CLI_DOC)[1:3])
    ids: dict[str, str] = {}
    for step in first:
        run(step, ids=ids)
    change_garden(tmp_path / "garden")
    for step in second:
        run(step, ids=ids)

    # The README's session, on a fresh copy of the folder and an empty site; the deletes
    # go through the CLI so its saved context token covers them.
    listed = CliRunner().invoke(app, ["ls", "garden", "--json"])
    for entry in json.loads(listed.stdout):
        assert CliRunner().invoke(app, ["rm", entry["key"]]).exit_code == 0
    for path in ("garden", "photo.jpg"):
        subprocess.run(["rm", "-r", str(tmp_path / path)], check=True)
    garden(tmp_path / "garden")
    readme = next(b for b in blocks(README) if b and b[0] == "$ dwp publish garden --site garden")
    for step in session(readme):
        run(step, README_PORT)


def test_every_documented_command_is_run() -> None:
    ran = {step.command for b in [*blocks(CLI_DOC), *blocks(README)] for step in session(b)}
    missing = {c for c in documented() - ran
               if not any(c == e or c.startswith(e + " ") for e in ELSEWHERE)}
    assert missing == set()
