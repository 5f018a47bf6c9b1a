"""The user's dwp config dir: network tokens recorded per gateway URL."""

from __future__ import annotations

import json
import os
from pathlib import Path

DEFAULT_GATEWAY = "http://127.0.0.1:8000"


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "dwp"


def _tokens_file() -> Path:
    return config_dir() / "tokens.json"


def _normal(url: str) -> str:
    return url.rstrip("/")


def record_token(gateway: str, token: str) -> None:
    """Remember the network token for a gateway, readable by this user only."""
    path = _tokens_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    tokens = json.loads(path.read_text()) if path.exists() else {}
    tokens[_normal(gateway)] = token
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(tokens, f, indent=2)
    os.replace(tmp, path)


def token_for(gateway: str) -> str | None:
    """``DWP_TOKEN``, else the token ``dwp up`` recorded for this gateway."""
    if os.environ.get("DWP_TOKEN"):
        return os.environ["DWP_TOKEN"]
    path = _tokens_file()
    if not path.exists():
        return None
    return json.loads(path.read_text()).get(_normal(gateway))
