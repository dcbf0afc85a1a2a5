"""The JVM images, jvb and jicofo (CONTRACT.md, "jvb" and "JVM heap"): the heap variable against
the container's memory limit, and jvb's own start conditions.
"""

from __future__ import annotations

import pytest

from tests.standin.standins import PASSWORDS, Options, http_get, running

pytestmark = pytest.mark.docker

HEAPS = {"jvb": "VIDEOBRIDGE_MAX_MEMORY", "jicofo": "JICOFO_MAX_MEMORY"}


def jvm(service: str, **env: str) -> Options:
    password = "JVB_AUTH_PASSWORD" if service == "jvb" else "JICOFO_AUTH_PASSWORD"
    health = {"JICOFO_ENABLE_HEALTH_CHECKS": "1"} if service == "jicofo" else {}
    return Options(env={password: PASSWORDS[password], **health, **env})


@pytest.mark.parametrize("service", HEAPS)
def test_the_default_heap_does_not_fit_a_smaller_memory_limit(images, service):
    """Unset, the heap is 3072m (jvb.sh, jicofo.sh): too much for a 1 GiB container."""
    options = jvm(service)
    options.extra = ["--memory", "1g"]
    with running(images[service], options) as container:
        assert container.wait_exit() == 1
        logs = container.logs()
        assert f"{HEAPS[service]}=3072m (-Xmx3072m) does not fit" in logs
        assert "at most 768m" in logs


@pytest.mark.parametrize("service", HEAPS)
def test_a_heap_that_leaves_room_for_the_jvm_starts(images, service):
    options = jvm(service, **{HEAPS[service]: "768m"})
    options.extra = ["--memory", "1g"]
    with running(images[service], options) as container:
        container.wait_healthy()


@pytest.mark.parametrize("service", HEAPS)
def test_a_heap_size_java_cannot_parse_stops_the_service(images, service):
    with running(images[service], jvm(service, **{HEAPS[service]: "3GB"})) as container:
        assert container.wait_exit() == 1
        assert "Invalid maximum heap size: -Xmx3GB" in container.logs()


def test_an_empty_password_stops_jvb(images):
    with running(images["jvb"], jvm("jvb", JVB_AUTH_PASSWORD="")) as container:
        assert container.wait_exit() == 1
        assert "FATAL ERROR: JVB_AUTH_PASSWORD must be set" in container.logs()


def test_jvb_without_xmpp_needs_no_password(images):
    options = jvm("jvb", JVB_AUTH_PASSWORD="", JVB_DISABLE_XMPP="1")
    with running(images["jvb"], options) as container:
        container.wait_healthy()


def test_jvb_health_is_served_on_all_interfaces(images):
    with running(images["jvb"], jvm("jvb")) as container:
        container.wait_healthy()
        assert http_get(f"http://{container.address()}:8080/about/health")[0] == 200
