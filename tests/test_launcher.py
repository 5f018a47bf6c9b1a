"""The Ray launcher's clean-up of a node that never joined, on the session's real Ray: it
asks a person to remove a data dir only when one may exist."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from dwp.core.errors import ChangeFailed
from dwp.core.view import View
from dwp.local import NodeHomes, RayLauncher, namespace_of, open_network
from dwp.node.actor import RayTransport
from dwp.node.loop import NodeSettings
from tests.conftest import RayCluster

ABSENT = "a-host-not-in-the-cluster"


def launcher(data_dir: Path, view: View) -> RayLauncher:
    namespace = namespace_of(view.name)
    return RayLauncher(NodeHomes(data_dir), NodeSettings(namespace, 1.0),
                       RayTransport(namespace), start_timeout=3)


def test_a_node_its_host_never_ran_leaves_nothing_to_remove(
        ray_runtime: RayCluster, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    view, _ = open_network(tmp_path / "net", "launcher-test", hosts=[ABSENT], replicas=1)
    caplog.set_level(logging.WARNING, logger="dwp.local")
    starter = launcher(tmp_path / "net", view)
    with pytest.raises(ChangeFailed, match=f"did not start on host '{ABSENT}'"):
        asyncio.run(starter.start(view, "n1"))
    asyncio.run(starter.discard(view, "n1"))
    assert caplog.messages == []  # no "remove ... there": the node never ran anywhere

    # A launcher that did not try to start it (a gateway restarted since) cannot know.
    asyncio.run(launcher(tmp_path / "net", view).discard(view, "n1"))
    assert caplog.messages == [
        f"host '{ABSENT}' is not in the Ray cluster: if node n1 ever ran there, remove "
        f"~/.dwp/launcher-test/nodes/n1 there before a node n1 joins again"]
