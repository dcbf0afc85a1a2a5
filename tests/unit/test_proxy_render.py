"""Site rendering choices (nginx itself is in test_nginx_site.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from jitsi_deploy.model.proxy import ProxySettings, proxy_settings
from jitsi_deploy.render.host import render_site
from jitsi_deploy.steps.packages import RELEASES
from tests.unit.sites import EXAMPLE_ENV, two_hosts

PROXY = ProxySettings(meet_host="meet.example.org")


@pytest.mark.parametrize(
    ("os_release", "style"),
    [
        (("debian", "12"), "listen"),
        (("ubuntu", "24.04"), "listen"),
        (("debian", "13"), "directive"),
    ],
)
def test_http2_syntax_follows_the_nginx_of_the_release(
    os_release: tuple[str, str], style: str
) -> None:
    assert RELEASES[os_release].nginx_http2 == style


def test_http2_directive_style_for_newer_nginx() -> None:
    site = render_site(ProxySettings(meet_host="meet.example.org", http2_style="directive"))
    assert "http2 on;" in site
    assert "ssl http2" not in site
    assert "listen 443 ssl http2;" in render_site(PROXY)


def test_without_a_monitor_name_there_is_no_monitor_server() -> None:
    site = render_site(PROXY)
    assert "3001" not in site
    assert "server_name meet.example.org;" in site


def test_hsts_can_be_left_out_for_a_first_self_signed_try() -> None:
    assert "add_header Strict-Transport-Security" not in render_site(
        ProxySettings(meet_host="meet.example.org", hsts_max_age=0)
    )


def test_fail2ban_gets_its_own_error_log() -> None:
    site = render_site(ProxySettings(meet_host="meet.example.org", fail2ban=True))
    assert "error_log /var/log/nginx/jitsi-meet.error.log error;" in site


def test_frame_ancestors_come_from_the_setting_and_default_to_none(tmp_path: Path) -> None:
    """FRAME_ANCESTORS=self,https://… becomes the meeting site's CSP; empty sends none."""

    def meeting_site(env_text: str) -> str:
        env = tmp_path / ".env"
        env.write_text(env_text)
        text = render_site(proxy_settings(two_hosts(tmp_path, env).sites["meet.example.org"]))
        return text.split("server_name status.example.org;")[0]  # before the status site

    example = EXAMPLE_ENV.read_text()
    assert "frame-ancestors" not in meeting_site(example)
    allowed = example.replace("FRAME_ANCESTORS=", "FRAME_ANCESTORS=self, https://*.intra.example")
    assert "frame-ancestors 'self' https://*.intra.example\" always;" in meeting_site(allowed)
