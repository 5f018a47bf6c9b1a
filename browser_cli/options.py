"""Options every command shares, declared once so they read the same everywhere."""

from __future__ import annotations

from typing import Annotated

import typer

from browser_cli.config import DEFAULT_GATEWAY

# Help in click's plain layout: typer's rich panels show every flag as taking a value
# ("--delete <bool>", "--help <bool>").
PLAIN_HELP = None

GatewayOption = Annotated[str, typer.Option(
    "--gateway", envvar="DWP_GATEWAY", metavar="URL",
    help="The gateway to talk to (env DWP_GATEWAY).")]
NetworkOption = Annotated[str | None, typer.Option(
    "--network", envvar="DWP_NETWORK", metavar="NAME", show_default=False,
    help="Which of the gateway's networks (env DWP_NETWORK; default: its first).")]
JsonOption = Annotated[bool, typer.Option(
    "--json", help="Print JSON instead of a table (shapes in docs/cli.md).")]

__all__ = ["DEFAULT_GATEWAY", "PLAIN_HELP", "GatewayOption", "JsonOption", "NetworkOption"]
