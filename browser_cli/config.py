"""The user's dwp config dir: network tokens and context tokens, recorded per gateway URL."""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from dwp.node.private import read_private

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


def _entry(gateway: str, network: str | None) -> str:
    """The record's key: the gateway URL in its one spelling, and ``#NAME`` for a network
    named with ``--network`` (the plain URL is the gateway's first network)."""
    return _normal(gateway) + (f"#{network}" if network else "")


def record_tokens(gateway: str, secrets: list[tuple[str, str]]) -> None:
    """Remember each network's token for a gateway (``secrets``: (name, token), the
    gateway's first network first), readable by this user only."""
    tokens = _read(_tokens_file())
    for i, (name, secret) in enumerate(secrets):
        if i == 0:
            tokens[_entry(gateway, None)] = secret
        tokens[_entry(gateway, name)] = secret
    _write(_tokens_file(), tokens)


def record_token(gateway: str, token: str, network: str | None = None) -> None:
    """Remember the network token for a gateway (and network), readable by this user
    only."""
    tokens = _read(_tokens_file())
    tokens[_entry(gateway, network)] = token
    _write(_tokens_file(), tokens)


def token_for(gateway: str, network: str | None = None) -> str | None:
    """``DWP_TOKEN``, else the token ``dwp up`` recorded for this gateway and network."""
    if os.environ.get("DWP_TOKEN"):
        return os.environ["DWP_TOKEN"]
    return _read(_tokens_file()).get(_entry(gateway, network))


def context_for(gateway: str, network: str | None = None) -> str | None:
    """The causal context token the last command got from this gateway's network."""
    return _read(_contexts_file()).get(_entry(gateway, network))


def record_context(gateway: str, context: str | None, network: str | None = None) -> None:
    """Keep (or, with None, forget) the context token so the next command reads our writes."""
    contexts = _read(_contexts_file())
    if context is None:
        contexts.pop(_entry(gateway, network), None)
    else:
        contexts[_entry(gateway, network)] = context
    _write(_contexts_file(), contexts)
