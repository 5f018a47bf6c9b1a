"""Files only their owner may read: the network's write token and view, the CLI's token
record, Ray's auth token, and the node stores.

Each is written with mode 0600 (directories 0700), and a file dwp reads that others can
read (made by an older dwp, by hand, or by Ray itself, which writes its token 0644) is
made private again when dwp owns it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def write_private(path: Path, text: str) -> None:
    """Write atomically (rename) and durably, readable by the owner only."""
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def tighten(path: Path) -> None:
    """Take away what group and others may do with ``path``, if it exists and is ours."""
    try:
        st = path.stat()
    except OSError:
        return
    if st.st_uid == os.geteuid() and st.st_mode & 0o077:
        os.chmod(path, stat.S_IMODE(st.st_mode) & ~0o077)


def read_private(path: Path) -> str:
    """The file's text, after making it private."""
    tighten(path)
    return path.read_text()


def ray_token_file() -> Path:
    """Where Ray on this machine reads its cluster's auth token from (``RAY_AUTH_TOKEN``
    in the environment comes first, and is no file)."""
    return Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")


def has_ray_token() -> bool:
    return bool(os.environ.get("RAY_AUTH_TOKEN")) or ray_token_file().is_file()


def store_ray_token(token: str) -> bool:
    """Keep the cluster's token where this machine's later Ray drivers (``dwp up
    --address``, ``dwp network create --address``) find it; False if it was there."""
    path = ray_token_file()
    try:
        if path.read_text().strip() == token:
            tighten(path)
            return False
    except OSError:
        pass
    path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    write_private(path, token)
    return True
