"""The deploy guide's LAN paths, run for real on three simulated hosts (see lan_hosts.py):
`ray start` on each host, `dwp network create` across hosts, `dwp network join --host`,
`dwp node start`, a member's own gateway, placement on distinct hosts, and reads that
stay available while one host's Ray is stopped and catch up when it is back.

Runs as root where the machine allows namespaces; elsewhere it is skipped with the reason,
except in CI (CI=true), where it must run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import eventually
from tests.lan_hosts import Hosts, NamespacesUnavailable

REPO = Path(__file__).resolve().parent.parent
HEAD = "10.77.0.1:6379"
PORTS = ("--node-manager-port 6380 --object-manager-port 6381 --min-worker-port 10002 "
         "--max-worker-port 10100")
HEAD_START = ("RAY_AUTH_MODE=token ray start --head --node-ip-address 10.77.0.1 --port 6379 "
              f"{PORTS} --labels dwp-host=alice --include-dashboard false")
BOB_START = (f"RAY_AUTH_MODE=token ray start --address {HEAD} --node-ip-address 10.77.0.2 "
             f"{PORTS} --labels dwp-host=bob")
READER = """
import json, pathlib, sys, httpx
keys, stop = sys.argv[1:-1], pathlib.Path(sys.argv[-1])
ok = failed = 0
errors = []
with httpx.Client(base_url="http://127.0.0.1:8000", timeout=60) as http:
    while not stop.exists():
        if ok + failed:
            stop.with_name("reading").touch()  # a whole round done: the test goes on
        for key in keys:
            try:
                r = http.get("/api/v1/objects/" + key)
                good = r.status_code == 200 and r.content == key.encode()
            except httpx.HTTPError as exc:
                good, r = False, exc
            ok += good
            failed += not good
            if not good and len(errors) < 5:
                errors.append(repr(r))
print(json.dumps({"ok": ok, "failed": failed, "errors": errors}))
"""


def _allowed() -> str | None:
    """Why namespace hosts cannot run here, or None."""
    if os.geteuid() != 0:
        return "not root"
    missing = [t for t in ("ip", "unshare", "nsenter") if shutil.which(t) is None]
    return f"missing {', '.join(missing)}" if missing else None


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[Hosts]:
    reason = _allowed()
    net = Hosts(tmp_path / "hosts")
    try:
        if reason is None:
            try:
                net.start(f"{Path(sys.executable).parent}:/usr/local/sbin:/usr/local/bin:"
                          "/usr/sbin:/usr/bin:/sbin:/bin")
            except NamespacesUnavailable as exc:
                reason = str(exc)
        if reason is not None:
            if os.environ.get("CI") == "true":
                pytest.fail(f"LAN namespace hosts must run in CI: {reason}")
            pytest.skip(f"no namespace hosts here: {reason}")
        for host in net.hosts:
            host.env["PYTHONPATH"] = str(REPO)
        yield net
    finally:
        net.close()


def status(host: Any) -> dict[str, Any]:
    return json.loads(host.sh("dwp network status --json").stdout)


def node_status(host: Any) -> dict[str, str]:
    return {n["id"]: n["status"] for n in status(host)["nodes"]}


def replicas_caught_up(host: Any) -> bool:
    doc = status(host)
    by_id = {n["id"]: n for n in doc["nodes"]}
    return all(by_id[n]["status"] == "up" and len({by_id[m]["digest"] for m in s["replicas"]})
               == 1 for s in doc["shards"] for n in s["replicas"])


@pytest.mark.timeout(300)
def test_the_deploy_guide_runs_on_three_lan_hosts(hosts: Hosts, tmp_path: Path) -> None:
    alice, bob, carol = hosts["alice"], hosts["bob"], hosts["carol"]

    # alice is the head: make the cluster's Ray token, then start Ray with it.
    alice.sh("ray get-auth-token --generate")
    alice.sh(HEAD_START)
    # bob gets the token file by a private channel; carol only the token, for --token
    (bob.home / ".ray").mkdir()
    shutil.copy(alice.home / ".ray" / "auth_token", bob.home / ".ray" / "auth_token")
    ray_token = (alice.home / ".ray" / "auth_token").read_text().strip()
    bob.sh(BOB_START)

    # A create that fails (here: the wrong Ray token) leaves nothing behind.
    refused = alice.sh(f"RAY_AUTH_TOKEN=wrong dwp network create family --nodes 2 "
                       f"--host-label alice --data-dir ~/family --address {HEAD}",
                       timeout=120, check=False)
    assert refused.returncode == 1, refused
    assert "refused this machine's auth token" in refused.stderr, refused
    assert not (alice.home / "family").exists()

    # A network across hosts: two nodes on alice, served by alice's gateway on the LAN.
    created = alice.sh("dwp network create family --replicas 2 --nodes 2 --host-label alice "
                       f"--data-dir ~/family --address {HEAD}")
    assert "Created network 'family'" in created.stdout, created
    token = (alice.home / "family" / "token").read_text().strip()
    alice.spawn(f"dwp up --address {HEAD} --data-dir family --host-label alice "
                "--host 10.77.0.1", tmp_path / "alice-up.log")
    lan_gateway = "--gateway http://10.77.0.1:8000"
    eventually(lambda: alice.sh(f"dwp network status {lan_gateway}", check=False
                                ).returncode == 0, 120, 0.2)
    joined = alice.sh(f"dwp network join --host bob {lan_gateway}")
    assert "n3@bob" in joined.stdout, joined.stdout

    # carol joins with `dwp node start`, then browses through her own gateway.
    carol.env["DWP_TOKEN"] = token
    started = carol.sh(f"dwp node start --address {HEAD} --name carol --node-ip 10.77.0.3 "
                       f"--token {ray_token} {lan_gateway}")
    assert "Node n4 on host 'carol' joined network 'family'" in started.stdout, started
    kept = carol.home / ".ray" / "auth_token"  # where her own gateway, next, finds it
    assert kept.read_text() == ray_token and kept.stat().st_mode & 0o777 == 0o600
    carol.spawn(f"dwp up --address {HEAD} --network family --host-label carol",
                tmp_path / "carol-up.log")
    eventually(lambda: carol.sh("dwp network status", check=False).returncode == 0, 120, 0.2)
    doc = status(carol)
    hosts_of = {n["id"]: n["host"] for n in doc["nodes"]}
    assert hosts_of == {"n1": "alice", "n2": "alice", "n3": "bob", "n4": "carol"}
    assert all(n["status"] == "up" for n in doc["nodes"]), doc
    for shard in doc["shards"]:  # a shard's replicas on distinct hosts
        assert len({hosts_of[n] for n in shard["replicas"]}) == len(shard["replicas"]), doc

    # Each storage actor runs inside its own host, with its data in that host's dir.
    for node in doc["nodes"]:
        host = hosts[node["host"]]
        comm = host.sh(f"cat /proc/{node['pid']}/cmdline | tr '\\0' ' '").stdout
        assert "StorageNode" in comm, (node, comm)
    data = {"n1": alice.home / "family/nodes/n1", "n2": alice.home / "family/nodes/n2",
            "n3": bob.home / ".dwp/family/nodes/n3", "n4": carol.home / ".dwp/family/nodes/n4"}
    for path in data.values():
        assert (path / "replica.db").is_file(), path

    # Writes through carol's gateway (one `dwp publish` of 20 pages, then `dwp put`s);
    # reads go on while bob's Ray is stopped.
    keys = [f"family/page{i}.html" for i in range(20)]
    (carol.home / "pages").mkdir()
    for key in keys:
        (carol.home / "pages" / key.removeprefix("family/")).write_text(key)
    carol.sh("dwp publish pages --site family")
    (carol.home / "reader.py").write_text(READER)
    stop_file = carol.home / "stop-reading"
    reader = carol.spawn(f"python reader.py {' '.join(keys)} {stop_file.name}",
                         tmp_path / "reader.log")
    eventually((carol.home / "reading").exists, 60, 0.1)
    bob.sh("ray stop")
    assert bob.sh("pgrep -f raylet", check=False).returncode == 1  # bob's Ray is gone
    assert alice.sh("pgrep -f raylet", check=False).returncode == 0  # and only bob's
    later = [f"family/late{i}.html" for i in range(5)]
    for key in later:  # written while bob is away: bob must catch up on them
        (carol.home / "page").write_text(key)
        carol.sh(f"dwp put page {key}")
    # bob's node stays away until the network sees it down, reads going on meanwhile
    eventually(lambda: node_status(carol)["n3"] == "down", 60, 0.5)
    bob.sh(BOB_START)
    back = time.monotonic()
    eventually(lambda: replicas_caught_up(carol), 120, 0.5)
    caught_up = time.monotonic() - back
    stop_file.touch()
    reader.wait(120)
    counts = json.loads((tmp_path / "reader.log").read_text().strip().splitlines()[-1])
    assert counts["failed"] == 0 and counts["ok"] > 0, counts
    print(f"reads while bob was away and back: {counts['ok']} ok, 0 failed; "
          f"bob caught up {caught_up:.0f}s after its Ray restarted")
    assert alice.sh(f"dwp get {later[-1]} {lan_gateway}").stdout == later[-1]


def wheelhouse(tmp_path: Path) -> Path:
    """Every wheel `pip install ~/dwp` needs, fetched in the machine's own namespace: the
    hosts cannot reach a package index."""
    wheels = tmp_path / "wheelhouse"
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "-d", str(wheels),
                    str(REPO), "setuptools>=68"], check=True, timeout=600,
                   capture_output=True)
    return wheels


def launcher_config(hosts: Hosts) -> str:
    """cluster.yaml with only the addresses and the SSH user and key edited."""
    config = yaml.safe_load((REPO / "cluster.yaml").read_text())
    config["provider"]["head_ip"] = hosts["alice"].address
    config["provider"]["worker_ips"] = [hosts["bob"].address, hosts["carol"].address]
    config["auth"] = {"ssh_user": "dwp", "ssh_private_key": "~/.ssh/id_ed25519"}
    return yaml.safe_dump(config, sort_keys=False)


RAY_PROCESSES = "pgrep -af 'site-packages/ray/|raylet|gcs_server'"


@pytest.mark.timeout(900)
def test_ray_up_starts_every_host_and_ray_down_stops_them(hosts: Hosts,
                                                           tmp_path: Path) -> None:
    alice = hosts["alice"]
    wheels = wheelhouse(tmp_path)
    key = alice.home / ".ssh" / "id_ed25519"
    key.parent.mkdir(mode=0o700)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                   check=True, timeout=30)
    python_bin = Path(sys.base_prefix) / "bin"  # where this machine's python3.11 lives
    for host in hosts.hosts:
        hosts.start_sshd(host, key.with_suffix(".pub").read_text(),
                         tmp_path / f"{host.name}-sshd.log")
        (host.home / ".bashrc").write_text(f"export PATH={python_bin}:$PATH\n")
        pip_conf = host.home / ".config" / "pip" / "pip.conf"
        pip_conf.parent.mkdir(parents=True)
        pip_conf.write_text(f"[global]\nno-index = true\nfind-links = {wheels}\n"
                            "[install]\nno-compile = true\n")
    (alice.home / "cluster.yaml").write_text(launcher_config(hosts))
    alice.sh("ray get-auth-token --generate")
    up = alice.sh(f"cd {REPO} && ray up -y ~/cluster.yaml", timeout=240, check=False)
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]

    def every_host_runs_ray() -> bool:
        """A raylet on each host, and no `ray start` still running on any."""
        return all(h.sh("pgrep -x raylet", check=False).returncode == 0
                   and h.sh("pgrep -f 'bin/ray start'", check=False).returncode == 1
                   for h in hosts.hosts)

    eventually(every_host_runs_ray, 180, 0.5)
    for host in hosts.hosts:  # the checkout, without the .venv and .git beside it here
        copied = host.home / "dwp"
        assert (copied / "pyproject.toml").is_file(), copied
        assert not (copied / ".venv").exists() and not (copied / ".git").exists(), copied
    for host in hosts.hosts:  # pinned to its own address, labelled with its name
        raylet = host.sh("pgrep -af raylet").stdout
        assert f"--node_ip_address={host.address}" in raylet, raylet
        assert host.name in raylet, raylet
    # On the head, as its user logs in (the venv on PATH): a network with a node on each.
    created = alice.sh("source ~/.bashrc && dwp network create family --replicas 3 --hosts "
                       f"alice,bob,carol --data-dir ~/family --address {HEAD}", timeout=180)
    assert "3 nodes, 1 shard x 3 replicas" in created.stdout, created
    alice.spawn(f"source ~/.bashrc && dwp up --address {HEAD} --data-dir family",
                tmp_path / "alice-up.log")
    eventually(lambda: alice.sh("dwp network status", check=False).returncode == 0, 120, 0.2)
    (alice.home / "index.html").write_text("<h1>family</h1>\n")
    alice.sh("dwp put index.html family/index.html")
    assert {n["host"]: n["status"] for n in status(alice)["nodes"]} == {
        "alice": "up", "bob": "up", "carol": "up"}
    # A hang guard, not a speed limit: `ray down` stops the hosts one after another over
    # ssh, each `ray stop` waiting for its processes to exit, and on two cores shared with
    # other work it once took over 120 s.
    down = alice.sh(f"cd {REPO} && ray down -y ~/cluster.yaml", timeout=420, check=False)
    assert down.returncode == 0, down.stdout[-3000:] + down.stderr[-3000:]

    def ray_left() -> dict[str, str]:
        return {h.name: h.sh(RAY_PROCESSES, check=False).stdout for h in hosts.hosts}

    # The head stops at once; cluster.yaml's last command stops a worker's Ray once the
    # head refuses connections.
    deadline = time.monotonic() + 120
    while any((left := ray_left()).values()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(left.values()), left
