"""A real image registry for the test hosts: Debian's docker-registry (Docker's distribution
2.8), on this machine's address on the test hosts' network, over TLS with its own CA.

A test host trusts it as a server trusts a private registry: the CA in
/etc/docker/certs.d/<address>/ca.crt. This machine's Docker engine pushes to it the same way
(the file is removed again at the end).
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.ports import free_port
from tests.rig.hosts import TestHost, host_exec

CERTS_D = Path("/etc/docker/certs.d")


@dataclass(frozen=True)
class Registry:
    address: str  # host:port, as an image path starts
    ca: Path

    def push(self, local: str, path: str) -> str:
        """Push the local image ``local`` as ``<address>/<path>``; the pushed name."""
        remote = f"{self.address}/{path}"
        subprocess.run(["docker", "tag", local, remote], check=True)
        subprocess.run(["docker", "push", "-q", remote], check=True, capture_output=True)
        return remote

    def forget(self) -> None:
        """Untag this machine's images named after the registry (its port is chosen anew)."""
        listed = ["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"]
        names = subprocess.run(listed, capture_output=True, text=True).stdout.split()
        ours = [name for name in names if name.startswith(f"{self.address}/")]
        if ours:
            subprocess.run(["docker", "rmi", *ours], capture_output=True)

    def trust(self, host: TestHost) -> None:
        """The test host's Docker trusts the registry's CA (read at each pull)."""
        folder = f"{CERTS_D}/{self.address}"
        host_exec(host, "mkdir", "-p", folder, check=True)
        host_exec(host, "sh", "-c", f"cat > {folder}/ca.crt", input=self.ca.read_text(), check=True)


@contextmanager
def registry(root: Path, listen: str) -> Iterator[Registry]:
    root.mkdir(parents=True, exist_ok=True)
    cert, key = root / "registry.pem", root / "registry.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", f"/CN={listen}", "-addext", f"subjectAltName=IP:{listen}",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    address = f"{listen}:{free_port(listen)}"
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: error\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n"
        f"http:\n  addr: {address}\n  tls:\n    certificate: {cert}\n    key: {key}\n"
    )
    server = subprocess.Popen(
        ["docker-registry", "serve", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    own_trust = CERTS_D / address
    own_trust.mkdir(parents=True, exist_ok=True)
    shutil.copy(cert, own_trust / "ca.crt")
    serving = Registry(address, cert)
    try:
        _wait_until_up(address, cert)
        yield serving
    finally:
        serving.forget()
        server.terminate()
        server.wait()
        shutil.rmtree(own_trust, ignore_errors=True)


def _wait_until_up(address: str, ca: Path) -> None:
    context = ssl.create_default_context(cafile=str(ca))
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"https://{address}/v2/", context=context, timeout=2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
