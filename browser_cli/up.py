"""``dwp up``: run networks on this machine (or on a Ray cluster) and serve their gateway
in the foreground."""

from __future__ import annotations

import ipaddress
import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from browser_cli.terminal import shards_summary
from dwp.core.deploys import DEFAULT_KEEP_DEPLOYS
from dwp.core.history import DEFAULT_KEEP_DELETED_DAYS, DEFAULT_VERSIONS
from dwp.core.labels import PLAIN

console = Console(stderr=True, soft_wrap=True)  # lines copy whole, as terminal.err's


def up(
    nodes: Annotated[int, typer.Option(min=1, help="Storage nodes on first start.")] = 4,
    replicas: Annotated[int, typer.Option(min=1, help="Replicas of each shard.")] = 2,
    history: Annotated[int, typer.Option(
        min=1, help="Versions each key keeps, its current one included (on first start).")
    ] = DEFAULT_VERSIONS,
    keep_deleted_days: Annotated[float, typer.Option(
        min=0, help="Days a deleted key can still be restored before garbage collection "
                    "removes it (on first start).")] = DEFAULT_KEEP_DELETED_DAYS,
    keep_deploys: Annotated[int, typer.Option(
        min=1, help="Deploys each site keeps besides its live one; older ones age out "
                    "(on first start).")] = DEFAULT_KEEP_DEPLOYS,
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
    network: Annotated[str | None, typer.Option(
        help="Serve this network, already running in the Ray cluster at --address, with "
             "the view read from its nodes (no data dir): a member's own gateway.")
    ] = None,
    token_file: Annotated[Path | None, typer.Option(
        help="With --network: a file holding the network's write token (default: "
             "DWP_TOKEN, else the token recorded for this gateway's URL).")] = None,
    allow_host: Annotated[list[str] | None, typer.Option(
        help="Also answer for this Host name (a DNS name or address that reaches this "
             "machine, such as its host name on the LAN); repeat for more. Loopback "
             "names, the addresses it listens on and the site domain need none.")] = None,
    workers: Annotated[int, typer.Option(
        min=1, max=64, help="Gateway processes on the port (SO_REUSEPORT), each its own "
                            "Ray driver; the UI's context ids are per process, so keep 1 "
                            "for a gateway browsed with the UI.")] = 1,
) -> None:
    """Start (or reopen from --data-dir) networks and serve their gateway."""
    import ray

    from browser_cli.config import record_tokens
    from gateway import GatewaySettings, create_app
    from gateway.server import serve
    from gateway.signin import LINK_SECONDS, LOGIN_PARAM, mint

    if site_domain is not None and not is_dns_name(site_domain):
        raise typer.BadParameter(f"{site_domain!r} is not a DNS name (labels of letters, "
                                 "digits and hyphens, separated by dots)",
                                 param_hint="--site-domain")
    for name in allow_host or []:
        if not (is_dns_name(name) or is_address(name)):
            raise typer.BadParameter(f"{name!r} is neither a DNS name nor an IP address",
                                     param_hint="--allow-host")
    url = f"http://{host}:{port}"
    if network is not None and (address is None or data_dir):
        raise typer.BadParameter("--network serves a running network: give --address "
                                 "and no --data-dir", param_hint="--network")
    if network is None and token_file is not None:
        raise typer.BadParameter("--token-file goes with --network; a data dir holds "
                                 "its own token", param_hint="--token-file")
    dirs = [] if network is not None else data_dir or [Path(".dwp")]
    _own(dirs)  # held until this process ends, however it ends
    sock = _claim_port(host, port, shared=workers > 1)
    if network is not None:
        secret = _member_token(url, token_file)
        _join_ray(address, host_label)
        networks = [_member_network(network, secret, host_label, anti_entropy_interval)]
        where = "as given; recorded for the CLI"
    else:
        networks, where = _own_networks(dirs, nodes, replicas, name, address, host_label,
                                        anti_entropy_interval,
                                        {"versions": history,
                                         "keep_deleted_days": keep_deleted_days,
                                         "keep_deploys": keep_deploys})
    record_tokens(url, [(n.name, n.secret) for n in networks])
    settings = GatewaySettings(max_upload, fault_injection, site_domain,
                               allowed_hosts=tuple(allow_host or ()))
    app = create_app(networks, settings)
    console.print(f"Gateway at [bold]{url}[/bold]  (token {where}; Ctrl-C stops)")
    code = mint({n.name: n.secret for n in networks}, time.time())
    console.print(f"Sign in at {url}/?{LOGIN_PARAM}={code}  (once, within "
                  f"{LINK_SECONDS // 60} minutes; `dwp open` makes another)", soft_wrap=True)
    sites = f"http://SITE.localhost:{port}/" + (
        f" and http://SITE.{site_domain}:{port}/" if site_domain else "")
    console.print(f"Sites at {sites}")
    try:
        if workers == 1:
            serve(app, sock)
        else:
            _serve_with_workers(app, networks, settings, sock, host, port, host_label,
                                anti_entropy_interval, workers)
    finally:
        ray.shutdown()


def _own(dirs: list[Path]) -> None:
    """One owner per data dir: refuse, naming the holder, before anything starts."""
    from dwp.node.dirlock import DirLock, InUse

    for d in dirs:
        try:
            DirLock(d, "dwp up").acquire()
        except InUse as exc:
            console.print(f"dwp: {exc}; stop it first, or give another --data-dir",
                          soft_wrap=True)
            raise typer.Exit(1) from None


def _claim_port(host: str, port: int, shared: bool) -> Any:
    """The gateway's port, taken before Ray or any node starts."""
    from gateway.server import claim_port

    try:
        return claim_port(host, port, shared)
    except OSError as exc:
        console.print(f"dwp: cannot serve on {host}:{port}: {exc.strerror} (another dwp up "
                      "or another server may be using it); give another --port",
                      soft_wrap=True)
        raise typer.Exit(1) from None


def _join_ray(address: str | None, host_label: str) -> None:
    from dwp.local import RayJoinFailed, init_ray

    try:
        init_ray(address, host_label)
    except RayJoinFailed as exc:
        console.print(f"dwp: {exc}", soft_wrap=True)
        raise typer.Exit(1) from None


def is_dns_name(name: str) -> bool:
    return all(PLAIN.fullmatch(label) for label in name.lower().split("."))


def is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


def _serve_with_workers(app: Any, networks: list[Any], settings: Any, sock: Any, host: str,
                        port: int, host_label: str, interval: float, workers: int) -> None:
    """Serve on a shared port, with ``workers - 1`` more processes on it."""
    import dataclasses

    import ray

    from browser_cli.workers import WorkerPlan, spawn, stop
    from gateway.server import serve

    plan = WorkerPlan(ray.get_runtime_context().gcs_address, host, port,
                      [(n.name, n.secret) for n in networks], host_label, interval,
                      dataclasses.asdict(settings))
    extra = spawn(plan, workers - 1)
    console.print(f"{workers} gateway processes on the port (pids {os.getpid()}, "
                  f"{', '.join(str(p.pid) for p in extra)})")
    try:
        serve(app, sock)
    finally:
        stop(extra)


def _member_token(url: str, token_file: Path | None) -> str:
    """--token-file, else DWP_TOKEN, else the token recorded for this gateway URL."""
    from browser_cli.config import token_for
    from dwp.node.private import read_private

    if token_file is not None:
        try:
            return read_private(token_file).strip()
        except OSError as exc:
            raise typer.BadParameter(f"cannot read {token_file}: {exc.strerror}",
                                     param_hint="--token-file") from exc
    secret = token_for(url)
    if not secret:
        raise typer.BadParameter(f"no write token for the network: set DWP_TOKEN, pass "
                                 f"--token-file, or record one for {url}",
                                 param_hint="--token-file")
    return secret


def _member_network(name: str, secret: str, host_label: str, interval: float) -> Any:
    from dwp.local import connect_network
    from gateway import Network

    try:
        client, membership = connect_network(name, secret, host_label, interval)
    except LookupError as exc:
        console.print(f"dwp: {exc}")
        raise typer.Exit(1) from None
    view = client.view
    console.print(f"Network '{view.name}' (epoch {view.epoch}): {len(view.nodes)} nodes, "
                  f"{shards_summary([len(m) for m in view.shards.values()])}, view from its nodes")
    return Network(client, secret, membership)


def _own_networks(dirs: list[Path], nodes: int, replicas: int, name: str,
                  address: str | None, host_label: str, interval: float,
                  created: dict[str, Any]) -> tuple[list[Any], str]:
    """The networks kept in ``dirs``, started (or found) in Ray; ``created``: settings of
    a network made now."""
    from dwp.local import open_network, start_network
    from gateway import Network

    if replicas > nodes:
        raise typer.BadParameter(f"{nodes} nodes cannot hold {replicas} replicas",
                                 param_hint="--replicas")
    names = [name if i == 0 else d.resolve().name for i, d in enumerate(dirs)]
    views = [open_network(d, n, nodes, replicas, local_host=host_label, **created)[0]
             for d, n in zip(dirs, names, strict=True)]
    taken = [v.name for v in views]
    if len(set(taken)) != len(taken):
        raise typer.BadParameter(f"two data dirs hold networks of one name: {taken}",
                                 param_hint="--data-dir")
    _join_ray(address, host_label)
    networks = []
    for d, view in zip(dirs, views, strict=True):
        client, membership = start_network(d, name=view.name, nodes=nodes, replicas=replicas,
                                           anti_entropy_interval=interval,
                                           local_host=host_label)
        view = client.view
        console.print(f"Network '{view.name}' (epoch {view.epoch}): {len(view.nodes)} nodes, "
                      f"{shards_summary([len(m) for m in view.shards.values()])}, data in {d}")
        networks.append(Network(client, (d / "token").read_text().strip(), membership))
    return networks, f"in {dirs[0] / 'token'}"
