"""cluster.yaml passes Ray's own config preparation and validation; broken copies fail;
`dwp node start` builds the ray command the deploy guide documents."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

from browser_cli.node import ray_start_command

CONFIG = Path(__file__).resolve().parent.parent / "cluster.yaml"


def load() -> dict[str, Any]:
    return yaml.safe_load(CONFIG.read_text())


def check(config: dict[str, Any]) -> None:
    validate_config(prepare_config(copy.deepcopy(config)))


def test_cluster_yaml_is_valid() -> None:
    config = load()
    check(config)
    assert config["provider"]["type"] == "local"
    commands = (config["setup_commands"] + config["head_start_ray_commands"]
                + config["worker_start_ray_commands"])
    assert all(isinstance(c, str) for c in commands)  # no command parsed as a mapping
    starts = [c for c in config["head_start_ray_commands"] + config["worker_start_ray_commands"]
              if "ray start" in c]
    assert len(starts) == 2
    for start in starts:
        assert "--labels=dwp-host=" in start and "RAY_AUTH_MODE=token" in start
        assert "--node-ip-address=" in start
    assert "RAY_enable_autoscaler_v2=0" in starts[0]
    assert config["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"


BREAKAGES: list[Callable[[dict[str, Any]], object]] = [
    lambda c: c.pop("provider"),
    lambda c: c["provider"].pop("head_ip"),
    lambda c: c.__setitem__("max_workers", "two"),
    lambda c: c.__setitem__("setup_command", []),
]


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_a_broken_copy_fails_validation(breakage: Callable[[dict[str, Any]], object]) -> None:
    config = load()
    breakage(config)
    with pytest.raises(Exception):  # noqa: B017 - Ray raises several kinds
        check(config)


def test_node_start_joins_with_the_host_label_on_fixed_ports() -> None:
    command = ray_start_command("10.0.0.1:6379", "host2")
    assert command[:4] == ["ray", "start", "--address", "10.0.0.1:6379"]
    assert "dwp-host=host2" in command
    assert command[command.index("--node-manager-port") + 1] == "6380"
