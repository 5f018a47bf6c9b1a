"""Options every command shares, declared once so they read the same everywhere."""

from __future__ import annotations

from typing import Annotated

import typer

from browser_cli.config import DEFAULT_GATEWAY

GatewayOption = Annotated[str, typer.Option(
    "--gateway", envvar="DWP_GATEWAY", metavar="URL",
    help="The gateway to talk to (env DWP_GATEWAY).")]
JsonOption = Annotated[bool, typer.Option(
    "--json", help="Print JSON instead of a table (shapes in docs/cli.md).")]

__all__ = ["DEFAULT_GATEWAY", "GatewayOption", "JsonOption"]
