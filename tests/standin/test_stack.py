"""The whole core stack from tests/standin/contract.yml under docker compose, on the stand-ins:
real Prosody 13, nginx as web, slixmpp clients as jicofo and jvb.

A browser's XMPP session is played by webxmpp (websocket and BOSH through web, as the Jitsi
client speaks them; slixmpp has neither transport). The room policy is shipped the way a deploy
ships it: module in prosody-plugins-custom, settings in config/conf.d.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from jitsi_deploy.render.validate import compose_command
from jitsi_deploy.settings.rooms import RoomPolicy
from jitsi_deploy.smoke import xmpp as smoke_xmpp
from tests.ports import free_port
from tests.standin import webxmpp
from tests.standin.standins import PASSWORDS, docker, http_get, owned_dir, ship_room_policy

pytestmark = [pytest.mark.docker, pytest.mark.slow]

HERE = Path(__file__).resolve().parent
PUBLIC_URL = "https://meet.example.org"
DOMAIN = "meet.jitsi"
MUC = "muc.meet.jitsi"
SERVICES = ("web", "prosody", "jicofo", "jvb")
START_TIMEOUT = 90.0


@dataclass
class Stack:
    folder: Path
    project: str
    ports: dict[str, int]

    def compose(self, *args: str) -> None:
        subprocess.run(
            [*compose_command(), "-p", self.project, *args],
            cwd=self.folder, check=True, capture_output=True,
        )  # fmt: skip

    def container(self, service: str) -> str:
        return docker(
            "ps", "-q",
            "--filter", f"label=com.docker.compose.project={self.project}",
            "--filter", f"label=com.docker.compose.service={service}",
        ).stdout.split()[0]  # fmt: skip

    def url(self, service: str, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}{path}"

    def bridges(self) -> int:
        status, body = http_get(self.url("jicofo", "/stats"))
        assert status == 200, body
        return json.loads(body)["bridge_selector"]["operational_bridge_count"]

    def conference(self, room: str) -> None:
        """Ask jicofo for the conference, as the client does before it joins."""
        request = urllib.request.Request(
            self.url("jicofo", "/conference-request/v1"),
            data=json.dumps({"room": room}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=15) as response:
            assert json.load(response)["ready"] is True


def wait(condition, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.3)
    raise AssertionError(f"no {what} within {timeout} s")


def _prepare(folder: Path) -> None:
    """CONFIG as a deploy leaves it: folders writable by uid 1000, the room policy shipped."""
    config = folder / "config"
    for sub in ("web", "jicofo", "jvb", "storage/prosody"):
        owned_dir(config / sub)
    plugins = owned_dir(config / "prosody" / "prosody-plugins-custom")
    policy = RoomPolicy(default_password="private-room-secret")
    ship_room_policy(owned_dir(config / "prosody" / "config"), plugins, policy)


@pytest.fixture(scope="module")
def stack(images, tmp_path_factory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("contract-stack")
    _prepare(folder)
    ports = {"web": free_port(), "jicofo": free_port(), "jvb": free_port()}
    env = {f"{s.upper()}_IMAGE": images[s] for s in SERVICES}
    env |= {f"{s.upper()}_PORT": str(p) for s, p in ports.items()}
    env |= PASSWORDS | {"CONFIG": str(folder / "config"), "PUBLIC_URL": PUBLIC_URL}
    (folder / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    (folder / "docker-compose.yml").write_text((HERE / "contract.yml").read_text())
    stack = Stack(folder, f"standin{uuid.uuid4().hex[:10]}", ports)
    try:
        stack.compose("up", "-d")
        for service in SERVICES:
            container = stack.container(service)

            def healthy(container: str = container) -> bool:
                status = docker("inspect", "-f", "{{.State.Health.Status}}", container).stdout
                return status.strip() == "healthy"

            wait(healthy, f"healthy {service}", START_TIMEOUT)
        wait(lambda: stack.bridges() == 1, "bridge in jicofo's count")
        yield stack
    finally:
        stack.compose("down", "-t", "1", "-v")


def debug_bridges(stack: Stack) -> dict[str, dict[str, object]]:
    status, body = http_get(stack.url("jicofo", "/debug"))
    assert status == 200, body
    return json.loads(body)["bridge_selector"]["bridge"]


def test_jicofo_counts_the_bridge_it_sees_in_the_brewery(stack):
    status, body = http_get(stack.url("jicofo", "/stats"))
    selector = json.loads(body)["bridge_selector"]
    assert (status, selector["bridge_count"], selector["operational_bridge_count"]) == (200, 1, 1)
    assert http_get(stack.url("jicofo", "/about/health")) == (200, "OK")
    (bridge,) = debug_bridges(stack).items()
    assert bridge[0] == "jvbbrewery@internal-muc.meet.jitsi/jvb1"  # the brewery JID, by nickname
    assert bridge[1]["operational"] is True and bridge[1]["drain"] is False


@pytest.mark.parametrize("tenant", ["", "/team"])
def test_a_client_joins_a_conference_over_websocket_and_bosh_through_web(stack, tenant):
    room = f"standup{uuid.uuid4().hex[:6]}@{MUC}"
    stack.conference(room)
    ws_url = f"ws://127.0.0.1:{stack.ports['web']}{tenant}/xmpp-websocket"
    over_ws = asyncio.run(webxmpp.websocket_join(ws_url, DOMAIN, room, "alice"))
    assert over_ws.accepted, over_ws.presence
    assert over_ws.jid.split("/")[0].endswith(f"@{DOMAIN}"), "an anonymous session on meet.jitsi"
    over_bosh = webxmpp.bosh_join(stack.url("web", f"{tenant}/http-bind"), DOMAIN, room, "bob")
    assert over_bosh.accepted, over_bosh.presence


def test_only_jicofo_creates_rooms(stack):
    """Prosody restricts room creation on the MUC component to its admins (focus)."""
    ws_url = f"ws://127.0.0.1:{stack.ports['web']}/xmpp-websocket"
    room = f"nobodyasked{uuid.uuid4().hex[:6]}@{MUC}"
    joined = asyncio.run(webxmpp.websocket_join(ws_url, DOMAIN, room, "mallory"))
    assert not joined.accepted
    assert joined.presence.find(".//{urn:ietf:params:xml:ns:xmpp-stanzas}not-allowed") is not None


def test_the_room_policy_from_the_custom_plugins_guards_private_rooms(stack):
    room = f"private-board{uuid.uuid4().hex[:6]}@{MUC}"
    stack.conference(room)
    ws_url = f"ws://127.0.0.1:{stack.ports['web']}/xmpp-websocket"
    joined = asyncio.run(webxmpp.websocket_join(ws_url, DOMAIN, room, "eve"))
    assert not joined.accepted
    auth = joined.presence.find(".//{urn:ietf:params:xml:ns:xmpp-stanzas}not-authorized")
    assert auth is not None


def test_the_pages_conference_request_to_focus_reaches_jicofo_which_opens_the_room(stack):
    """As the page (and `fab smoke`) does: an IQ to focus.meet.jitsi, which Prosody's
    client_proxy component hands to jicofo, answers ready once jicofo is in the room; then the
    join is let in. Asked again from another session, the same room is ready at once."""
    endpoint = smoke_xmpp.Endpoint(public_url=stack.url("web", ""))
    created = json.loads(http_get(stack.url("jicofo", "/stats"))[1])["total_conferences_created"]
    room = f"standup{uuid.uuid4().hex[:6]}"
    for _ in range(2):
        with smoke_xmpp.session("bosh", endpoint) as user:
            assert user.ask_focus(room) == "ready"
            assert user.join(room) is None
    after = json.loads(http_get(stack.url("jicofo", "/stats"))[1])["total_conferences_created"]
    assert after == created + 1, "jicofo created the room, once"
    private = f"private-board{uuid.uuid4().hex[:6]}"
    with smoke_xmpp.session("bosh", endpoint) as user:
        assert user.ask_focus(private) == "ready"
        assert user.join(private, "private-room-secret") is None
        refusal = user.join(private)
        assert refusal is not None and refusal.condition == "not-authorized"


def test_a_wrong_room_password_through_web_is_logged_with_the_address_prosody_sees(stack):
    """The room policy's guessing log line, for a web client behind the web container: the
    address is the web container's, since Prosody trusts loopback proxies only
    (PROSODY_TRUSTED_PROXIES) and so ignores the X-Forwarded-For that web's nginx sends."""
    endpoint = smoke_xmpp.Endpoint(public_url=stack.url("web", ""))
    private = f"private-guess{uuid.uuid4().hex[:6]}"
    with smoke_xmpp.session("bosh", endpoint) as user:
        assert user.ask_focus(private) == "ready"
        refusal = user.join(private, "wrong-guess-6f1e")
        assert refusal is not None and refusal.condition == "not-authorized"
    web = stack.container("web")
    web_address = docker(
        "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", web
    ).stdout.strip()
    logs = docker("logs", stack.container("prosody")).stdout
    lines = [line for line in logs.splitlines() if "room policy: wrong password: " in line]
    assert len(lines) == 1, lines
    assert f"address={web_address} " in lines[0]
    assert f"@{MUC} count=1" in lines[0] and "wrong-guess-6f1e" not in logs


def test_a_lost_bridge_session_leaves_jicofos_count_while_its_health_stays_green(stack):
    jvb = stack.container("jvb")
    docker("exec", jvb, "touch", "/tmp/fault-xmpp-lost")
    try:
        wait(lambda: stack.bridges() == 0, "bridge leaving jicofo's count", timeout=15)
        assert http_get(stack.url("jvb", "/about/health"))[0] == 200
    finally:
        docker("exec", jvb, "rm", "-f", "/tmp/fault-xmpp-lost")
    wait(lambda: stack.bridges() == 1, "bridge back in jicofo's count", timeout=15)


def _jvb_rest(stack: Stack, path: str, method: str = "GET", **headers: str) -> tuple[int, str]:
    request = urllib.request.Request(stack.url("jvb", path), method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_the_bridge_drains_on_its_drain_api_and_counts_conferences_in_its_metrics(stack):
    """What `fab drain` relies on, as jitsi-videobridge serves it at the pinned release: the
    drain API (on by default), the conference count in the Prometheus metrics (a request
    without an Accept header fails there), and no /colibri/stats without the COLIBRI API."""
    jvb = stack.container("jvb")
    docker("exec", jvb, "sh", "-c", "echo 2 > /tmp/conferences")
    try:
        assert _jvb_rest(stack, "/metrics")[0] == 500
        status, metrics = _jvb_rest(stack, "/metrics", Accept="text/plain")
        assert status == 200 and "\njitsi_jvb_conferences 2.0\n" in metrics
        assert "\njitsi_jvb_drain_mode 0.0\n" in metrics
        assert _jvb_rest(stack, "/colibri/stats")[0] == 404
        assert _jvb_rest(stack, "/colibri/drain/enable", "POST")[0] == 200
        assert _jvb_rest(stack, "/colibri/drain") == (200, '{"drain":true}')
        assert "\njitsi_jvb_drain_mode 1.0\n" in _jvb_rest(stack, "/metrics", Accept="*/*")[1]
        assert stack.bridges() == 1, "a draining bridge keeps its conferences and its session"
        wait(lambda: debug_bridges(stack)["jvbbrewery@internal-muc.meet.jitsi/jvb1"]["drain"],
             "the drain in jicofo's view of the bridge")  # fmt: skip
    finally:
        _jvb_rest(stack, "/colibri/drain/disable", "POST")
        docker("exec", jvb, "rm", "-f", "/tmp/conferences")
