"""The user's dwp config dir: network tokens and context tokens, recorded per gateway URL."""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from dwp.private import read_private

DEFAULT_GATEWAY = "http://127.0.0.1:8000"
DEFAULT_PORTS = {"http": 80, "https": 443}


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "dwp"


def _tokens_file() -> Path:
    return config_dir() / "tokens.json"


def _contexts_file() -> Path:
    return config_dir() / "contexts.json"


def _normal(url: str) -> str:
    """One spelling per gateway: ``localhost`` is the loopback address the gateway binds
    (``dwp up`` records ``127.0.0.1``), the host is lower case, a default port is dropped."""
    try:
        parts = urlsplit(url.strip())
        host, port = (parts.hostname or "").lower(), parts.port
    except ValueError:
        return url.rstrip("/")
    if host == "localhost":
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    scheme = parts.scheme.lower()
    if port is not None and port != DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    return urlunsplit((scheme, host, parts.path.rstrip("/"), "", ""))


def _read(path: Path) -> dict[str, str]:
    try:
        data = json.loads(read_private(path))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(path: Path, data: dict[str, str]) -> None:
    """Replace the file atomically, readable by this user only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, path)


def record_token(gateway: str, token: str) -> None:
    """Remember the network token for a gateway, readable by this user only."""
    tokens = _read(_tokens_file())
    tokens[_normal(gateway)] = token
    _write(_tokens_file(), tokens)


def token_for(gateway: str) -> str | None:
    """``DWP_TOKEN``, else the token ``dwp up`` recorded for this gateway."""
    if os.environ.get("DWP_TOKEN"):
        return os.environ["DWP_TOKEN"]
    return _read(_tokens_file()).get(_normal(gateway))


def context_for(gateway: str) -> str | None:
    """The causal context token the last command got from this gateway, if any."""
    return _read(_contexts_file()).get(_normal(gateway))


def record_context(gateway: str, context: str | None) -> None:
    """Keep (or, with None, forget) the context token so the next command reads our writes."""
    contexts = _read(_contexts_file())
    if context is None:
        contexts.pop(_normal(gateway), None)
    else:
        contexts[_normal(gateway)] = context
    _write(_contexts_file(), contexts)
