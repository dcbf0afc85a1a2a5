"""The TLS command plans: argv content, idempotence, and the small scripts run for real."""

from __future__ import annotations

import itertools
import subprocess
from pathlib import Path

import pytest

from jitsi_deploy.model.proxy import NginxControl, ProxySettings, sha256
from jitsi_deploy.remote.commands import Command
from jitsi_deploy.steps.certificates import (
    CertbotPaths,
    CertFacts,
    HostTlsFacts,
    TlsSettings,
    certbot_command,
    certificate_plan,
    explain_certbot_failure,
    install_hook_command,
    parse_probe,
    placeholder_plan,
    probe_command,
    read_custom_pair,
    render_hook,
    renew_command,
    source_dir,
    switch_command,
)

PROXY = ProxySettings(meet_host="meet.example.org", monitor_host="status.example.org")
NGINX = NginxControl()
CERTBOT = CertbotPaths()
LE = TlsSettings("letsencrypt", email="ops@example.org")
OUTPUT = Path(__file__).with_name("certbot-output")


def _run(command: Command) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(command.argv, input=command.stdin, capture_output=True, check=False)


def test_settings_refuse_what_cannot_work() -> None:
    with pytest.raises(ValueError, match="email"):
        TlsSettings("letsencrypt")
    with pytest.raises(ValueError, match="exclude"):
        TlsSettings("letsencrypt", email="a@b.c", staging=True, acme_server="https://ca/dir")
    with pytest.raises(ValueError, match="custom_cert"):
        TlsSettings("custom", custom_cert="/tmp/chain.pem")
    with pytest.raises(ValueError, match="one of"):
        TlsSettings("acme")  # type: ignore[arg-type]


def test_certbot_command_asks_non_interactively_for_one_name_over_the_webroot() -> None:
    argv = certbot_command(LE, PROXY, "meet.example.org", CERTBOT).argv
    assert argv[:3] == ("certbot", "certonly", "--webroot")
    pairs = dict(itertools.pairwise(argv))
    assert pairs["--webroot-path"] == PROXY.acme_webroot
    assert pairs["--cert-name"] == pairs["--domains"] == "meet.example.org"
    assert pairs["--email"] == "ops@example.org"
    for flag in ("--non-interactive", "--agree-tos", "--keep-until-expiring"):
        assert flag in argv
    assert "--staging" not in argv and "--server" not in argv


def test_staging_and_server_flags() -> None:
    staging = TlsSettings("letsencrypt", email="ops@example.org", staging=True)
    assert "--staging" in certbot_command(staging, PROXY, "meet.example.org", CERTBOT).argv
    private = TlsSettings("letsencrypt", email="ops@example.org", acme_server="https://ca/dir")
    argv = certbot_command(private, PROXY, "meet.example.org", CERTBOT).argv
    assert argv[argv.index("--server") + 1] == "https://ca/dir"


def test_renew_command_skips_the_random_sleep_and_forces_only_when_asked() -> None:
    assert "--force-renewal" not in renew_command(CERTBOT).argv
    argv = renew_command(CERTBOT, force=True).argv
    assert argv[:2] == ("certbot", "renew")
    assert "--force-renewal" in argv and "--no-random-sleep-on-renew" in argv


def test_placeholder_only_for_names_without_a_certificate() -> None:
    facts = HostTlsFacts({"meet.example.org": CertFacts(target="/somewhere")})
    plan = placeholder_plan(PROXY, facts)
    assert len(plan) == 2
    assert all("status.example.org" in " ".join(c.argv) for c in plan)


def _all_done() -> HostTlsFacts:
    certs = {name: CertFacts(target=CERTBOT.live(name), issued=True) for name in PROXY.host_names()}
    return HostTlsFacts(certs, hook_sha256=sha256(render_hook(NGINX)))


def test_letsencrypt_first_deploy_installs_the_hook_then_obtains_and_switches_each_name() -> None:
    plan = certificate_plan(LE, PROXY, parse_probe(""), NGINX)
    described = [command.description for command in plan]
    assert described[0] == "install the certbot deploy hook that reloads nginx"
    assert [c.argv[0] for c in plan[1:]] == ["certbot", "sh", "certbot", "sh"]
    assert plan[2].argv[-3:] == (
        CERTBOT.live("meet.example.org"),
        "",
        f"{PROXY.tls_root}/meet.example.org",
    )


def test_letsencrypt_second_deploy_does_nothing() -> None:
    assert certificate_plan(LE, PROXY, _all_done(), NGINX) == []


def test_an_issued_certificate_still_on_the_placeholder_is_only_switched() -> None:
    facts = _all_done()
    placeholder = source_dir(PROXY, "meet.example.org", "selfsigned")
    certs = {**facts.certs, "meet.example.org": CertFacts(target=placeholder, issued=True)}
    plan = certificate_plan(LE, PROXY, HostTlsFacts(certs, facts.hook_sha256), NGINX)
    assert [c.description for c in plan] == [
        f"serve the certificate in {CERTBOT.live('meet.example.org')} for meet.example.org"
    ]


def test_selfsigned_mode_switches_back_from_letsencrypt_only_once() -> None:
    selfsigned = TlsSettings("selfsigned")
    assert len(certificate_plan(selfsigned, PROXY, _all_done(), NGINX)) == 2
    certs = {n: CertFacts(target=source_dir(PROXY, n, "selfsigned")) for n in PROXY.host_names()}
    assert certificate_plan(selfsigned, PROXY, HostTlsFacts(certs), NGINX) == []


def test_custom_pair_travels_on_stdin_with_the_key_at_0600(tmp_path: Path) -> None:
    chain, key = tmp_path / "chain.pem", tmp_path / "key.pem"
    chain.write_text("-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n")
    key.write_text("-----BEGIN PRIVATE KEY-----\nSECRET\n-----END PRIVATE KEY-----\n")
    settings = TlsSettings("custom", custom_cert=str(chain), custom_key=str(key))
    pair = read_custom_pair(settings)
    proxy = ProxySettings(meet_host="meet.example.org", tls_root=str(tmp_path / "tls"))
    plan = certificate_plan(settings, proxy, parse_probe(""), NGINX, custom=pair)
    assert all(b"SECRET" not in " ".join(c.argv).encode() for c in plan)
    for command in plan[:2]:
        assert _run(command).returncode == 0
    installed = Path(source_dir(proxy, "meet.example.org", "custom"))
    assert (installed / "privkey.pem").stat().st_mode & 0o777 == 0o600
    assert (installed / "fullchain.pem").stat().st_mode & 0o777 == 0o644
    assert (installed / "privkey.pem").read_bytes() == pair.privkey
    done = CertFacts(target=str(installed), custom_sha256=pair.sha256())
    assert (
        certificate_plan(
            settings, proxy, HostTlsFacts({"meet.example.org": done}), NGINX, custom=pair
        )
        == []
    )


def test_custom_files_must_be_pem(tmp_path: Path) -> None:
    (tmp_path / "c").write_text("not a certificate")
    (tmp_path / "k").write_text("-----BEGIN PRIVATE KEY-----")
    with pytest.raises(ValueError, match="no PEM certificate"):
        read_custom_pair(
            TlsSettings("custom", custom_cert=str(tmp_path / "c"), custom_key=str(tmp_path / "k"))
        )


def test_probe_reads_links_lineages_and_custom_files_from_a_real_tree(tmp_path: Path) -> None:
    proxy = ProxySettings(
        meet_host="meet.example.org",
        monitor_host="status.example.org",
        tls_root=str(tmp_path / "tls"),
    )
    certbot = CertbotPaths(config_dir=str(tmp_path / "le"))
    for command in placeholder_plan(proxy, parse_probe("")):
        assert _run(command).returncode == 0, command
    live = Path(certbot.live("status.example.org"))
    live.mkdir(parents=True)
    (live / "fullchain.pem").write_text("chain")
    facts = parse_probe(_run(probe_command(proxy, certbot)).stdout.decode())
    assert facts.cert("meet.example.org") == CertFacts(
        target=source_dir(proxy, "meet.example.org", "selfsigned")
    )
    assert facts.cert("status.example.org").issued
    assert facts.hook_sha256 == ""
    assert placeholder_plan(proxy, facts) == []
    chain = f"{proxy.tls_root}/meet.example.org/fullchain.pem"
    x509 = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", chain],
                          capture_output=True, text=True, check=True)  # fmt: skip
    assert "DNS:meet.example.org" in x509.stdout


def test_a_switch_that_nginx_refuses_restores_the_previous_links(tmp_path: Path) -> None:
    proxy = ProxySettings(meet_host="meet.example.org", tls_root=str(tmp_path))
    base = tmp_path / "meet.example.org"
    base.mkdir()
    (base / "fullchain.pem").symlink_to("/old/fullchain.pem")
    (base / "privkey.pem").symlink_to("/old/privkey.pem")
    refusing = NginxControl(test=("sh", "-c", "echo 'bad key' >&2; false"), reload=("true",))
    result = _run(switch_command(proxy, "meet.example.org", "/new", "/old", refusing))
    assert result.returncode == 1
    assert b"bad key" in result.stderr
    assert (base / "fullchain.pem").readlink() == Path("/old/fullchain.pem")
    assert (base / "privkey.pem").readlink() == Path("/old/privkey.pem")


def test_the_deploy_hook_reloads_only_when_nginx_accepts(tmp_path: Path) -> None:
    marker = tmp_path / "reloaded"
    for test, reloaded in ((("false",), False), (("true",), True)):
        control = NginxControl(test=test, reload=("touch", str(marker)))
        certbot = CertbotPaths(config_dir=str(tmp_path / "le"))
        assert _run(install_hook_command(control, certbot)).returncode == 0
        result = subprocess.run([certbot.hook], capture_output=True, check=False)
        assert (result.returncode == 0) is reloaded
        assert marker.exists() is reloaded


# Failures captured from pebble (test_acme.py also explains them live) and the message shapes
# of Let's Encrypt's production CA (Boulder) as certbot prints them.
@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ("pebble-nodns.txt", "could not find the host name in DNS"),
        ("pebble-closed.txt", "could not connect to port 80"),
        ("pebble-elsewhere.txt", "did not serve the challenge file"),
        ("boulder-nxdomain.txt", "could not find the host name in DNS"),
        ("boulder-timeout.txt", "could not connect to port 80"),
        ("boulder-wrong-host.txt", "did not serve the challenge file"),
        ("boulder-rate-limit.txt", "rate limit"),
    ],
)
def test_explains_certbot_failures(sample: str, expected: str) -> None:
    reason = explain_certbot_failure((OUTPUT / sample).read_text())
    assert expected in reason
    assert "\n" not in reason


def test_an_unknown_failure_points_at_the_output() -> None:
    assert "does not recognise" in explain_certbot_failure("something else entirely")


def test_the_explanation_names_the_domain_and_quotes_the_ca() -> None:
    reason = explain_certbot_failure((OUTPUT / "boulder-timeout.txt").read_text())
    assert reason.startswith("Obtaining a certificate for meet.example.org failed.")
    assert "Timeout during connect" in reason
