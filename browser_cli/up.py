"""``dwp up``: run a whole network on this machine and serve its gateway in the foreground."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console(stderr=True)


def up(
    nodes: Annotated[int, typer.Option(min=1, help="Storage nodes on first start.")] = 4,
    replicas: Annotated[int, typer.Option(min=1, help="Replicas of each shard.")] = 2,
    data_dir: Annotated[Path, typer.Option(help="Where the network keeps its data.")] = Path(
        ".dwp"),
    host: Annotated[str, typer.Option(help="Address the gateway binds to.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="The gateway's port.")] = 8000,
    name: Annotated[str, typer.Option(help="The network's name on first start.")] = "local",
    max_upload: Annotated[int, typer.Option(help="Largest accepted upload, bytes.")] = 1 << 30,
    anti_entropy_interval: Annotated[float, typer.Option(
        help="Seconds between anti-entropy rounds.")] = 5.0,
    fault_injection: Annotated[bool, typer.Option(
        help="Enable PUT|DELETE /api/v1/faults (tests and demos only).")] = False,
) -> None:
    """Start (or reopen from --data-dir) a local network and serve its gateway."""
    import uvicorn

    from browser_cli.config import record_token
    from dwp.local import init_ray, open_network, start_network
    from gateway import GatewaySettings, create_app

    if replicas > nodes:
        raise typer.BadParameter(f"{nodes} nodes cannot hold {replicas} replicas",
                                 param_hint="--replicas")
    view, secret = open_network(data_dir, name, nodes, replicas)
    if (len(view.nodes), view.replicas) != (nodes, replicas):
        console.print(f"[yellow]{data_dir} holds network '{view.name}' with "
                      f"{len(view.nodes)} nodes and {view.replicas} replicas; using it.")
    console.print(f"Starting network '{view.name}': {len(view.nodes)} nodes, "
                  f"{len(view.shards)} shards x {view.replicas} replicas, data in {data_dir}")
    init_ray()
    client, membership = start_network(data_dir, name=name, nodes=nodes, replicas=replicas,
                                       anti_entropy_interval=anti_entropy_interval)
    url = f"http://{host}:{port}"
    record_token(url, secret)
    app = create_app(client, GatewaySettings(secret, max_upload, fault_injection), membership)
    console.print(f"Gateway at [bold]{url}[/bold]  (token in {data_dir / 'token'}; Ctrl-C stops)")
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        import ray

        ray.shutdown()
