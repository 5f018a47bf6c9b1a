"""One owner per data dir, on real files and processes: a second owner is refused with
the holder named, a lock a SIGKILLed process held is taken over, a store cannot be
opened twice; and the files that hold secrets are readable by their owner only."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from dwp.node.dirlock import DirLock, InUse
from dwp.node.private import read_private, store_ray_token
from dwp.node.sqlite import SqliteStore

HOLD = """
import sys, time
from pathlib import Path
from dwp.node.dirlock import DirLock
DirLock(Path(sys.argv[1]), "dwp up").acquire()
print("held", flush=True)
time.sleep(300)
"""


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_second_owner_is_refused_naming_the_holder(tmp_path: Path) -> None:
    with DirLock(tmp_path, "dwp up"):
        with pytest.raises(InUse) as refused:
            DirLock(tmp_path, "dwp network create").acquire()
        message = str(refused.value)
        assert f"{tmp_path} is in use by dwp up (pid {os.getpid()} on host " in message
        assert socket.gethostname() in message and "\n" not in message
    with DirLock(tmp_path, "dwp network create"):  # released: the next one takes it
        assert mode(tmp_path / "lock") == 0o600
    assert (tmp_path / "lock").read_text() == ""


def test_a_lock_a_killed_process_held_is_taken_over(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(InUse, match=f"pid {holder.pid} "):
            DirLock(tmp_path, "dwp up").acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(30)
    assert str(holder.pid) in (tmp_path / "lock").read_text()  # what it left behind
    with DirLock(tmp_path, "dwp up"):
        assert f'"pid": {os.getpid()}' in (tmp_path / "lock").read_text()


def test_a_store_is_opened_by_one_owner_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "nodes" / "n1" / "replica.db"
    store = SqliteStore(path, "storage node n1")
    with pytest.raises(InUse, match="in use by storage node n1"):
        SqliteStore(path, "storage node n1")
    store.close()
    SqliteStore(path, "storage node n1").close()


def test_store_files_are_private_and_old_ones_are_made_so(tmp_path: Path) -> None:
    path = tmp_path / "n1" / "replica.db"
    store = SqliteStore(path)
    with store.transaction():
        store.put_state("s/k", 0, b"x", 1)
    for name in ("replica.db", "replica.db-wal", "replica.db-shm", "lock"):
        assert mode(path.parent / name) == 0o600, name
    assert mode(path.parent) == 0o700
    store.close()
    for name in ("replica.db", "replica.db-wal"):
        if (path.parent / name).exists():
            os.chmod(path.parent / name, 0o644)
    SqliteStore(path).close()
    assert mode(path) == 0o600


def test_a_token_file_read_is_made_private(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("secret\n")
    os.chmod(token, 0o644)
    assert read_private(token) == "secret\n" and mode(token) == 0o600


def test_the_ray_token_is_kept_where_ray_finds_it(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """``dwp node start --token`` keeps it, 0600, where this machine's later drivers
    (``dwp up --address``) look: Ray's own loader, in a fresh process, finds it."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("RAY_AUTH_TOKEN_PATH", raising=False)
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    assert store_ray_token("c0ffee" * 8) is True
    assert store_ray_token("c0ffee" * 8) is False
    path = tmp_path / ".ray" / "auth_token"
    assert path.read_text() == "c0ffee" * 8 and mode(path) == 0o600
    found = subprocess.run(
        [sys.executable, "-c", "from ray._raylet import AuthenticationTokenLoader as L; "
                               "print(L.instance().has_token(ignore_auth_mode=True))"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": str(tmp_path)})
    assert found.stdout.strip() == "True", found.stderr[-2000:]
