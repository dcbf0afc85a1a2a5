"""Checks through a real nginx (TLS, BOSH, XMPP websocket) and the webhook, on loopback only.

nginx is our own instance (own config, pid file and port), not the system service: the script's
nginx check and restart commands are configured to drive it. The stack behind it runs the
stand-in images (tests/standin) because the real Jitsi images cannot be fetched here.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from healthstack import Stack, docker

from tests.ports import free_port

HOSTNAME = "meet.test"

NGINX_CONF = """\
user root;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name {host};
        ssl_certificate {dir}/cert.pem;
        ssl_certificate_key {dir}/key.pem;
        location / {{ proxy_pass http://127.0.0.1:{web}; }}
        location /xmpp-websocket {{
            proxy_pass http://127.0.0.1:{web};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_read_timeout 900s;
        }}
    }}
}}
"""


@pytest.fixture
def site(stack: Stack, tmp_path: Path) -> Iterator[Stack]:
    """The stack behind a TLS nginx on a loopback port, with a self-signed certificate."""
    ngx = tmp_path / "nginx"
    ngx.mkdir()
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", f"/CN={HOSTNAME}", "-addext", f"subjectAltName=DNS:{HOSTNAME}",
         "-keyout", str(ngx / "key.pem"), "-out", str(ngx / "cert.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    port = free_port()
    conf = ngx / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=ngx, port=port, host=HOSTNAME, web=stack.ports["web"]))
    start = f"nginx -c {conf}"
    subprocess.run(start.split(), check=True)
    stack.configure(
        CHECK_NGINX=1,
        PUBLIC_HOSTNAME=HOSTNAME,
        NGINX_PORT=port,
        TLS_CA_FILE=ngx / "cert.pem",
        NGINX_CHECK_CMD=f'kill -0 "$(cat {ngx}/nginx.pid)"',
        NGINX_RESTART_CMD=start,
    )
    try:
        yield stack
    finally:
        subprocess.run(["nginx", "-c", str(conf), "-s", "stop"], capture_output=True)


def test_site_checks_pass_through_nginx(site):
    report = site.run("--report")
    assert report.returncode == 0, report.stdout
    for check in ("nginx", "site-root", "site-bosh", "site-websocket"):
        assert f"ok    {check}\n" in report.stdout


def test_dead_nginx_is_restarted_and_containers_are_left_alone(site):
    before = site.started_at()
    subprocess.run(
        ["nginx", "-c", str(site.workdir / "nginx/nginx.conf"), "-s", "stop"], check=True
    )
    assert site.run().returncode == 1
    site.run()
    assert [a.split(" ACTION ")[1] for a in site.log_lines("ACTION")] == [
        "restarted nginx (failed: nginx site-root site-bosh site-websocket)"
    ]
    assert site.started_at() == before
    assert site.run("--report").returncode == 0


def test_site_failing_because_of_web_restarts_web_not_nginx(site):
    docker("stop", "-t", "1", site.container("web"))
    site.run()
    site.run()
    actions = site.log_lines("ACTION")
    assert len(actions) == 1 and "restarted web" in actions[0], actions
    assert site.healthy_within(2), site.run("--report").stdout


def command_lines() -> list[str]:
    """Every process's arguments, as `ps` shows them to any user."""
    lines = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            lines.append(cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue  # the process ended meanwhile
    return lines


class Recorder(BaseHTTPRequestHandler):
    """Collects webhook requests (method, path, body) on the server object, and the command
    lines of every process while the request is open (the sender is still running then)."""

    def _record(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.requests.append((self.command, self.path, body))  # type: ignore[attr-defined]
        self.server.command_lines += command_lines()  # type: ignore[attr-defined]
        self.send_response(200)
        self.end_headers()

    do_GET = do_POST = _record

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[HTTPServer]:
    server = HTTPServer(("127.0.0.1", 0), Recorder)
    server.requests = []  # type: ignore[attr-defined]
    server.command_lines = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def test_json_webhook_gets_each_action_and_breaker_trip(stack, webhook):
    url = f"http://127.0.0.1:{webhook.server_port}/hook"
    stack.configure(FAILS_BEFORE_ACTION=1, MAX_RESTARTS_PER_HOUR=1, WEBHOOK_URL=url)
    stack.exec("jvb", "touch", "/var/fault/health")
    stack.run()
    stack.wait_health("jvb", "unhealthy")  # a restarted container is let start first
    stack.run()
    events = [json.loads(body) for method, _, body in webhook.requests if method == "POST"]
    assert [e["event"] for e in events] == ["restart", "breaker_open"]
    assert events[0]["message"].startswith("jvb restarted")
    assert not [line for line in webhook.command_lines if "/hook" in line], "URL in ps"


def test_kuma_push_reports_down_then_up(stack, webhook):
    url = f"http://127.0.0.1:{webhook.server_port}/api/push/token123"
    stack.configure(WEBHOOK_URL=url, WEBHOOK_MODE="kuma")
    stack.run()
    stack.exec("jvb", "touch", "/tmp/fault-xmpp-lost")
    assert stack.fault_seen_within(30), "jicofo still counts the bridge"
    stack.run()
    pushes = [urlsplit(path) for method, path, _ in webhook.requests if method == "GET"]
    assert [p.path for p in pushes] == ["/api/push/token123"] * 2
    queries = [parse_qs(p.query, keep_blank_values=True) for p in pushes]
    assert [q["status"] for q in queries] == [["up"], ["down"]]
    assert queries[1]["msg"] == ["jicofo-bridges"]
    assert not [line for line in webhook.command_lines if "token123" in line], "token in ps"
