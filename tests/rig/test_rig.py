"""The test rig itself, checked over real SSH: hosts boot systemd, run the right Debian release,
pin their own host keys, grant sudo as promised, reach each other, and can run nested Docker."""

from __future__ import annotations

import io
import shutil
import tarfile
from dataclasses import replace
from pathlib import Path

import fabric
import paramiko
import pytest

from .hosts import TestHost, host_exec
from .images import SUITES

SSH_TIMEOUT = 20
# Debian 13 moved the `docker` command out of docker.io into docker-cli (only recommended).
DOCKER_PACKAGES = {"bookworm": "docker.io", "trixie": "docker.io docker-cli"}


@pytest.fixture(scope="module")
def hosts(make_host) -> dict[str, TestHost]:
    return {suite: make_host(suite) for suite in SUITES}


def known_hosts_file(tmp_path: Path, *hosts: TestHost) -> Path:
    path = tmp_path / "known_hosts"
    path.write_text("".join(host.known_hosts_line() + "\n" for host in hosts))
    return path


def ssh_client(host: TestHost, known_hosts: Path) -> paramiko.SSHClient:
    """A client that accepts only the host keys listed in `known_hosts`."""
    client = paramiko.SSHClient()
    client.load_host_keys(str(known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        host.address,
        port=host.port,
        username=host.user,
        key_filename=str(host.key_path),
        look_for_keys=False,
        allow_agent=False,
        timeout=SSH_TIMEOUT,
    )
    return client


def ssh_run(host: TestHost, command: str, tmp_path: Path) -> tuple[int, str, str]:
    client = ssh_client(host, known_hosts_file(tmp_path, host))
    try:
        _, stdout, stderr = client.exec_command(command, timeout=SSH_TIMEOUT)
        status = stdout.channel.recv_exit_status()
        return status, stdout.read().decode(), stderr.read().decode()
    finally:
        client.close()


@pytest.mark.parametrize("suite", SUITES)
def test_systemd_has_booted(hosts, suite, tmp_path):
    status, out, _ = ssh_run(hosts[suite], "systemctl is-system-running", tmp_path)
    assert out.strip() in ("running", "degraded"), (status, out)
    _, failed, _ = ssh_run(hosts[suite], "systemctl --failed --no-legend --plain", tmp_path)
    assert failed.strip() == "", f"failed units on {suite}: {failed}"


@pytest.mark.parametrize("suite", SUITES)
def test_os_release_matches_suite(hosts, suite, tmp_path):
    _, out, _ = ssh_run(hosts[suite], "cat /etc/os-release", tmp_path)
    assert f'VERSION_ID="{SUITES[suite]}"' in out
    assert f"VERSION_CODENAME={suite}" in out


@pytest.mark.parametrize("suite", SUITES)
def test_deploy_user_has_passwordless_sudo(hosts, suite, tmp_path):
    deploy = hosts[suite].as_user("deploy")
    status, out, err = ssh_run(deploy, "id -un && sudo -n true", tmp_path)
    assert (status, out.strip()) == (0, "deploy"), err


@pytest.mark.parametrize("suite", SUITES)
def test_nosudo_user_cannot_sudo(hosts, suite, tmp_path):
    nosudo = hosts[suite].as_user("nosudo")
    status, out, err = ssh_run(nosudo, "id -un && sudo -n true", tmp_path)
    assert out.strip() == "nosudo"
    assert status != 0 and "sudo" in err


@pytest.mark.parametrize("suite", SUITES)
def test_sshd_allows_keys_only(hosts, suite):
    config = host_exec(hosts[suite], "sshd", "-T", check=True).stdout
    assert "permitrootlogin without-password" in config
    assert "passwordauthentication no" in config


def test_host_keys_are_unique_and_match_host_key(hosts, tmp_path):
    bookworm, trixie = hosts["bookworm"], hosts["trixie"]
    assert bookworm.host_key != trixie.host_key
    for host in (bookworm, trixie):
        served = host_exec(host, "cat", "/etc/ssh/ssh_host_ed25519_key.pub", check=True).stdout
        assert served.split()[:2] == host.host_key.split()
        ssh_client(host, known_hosts_file(tmp_path, host)).close()
    # The other host's key under this address must be refused.
    wrong = replace(bookworm, host_key=trixie.host_key)
    with pytest.raises(paramiko.BadHostKeyException):
        ssh_client(bookworm, known_hosts_file(tmp_path, wrong))


def test_hosts_reach_each_other_on_port_22(hosts, tmp_path):
    target = hosts["trixie"].address
    probe = (
        "python3 -c 'import socket,sys; "
        f's = socket.create_connection(("{target}", 22), 5); print(s.recv(8).decode())\''
    )
    status, out, err = ssh_run(hosts["bookworm"], probe, tmp_path)
    assert (status, out.strip()) == (0, "SSH-2.0-"), err


def busybox_tar(path: Path) -> Path:
    """A one-binary image rootfs from this machine's static busybox (no registry is reachable)."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    with tarfile.open(path, "w") as tar:
        tar.add(busybox, arcname="bin/busybox")
        link = tarfile.TarInfo("bin/sh")
        link.type, link.linkname = tarfile.SYMTYPE, "busybox"
        tar.addfile(link, io.BytesIO())
    return path


@pytest.mark.slow
@pytest.mark.parametrize("suite", SUITES)
def test_nested_docker_runs_a_container(make_host, suite, tmp_path):
    """Install docker.io over SSH like the deploy will, then run a locally imported image."""
    host = make_host(suite)
    conn = fabric.Connection(
        host.address,
        user=host.user,
        port=host.port,
        connect_timeout=SSH_TIMEOUT,
        connect_kwargs={"key_filename": str(host.key_path), "look_for_keys": False},
    )
    conn.client.load_host_keys(str(known_hosts_file(tmp_path, host)))
    conn.client.set_missing_host_key_policy(paramiko.RejectPolicy())
    with conn:
        # in_stream=False: no local stdin to forward (pytest captures it).
        def run(command: str, timeout: int = 120) -> str:
            return conn.run(command, hide=True, in_stream=False, timeout=timeout).stdout.strip()

        packages = DOCKER_PACKAGES[suite]
        install = f"apt-get update -q && apt-get install -y -q --no-install-recommends {packages}"
        run(f"DEBIAN_FRONTEND=noninteractive sh -c '{install}'", timeout=600)
        conn.put(str(busybox_tar(tmp_path / "busybox.tar")), "/root/busybox.tar")
        run("docker import /root/busybox.tar rig-busybox")
        echoed = run("docker run --rm rig-busybox /bin/busybox echo nested-ok")
        driver = run("docker info --format '{{.Driver}}'")
    assert echoed == "nested-ok"
    assert driver == "overlay2"
