"""The jicofo stand-in's REST server (CONTRACT.md, "jicofo"): 127.0.0.1:8888 inside the container
unless JICOFO_ENABLE_REST, /about/health only with JICOFO_ENABLE_HEALTH_CHECKS, no start without
JICOFO_AUTH_PASSWORD, booleans as strict as the image's templates.
"""

from __future__ import annotations

import urllib.error

import pytest

from tests.standin.standins import PASSWORDS, Options, http_get, running

pytestmark = pytest.mark.docker


def jicofo(**env: str) -> Options:
    return Options(
        env={"JICOFO_AUTH_PASSWORD": PASSWORDS["JICOFO_AUTH_PASSWORD"], **env},
        publish=["127.0.0.1::8888"],
    )


def inside(container, path: str) -> str:
    """The HTTP status of `path` on 127.0.0.1:8888, asked from inside the container."""
    url = f"http://127.0.0.1:8888{path}"
    return container.exec("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url).stdout


def test_with_rest_and_health_checks_the_published_port_answers(images):
    options = jicofo(JICOFO_ENABLE_REST="1", JICOFO_ENABLE_HEALTH_CHECKS="1")
    with running(images["jicofo"], options) as container:
        container.wait_healthy()
        port = container.host_port("8888")
        assert http_get(f"http://127.0.0.1:{port}/about/health") == (200, "OK")
        status, stats = http_get(f"http://127.0.0.1:{port}/stats")
        assert status == 200 and '"operational_bridge_count":0' in stats, "compact, as Jackson"


def test_without_rest_the_server_binds_loopback_and_the_published_port_is_dead(images):
    with running(images["jicofo"], jicofo(JICOFO_ENABLE_HEALTH_CHECKS="1")) as container:
        container.wait_healthy()
        assert inside(container, "/about/health") == "200"
        port = container.host_port("8888")
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            http_get(f"http://127.0.0.1:{port}/about/health")


def test_without_health_checks_there_is_no_health_path(images):
    with running(images["jicofo"], jicofo(JICOFO_ENABLE_REST="1")) as container:
        container.wait_for(lambda: inside(container, "/stats") == "200", "REST server")
        assert inside(container, "/about/health") == "404"
        assert container.exec("/usr/local/bin/healthcheck.sh").returncode != 0


def test_an_empty_password_stops_jicofo(images):
    with running(images["jicofo"], jicofo(JICOFO_AUTH_PASSWORD="")) as container:
        assert container.wait_exit() == 1
        assert "FATAL ERROR: JICOFO_AUTH_PASSWORD must be set" in container.logs()


def test_a_boolean_the_templates_do_not_know_stops_jicofo(images):
    """tpl's toBool takes 1/0/true/false and their case variants; "yes" aborts the template."""
    with running(images["jicofo"], jicofo(JICOFO_ENABLE_REST="yes")) as container:
        assert container.wait_exit() == 1
        assert "JICOFO_ENABLE_REST='yes' is not a boolean" in container.logs()


@pytest.mark.slow
def test_health_turns_503_once_a_check_finds_xmpp_down(images):
    """The first check runs 10 s after start (healthy until then), then every 10 s; without an
    XMPP server the ping part fails."""
    health = ["curl", "-s", "-w", " %{http_code}", "http://127.0.0.1:8888/about/health"]
    with running(images["jicofo"], jicofo(JICOFO_ENABLE_HEALTH_CHECKS="1")) as container:
        container.wait_for(lambda: container.exec(*health).stdout == "OK 200", "first answer")
        container.wait_for(
            lambda: container.exec(*health).stdout.endswith(" 503"), "failed check", timeout=15
        )
        assert "XMPP ping failed" in container.exec(*health).stdout
