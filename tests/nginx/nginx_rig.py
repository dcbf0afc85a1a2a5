"""Real parts for the proxy tests: an nginx with its own prefix and the stand-in upstream.

The nginx runs as root with `user root` because pytest's temporary directories are private to
root; it listens only on the loopback address a test gives it.
"""

from __future__ import annotations

import email.message
import http.client
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from jitsi_deploy.model.proxy import Http2Style, NginxControl
from jitsi_deploy.remote.commands import Command
from tests.ports import free_port

UPSTREAM_SCRIPT = Path(__file__).with_name("upstream.py")

MAIN_CONF = """\
user root;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 2048; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    include {prefix}/conf.d/*.conf;
}}
"""


@dataclass(frozen=True)
class NginxUnderTest:
    """An nginx under `prefix` that reads its sites from conf.d, as the deploy lays it out."""

    prefix: Path

    @classmethod
    def create(cls, prefix: Path) -> NginxUnderTest:
        for sub in ("tmp", "conf.d"):
            (prefix / sub).mkdir(parents=True, exist_ok=True)
        (prefix / "nginx.conf").write_text(MAIN_CONF.format(prefix=prefix))
        return cls(prefix)

    @property
    def site_path(self) -> Path:
        return self.prefix / "conf.d/jitsi-meet.conf"

    def argv(self, *args: str) -> tuple[str, ...]:
        return ("nginx", "-p", str(self.prefix), "-c", str(self.prefix / "nginx.conf"), *args)

    @property
    def control(self) -> NginxControl:
        return NginxControl(test=self.argv("-t", "-q"), reload=self.argv("-s", "reload"))

    def install_site(self, text: str) -> None:
        self.site_path.write_text(text)

    def http2_style(self) -> Http2Style:
        """The HTTP/2 syntax of this nginx: `http2 on;` exists since nginx 1.25.1."""
        version = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", self.run("-v").stderr)
        assert version, "nginx -v printed no version"
        return "directive" if tuple(map(int, version.groups())) >= (1, 25, 1) else "listen"

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(*args), capture_output=True, text=True, check=False)

    def start(self) -> None:
        result = self.run()
        assert result.returncode == 0, result.stderr

    def stop(self) -> None:
        pid_file = self.prefix / "nginx.pid"
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), signal.SIGTERM)


@contextmanager
def upstream(host: str) -> Iterator[str]:
    """The stand-in web container on a free port; yields its `host:port`."""
    port = free_port(host)
    process = subprocess.Popen(
        [sys.executable, str(UPSTREAM_SCRIPT), host, str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        yield f"{host}:{port}"
    finally:
        process.terminate()
        process.wait()


def make_webroot(webroot: str) -> None:
    """What the deploy's file step creates on a host: the folder ACME challenges are served from."""
    Path(webroot, ".well-known/acme-challenge").mkdir(parents=True, exist_ok=True)


def execute(commands: list[Command], env: dict[str, str] | None = None) -> None:
    """Run a plan on this machine as the 'host'; stop at the first failure, as the deploy does."""
    for command in commands:
        result = subprocess.run(
            command.argv, input=command.stdin, capture_output=True, env=env, check=False
        )
        if result.returncode:
            raise PlanFailed(command, result.stdout.decode() + result.stderr.decode())


class PlanFailed(Exception):
    def __init__(self, command: Command, output: str) -> None:
        super().__init__(f"{command.description} failed:\n{output}")
        self.command = command
        self.output = output


@contextmanager
def https(
    address: str, name: str, context: ssl.SSLContext, source: str | None = None
) -> Iterator[http.client.HTTPSConnection]:
    """A keep-alive HTTPS connection to `address` for host `name`, from loopback `source`."""
    host, port = address.rsplit(":", 1)
    connection = http.client.HTTPSConnection(name, int(port), context=context)
    raw = socket.create_connection(
        (host, int(port)), source_address=(source, 0) if source else None
    )
    connection.sock = context.wrap_socket(raw, server_hostname=name)
    try:
        yield connection
    finally:
        connection.close()


def get(connection: http.client.HTTPConnection, path: str, **headers: str) -> Reply:
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    return Reply(response.status, response.headers, response.read())


@dataclass(frozen=True)
class Reply:
    status: int
    headers: email.message.Message
    body: bytes
