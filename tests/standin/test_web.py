"""The web stand-in, nginx from Debian (CONTRACT.md, "web"): HTTPS needs a writable /storage
unless DISABLE_HTTPS is exactly 1, config.js derives its URLs from PUBLIC_URL, the image has no
healthcheck.sh, ENABLE_HTTP_REDIRECT makes port 8000 a redirect.
"""

from __future__ import annotations

import pytest

from tests.standin.standins import Options, http_get, owned_dir, running

pytestmark = pytest.mark.docker


def web(tmp_path, **env: str) -> Options:
    settings = {"DISABLE_HTTPS": "1", "PUBLIC_URL": "https://meet.example.org", **env}
    return Options(
        volumes=[f"{owned_dir(tmp_path / 'web')}:/config:ro"],
        env={k: v for k, v in settings.items() if v is not None},
        publish=["127.0.0.1::8000"],
    )


def config_js(container) -> str:
    container.wait_healthy()
    return http_get(f"http://127.0.0.1:{container.host_port('8000')}/config.js")[1]


def test_config_js_points_the_client_at_public_url(images, tmp_path):
    with running(images["web"], web(tmp_path)) as container:
        js = config_js(container)
    assert "config.bosh = 'https://meet.example.org/' + subdir + 'http-bind';" in js
    assert "config.websocket = 'wss://meet.example.org/' + subdir + 'xmpp-websocket';" in js


def test_without_public_url_the_client_is_sent_to_localhost(images, tmp_path):
    options = web(tmp_path)
    del options.env["PUBLIC_URL"]
    with running(images["web"], options) as container:
        assert "wss://localhost:8443/" in config_js(container)


def test_a_public_url_with_another_scheme_gives_broken_client_urls(images, tmp_path):
    with running(images["web"], web(tmp_path, PUBLIC_URL="http://meet.example.org")) as container:
        assert "'wss://http://meet.example.org/'" in config_js(container)


def test_tenant_paths_get_their_own_subdir(images, tmp_path):
    with running(images["web"], web(tmp_path)) as container:
        container.wait_healthy()
        url = f"http://127.0.0.1:{container.host_port('8000')}/team/config.js"
        assert "var subdir = 'team/';" in http_get(url)[1]


@pytest.mark.parametrize("disable_https", [None, "true"])
def test_https_without_a_storage_volume_stops_web(images, tmp_path, disable_https):
    """Only DISABLE_HTTPS=1 turns HTTPS off: the config step tests it with bash arithmetic."""
    options = web(tmp_path)
    if disable_https is None:
        del options.env["DISABLE_HTTPS"]
    else:
        options.env["DISABLE_HTTPS"] = disable_https
    with running(images["web"], options) as container:
        assert container.wait_exit() == 1
        assert "uid 1000 cannot write to /storage" in container.logs()


def test_https_keeps_its_certificate_in_the_storage_volume(images, tmp_path):
    options = web(tmp_path)
    del options.env["DISABLE_HTTPS"]
    storage = owned_dir(tmp_path / "storage" / "web")
    options.volumes.append(f"{storage}:/storage")
    with running(images["web"], options) as container:
        container.wait_healthy()
        served = container.exec("curl", "-kfsS", "-o", "/dev/null", "https://127.0.0.1:8443/")
        assert served.returncode == 0, served.stderr
    assert (storage / "keys" / "cert.crt").exists()


def test_the_web_image_has_no_healthcheck_script(images, tmp_path):
    """A compose healthcheck must call curl on / (as upstream has none for web)."""
    with running(images["web"], web(tmp_path)) as container:
        container.wait_healthy()
        assert container.exec("/usr/local/bin/healthcheck.sh").returncode != 0
        front = container.exec("curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8000/")
        assert front.returncode == 0


def test_http_redirect_turns_port_8000_into_a_redirect(images, tmp_path):
    """Behind a host nginx that proxies plain HTTP, ENABLE_HTTP_REDIRECT=1 loops."""

    def ask() -> str:
        return container.exec(
            "curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
            "-H", "Host: meet.example.org", "http://127.0.0.1:8000/room",
        ).stdout  # fmt: skip

    with running(images["web"], web(tmp_path, ENABLE_HTTP_REDIRECT="1")) as container:
        container.wait_for(lambda: not ask().startswith("000"), "an answer on 8000")
        assert ask() == "301 https://meet.example.org/room"
