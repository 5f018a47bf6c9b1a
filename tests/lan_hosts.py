"""Simulated LAN hosts on one machine, for the deploy guide's end-to-end test.

Each host is a network namespace with a private address on a bridge that lives in a
namespace of its own (no default route, nothing reaches the machine's real network),
plus its own PID, UTS and mount namespaces: its own hostname, `/proc`, `/tmp/ray`, `/etc`
(a copy of the machine's) and home dir (`/home/dwp`, the user `dwp`, uid 0). A private
PID namespace is what makes `ray stop` on one host stop only that host's Ray; killing the
host's first process ends every process in it. Everything is torn down by ``close``,
even after a failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

SUBNET = "10.77.0"
HOME = "/home/dwp"
REAPER = ("import os, time\n"
          "while True:\n"
          "    try:\n"
          "        os.wait()\n"
          "    except ChildProcessError:\n"
          "        time.sleep(0.2)\n")


class NamespacesUnavailable(Exception):
    """This machine (or this user) cannot make network, PID and mount namespaces."""


def _passwd() -> str:
    """The machine's users, with uid 0 (``root``, and ``dwp`` for SSH logins) at home in
    ``/home/dwp``: ssh finds its keys through the passwd entry, not ``$HOME``."""
    lines = []
    for line in Path("/etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if len(fields) == 7 and fields[2] == "0":
            fields[5] = HOME
        lines.append(":".join(fields))
    return "\n".join([*lines, f"dwp:x:0:0:dwp:{HOME}:/bin/bash", ""])


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@dataclass
class Host:
    name: str
    address: str
    netns: str
    root: Path  # this host's private files, seen from the machine
    init: subprocess.Popen[bytes] | None = None
    pid: int = 0  # the host's first process, as the machine sees it
    env: dict[str, str] = field(default_factory=dict)

    @property
    def home(self) -> Path:
        """The host's home dir as the machine sees it (``/home/dwp`` inside)."""
        return self.root / "home" / "dwp"

    def command(self, argv: list[str]) -> list[str]:
        return ["nsenter", "-t", str(self.pid), "--net", "--pid", "--mount", "--uts",
                "--", "env", "-i", *(f"{k}={v}" for k, v in self.env.items()),
                *argv]

    def sh(self, script: str, timeout: float = 180, check: bool = True
           ) -> subprocess.CompletedProcess[str]:
        """Run a shell command line on this host, as its user, in its home dir."""
        done = subprocess.run(self.command(["bash", "-c", f"cd && {script}"]),
                              capture_output=True,
                              text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise AssertionError(f"{self.name}$ {script}\nexit {done.returncode}\n"
                                 f"{done.stdout}\n{done.stderr}")
        return done

    def spawn(self, script: str, log: Path) -> subprocess.Popen[bytes]:
        """Start a long-running command line on this host; it ends with the host."""
        with open(log, "wb") as f:
            return subprocess.Popen(self.command(["bash", "-c", f"cd && {script}"]), stdout=f,
                                    stderr=subprocess.STDOUT)


class Hosts:
    """Three (or ``count``) hosts ``alice``, ``bob``, ``carol`` on 10.77.0.1-3."""

    NAMES = ("alice", "bob", "carol", "dave")

    def __init__(self, root: Path, count: int = 3) -> None:
        self.root = root
        self.tag = f"dwp{os.getpid() % 100000}"
        self.lan = f"{self.tag}-lan"
        self.hosts = [Host(n, f"{SUBNET}.{i}", f"{self.tag}-{n}", root / n)
                      for i, n in enumerate(self.NAMES[:count], start=1)]
        self._made: list[str] = []

    def __getitem__(self, name: str) -> Host:
        return next(h for h in self.hosts if h.name == name)

    def start(self, path: str) -> None:
        """Make the namespaces and start each host; ``path`` is every host's PATH."""
        try:
            _ip("netns", "add", self.lan)
        except (OSError, subprocess.CalledProcessError) as exc:
            raise NamespacesUnavailable(f"cannot make a network namespace ({exc})") from exc
        self._made.append(self.lan)
        _ip("-n", self.lan, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.lan, "link", "set", "br0", "up")
        for i, host in enumerate(self.hosts, start=1):
            _ip("netns", "add", host.netns)
            self._made.append(host.netns)
            _ip("link", "add", "eth0", "netns", host.netns, "type", "veth", "peer", "name",
                f"port{i}", "netns", self.lan)
            _ip("-n", self.lan, "link", "set", f"port{i}", "master", "br0", "up")
            _ip("-n", host.netns, "addr", "add", f"{host.address}/24", "dev", "eth0")
            _ip("-n", host.netns, "link", "set", "eth0", "up")
            _ip("-n", host.netns, "link", "set", "lo", "up")
            self._boot(host, path)

    def _boot(self, host: Host, path: str) -> None:
        for d in ("home/dwp", "tmp-ray"):
            (host.root / d).mkdir(parents=True, exist_ok=True)
        # A copy of the whole /etc, not one file bound over /etc/passwd: a package
        # install on the machine replaces /etc/passwd (a rename), and a host's lookups
        # of that path would then find the machine's file, without its user dwp.
        shutil.copytree("/etc", host.root / "etc", symlinks=True, dirs_exist_ok=True)
        (host.root / "etc" / "passwd").write_text(_passwd())
        Path("/tmp/ray").mkdir(exist_ok=True)
        setup = " && ".join([
            f"hostname {host.name}",
            f"mount --bind {host.root / 'home'} /home",
            f"mount --bind {host.root / 'tmp-ray'} /tmp/ray",
            f"mount --bind {host.root / 'etc'} /etc",
            f"exec {sys.executable} -c '{REAPER}'"])
        try:
            host.init = subprocess.Popen(
                ["ip", "netns", "exec", host.netns, "unshare", "--pid", "--fork", "--mount",
                 "--uts", "--mount-proc", "--propagation", "private", "sh", "-c", setup],
                start_new_session=True)
        except OSError as exc:
            raise NamespacesUnavailable(f"cannot start a host ({exc})") from exc
        host.pid = self._first_process(host)
        host.env = {"HOME": HOME, "USER": "dwp", "LOGNAME": "dwp", "PATH": path,
                    "LANG": "C.UTF-8", "TERM": "dumb"}
        hostname = host.sh("hostname", timeout=30, check=False)
        if hostname.stdout.strip() != host.name:  # namespaces work, so this is a bug
            raise RuntimeError(f"host {host.name} did not come up: {hostname.stderr.strip()}")

    @staticmethod
    def _first_process(host: Host) -> int:
        """The pid (as the machine sees it) of the host's reaper, once its mounts are done."""
        assert host.init is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if host.init.poll() is not None:
                raise NamespacesUnavailable(f"unshare exited {host.init.returncode}")
            children = Path(f"/proc/{host.init.pid}/task/{host.init.pid}/children")
            with contextlib.suppress(OSError):
                for pid in children.read_text().split():
                    with contextlib.suppress(OSError):
                        # The shell doing the mounts becomes the reaper by exec: same pid,
                        # and its command line is the reaper's only once the mounts are done.
                        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                        if argv[0] == sys.executable.encode():
                            return int(pid)
            time.sleep(0.1)
        raise RuntimeError(f"host {host.name} did not start within 30s")

    def start_sshd(self, host: Host, public_key: str, log: Path) -> None:
        """An sshd on the host's address that lets ``dwp`` in with ``public_key``."""
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation dir
        ssh = host.home / ".ssh"
        ssh.mkdir(mode=0o700, exist_ok=True)
        (ssh / "authorized_keys").write_text(public_key)
        key = host.root / "ssh_host_ed25519_key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                       check=True, timeout=30)
        config = host.root / "sshd_config"
        config.write_text("\n".join([
            f"ListenAddress {host.address}", f"HostKey {key}", "PidFile none",
            "PermitRootLogin yes", "PasswordAuthentication no", "UsePAM no",
            "KbdInteractiveAuthentication no", "StrictModes no",
            f"AuthorizedKeysFile {HOME}/.ssh/authorized_keys",
            "Subsystem sftp internal-sftp", ""]))
        host.spawn(f"$(command -v sshd || echo /usr/sbin/sshd) -D -e -f {config}", log)

    def close(self) -> None:
        """Kill every host (its first process takes the whole PID namespace with it),
        then delete the namespaces and the hosts' files."""
        for host in self.hosts:
            if host.init is not None and host.init.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(host.init.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    host.init.wait(30)
        for netns in reversed(self._made):
            with contextlib.suppress(subprocess.CalledProcessError, OSError):
                _ip("netns", "del", netns)
        shutil.rmtree(self.root, ignore_errors=True)
