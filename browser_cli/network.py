"""``dwp network status``: the network's nodes, health, shard map and epoch."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from browser_cli.http import Gateway, run
from browser_cli.options import DEFAULT_GATEWAY, GatewayOption, JsonOption
from browser_cli.terminal import out, print_json

network_app = typer.Typer(help="The network: its nodes, shards and health.",
                          no_args_is_help=True)
STATUS_STYLE = {"up": "green", "down": "red", "joining": "yellow", "leaving": "yellow"}


@network_app.command()
def status(gateway: GatewayOption = DEFAULT_GATEWAY, as_json: JsonOption = False) -> None:
    """Show every node with its health, shard and partitions, and the shard map."""
    doc = run(_status(gateway))
    if as_json:
        print_json(doc)
        return
    console = out()
    health = doc["health"]
    console.print(f"Network [bold]{doc['name']}[/bold]  epoch {doc['epoch']}  "
                  f"{len(doc['nodes'])} nodes, {len(doc['shards'])} shards x "
                  f"{doc['replicas']} replicas, {doc['partitions']} partitions  "
                  + ("[green]healthy[/green]" if health["ok"]
                     else f"[red]unhealthy: {health['detail']}[/red]"))
    nodes = Table(title="Nodes", title_justify="left", header_style="bold")
    for name in ("NODE", "HOST", "SHARD", "STATUS", "PID", "PARTITIONS", "KEYS", "OUTBOX",
                 "DIGEST"):
        nodes.add_column(name, no_wrap=True)
    for n in doc["nodes"]:
        style = STATUS_STYLE.get(n["status"], "")
        nodes.add_row(n["id"], n["host"], str(n["shard"]),
                      f"[{style}]{n['status']}[/{style}]" if style else n["status"],
                      _opt(n.get("pid")), str(n["partitions"]), _opt(n.get("keys")),
                      _opt(n.get("outbox")), (n.get("digest") or "-")[:12])
    shards = Table(title="Shards", title_justify="left", header_style="bold")
    for name in ("SHARD", "REPLICAS", "PARTITIONS"):
        shards.add_column(name, no_wrap=True)
    for s in doc["shards"]:
        shards.add_row(str(s["id"]), ", ".join(s["replicas"]), str(s["partitions"]))
    console.print(nodes)
    console.print(shards)


def _opt(value: Any) -> str:
    return "-" if value is None else str(value)


async def _status(gateway: str) -> dict[str, Any]:
    """The gateway's /api/v1/network document plus ``health`` from /healthz."""
    async with Gateway(gateway) as gw:
        doc = (await gw.request("GET", "/api/v1/network")).json()
        checked = await gw.request("GET", "/healthz", accept=(503,))
        body = checked.json()
        ok = checked.status_code == 200
        doc["health"] = {"ok": ok, "detail": None if ok else body.get("detail")}
        return doc
