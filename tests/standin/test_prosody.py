"""The prosody stand-in: the project's real Prosody 13 in Jitsi's domain layout (CONTRACT.md,
"prosody"). It needs a writable /var/lib/prosody and both service passwords, creates the focus
and jvb accounts on auth.meet.jitsi, loads custom plugins from /prosody-plugins-custom with their
settings from /config/conf.d, and answers /health to loopback only.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import ssl
import time
from pathlib import Path

import pytest
import slixmpp

from jitsi_deploy.settings.rooms import RoomPolicy
from jitsi_deploy.smoke import xmpp as smoke_xmpp
from tests.standin.standins import PASSWORDS, http_get, owned_dir, running, ship_room_policy

pytestmark = pytest.mark.docker

AUTH = "auth.meet.jitsi"


async def _login(address: str, jid: str, password: str) -> bool:
    """Whether `jid` logs in over c2s (STARTTLS on 5222, the image's self-signed certificate)."""
    client = slixmpp.ClientXMPP(jid, password)
    client.enable_direct_tls = False
    client.enable_plaintext = False
    client.ssl_context.check_hostname = False
    client.ssl_context.verify_mode = ssl.CERT_NONE
    outcome: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    def settle(value: bool) -> None:
        if not outcome.done():
            outcome.set_result(value)

    client.add_event_handler("session_start", lambda _: settle(True))
    client.add_event_handler("failed_all_auth", lambda _: settle(False))
    client.connect(address, 5222)
    try:
        return await asyncio.wait_for(outcome, 10)
    finally:
        client.disconnect()


def login(address: str, jid: str, password: str) -> bool:
    return asyncio.run(_login(address, jid, password))


def test_without_a_storage_volume_prosody_does_not_start(images, prosody_options):
    prosody_options.volumes = [v for v in prosody_options.volumes if "/var/lib/prosody" not in v]
    with running(images["prosody"], prosody_options) as container:
        assert container.wait_exit() == 1
        assert "cannot write to /var/lib/prosody" in container.logs()
        assert "${CONFIG}/storage/prosody" in container.logs()


def test_without_a_storage_volume_a_writable_root_does_not_let_prosody_start(
    images, prosody_options
):
    """Without read_only the image could write its accounts into its own layer, and lose them
    with the next recreated container: the stand-in refuses that (CONTRACT.md)."""
    prosody_options.read_only = False
    prosody_options.volumes = [v for v in prosody_options.volumes if "/var/lib/prosody" not in v]
    with running(images["prosody"], prosody_options) as container:
        assert container.wait_exit() == 1
        assert "/var/lib/prosody is not a volume" in container.logs()


def test_a_storage_folder_owned_by_root_stops_prosody(images, prosody_options, tmp_path):
    root_owned = owned_dir(tmp_path / "root-owned", uid=0)
    prosody_options.volumes[-1] = f"{root_owned}:/var/lib/prosody"
    with running(images["prosody"], prosody_options) as container:
        assert container.wait_exit() == 1
        assert "uid 1000 cannot write to /var/lib/prosody" in container.logs()


@pytest.mark.parametrize("variable", ["JICOFO_AUTH_PASSWORD", "JVB_AUTH_PASSWORD"])
def test_an_empty_service_password_stops_prosody(images, prosody_options, variable):
    prosody_options.env[variable] = ""
    with running(images["prosody"], prosody_options) as container:
        assert container.wait_exit() == 1
        assert f"FATAL ERROR: {variable} must be set" in container.logs()


def test_health_answers_loopback_only(images, prosody_options):
    with running(images["prosody"], prosody_options) as container:
        container.wait_healthy()
        assert http_get(f"http://{container.address()}:5280/health")[0] == 403


def test_service_accounts_keep_the_password_they_were_created_with(images, prosody_options):
    """The accounts are created once, in the storage volume: a password changed later in the
    environment does not reach an existing account (register-setup's `user create` fails)."""
    with running(images["prosody"], prosody_options) as container:
        container.wait_healthy()
        address = container.address()
        container.wait_for(
            lambda: login(address, f"jvb@{AUTH}", "jvb-secret"), "jvb account", timeout=20
        )
        assert login(address, f"focus@{AUTH}", "focus-secret")
        assert not login(address, f"focus@{AUTH}", "not-the-password")

    prosody_options.env["JVB_AUTH_PASSWORD"] = "changed-later"
    with running(images["prosody"], prosody_options) as container:
        container.wait_healthy()
        address = container.address()
        container.wait_for(lambda: "register-setup: jvb" in container.logs(), "account step")
        assert not login(address, f"jvb@{AUTH}", "changed-later")
        assert login(address, f"jvb@{AUTH}", "jvb-secret")


def _room_policy(prosody_options, other_rooms: str) -> None:
    config, plugins = (Path(v.split(":")[0]) for v in prosody_options.volumes[:2])
    policy = RoomPolicy(default_password="room-secret", other_rooms=other_rooms)  # type: ignore[arg-type]
    ship_room_policy(config, plugins, policy)
    prosody_options.env["XMPP_MUC_MODULES"] = "room_policy"
    prosody_options.env["XMPP_BREAKOUT_MUC_MODULES"] = "room_policy"


def _policy_health(container) -> str:
    answer = container.exec(
        "curl", "-sS", "-w", "%{http_code}", "http://127.0.0.1:5280/room-policy-health"
    )  # fmt: skip
    return answer.stdout


def test_muc_modules_load_from_the_custom_plugins_with_conf_d_settings(images, prosody_options):
    _room_policy(prosody_options, other_rooms="allow")
    with running(images["prosody"], prosody_options) as container:
        container.wait_healthy()
        muc_config = container.exec("cat", "/run/prosody/config/conf.d/jitsi-meet.cfg.lua").stdout
        main, breakout = muc_config.split('Component "muc.meet.jitsi"')[1].split(
            'Component "breakout.meet.jitsi"'
        )
        assert '"room_policy";' in main
        assert '"room_policy";' in breakout.split("Component ")[0]
        assert _policy_health(container) == "ok\n200"


def test_breakout_rooms_without_the_policy_turn_its_health_red(images, prosody_options):
    """Breakout rooms are on by default, on their own MUC: the policy on the main MUC alone
    would leave them open, and its health route says so."""
    _room_policy(prosody_options, other_rooms="allow")
    del prosody_options.env["XMPP_BREAKOUT_MUC_MODULES"]
    with running(images["prosody"], prosody_options) as container:
        container.wait_healthy()
        assert _policy_health(container) == (
            "broken: the MUC component breakout.meet.jitsi does not load room_policy\n503"
        )


def test_a_broken_room_policy_closes_the_rooms_and_turns_health_red(images, prosody_options):
    """The room policy fails closed: it stays loaded, closes every room and sets an error
    status, which /health reports (as the real image's does): the health check sees it."""
    _room_policy(prosody_options, other_rooms="sometimes")
    with running(images["prosody"], prosody_options) as container:
        container.wait_for(
            lambda: "every room is closed" in container.logs(), "the room policy closing rooms"
        )
        assert container.exec("/usr/local/bin/healthcheck.sh").returncode != 0
        policy = container.exec(
            "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
            "http://127.0.0.1:5280/room-policy-health",
        )  # fmt: skip
        assert policy.stdout == "503"


def test_the_focus_component_answers_at_once_while_jicofo_is_not_connected(images, prosody_options):
    """focus.meet.jitsi (client_proxy) hands conference IQs to focus@auth.meet.jitsi; with no
    session of it, the page's request gets an error instead of waiting for its timeout."""
    with running(images["prosody"], prosody_options) as container:
        container.wait_healthy()
        endpoint = smoke_xmpp.Endpoint(public_url=f"http://{container.address()}:5280")
        with smoke_xmpp.session("bosh", endpoint) as user:
            started = time.monotonic()
            answer = user.ask_focus("nobodyhome")
            assert time.monotonic() - started < 5
            assert answer.endswith(
                "cancel/service-unavailable (focus@auth.meet.jitsi is not connected)"
            ), answer
            refusal = user.join("nobodyhome")
            assert refusal is not None and refusal.condition == "not-allowed"


STREAM_OPEN = (
    f"<?xml version='1.0'?><stream:stream to='{AUTH}' xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
)
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"


def _read_until(sock: socket.socket, *ends: bytes) -> bytes:
    """What the server sends until one of ``ends`` (or it closes the connection)."""
    seen = b""
    while not any(end in seen for end in ends):
        chunk = sock.recv(4096)
        if not chunk:
            break
        seen += chunk
    return seen


def plaintext_login(address: str, user: str, password: str) -> tuple[str, str]:
    """A PLAIN login on 5222 without STARTTLS, as a careless client would send it: the stream
    features Prosody offers first, and its answer to the login."""
    with socket.create_connection((address, 5222), timeout=10) as sock:
        sock.sendall(STREAM_OPEN.encode())
        features = _read_until(sock, b"</stream:features>")
        token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        sock.sendall(f"<auth xmlns='{SASL}' mechanism='PLAIN'>{token}</auth>".encode())
        answer = _read_until(sock, b"</failure>", b"<success", b"</stream:stream>")
    return features.decode(), answer.decode()


def test_c2s_refuses_a_login_before_starttls(images, prosody_options):
    """c2s_require_encryption (upstream's default, PROSODY_C2S_REQUIRE_ENCRYPTION unset, as the
    product leaves it): no password crosses 5222 in the clear, and no login succeeds that way;
    the same account logs in over STARTTLS."""
    password = PASSWORDS["JVB_AUTH_PASSWORD"]
    with running(images["prosody"], prosody_options) as prosody:
        prosody.wait_healthy()
        address = prosody.address()
        prosody.wait_for(lambda: login(address, f"jvb@{AUTH}", password), "jvb account", 20)
        features, answer = plaintext_login(address, "jvb", password)
        assert "<required/></starttls>" in features and "PLAIN" not in features
        assert "<encryption-required/>" in answer and "<success" not in answer


def test_with_encryption_turned_off_logins_are_offered_in_the_clear(images, prosody_options):
    """The probe above sees the defect: the setting the product must never make lets a client
    log in (SCRAM) without TLS. Only PLAIN stays refused, by Prosody's own default."""
    prosody_options.env["PROSODY_C2S_REQUIRE_ENCRYPTION"] = "0"
    with running(images["prosody"], prosody_options) as prosody:
        prosody.wait_healthy()
        features, answer = plaintext_login(prosody.address(), "jvb", PASSWORDS["JVB_AUTH_PASSWORD"])
        assert "<required/>" not in features
        assert "<mechanism>SCRAM-SHA-1</mechanism>" in features
        assert "<encryption-required/>" in answer
