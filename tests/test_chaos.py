"""The chaos campaign, short: each nemesis (and a mix) for a few seconds with one seed
on one network; nothing acknowledged is lost, nothing unwritten appears, no read goes
back in time, and the replicas converge. ``python -m tests.chaos`` runs the long one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.chaos.__main__ import ALL
from tests.chaos.campaign import run
from tests.chaos.cluster import ChaosNet, chaos_net
from tests.conftest import RayCluster

SECONDS = 5.0


@pytest.fixture(scope="module")
def chaos(ray_runtime: RayCluster, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[ChaosNet]:
    with chaos_net(ray_runtime, tmp_path_factory.mktemp("chaos"), "chaos") as net:
        yield net


@pytest.mark.parametrize("nemesis", ALL)
def test_nemesis_loses_nothing_and_converges(chaos: ChaosNet, nemesis: str) -> None:
    result = run(chaos, nemesis, seed=1, seconds=SECONDS)
    v = result.verdict
    assert v.acked_writes > 0, result.faults
    assert (v.lost, v.unexpected, v.stale, v.resurrected, v.duplicate_deletes) == (
        0, 0, 0, 0, 0), (v.examples, result.faults)
    assert result.convergence is not None, result.faults
    assert not any(f.startswith("nemesis failed") for f in result.faults), result.faults
