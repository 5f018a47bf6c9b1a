"""``dwp node start``: make this machine a host of a LAN network's Ray cluster."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
from typing import Annotated

import typer

from browser_cli.http import Gateway, run
from browser_cli.options import DEFAULT_GATEWAY, PLAIN_HELP, GatewayOption, NetworkOption
from browser_cli.terminal import err, out
from dwp.node.private import ray_token_file, store_ray_token

node_app = typer.Typer(help="This machine as a host of a LAN network.", no_args_is_help=True,
                       rich_markup_mode=PLAIN_HELP)

# Fixed ports, so a LAN firewall can open exactly these (docs/deploy.md).
NODE_MANAGER_PORT = 6380
OBJECT_MANAGER_PORT = 6381
MIN_WORKER_PORT, MAX_WORKER_PORT = 10002, 10100


def ray_start_command(address: str, name: str, node_ip: str | None = None) -> list[str]:
    """The `ray start` that joins ``address`` as host ``name`` on dwp's fixed ports."""
    command = ["ray", "start", "--address", address, "--labels", f"dwp-host={name}",
               "--node-manager-port", str(NODE_MANAGER_PORT),
               "--object-manager-port", str(OBJECT_MANAGER_PORT),
               "--min-worker-port", str(MIN_WORKER_PORT),
               "--max-worker-port", str(MAX_WORKER_PORT)]
    if node_ip:
        command += ["--node-ip-address", node_ip]
    return command


def ray_environment(token: str | None) -> dict[str, str]:
    """Ray's token auth on: the cluster's token from --token, else what Ray has stored."""
    env = {**os.environ, "RAY_AUTH_MODE": "token"}
    if token:
        env["RAY_AUTH_TOKEN"] = token
    return env


@node_app.command()
def start(
    address: Annotated[str, typer.Option(help="The head's Ray address, HEAD_IP:6379.")],
    name: Annotated[str | None, typer.Option(
        help="This host's name in the network (its dwp-host label); default: hostname.")
    ] = None,
    token: Annotated[str | None, typer.Option(
        help="The Ray cluster's auth token (from the head's ~/.ray/auth_token); kept in "
             "~/.ray/auth_token (mode 0600) for this machine's later commands.",
        envvar="RAY_AUTH_TOKEN")] = None,
    node_ip: Annotated[str | None, typer.Option(
        help="This machine's LAN address, if Ray should not guess it.")] = None,
    gateway: GatewayOption = DEFAULT_GATEWAY,
    network: NetworkOption = None,
    register: Annotated[bool, typer.Option(
        help="Add a storage node on this host to the gateway's network.")] = True,
    dry_run: Annotated[bool, typer.Option(help="Print the ray command; run nothing.")
                       ] = False,
) -> None:
    """Join the Ray cluster at --address as a labelled host, then register a storage node
    on it with the network's gateway."""
    host = name or socket.gethostname()
    command = ray_start_command(address, host, node_ip)
    if dry_run:
        out().print(shlex.join(command))
        return
    if token:
        keep_ray_token(token.strip())
    err.print(f"Joining the Ray cluster at {address} as host '{host}'")
    done = subprocess.run(command, env=ray_environment(token), check=False)
    if done.returncode != 0:
        err.print(f"dwp: `ray start` failed (exit {done.returncode}); check that this host "
                  "runs the same Ray and Python versions as the head and has its token")
        raise typer.Exit(1)
    if register:
        run(_register(gateway, network, host))


def keep_ray_token(token: str) -> None:
    """Where `dwp up --address` and `dwp network create --address` on this machine find
    it later (they would otherwise join with no token, and be refused)."""
    path = ray_token_file()
    replaced = path.exists()
    if store_ray_token(token):
        err.print(f"Ray's auth token {'replaced' if replaced else 'kept'} in {path} "
                  "(mode 0600)", soft_wrap=True)


async def _register(gateway: str, network: str | None, host: str) -> None:
    async with Gateway(gateway, network, timeout=900) as gw:
        doc = await gw.json("POST", "/api/v1/network/nodes", json={"host": host},
                            write=True)
    node = next(n for n in reversed(doc["nodes"]) if n["host"] == host)
    out().print(f"Node {node['id']} on host '{host}' joined network '{doc['name']}' "
                f"(epoch {doc['epoch']}, shard {node['shard']})")
