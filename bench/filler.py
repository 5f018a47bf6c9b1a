"""``python -m bench.filler``: load many small keys into a running network, fast.

The 1M-key run needs the keys there, not a measure of how HTTP writes them (the fill
through the gateway is measured up to 100k keys). This joins the network's Ray cluster
as a driver, like a member's own gateway, and writes through ``dwp.client.network.NetworkClient``
with many writes in flight, so the per-node batcher packs them into large ``Batch``
calls. Prints JSON: keys written, seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

from dwp.client.network import NetworkClient
from dwp.core.token import Token
from dwp.local import bind_loopback, connect_network, init_ray


def gcs_address(dwp_up_pid: int) -> str:
    """The address of the private Ray cluster a local ``dwp up`` started: its GCS
    server's port file, in the session dir its command line names."""
    for child in Path("/proc").glob("[0-9]*"):
        try:
            stat = (child / "stat").read_text().rsplit(")", 1)[1].split()
            if int(stat[1]) != dwp_up_pid:
                continue
            args = (child / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        for arg in args:
            if arg.startswith(b"--log_dir=") and b"gcs_server" in args[0]:
                session = Path(arg.split(b"=", 1)[1].decode()).parent
                port = next(session.glob("gcs_server_port_*")).read_text().strip()
                return f"127.0.0.1:{port}"
    raise LookupError(f"no GCS server started by pid {dwp_up_pid}")


async def fill(client: NetworkClient, prefix: str, count: int, size: int,
               in_flight: int) -> None:
    body = b"f" * size
    pending: set[asyncio.Task[Any]] = set()
    for i in range(count):
        if len(pending) >= in_flight:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
        pending.add(asyncio.create_task(client.put(
            f"{prefix}/{i}", body, "application/octet-stream", Token())))
    await asyncio.gather(*pending)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.filler", description=__doc__)
    p.add_argument("--pid", type=int, required=True, help="the `dwp up` process")
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--name", default="local")
    p.add_argument("--prefix", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--size", type=int, default=100)
    p.add_argument("--in-flight", type=int, default=512)
    args = p.parse_args()
    bind_loopback()
    init_ray(gcs_address(args.pid))
    secret = (args.data_dir / "token").read_text().strip()
    client, _ = connect_network(args.name, secret)
    started = time.monotonic()
    asyncio.run(fill(client, args.prefix, args.count, args.size, args.in_flight))
    print(json.dumps({"keys": args.count, "seconds": time.monotonic() - started}))


if __name__ == "__main__":
    main()
