"""Test hosts: systemd-booted Debian containers that behave like fresh servers over real SSH.

Each host has its own sshd host keys, root and `deploy` (passwordless sudo) and `nosudo` (no
sudo) accept the rig's ed25519 key, and all hosts share one Docker network so that they reach
each other by IP (e.g. to check a firewall from a second host).
"""

from __future__ import annotations

import fcntl
import socket
import subprocess
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from .images import CACHE_DIR, ensure_image, lock

NETWORK = "jitsi-deploy-rig"
LABEL = "jitsi-deploy-rig.host"
SUITE_LABEL = "jitsi-deploy-rig.suite"
KEY_PATH = CACHE_DIR / "ssh" / "id_ed25519"
USERS = ("root", "deploy", "nosudo")
BOOT_TIMEOUT = 120.0

# What systemd needs to boot in a container on this engine (`--privileged` is refused here).
# `--cgroupns host` keeps /proc/self/cgroup consistent with the bind-mounted host hierarchy; in a
# private namespace systemd would see itself at "/" and write to the engine's root cgroups.
SYSTEMD_OPTIONS = (
    "--cap-add", "NET_ADMIN", "--cap-add", "SYS_ADMIN",
    "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
    "--cgroupns", "host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
    "--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp",
    "--stop-signal", "SIGRTMIN+3",
)  # fmt: skip
# Docker inside a host cannot put overlay2 on the container's own overlay root; a volume gives
# /var/lib/docker a real file system, so a nested dockerd runs with its default overlay2.
# SYS_PTRACE, which root has on a real server: to `docker exec` into a container whose process
# runs as another user (the Jitsi images' uid 1000), runc opens that process's namespaces,
# which the kernel allows only with it; Debian 12's runc 1.1.5 fails without it ("error
# executing setns process"), so every health check by exec failed on the Debian 12 hosts.
NESTED_DOCKER_OPTIONS = ("--mount", "type=volume,dst=/var/lib/docker", "--cap-add", "SYS_PTRACE")


@dataclass(frozen=True)
class TestHost:
    """How to reach one test host over SSH; `host_key` is its OpenSSH ed25519 public host key."""

    __test__ = False  # not a pytest test class

    name: str
    suite: str
    address: str
    port: int = 22
    user: str = "root"
    key_path: Path = field(kw_only=True)
    host_key: str = field(kw_only=True)

    def known_hosts_line(self) -> str:
        """The known_hosts line that pins this host's key for its address."""
        where = self.address if self.port == 22 else f"[{self.address}]:{self.port}"
        return f"{where} {self.host_key}"

    def as_user(self, user: str) -> TestHost:
        return replace(self, user=user)


def start_host(name: str, suite: str) -> TestHost:
    """Boot a fresh host `name` (replacing any container of that name) and wait for sshd."""
    image = ensure_image(suite)
    public_key = ensure_key()
    _ensure_network()
    stop_host(name)
    labels = ("--label", f"{LABEL}=true", "--label", f"{SUITE_LABEL}={suite}")
    _docker(
        "run", "--detach", "--name", name, "--hostname", name, "--network", NETWORK,
        *labels, *SYSTEMD_OPTIONS, *NESTED_DOCKER_OPTIONS, image,
    )  # fmt: skip
    _wait_for_boot(name)
    _install_key(name, public_key)
    host = TestHost(name, suite, _address(name), key_path=KEY_PATH, host_key=_host_key(name))
    _wait_for_sshd(host)
    return host


def stop_host(name: str) -> None:
    """Remove host `name` and its volumes; a host that does not exist is not an error."""
    stop_hosts([name])


def stop_hosts(names: list[str], wait: bool = True) -> None:
    """Remove hosts and their volumes in one call, which the engine works through in parallel.
    ``wait=False`` returns at once (the session's end: deleting the hosts' nested images takes
    the engine half a minute more, and a next session's names carry its own pid)."""
    if not names:
        return
    argv = ["docker", "rm", "--force", "--volumes", *names]
    if wait:
        subprocess.run(argv, capture_output=True)
    else:
        subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_all() -> None:
    """Remove every rig host and the rig network."""
    names = _docker("ps", "--all", "--quiet", "--filter", f"label={LABEL}").split()
    if names:
        _docker("rm", "--force", "--volumes", *names)
    subprocess.run(["docker", "network", "rm", NETWORK], capture_output=True)


def cpu_seconds(name: str) -> float:
    """The CPU time host `name` has used so far, all its processes together, from its
    container's cgroup as the engine's machine sees it (cgroup v1 or v2)."""
    container = _docker("inspect", "--format", "{{.Id}}", name).strip()
    v1 = Path(f"/sys/fs/cgroup/cpuacct/docker/{container}/cpuacct.usage")
    if v1.exists():
        return int(v1.read_text()) / 1e9
    for v2 in (
        f"/sys/fs/cgroup/system.slice/docker-{container}.scope/cpu.stat",
        f"/sys/fs/cgroup/docker/{container}/cpu.stat",
    ):
        if Path(v2).exists():
            usage = dict(line.split() for line in Path(v2).read_text().splitlines())
            return int(usage["usage_usec"]) / 1e6
    raise RuntimeError(f"no CPU accounting found for the container of {name}")


def rig_gateway() -> str:
    """This machine's address on the test hosts' network."""
    return _docker(
        "network", "inspect", NETWORK, "--format", "{{range .IPAM.Config}}{{.Gateway}}{{end}}"
    ).strip()


def host_exec(
    host: TestHost, *argv: str, input: str | None = None, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run argv as root inside the host via `docker exec`, for assertions beside SSH."""
    return subprocess.run(
        ["docker", "exec", "-i", host.name, *argv],
        input=input,
        capture_output=True,
        text=True,
        check=check,
    )


def ensure_key() -> str:
    """Generate the rig's SSH key pair once; return the public key line."""
    KEY_PATH.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with (KEY_PATH.parent / "keygen.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not KEY_PATH.exists():
            cmd = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "jitsi-deploy-rig"]
            subprocess.run([*cmd, "-f", str(KEY_PATH)], check=True)
    KEY_PATH.chmod(0o600)
    return KEY_PATH.with_suffix(".pub").read_text().strip()


def _ensure_network() -> None:
    # Docker allows two networks of one name; creating it under a lock keeps it unique.
    with lock("network"):
        found = subprocess.run(["docker", "network", "inspect", NETWORK], capture_output=True)
        if found.returncode != 0:
            _docker("network", "create", "--label", f"{LABEL}=true", NETWORK)


def _wait_for_boot(name: str) -> None:
    """Wait until systemd has finished booting; `degraded` still means a usable server."""
    deadline = time.monotonic() + BOOT_TIMEOUT
    state = ""
    while time.monotonic() < deadline:
        done = subprocess.run(
            ["docker", "exec", name, "systemctl", "is-system-running"],
            capture_output=True,
            text=True,
        )
        state = done.stdout.strip()
        if state in ("running", "degraded"):
            return
        if not _is_running(name):
            break
        time.sleep(0.5)
    logs = subprocess.run(["docker", "logs", "--tail", "30", name], capture_output=True, text=True)
    raise RuntimeError(f"host {name} did not boot (state {state!r}):\n{logs.stdout}{logs.stderr}")


def _is_running(name: str) -> bool:
    return _docker("inspect", "--format", "{{.State.Running}}", name).strip() == "true"


def _install_key(name: str, public_key: str) -> None:
    script = (
        'set -e; h=$(getent passwd "$1" | cut -d: -f6);'
        ' install -d -m 700 -o "$1" -g "$1" "$h/.ssh";'
        ' install -m 600 -o "$1" -g "$1" /dev/stdin "$h/.ssh/authorized_keys"'
    )
    for user in USERS:
        subprocess.run(
            ["docker", "exec", "-i", name, "sh", "-c", script, "sh", user],
            input=public_key + "\n",
            text=True,
            check=True,
            capture_output=True,
        )


def _address(name: str) -> str:
    template = f'{{{{(index .NetworkSettings.Networks "{NETWORK}").IPAddress}}}}'
    return _docker("inspect", "--format", template, name).strip()


def _host_key(name: str) -> str:
    """The host's ed25519 public key as `type base64`, without the comment."""
    done = subprocess.run(
        ["docker", "exec", name, "cat", "/etc/ssh/ssh_host_ed25519_key.pub"],
        capture_output=True,
        text=True,
        check=True,
    )
    return " ".join(done.stdout.split()[:2])


def _wait_for_sshd(host: TestHost) -> None:
    deadline = time.monotonic() + BOOT_TIMEOUT
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host.address, host.port), timeout=2) as sock:
                if sock.recv(64).startswith(b"SSH-2.0-"):
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"sshd on {host.name} ({host.address}:{host.port}) does not answer")


def _docker(*argv: str) -> str:
    done = subprocess.run(["docker", *argv], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"docker {' '.join(argv)} failed: {done.stderr.strip()}")
    return done.stdout
