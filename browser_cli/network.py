"""``dwp network status|join|leave|create``: see and change the network."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.table import Table

from browser_cli.http import Gateway, run
from browser_cli.options import (
    DEFAULT_GATEWAY,
    PLAIN_HELP,
    GatewayOption,
    JsonOption,
    NetworkOption,
)
from browser_cli.terminal import count, err, out, print_json, shards_summary, size

LOCAL_LABEL = "local"  # dwp up's default --host-label (dwp.local.LOCAL_HOST; that imports Ray)
network_app = typer.Typer(help="The network: its nodes, shards and health.",
                          no_args_is_help=True, rich_markup_mode=PLAIN_HELP)
BYTES_COLUMNS = ("LIVE", "HISTORY", "GARBAGE", "DISK")  # the fields of a node's ``bytes``
STATUS_STYLE = {"up": "green", "down": "red", "joining": "yellow", "leaving": "yellow"}


@network_app.command()
def status(gateway: GatewayOption = DEFAULT_GATEWAY, network: NetworkOption = None,
           as_json: JsonOption = False) -> None:
    """Show every node with its health, shard, partitions and bytes stored (live, kept
    history, garbage awaiting collection, on disk), and the shard map."""
    doc = run(_status(gateway, network))
    if as_json:
        print_json(doc)
        return
    console = out()
    health = doc["health"]
    console.print(f"Network [bold]{doc['name']}[/bold]  epoch {doc['epoch']}  "
                  f"{count(len(doc['nodes']), 'node')}, "
                  f"{shards_summary([len(s['replicas']) for s in doc['shards']])}, "
                  f"{count(doc['partitions'], 'partition')}  "
                  + ("[green]healthy[/green]" if health["ok"]
                     else f"[red]unhealthy: {health['detail']}[/red]"))
    nodes = Table(title="Nodes", title_justify="left", header_style="bold")
    for name in ("NODE", "HOST", "SHARD", "STATUS", "PID", "PARTITIONS", "KEYS", "OUTBOX",
                 "DIGEST", *BYTES_COLUMNS):
        nodes.add_column(name, no_wrap=True,
                         justify="right" if name in BYTES_COLUMNS else "left")
    for n in doc["nodes"]:
        style = STATUS_STYLE.get(n["status"], "")
        nodes.add_row(n["id"], n["host"], str(n["shard"]),
                      f"[{style}]{n['status']}[/{style}]" if style else n["status"],
                      _opt(n.get("pid")), str(n["partitions"]), _opt(n.get("keys")),
                      _opt(n.get("outbox")), (n.get("digest") or "-")[:12],
                      *_bytes(n.get("bytes")))
    shards = Table(title="Shards", title_justify="left", header_style="bold")
    for name in ("SHARD", "REPLICAS", "PARTITIONS"):
        shards.add_column(name, no_wrap=True)
    for s in doc["shards"]:
        shards.add_row(str(s["id"]), ", ".join(s["replicas"]), str(s["partitions"]))
    console.print(nodes)
    console.print(shards)


def _opt(value: Any) -> str:
    return "-" if value is None else str(value)


def _bytes(stored: dict[str, int] | None) -> list[str]:
    """A node's bytes by what they are for, or dashes when it did not say (down)."""
    if stored is None:
        return ["-"] * len(BYTES_COLUMNS)
    return [size(stored[name.lower()]) for name in BYTES_COLUMNS]


async def _status(gateway: str, network: str | None) -> dict[str, Any]:
    """The gateway's /api/v1/network document plus ``health`` from /healthz."""
    async with Gateway(gateway, network) as gw:
        doc = await gw.json("GET", "/api/v1/network")
        checked = await gw.request("GET", "/healthz", accept=(503,))
        body = gw.parsed(checked)
        ok = checked.status_code == 200
        doc["health"] = {"ok": ok, "detail": None if ok else body.get("detail")}
        return doc


@network_app.command()
def join(host: Annotated[str | None, typer.Option(
             help="The Ray host (its dwp-host label) for the new node; default: the "
                  "gateway's own host.")] = None,
         gateway: GatewayOption = DEFAULT_GATEWAY, network: NetworkOption = None,
         as_json: JsonOption = False) -> None:
    """Add a storage node and rebalance data onto it; returns when the change is done."""
    body = {"host": host} if host else {}
    _change(gateway, network, as_json, "POST", "/api/v1/network/nodes", json=body)


@network_app.command()
def leave(node: Annotated[str, typer.Argument(help="The node id, as in `dwp network status`.")],
          force: Annotated[bool, typer.Option(
              help="The node is dead: remove it and re-replicate from the survivors.")
          ] = False,
          gateway: GatewayOption = DEFAULT_GATEWAY, network: NetworkOption = None,
          as_json: JsonOption = False) -> None:
    """Make a node hand its data off and leave the network."""
    _change(gateway, network, as_json, "DELETE", f"/api/v1/network/nodes/{quote(node)}",
            params={"force": "true"} if force else None)


@network_app.command()
def create(
    name: Annotated[str, typer.Argument(help="The new network's name.")],
    replicas: Annotated[int, typer.Option(min=1, help="Replicas of each shard.")] = 2,
    nodes: Annotated[int, typer.Option(min=1, help="Nodes on this host.")] = 4,
    hosts: Annotated[str | None, typer.Option(
        help="Comma-separated Ray hosts (dwp-host labels), one node on each.")] = None,
    data_dir: Annotated[Path, typer.Option(help="Where to keep the network's view and "
                                                "token (and this host's node data).")
                        ] = Path(".dwp"),
    address: Annotated[str | None, typer.Option(
        help="A running Ray cluster (HEAD_IP:6379, or auto) to start the nodes on now.")
    ] = None,
    host_label: Annotated[str, typer.Option(
        help="This machine's dwp-host label, for --nodes.")] = LOCAL_LABEL,
    node_root: Annotated[str, typer.Option(
        help="Where other hosts keep this network's node data (default ~/.dwp/NAME).")
    ] = "",
    as_json: JsonOption = False,
) -> None:
    """Create a network: its view and token in --data-dir; with --address, its nodes too.
    Serve it with `dwp up --data-dir DIR` (add `--address` on a LAN cluster). A create
    that fails leaves nothing behind, so it can simply be run again."""
    from dwp.local import RayJoinFailed, discard_network, init_ray, open_network, start_network
    from dwp.node.dirlock import DirLock, InUse

    host_list = [h.strip() for h in hosts.split(",") if h.strip()] if hosts else None
    wanted = len(host_list) if host_list else nodes
    if wanted < replicas:
        raise typer.BadParameter(f"{count(wanted, 'node')} cannot hold "
                                 f"{count(replicas, 'replica')}",
                                 param_hint="--replicas")
    made_dir = not data_dir.exists()
    try:  # held until this command ends: a `dwp up` on it now waits for nothing half-made
        DirLock(data_dir, "dwp network create").acquire()
    except InUse as exc:
        err.print(f"dwp: {exc}; stop it first, or give another --data-dir", soft_wrap=True)
        raise typer.Exit(1) from None
    if (data_dir / "view.json").exists():
        raise typer.BadParameter(f"{data_dir} already holds a network", param_hint="--data-dir")
    if address:
        try:
            init_ray(address)
        except Exception as exc:  # Ray raises several kinds; each is one line for the user
            if made_dir:
                shutil.rmtree(data_dir, ignore_errors=True)
            err.print(f"dwp: {exc}" if isinstance(exc, RayJoinFailed) else
                      f"dwp: cannot join the Ray cluster at {address}: {_first_line(exc)}",
                      soft_wrap=True)
            raise typer.Exit(1) from None
    view, _ = open_network(data_dir, name, nodes, replicas, host_list, host_label, node_root)
    if address:
        try:
            start_network(data_dir, name=name, hosts=host_list, nodes=nodes,
                          replicas=replicas, local_host=host_label)
        except Exception as exc:
            discard_network(data_dir, view, made_dir, host_label)
            err.print(f"dwp: the network's nodes did not start, so nothing was kept: "
                      f"{_first_line(exc)}")
            raise typer.Exit(1) from None
    if as_json:
        print_json({"name": view.name, "id": view.id, "epoch": view.epoch,
                    "nodes": [n.id for n in view.nodes], "data_dir": str(data_dir),
                    "token_file": str(data_dir / "token"), "started": bool(address)})
        return
    serve = shlex.join(["dwp", "up", "--data-dir", str(data_dir)]
                       + (["--host-label", host_label] if host_label != LOCAL_LABEL else [])
                       + (["--address", address] if address else []))
    console = out()
    console.print(f"Created network '{view.name}' (id {view.id}): "
                  f"{count(len(view.nodes), 'node')}, "
                  f"{shards_summary([len(m) for m in view.shards.values()])}, in {data_dir}")
    console.print(f"Its write token is in {data_dir / 'token'}. Serve it with: {serve}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else 'no detail'}"


def _change(gateway: str, network: str | None, as_json: bool, method: str, path: str,
            **kwargs: Any) -> None:
    async def go() -> dict[str, Any]:
        async with Gateway(gateway, network, timeout=900) as gw:
            return await gw.json(method, path, write=True, **kwargs)

    doc = run(go())
    if as_json:
        print_json(doc)
        return
    out().print(f"Network [bold]{doc['name']}[/bold] is at epoch {doc['epoch']}: "
                + ", ".join(f"{n['id']}@{n['host']} (shard {n['shard']}, {n['status']})"
                            for n in doc["nodes"]))
