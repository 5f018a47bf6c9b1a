"""The quickstart's install steps: `make up` installs only what running needs and says how
to reach the `dwp` command, `make test` adds the test tools, a pyproject change
reinstalls and nothing else does, and an editable install prints nothing.

The Makefile runs for real in a copy of the repository's Makefile and pyproject.toml,
over a stand-in venv whose `pip`, `dwp`, `ruff` and `pytest` only log how they were called.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEST_TOOLS = ("playwright", "sphinx", "mkdocs", "schemathesis", "pytest")
HINT = "For the dwp command in another terminal: . .venv/bin/activate (or run .venv/bin/dwp)"


def stand_in_venv(root: Path) -> Path:
    """A venv whose programs append their name and arguments to ``calls``."""
    calls = root / "calls"
    bin_dir = root / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("python", "pip", "dwp", "ruff", "pytest"):
        program = bin_dir / name
        program.write_text(f'#!/bin/sh\necho "{name} $*" >> "{calls}"\n'
                           + ('echo "dwp up serving"\n' if name == "dwp" else ""))
        program.chmod(0o755)
    return calls


def make(root: Path, target: str) -> list[str]:
    done = subprocess.run(["make", "--no-print-directory", target], cwd=root,
                          capture_output=True, text=True, timeout=60, check=True)
    assert done.stderr == ""
    return done.stdout.splitlines()


def age(*paths: Path) -> None:
    """Make ``paths`` a minute old, so whatever make touches next is newer."""
    for path in paths:
        if path.exists():
            then = path.stat().st_mtime - 60
            os.utime(path, (then, then))


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def test_up_then_test_then_up_installs_each_thing_once(checkout: Path) -> None:
    calls = stand_in_venv(checkout)
    stamps = [checkout / ".venv" / ".installed", checkout / ".venv" / ".installed-test"]
    age(checkout / "pyproject.toml")

    assert make(checkout, "up") == ["Installing dwp into .venv", HINT, "dwp up serving"]
    assert calls.read_text().splitlines() == ["pip install -q -e .", "dwp up"]

    calls.unlink()
    make(checkout, "test")
    assert calls.read_text().splitlines() == ["pip install -q -e .[test]", "ruff check .",
                                              "pytest -q"]
    calls.unlink()
    assert make(checkout, "up") == [HINT, "dwp up serving"]  # the test install covers it
    assert calls.read_text().splitlines() == ["dwp up"]

    age(*stamps)
    (checkout / "pyproject.toml").touch()
    calls.unlink()
    make(checkout, "up")
    assert calls.read_text().splitlines() == ["pip install -q -e .", "dwp up"]
    calls.unlink()
    make(checkout, "test")
    assert calls.read_text().splitlines()[0] == "pip install -q -e .[test]"


def test_running_dwp_needs_none_of_the_test_tools() -> None:
    """What `make up` installs (the project's own dependencies) names no test tool."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = [dep.split("=")[0].split("[")[0].strip().lower() for dep in project["dependencies"]]
    assert not set(names) & set(TEST_TOOLS), names


@pytest.mark.timeout(600)
def test_an_editable_install_prints_nothing(tmp_path: Path) -> None:
    """`pip install -q -e .` of a copy of the project, into a fresh venv, prints not a
    line: no setuptools banner about how the editable install was made."""
    project = tmp_path / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, project / name)
    for package in ("dwp", "gateway", "browser_cli"):
        shutil.copytree(ROOT / package, project / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull}  # a newcomer's pip settings
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                           "install", "-q", "--no-deps", "-e", str(project)],
                          capture_output=True, text=True, env=env, timeout=540)
    assert done.returncode == 0, done.stderr
    assert (done.stdout + done.stderr).strip() == ""
