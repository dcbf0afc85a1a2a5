"""jicofo and jvb against the real Prosody (CONTRACT.md, "XMPP"): both reach it by the network
alias xmpp.meet.jitsi, log in with the passwords prosody created their accounts with, and meet in
the brewery jvbbrewery@internal-muc.meet.jitsi, where jicofo counts the bridges it really sees.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from tests.standin.standins import PASSWORDS, Container, Options, docker, running

pytestmark = pytest.mark.docker

ALIAS = "xmpp.meet.jitsi"


@pytest.fixture
def prosody(images, prosody_options, net) -> Iterator[Container]:
    prosody_options.network = net
    prosody_options.aliases = [ALIAS]
    with running(images["prosody"], prosody_options) as container:
        container.wait_healthy()
        yield container


def start(stack: ExitStack, image: str, net: str, **env: str) -> Container:
    return stack.enter_context(running(image, Options(env=env, network=net)))


def jicofo_env(**extra: str) -> dict[str, str]:
    return {"JICOFO_AUTH_PASSWORD": PASSWORDS["JICOFO_AUTH_PASSWORD"], **extra}


def jvb_env(nickname: str, **extra: str) -> dict[str, str]:
    return {
        "JVB_AUTH_PASSWORD": PASSWORDS["JVB_AUTH_PASSWORD"],
        "JVB_MUC_NICKNAME": nickname,
        **extra,
    }


def bridges(jicofo: Container) -> int:
    stats = jicofo.exec("curl", "-fsS", "http://127.0.0.1:8888/stats").stdout
    return json.loads(stats)["bridge_selector"]["operational_bridge_count"] if stats else -1


def test_jicofo_counts_each_bridge_nickname_once(images, prosody, net):
    """All bridges log in as jvb@auth.meet.jitsi: two with the same JVB_MUC_NICKNAME are two
    sessions of one brewery occupant, so jicofo sees one bridge."""
    with ExitStack() as stack:
        jicofo = start(stack, images["jicofo"], net, **jicofo_env())
        start(stack, images["jvb"], net, **jvb_env("jvb1"))
        start(stack, images["jvb"], net, **jvb_env("jvb2"))
        jicofo.wait_for(lambda: bridges(jicofo) == 2, "two bridges")
        twin = start(stack, images["jvb"], net, **jvb_env("jvb1"))
        twin.wait_for(lambda: "joining jvbbrewery" in twin.logs(), "twin in the brewery")
        prosody.wait_for(lambda: prosody.logs().count("Authenticated as jvb@") == 3, "3 logins")
        assert bridges(jicofo) == 2


@pytest.mark.parametrize("service", ["jvb", "jicofo"])
def test_without_the_xmpp_alias_nobody_reaches_prosody(images, prosody_options, net, service):
    prosody_options.network = net
    env = jvb_env("jvb1") if service == "jvb" else jicofo_env()
    with ExitStack() as stack:
        stack.enter_context(running(images["prosody"], prosody_options)).wait_healthy()
        client = start(stack, images[service], net, **env)
        client.wait_for(lambda: f"cannot log in at {ALIAS}:5222" in client.logs(), "no login")


def test_jicofo_with_another_password_never_logs_in(images, prosody, net):
    """Prosody refuses focus with a password other than the one its account was made with."""
    with ExitStack() as stack:
        jicofo = start(stack, images["jicofo"], net, **jicofo_env(JICOFO_AUTH_PASSWORD="other"))
        jicofo.wait_for(lambda: "authentication refused" in jicofo.logs(), "refused login")
        assert "logged in" not in jicofo.logs()


def test_a_bridge_with_another_password_never_joins(images, prosody, net):
    with ExitStack() as stack:
        jicofo = start(stack, images["jicofo"], net, **jicofo_env())
        jvb = start(stack, images["jvb"], net, **jvb_env("jvb1", JVB_AUTH_PASSWORD="other"))
        jvb.wait_for(lambda: "authentication refused" in jvb.logs(), "refused login")
        jicofo.wait_for(lambda: "logged in" in jicofo.logs(), "jicofo login")
        assert bridges(jicofo) == 0


@pytest.mark.slow
def test_a_killed_bridge_stays_counted_while_prosody_keeps_its_session(images, prosody, net):
    """jvb and jicofo use stream management: a session that ends without a goodbye hibernates
    for smacks_hibernation_time (15 s on auth.meet.jitsi), and the bridge stays in the brewery."""
    with ExitStack() as stack:
        jicofo = start(stack, images["jicofo"], net, **jicofo_env(JICOFO_ENABLE_HEALTH_CHECKS="1"))
        jvb = start(stack, images["jvb"], net, **jvb_env("jvb1"))
        jicofo.wait_for(lambda: bridges(jicofo) == 1, "the bridge")
        docker("kill", jvb.name)
        killed = time.monotonic()
        jicofo.wait_for(lambda: bridges(jicofo) == 0, "the bridge gone", timeout=30)
        assert time.monotonic() - killed > 10
        # Online without a bridge: jicofo's next check fails hard, as JicofoHealthChecker does.
        health = ["curl", "-s", "-w", " %{http_code}", "http://127.0.0.1:8888/about/health"]
        jicofo.wait_for(lambda: jicofo.exec(*health).stdout.endswith(" 500"), "red", timeout=15)
        assert "No operational bridges" in jicofo.exec(*health).stdout
