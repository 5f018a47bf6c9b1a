"""A newcomer's first hour, as the docs tell it: README.md's quickstart and then
docs/cli.md, every command typed exactly as written, each printing what the docs say it
prints (dates, hashes, timings, ids and secrets aside).

The newcomer has a fresh clone (a copy of the files git tracks, with this checkout's
installed ``.venv``, since an install is what ``make up`` skips when it is up to date), a
fresh HOME, and only the system on the PATH (where Debian's ``dwp`` is binutils' DWARF
packager): ``make up`` runs as the README's quickstart says, on the README's port 8000,
and prints exactly the README's sample; then each command runs in a shell that has done
what the README says, ``. .venv/bin/activate``. docs/cli.md's session then starts its own
``dwp up --port 54631 --data-dir garden-net`` the same way and runs with the
``export DWP_GATEWAY=...`` it shows. The commands another test file covers, and the ones
that need a LAN, are listed in ``ELSEWHERE`` with where they are covered; a command the
docs gain that is in neither place fails ``test_every_documented_command_is_run``.
Run it with ``-p no:randomly``; it needs ports 8000 and 54631 free.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import shlex
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import eventually

ROOT = Path(__file__).resolve().parent.parent
CLI_DOC, README = ROOT / "docs" / "cli.md", ROOT / "README.md"
ELSEWHERE = {
    "dwp network join": "the network commands' own tests",
    "dwp network leave": "the network commands' own tests",
    "dwp network create": "the network commands' own tests",
    "dwp node start": "the network commands' own tests",
    "dwp up --data-dir .dwp --data-dir ~/club": "needs `dwp network create club` first",
    "dwp ls --network club": "tests/test_cli_networks.py (two networks behind one gateway)",
    "dwp network status --gateway http://192.168.1.10:8000": "a LAN address (docs/deploy.md)",
    "dwp up --host 192.168.1.10 --site-domain dwp.lan":
        "binds a LAN address (docs/web.md); tests/test_up_site_domain.py runs `dwp up "
        "--site-domain dwp.lan` on loopback and reaches it as a LAN client would",
}
DOCS_PORT, README_PORT = 54631, 8000  # docs/cli.md's `dwp up --port`; the README's `make up`
SYSTEM_PATH = "/usr/bin:/bin"  # what a fresh login has, without the venv
ACTIVATE = ". .venv/bin/activate"  # what the README's quickstart says to run first


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
# A deploy id is random too (dwp.core.deploys.new_id); a word of its shape in both texts
# stands for itself.
DEPLOY_ID = re.compile(r"\b[a-z2-7]{12}\b")
IDS = re.compile(f"{VERSION_ID.pattern}|{DEPLOY_ID.pattern}")
VARYING = [
    (re.compile(r"\b[0-9a-f]{64}\b"), "<hash>"),
    (VERSION_ID, "<version>"),
    (DEPLOY_ID, "<deploy>"),
    (re.compile(r"\bWHO +"), "WHO "),  # the publisher, user@host, and its column's width
    (re.compile(r"\S+@\S+ +"), "<who> "),
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


@dataclass
class Newcomer:
    """A fresh clone and a fresh HOME; ``shell`` runs a command line there as typed at a
    prompt that has run ``. .venv/bin/activate`` (and ``exports``)."""

    clone: Path
    env: dict[str, str]
    exports: dict[str, str] = field(default_factory=dict)

    def line(self, command: str) -> str:
        sets = "".join(f"export {k}={shlex.quote(v)} && " for k, v in self.exports.items())
        return f"{ACTIVATE} && {sets}{command}"

    def shell(self, command: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", "-c", self.line(command)], cwd=self.clone,
                              env=self.env, capture_output=True, text=True, timeout=timeout)

    @contextlib.contextmanager
    def serving(self, command: str, port: int, activate: bool = True) -> Iterator[list[str]]:
        """``command`` (``make up`` or ``dwp up``) in the foreground of another terminal
        until its gateway answers; yields the lines it printed by then. Afterwards it is
        stopped as the docs say, with Ctrl-C."""
        if not port_free(port):
            pytest.fail(f"port {port} is taken (another gateway?): this test runs the docs' "
                        f"`{command}` as written, on its port")
        log = self.clone / f"serving-{port}.log"
        line = f"exec {command}" if not activate else self.line(f"exec {command}")
        proc = subprocess.Popen(["bash", "-c", line], cwd=self.clone, env=self.env,
                                start_new_session=True, stdout=log.open("wb"),
                                stderr=subprocess.STDOUT)

        def ready() -> bool:
            assert proc.poll() is None, log.read_text()
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5
                                 ).status_code == 200
            return False
        try:
            eventually(ready, 180, 0.1)
            yield log.read_text().splitlines()
        finally:
            stop(proc)


def port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Ctrl-C, as the README says; SIGKILL only if it hangs."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)


def run(newcomer: Newcomer, step: Step, ids: dict[str, str]) -> None:
    """Run ``step`` as typed and compare what it printed (stdout and stderr, as a
    terminal shows them) with the docs. ``ids``: the version ids the docs show mapped to
    those this run printed in their place (and the deploy ids likewise), learnt from each
    step's output and used in the commands that follow."""
    command = IDS.sub(lambda m: ids.get(m.group(), m.group()), step.command)
    done = subprocess.run(["bash", "-c", newcomer.line(command)], cwd=newcomer.clone,
                          env=newcomer.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=300)
    assert done.returncode == step.exit_code, (command, done.stdout)
    for shown, printed in zip(step.expected, done.stdout.splitlines(), strict=False):
        ids.update(zip(IDS.findall(shown), IDS.findall(printed), strict=False))
    assert normal(done.stdout.splitlines()) == normal(step.expected), command


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
def newcomer(tmp_path: Path) -> Newcomer:
    """A copy of the files git tracks, as a clone has them (times kept, so make sees an
    install as up to date as this checkout's), with this checkout's installed .venv."""
    clone, home = tmp_path / "clone", tmp_path / "home"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                             check=True).stdout.decode().split("\0")
    for name in filter(None, tracked):
        if (ROOT / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, clone / name)
    (clone / ".venv").symlink_to(ROOT / ".venv")
    home.mkdir()
    env = {"HOME": str(home), "PATH": SYSTEM_PATH, "LANG": "C.UTF-8"}
    if subprocess.run(["make", "-q", ".venv/.installed"], cwd=clone, env=env).returncode:
        pytest.fail("this checkout's .venv is older than pyproject.toml: run `make up` or "
                    "`make test` first (the newcomer's `make up` must not install into it)")
    return Newcomer(clone, env)


def quickstart() -> list[str]:
    """The README's quickstart: the commands of its first block, comments dropped."""
    first = next(b for b in blocks(README) if b and b[0].startswith("make "))
    return [line.split("#")[0].strip() for line in first if line.strip()]


def sample(path: Path, command: str) -> Step:
    """The block of ``path`` that shows ``$ command`` and what it prints."""
    return next(s for b in blocks(path) for s in session(b) if s.command == command)


def test_the_readme_quickstart_as_written(newcomer: Newcomer) -> None:
    """`make up` prints the README's sample and nothing more (no install banner, no Ray
    notice); then the README's session runs against it, with the CLI from the venv."""
    assert quickstart() == ["make up", "make test"]  # `make test` is what runs this test
    said = " ".join(README.read_text().split())
    assert f"run `{ACTIVATE}` once" in said  # the step every shell below has taken
    assert newcomer.shell("command -v dwp").stdout.strip() == str(
        (newcomer.clone / ".venv" / "bin" / "dwp").resolve())  # not /usr/bin/dwp
    garden(newcomer.clone / "garden")
    up = sample(README, "make up")
    with newcomer.serving("make up", README_PORT, activate=False) as printed:
        assert normal(printed) == normal(up.expected)
        readme = next(b for b in blocks(README)
                      if b and b[0] == "$ dwp publish garden --site garden")
        ids: dict[str, str] = {}
        for step in session(readme):
            run(newcomer, step, ids)


def test_the_cli_guide_as_written(newcomer: Newcomer) -> None:
    """docs/cli.md after the quickstart: its own `dwp up`, then its two sessions, with
    the folder changed between them as the guide says."""
    garden(newcomer.clone / "garden")
    up = sample(CLI_DOC, "dwp up --port 54631 --data-dir garden-net")
    with newcomer.serving(up.command, DOCS_PORT) as printed:
        assert normal(printed) == normal(up.expected)
        exported = re.search(r"`export (DWP_GATEWAY)=(\S+)`", CLI_DOC.read_text())
        assert exported is not None, "docs/cli.md says which gateway the session uses"
        newcomer.exports[exported.group(1)] = exported.group(2)
        first, second = (session(b) for b in blocks(CLI_DOC)[1:3])
        ids: dict[str, str] = {}
        for step in first:
            run(newcomer, step, ids)
        change_garden(newcomer.clone / "garden")
        for step in second:
            run(newcomer, step, ids)


def test_every_documented_command_is_run() -> None:
    ran = {step.command for b in [*blocks(CLI_DOC), *blocks(README)] for step in session(b)}
    ran |= set(quickstart())
    missing = {c for c in documented() - ran
               if not any(c == e or c.startswith(e + " ") for e in ELSEWHERE)}
    assert missing == set()
