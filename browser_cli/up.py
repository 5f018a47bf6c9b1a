"""``dwp up``: run networks on this machine (or on a Ray cluster) and serve their gateway
in the foreground."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from dwp.labels import PLAIN

console = Console(stderr=True)


def up(
    nodes: Annotated[int, typer.Option(min=1, help="Storage nodes on first start.")] = 4,
    replicas: Annotated[int, typer.Option(min=1, help="Replicas of each shard.")] = 2,
    data_dir: Annotated[list[Path] | None, typer.Option(
        help="Where a network keeps its data; repeat to serve several networks (the "
             "first is the default).")] = None,
    host: Annotated[str, typer.Option(help="Address the gateway binds to.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="The gateway's port.")] = 8000,
    name: Annotated[str, typer.Option(help="The first network's name on first start "
                                           "(others take their folder's name).")] = "local",
    address: Annotated[str | None, typer.Option(
        help="Join this Ray cluster (HEAD_IP:6379) instead of starting a private one.")
    ] = None,
    host_label: Annotated[str, typer.Option(
        help="This machine's dwp-host label: new nodes are placed on it.")] = "local",
    max_upload: Annotated[int, typer.Option(help="Largest accepted upload, bytes.")] = 1 << 30,
    anti_entropy_interval: Annotated[float, typer.Option(
        help="Seconds between anti-entropy rounds.")] = 5.0,
    fault_injection: Annotated[bool, typer.Option(
        help="Enable PUT|DELETE /api/v1/faults (tests and demos only).")] = False,
    site_domain: Annotated[str | None, typer.Option(
        help="Also serve each site at {site}.NAME for LAN users (point a wildcard DNS "
             "name or hosts entries at this gateway). Loopback users always get "
             "{site}.localhost.")] = None,
) -> None:
    """Start (or reopen from --data-dir) networks and serve their gateway."""
    import ray
    import uvicorn

    from browser_cli.config import record_token
    from dwp.local import init_ray, open_network, start_network
    from gateway import GatewaySettings, Network, create_app

    if site_domain is not None and not all(
            PLAIN.fullmatch(label) for label in site_domain.lower().split(".")):
        raise typer.BadParameter(f"{site_domain!r} is not a DNS name (labels of letters, "
                                 "digits and hyphens, separated by dots)",
                                 param_hint="--site-domain")
    if replicas > nodes:
        raise typer.BadParameter(f"{nodes} nodes cannot hold {replicas} replicas",
                                 param_hint="--replicas")
    dirs = data_dir or [Path(".dwp")]
    names = [name if i == 0 else d.resolve().name for i, d in enumerate(dirs)]
    views = [open_network(d, n, nodes, replicas, local_host=host_label)[0]
             for d, n in zip(dirs, names, strict=True)]
    taken = [v.name for v in views]
    if len(set(taken)) != len(taken):
        raise typer.BadParameter(f"two data dirs hold networks of one name: {taken}",
                                 param_hint="--data-dir")
    init_ray(address, host_label)
    url = f"http://{host}:{port}"
    networks = []
    for d, view in zip(dirs, views, strict=True):
        console.print(f"Network '{view.name}' (epoch {view.epoch}): {len(view.nodes)} nodes, "
                      f"{len(view.shards)} shards x {view.replicas} replicas, data in {d}")
        client, membership = start_network(d, name=view.name, nodes=nodes, replicas=replicas,
                                           anti_entropy_interval=anti_entropy_interval,
                                           local_host=host_label)
        secret = (d / "token").read_text().strip()
        networks.append(Network(client, secret, membership))
    record_token(url, networks[0].secret)
    app = create_app(networks, GatewaySettings(max_upload, fault_injection, site_domain))
    console.print(f"Gateway at [bold]{url}[/bold]  (token in {dirs[0] / 'token'}; "
                  "Ctrl-C stops)")
    sites = f"http://SITE.localhost:{port}/" + (
        f" and http://SITE.{site_domain}:{port}/" if site_domain else "")
    console.print(f"Sites at {sites}")
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        ray.shutdown()
