"""One owner per data dir: the process that serves a network's data dir, or a node's
store, holds a lock on a file in it for as long as it runs.

The lock is the kernel's (``flock`` on ``<dir>/lock``): it is held per open file, so a
second opener in the same process is refused too, and it ends with its process however
that ends (exit, crash, SIGKILL), so a lock a dead process left is simply free again and
the next owner takes it. The file also names the holder (pid, host, what it runs, since
when), only so that a refusal can say who holds it; it is rewritten by each new owner
and emptied when an owner lets go.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import time
from pathlib import Path

from dwp.node.private import DIR_MODE, FILE_MODE

LOCK_FILE = "lock"


class InUse(Exception):
    """Another process owns the dir; the message names it, in one line."""


class DirLock:
    """The lock on one dir, held from ``acquire`` until ``release`` (or the process's end)."""

    def __init__(self, directory: Path, what: str) -> None:
        self.directory = directory
        self.what = what  # what the owner does there, for the refusal's message
        self._fd: int | None = None

    @property
    def path(self) -> Path:
        return self.directory / LOCK_FILE

    def acquire(self, wait: float = 0.0) -> DirLock:
        """Take the lock, waiting up to ``wait`` seconds for another owner to end;
        raises ``InUse`` naming the owner."""
        self.directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                    os.close(fd)
                    raise
                if time.monotonic() >= deadline:
                    holder = describe(self.path)
                    os.close(fd)
                    raise InUse(f"{self.directory} is in use by {holder}") from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                  "what": self.what, "since": time.time()}).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):  # the dir may be gone already (a departed node)
            os.ftruncate(self._fd, 0)
        os.close(self._fd)  # closing the last descriptor ends the flock
        self._fd = None

    def __enter__(self) -> DirLock:
        return self.acquire()

    def __exit__(self, *_: object) -> None:
        self.release()


def describe(path: Path) -> str:
    """Who the lock file says holds it: 'dwp up (pid 4242 on host box, since 10:31:16)'."""
    try:
        holder = json.loads(path.read_text())
        when = time.strftime("%H:%M:%S", time.localtime(holder["since"]))
        return (f"{holder['what']} (pid {holder['pid']} on host {holder['host']}, "
                f"since {when})")
    except (OSError, ValueError, KeyError, TypeError):
        return "another process (it has not said which yet)"
