"""Render hardening: long host names pass nginx -t, a failed render leaves build/ alone, and
day-two commands only take services the host runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from invoke import Context, Exit

import tasks
from jitsi_deploy.deploy import operate
from jitsi_deploy.errors import ConfigError, ValidationError
from jitsi_deploy.model.deployment import load_deployment as load
from jitsi_deploy.model.proxy import ProxySettings
from jitsi_deploy.render.host import render_host, render_site
from jitsi_deploy.render.validate import validate

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_ENV = (REPO / ".env.example").read_text()
HOSTS = (
    "[core]\nmeet.example.org address=203.0.113.10\n[jvb]\njvb1.example.org address=203.0.113.11\n"
)
LONG_NAME = "a" * 48 + ".example.org"  # 60 characters: too long for nginx's default bucket


def _files(tmp_path: Path, public_url: str = "https://meet.example.org") -> tuple[Path, Path]:
    env = EXAMPLE_ENV.replace("PUBLIC_URL=https://meet.example.org", f"PUBLIC_URL={public_url}")
    (tmp_path / ".env").write_text(env)
    (tmp_path / "hosts").write_text(HOSTS)
    return tmp_path / ".env", tmp_path / "hosts"


@pytest.mark.parametrize(
    ("names", "size"),
    [(("meet.example.org",), 64), ((LONG_NAME,), 128), (("x" * 200 + ".org", "s.org"), 256)],
)
def test_names_bucket_size_fits_the_longest_name(names: tuple[str, ...], size: int) -> None:
    proxy = ProxySettings(meet_host=names[0], monitor_host=names[1] if len(names) > 1 else "")
    assert proxy.names_bucket_size == size
    site = render_site(proxy)
    assert ("server_names_hash_bucket_size" in site) == (size > 64)


def test_a_sixty_character_host_name_passes_nginx(tmp_path: Path) -> None:
    env_path, hosts_path = _files(tmp_path, f"https://{LONG_NAME}")
    deployment = load(env_path, hosts_path, tmp_path / ".secrets.env")
    results = validate(render_host(deployment, deployment.hosts[0]))
    assert any(line.startswith("ok       nginx -t") for line in results), results


def test_a_failed_render_leaves_build_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_path, hosts_path = _files(tmp_path)
    build = tmp_path / "build"
    (build / "meet.example.org").mkdir(parents=True)
    (build / "meet.example.org" / "old").write_text("kept")
    calls = []

    def refuse(rendered):
        calls.append(rendered.host.name)
        if len(calls) == 2:  # the second host fails: the first must not land either
            raise ValidationError("nginx -t failed")
        return []

    monkeypatch.setattr(tasks, "validate", refuse)
    with pytest.raises(Exit):
        tasks.render(Context(), env=str(env_path), inventory=str(hosts_path), build=str(build))
    assert sorted(p.name for p in build.iterdir()) == ["meet.example.org"]
    assert [p.name for p in (build / "meet.example.org").iterdir()] == ["old"]


def test_a_good_render_replaces_each_host_folder(tmp_path: Path) -> None:
    env_path, hosts_path = _files(tmp_path)
    build = tmp_path / "build"
    (build / "meet.example.org").mkdir(parents=True)
    (build / "meet.example.org" / "stale").write_text("gone")
    tasks.render(
        Context(),
        env=str(env_path),
        inventory=str(hosts_path),
        build=str(build),
        skip_validation=True,
    )
    assert sorted(p.name for p in build.iterdir()) == ["jvb1.example.org", "meet.example.org"]
    assert not (build / "meet.example.org" / "stale").exists()


@pytest.mark.parametrize("service", ["jvb; rm -rf /", "$(id)", "web prosody", "nginx", "-f"])
def test_only_rendered_services_are_taken(tmp_path: Path, service: str) -> None:
    env_path, hosts_path = _files(tmp_path)
    deployment = load(env_path, hosts_path, tmp_path / ".secrets.env")
    with pytest.raises(ConfigError) as caught:
        operate.hosts_running(deployment, list(deployment.hosts), service)
    assert "Use one of" in str(caught.value)


def test_a_service_goes_to_the_hosts_that_run_it(tmp_path: Path) -> None:
    """prosody with a bridge in the inventory: the core only, no -H needed; jvb: every host;
    a bridge named alone has no prosody, which is refused."""
    env_path, hosts_path = _files(tmp_path)
    deployment = load(env_path, hosts_path, tmp_path / ".secrets.env")
    hosts = list(deployment.hosts)
    assert operate.hosts_running(deployment, hosts, "prosody") == hosts[:1]
    assert operate.hosts_running(deployment, hosts, "jvb") == hosts
    with pytest.raises(ConfigError, match="'prosody' runs on none of these hosts"):
        operate.hosts_running(deployment, hosts[1:], "prosody")
