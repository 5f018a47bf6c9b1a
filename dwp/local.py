"""Starting a network on this machine: Ray, the view and token on disk, the node actors.

``dwp up`` and the tests both come through here, so a network restarted on the same
data dir finds its view, its token and every node's database where it left them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import signal
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from ray._private import ray_constants
from ray._private.authentication.authentication_token_setup import (
    AUTH_MODE_ENV_VAR,
    _enable_token_auth,
    maybe_enable_token_auth_if_token_available,
)
from ray._raylet import GcsClient  # type: ignore[attr-defined]  # the stub omits it
from ray.exceptions import AuthenticationError, RayError

from dwp.client.membership import Membership
from dwp.client.network import NetworkClient
from dwp.core.deploys import DEFAULT_KEEP_DEPLOYS
from dwp.core.errors import ChangeFailed
from dwp.core.history import DEFAULT_KEEP_DELETED_DAYS, DEFAULT_VERSIONS
from dwp.core.messages import GetView, Ping
from dwp.core.view import NodeSpec, View
from dwp.node.actor import RayTransport, StorageNodeActor, actor_name
from dwp.node.loop import NodeSettings
from dwp.node.private import has_ray_token, ray_token_file, read_private, tighten, write_private
from dwp.node.socket_transport import SocketTransport, socket_enabled

log = logging.getLogger("dwp.local")
LOCAL_HOST = "local"
HOST_LABEL = "dwp-host"


def bind_loopback() -> None:
    """Keep a one-machine Ray on 127.0.0.1: Ray's own single-host switch, set for this
    process (already imported) and inherited by every Ray process it starts."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False


class RayJoinFailed(Exception):
    """This machine could not join the Ray cluster; the message is one line for a person."""


def init_ray(address: str | None = None, host: str = LOCAL_HOST,
             object_store_mb: int = 256) -> None:
    """Join the Ray cluster at ``address``, or start a private one on loopback whose
    only host is labelled ``host``; either way keep our SIGTERM handler, and keep Ray's
    auth token file private (Ray writes it readable by everyone)."""
    handler = signal.getsignal(signal.SIGTERM)
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    quiet: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False,
                             "configure_logging": False}
    tighten(ray_token_file())
    if address:
        _join(address, quiet)
    else:
        bind_loopback()
        if AUTH_MODE_ENV_VAR not in os.environ:
            # Ray's default for a new local cluster, chosen explicitly: left to the
            # default, Ray prints a notice on every start that the README does not show.
            _enable_token_auth()
        ray.init(address="local", include_dashboard=False, labels={HOST_LABEL: host},
                 object_store_memory=object_store_mb * 2**20, **quiet)
    tighten(ray_token_file())
    signal.signal(signal.SIGTERM, handler)


def _join(address: str, quiet: dict[str, Any]) -> None:
    """Ray turns token auth on for ``--address auto`` when a token exists, never for an
    explicit HEAD:6379; a driver of a token cluster needs it on either way."""
    where = (f"put the head's ~/.ray/auth_token in {ray_token_file()} here (mode 0600), "
             f"or run `dwp node start --address {address} --token TOKEN` once, or set "
             "RAY_AUTH_TOKEN")
    token_mode = os.environ.get("RAY_AUTH_MODE", "").lower() == "token"
    if token_mode and not has_ray_token():
        raise RayJoinFailed(f"no Ray auth token on this machine for the cluster at "
                            f"{address}: {where}")
    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)
    try:
        _check_token(address)
        ray.init(address=address, **quiet)
    except AuthenticationError as exc:
        raise RayJoinFailed(f"the Ray cluster at {address} refused this machine's auth "
                            f"token, or it has none: {where}") from exc
    except ConnectionError as exc:
        hint = ("; this machine has no Ray auth token: " + where if not has_ray_token()
                else "; is the head running there, and is this machine's Ray auth token "
                     f"({ray_token_file()}) the cluster's?")
        raise RayJoinFailed(f"cannot join the Ray cluster at {address}{hint}") from exc


def _check_token(address: str) -> None:
    """Raise AuthenticationError at once if the head at ``address`` refuses this machine's
    Ray token: ``ray.init`` asks again every second for about 20 s and then reports only
    that it cannot connect. Asked only when the head's port takes a connection; anything
    else that goes wrong is left for ``ray.init`` to meet and report."""
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except (OSError, ValueError):
        return
    try:
        GcsClient(address=address)
    except AuthenticationError:
        raise
    except Exception:  # ray.init meets it again and says what it is
        return


def namespace_of(name: str) -> str:
    return f"dwp-{name}"


def view_from_nodes(name: str, network_id: str = "", timeout: float = 10.0) -> View | None:
    """The newest committed view this network's node actors hold (None if none answers):
    what a gateway on any host of the cluster serves, with no copy of a data dir.
    ``network_id`` ignores nodes of another network that had the same name."""
    namespace = namespace_of(name)
    pending: list[ray.ObjectRef[Any]] = []
    for actor in ray.util.list_named_actors(all_namespaces=True):
        if actor["namespace"] == namespace and actor["name"].startswith(actor_name("")):
            with contextlib.suppress(ValueError):  # gone since it was listed
                handle = ray.get_actor(actor["name"], namespace=namespace)
                pending.append(handle.handle.remote("", GetView()))
    if not pending:
        return None
    ready, _ = ray.wait(pending, num_returns=len(pending), timeout=timeout)
    views = []
    for ref in ready:
        with contextlib.suppress(RayError):
            views.append(View.from_json(ray.get(ref).view))
    views = [v for v in views if not network_id or v.id == network_id]
    return max(views, key=lambda v: v.epoch, default=None)


def open_network(data_dir: Path, name: str = "local", nodes: int = 4, replicas: int = 2,
                 hosts: list[str] | None = None, local_host: str = LOCAL_HOST,
                 node_root: str = "", versions: int = DEFAULT_VERSIONS,
                 keep_deleted_days: float = DEFAULT_KEEP_DELETED_DAYS,
                 keep_deploys: int = DEFAULT_KEEP_DEPLOYS) -> tuple[View, str]:
    """Load the view and token from ``data_dir``, or create them on first start: ``nodes``
    nodes on this host, or one node on each of the Ray ``hosts``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    view_path, token_path = data_dir / "view.json", data_dir / "token"
    if view_path.exists():
        view = View.from_json(view_path.read_text())
    else:
        specs = [NodeSpec(f"n{i}", host) for i, host in
                 enumerate(hosts or [local_host] * nodes, start=1)]
        view = View.create(name, specs, replicas, node_root=node_root, versions=versions,
                           keep_deleted_days=keep_deleted_days, keep_deploys=keep_deploys)
        write_private(view_path, view.to_json())
    if not token_path.exists():
        write_private(token_path, secrets.token_urlsafe(32))
    tighten(view_path)
    return view, read_private(token_path).strip()


def discard_network(data_dir: Path, view: View, remove_dir: bool,
                    local_host: str = LOCAL_HOST) -> None:
    """Undo a create that failed: stop any node actor it started, and remove its view,
    token and local node data (``remove_dir``: the whole data dir, which it made)."""
    namespace = namespace_of(view.name)
    for spec in view.nodes:
        with contextlib.suppress(ValueError, RayError):
            ray.kill(ray.get_actor(actor_name(spec.id), namespace=namespace), no_restart=True)
    if remove_dir:
        shutil.rmtree(data_dir, ignore_errors=True)
        return
    homes = NodeHomes(data_dir, local_host)
    for spec in view.nodes:
        if spec.host == local_host:
            shutil.rmtree(homes.of(view, spec.id), ignore_errors=True)
    for leftover in ("view.json", "token"):
        (data_dir / leftover).unlink(missing_ok=True)


@dataclass(frozen=True)
class NodeHomes:
    """Where node data dirs live: this host's under the network's data dir, a LAN
    host's under the view's ``node_root`` on that host (default ``~/.dwp/<network>``)."""

    data_dir: Path
    local_host: str = LOCAL_HOST

    def of(self, view: View, node_id: str) -> str:
        if view.node(node_id).host == self.local_host:
            return str(self.data_dir / "nodes" / node_id)
        return f"{view.node_root or '~/.dwp/' + view.name}/nodes/{node_id}"


def start_node(view: View, node_id: str, homes: NodeHomes, settings: NodeSettings,
               initial: View | None = None) -> Any:
    """Create the node's actor, or find it if it runs: detached, pinned to its host. A
    joining node starts on the committed view ``initial``, in which it owns nothing."""
    host = view.node(node_id).host
    return StorageNodeActor.options(
        name=actor_name(node_id), namespace=settings.namespace, lifetime="detached",
        get_if_exists=True, max_restarts=-1, num_cpus=0,
        label_selector={HOST_LABEL: host},
    ).remote(node_id, homes.of(view, node_id), (initial or view).to_json(), settings)


def start_network(data_dir: Path, *, name: str = "local", nodes: int = 4, replicas: int = 2,
                  hosts: list[str] | None = None, anti_entropy_interval: float = 5.0,
                  local_host: str = LOCAL_HOST, node_root: str = ""
                  ) -> tuple[NetworkClient, Membership]:
    """Open (or create) the network in ``data_dir``, start every node's actor, and answer
    a client for it and the membership driver that changes it."""
    view, secret = open_network(data_dir, name, nodes, replicas, hosts, local_host, node_root)
    newer = view_from_nodes(view.name, view.id)
    if newer is not None and newer.epoch > view.epoch:  # changed through another gateway
        view = newer
        write_private(data_dir / "view.json", view.to_json())
    homes = NodeHomes(data_dir, local_host)
    return _serve(view, secret, homes, anti_entropy_interval, keep_view_file=True)


def connect_network(name: str, secret: str, local_host: str = LOCAL_HOST,
                    anti_entropy_interval: float = 5.0) -> tuple[NetworkClient, Membership]:
    """A client and membership driver for a network already running in this Ray cluster,
    with the view read from its nodes: a member's own gateway on any host. Nodes it adds
    on its host keep their data where the network's other hosts do (``node_root``)."""
    view = view_from_nodes(name)
    if view is None:
        raise LookupError(f"no node of network {name!r} answers in this Ray cluster "
                          f"(Ray namespace {namespace_of(name)})")
    homes = NodeHomes(Path(view.node_root or f"~/.dwp/{view.name}"), local_host)
    return _serve(view, secret, homes, anti_entropy_interval, keep_view_file=False)


def _serve(view: View, secret: str, homes: NodeHomes, anti_entropy_interval: float,
           keep_view_file: bool) -> tuple[NetworkClient, Membership]:
    settings = NodeSettings(namespace_of(view.name), anti_entropy_interval)
    handles = [start_node(view, n.id, homes, settings) for n in view.nodes]
    ray.get([h.handle.remote("", Ping()) for h in handles], timeout=120)
    # Writes and reads over each local node's data socket, unless DWP_DATA_SOCKET=0.
    transport = (SocketTransport(settings.namespace) if socket_enabled()
                 else RayTransport(settings.namespace))
    client = NetworkClient(view, transport, secret)
    launcher = RayLauncher(homes, settings, transport, keep_view_file=keep_view_file)
    membership = Membership(client, launcher)
    try:
        asyncio.run(membership.recover())
    except ChangeFailed as exc:
        log.warning("%s", exc)  # serve anyway; the next change or restart tries again
    return client, membership


class RayLauncher:
    """Starts and stops this network's node actors on the Ray cluster's hosts."""

    def __init__(self, homes: NodeHomes, settings: NodeSettings, transport: RayTransport,
                 start_timeout: float = 60.0, keep_view_file: bool = True) -> None:
        self.homes = homes
        self.settings = settings
        self.transport = transport  # the membership's: it must reach what we start
        self.start_timeout = start_timeout
        self.keep_view_file = keep_view_file  # False: the nodes hold the only copy
        self._never_placed: set[str] = set()  # nodes whose host was absent: no dir anywhere

    def local_host(self) -> str:
        return self.homes.local_host

    async def start(self, view: View, node_id: str, initial: View | None = None) -> None:
        self._never_placed.discard(node_id)  # ids are given out again
        handle = start_node(view, node_id, self.homes, self.settings, initial)
        try:
            await asyncio.wait_for(handle.handle.remote("", Ping()), self.start_timeout)
        except (TimeoutError, RayError) as exc:
            host = view.node(node_id).host
            if not _host_is_up(host):
                self._never_placed.add(node_id)
            raise ChangeFailed(f"node {node_id} did not start on host {host!r}: is a Ray "
                               f"node labelled {HOST_LABEL}={host} in the cluster? "
                               f"({type(exc).__name__})") from exc

    async def stop(self, node_id: str) -> None:
        self.transport.forget(node_id)
        with contextlib.suppress(ValueError):
            ray.kill(ray.get_actor(actor_name(node_id), namespace=self.settings.namespace),
                     no_restart=True)

    async def discard(self, view: View, node_id: str) -> None:
        """Stop a node that never joined and remove its data dir on its host: its id is
        given out again, and a node reopening the dir would hold the dead proposal."""
        await self.stop(node_id)
        host, path = view.node(node_id).host, self.homes.of(view, node_id)
        if node_id in self._never_placed:
            self._never_placed.discard(node_id)
            return  # its host never ran it, so it made no data dir to remove
        if not _host_is_up(host):
            log.warning("host %r is not in the Ray cluster: if node %s ever ran there, remove "
                        "%s there before a node %s joins again", host, node_id, path, node_id)
            return
        removal = _remove_dir.options(label_selector={HOST_LABEL: host}).remote(path)
        try:
            await asyncio.wait_for(removal, self.start_timeout)
        except (TimeoutError, RayError) as exc:
            ray.cancel(removal)
            log.warning("could not remove %s on host %r (%s): remove it before node %s "
                        "joins again", path, host, type(exc).__name__, node_id)

    def record(self, view: View) -> None:
        if self.keep_view_file:
            write_private(self.homes.data_dir / "view.json", view.to_json())


def _host_is_up(host: str) -> bool:
    """A live Ray node carries the host's label (a task for a missing host would wait)."""
    return any(n["Alive"] and (n.get("Labels") or {}).get(HOST_LABEL) == host
               for n in ray.nodes())


@ray.remote(num_cpus=0)
def _remove_dir(path: str) -> None:
    """Runs on the host the dir is on (``~`` is that host's home)."""
    shutil.rmtree(Path(path).expanduser(), ignore_errors=True)
