"""Bad input of every kind is refused with a message naming the file, the line or key, and the
fix: never a traceback, never a partial build/, never a changed `.secrets.env`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from jitsi_deploy.deploy.targets import _target
from jitsi_deploy.errors import ConfigError, RenderError
from jitsi_deploy.model.deployment import load_deployment as load
from jitsi_deploy.render.host import Rendered, render_host, write_tree

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_ENV = (REPO / ".env.example").read_text()
EXAMPLE_HOSTS = (REPO / "hosts.example").read_text()
CORE = "[core]\nmeet.example.org address=203.0.113.10\n"
GOOD_SECRETS = (
    "GENERATED_ROOM_PASSWORD=Zq8sd0Bf3kLmN1pQ2rSt\n"
    "JICOFO_AUTH_PASSWORD=0123456789abcdef0123456789abcdef\n"
    "JVB_AUTH_PASSWORD=fedcba9876543210fedcba9876543210\n"
    "KUMA_ADMIN_PASSWORD=Ab-cd_efghijklmnopqrstuvw\n"
)


def env_line(key: str, raw: str) -> tuple[str, int]:
    """The example `.env` with ``key``'s line replaced by ``raw`` at the end; and its line."""
    lines = [line for line in EXAMPLE_ENV.splitlines() if not line.startswith(f"{key}=")]
    return "\n".join([*lines, raw]) + "\n", len(lines) + 1


def env_many(**changes: str) -> str:
    lines = [line for line in EXAMPLE_ENV.splitlines() if line.partition("=")[0] not in changes]
    return "\n".join([*lines, *(f"{k}={v}" for k, v in changes.items())]) + "\n"


@dataclass(frozen=True)
class Case:
    """Files to load (``None`` = the example; bytes for raw encodings) and what the message
    must hold: where (file and line or key) and the fix."""

    id: str
    where: str
    fix: str
    env: str | bytes | None = None
    hosts: str | bytes | None = None
    secrets: str | None = None


def _line_case(id: str, key: str, raw: str, fix: str) -> Case:
    text, line = env_line(key, raw)
    return Case(id, f".env:{line}: {key}:", fix, env=text)


def _value_case(id: str, key: str, value: str, fix: str) -> Case:
    return Case(id, f".env: {key}:", fix, env=env_many(**{key: value}))


def _host_case(id: str, hosts: str, where: str, fix: str) -> Case:
    return Case(id, where, fix, hosts=hosts)


CASES = [
    # 1. inventory host names that are paths or worse
    _host_case(
        "abs-path-name",
        "[core]\n/tmp/pwned-abs address=203.0.113.10\n",
        "hosts:2: /tmp/pwned-abs:",
        "Name each server by its host name",
    ),
    _host_case(
        "dotdot-name",
        "[core]\n../../x address=203.0.113.10\n",
        "hosts:2: ../../x:",
        "Name each server by its host name",
    ),
    _host_case(
        "option-name",
        "[core]\n-oProxyCommand=x address=203.0.113.10\n",
        "hosts:2: -oProxyCommand=x:",
        "Name each server",
    ),
    _host_case(
        "slash-in-name", "[core]\nmeet/x address=203.0.113.10\n", "hosts:2: meet/x:", "Name each"
    ),
    _host_case("dot-name", "[core]\n. address=203.0.113.10\n", "hosts:2: .:", "Name each server"),
    # 2. interpolation: ${...} is refused nowhere, but never expanded (see the test below)
    # 3. broken lines
    _line_case("unclosed-double", "OTHER_ROOMS", 'OTHER_ROOMS="deny', "Close the quote"),
    _line_case("unclosed-single", "OTHER_ROOMS", "OTHER_ROOMS='deny", "Close the quote"),
    _line_case("text-after-quote", "OTHER_ROOMS", 'OTHER_ROOMS="deny"x', "Close the quote"),
    _line_case(
        "hash-after-blank",
        "PRIVATE_ROOM_PASSWORD",
        "PRIVATE_ROOM_PASSWORD=Vx9-kq2-Lm4-pr7 #tail",
        "Quote the value",
    ),
    Case(
        "duplicate-key",
        "OTHER_ROOMS: is set twice",
        "Keep one of the two lines",
        env=EXAMPLE_ENV + "OTHER_ROOMS=deny\n",
    ),
    Case("not-key-value", ".env:", "Write e.g. TZ=Europe/Berlin", env=EXAMPLE_ENV + "garbage\n"),
    Case("bad-key", ".env:", "is not KEY=VALUE", env=EXAMPLE_ENV + "9KEY=1\n"),
    Case(
        "latin1-byte",
        ".env:",
        "Save the file as UTF-8",
        env=EXAMPLE_ENV.encode() + "TZ=Europe/Z\u00fcrich\n".encode("latin-1"),
    ),
    Case(
        "latin1-inventory",
        "hosts:2:",
        "Save the file as UTF-8",
        hosts="[core]\nmeet.example.org address=203.0.113.10 # caf\u00e9\n".encode("latin-1"),
    ),
    Case(
        "control-char",
        "OTHER_ROOMS:",
        "Remove it",
        env=env_line("OTHER_ROOMS", "OTHER_ROOMS=al\x1blow")[0],
    ),
    Case(
        "vertical-tab",
        "MONITOR_HOSTNAME:",
        "Remove it",
        env=env_line("MONITOR_HOSTNAME", "MONITOR_HOSTNAME=status.example.org\x0b")[0],
    ),
    Case("cr-in-value", "TZ:", "Remove it", env=env_line("TZ", "TZ=UTC\rX=1")[0]),
    Case(
        "tab-in-quotes",
        "PRIVATE_ROOM_PASSWORD:",
        "Remove it",
        env=env_line("PRIVATE_ROOM_PASSWORD", 'PRIVATE_ROOM_PASSWORD="Vx9kq2\tLm4pr7x"')[0],
    ),
    Case(
        "control-in-inventory",
        "hosts:2:",
        "Remove it",
        hosts="[core]\nmeet.example.org address=203.0.113.10 TZ=U\x07TC\n",
    ),
    # 4. numbers and ports
    _value_case("superscript-number", "NOFILE_LIMIT", "\u00b2", "whole number from"),
    _value_case("arabic-digits", "UDP_BUFFER_BYTES", "\u0663\u0663\u0663", "whole number from"),
    _value_case("huge-number", "NOFILE_LIMIT", "9" * 5000, "whole number from"),
    _host_case(
        "superscript-port",
        "[core]\nmeet.example.org address=203.0.113.10 port=\u00b2\n",
        "hosts:2: port:",
        "(1-65535)",
    ),
    _host_case(
        "port-too-big",
        "[core]\nmeet.example.org address=203.0.113.10 port=70000\n",
        "hosts:2: port:",
        "(1-65535)",
    ),
    # 5. weak checks
    _value_case("email-quote", "LETSENCRYPT_EMAIL", 'a"dmin@exa;mple', "e.g. admin@example.org"),
    _value_case("email-no-domain", "LETSENCRYPT_EMAIL", "admin@", "e.g. admin@example.org"),
    _value_case("password-word-digits", "PRIVATE_ROOM_PASSWORD", "Password1234", "easy to guess"),
    _value_case("password-keyboard", "PRIVATE_ROOM_PASSWORD", "qwertyuiop12", "easy to guess"),
    _value_case("password-repeated", "PRIVATE_ROOM_PASSWORD", "abcabcabcabc", "easy to guess"),
    _value_case("room-password-weak", "PRIVATE_ROOM_PASSWORDS", "private-x=Summer202020", "easy"),
    _value_case("password-passw0rd", "PRIVATE_ROOM_PASSWORD", "Passw0rd2024", "easy to guess"),
    _value_case("password-welcome", "PRIVATE_ROOM_PASSWORD", "Welcome2024!", "easy to guess"),
    _value_case(
        "password-zero-width",
        "PRIVATE_ROOM_PASSWORD",
        "kqzvmwtr\u200b\u200b\u200b\u200b\u200b",
        "Remove them",
    ),
    _value_case(
        "room-password-leading-blank",
        "PRIVATE_ROOM_PASSWORDS",
        "private-x= Xk2-wq9-Lm4-pr7",
        "Remove it",
    ),
    _value_case(
        "room-password-twice-other-case",
        "PRIVATE_ROOM_PASSWORDS",
        "private-x=Xk2-wq9-Lm4-pr7,PRIVATE-X=Zk2-wq9-Lm4-pr8",
        "Keep one password per room",
    ),
    _value_case("pool-two", "DOCKER_ADDRESS_POOL", "172.20.0.0/16,10.9.0.0/16", "Give one"),
    _value_case("memory-huge", "JVB_MEMORY_LIMIT", "999999999999999999g", "the limit the host"),
    _value_case("memory-over-1t", "JVB_MEMORY_LIMIT", "1025g", "the limit the host"),
    _value_case("kuma-latest-caps", "UPTIME_KUMA_IMAGE", "louislam/uptime-kuma:Latest", "Pin a"),
    _value_case("kuma-untagged", "UPTIME_KUMA_IMAGE", "louislam/uptime-kuma", "Pin a release"),
    _value_case("kuma-latest", "UPTIME_KUMA_IMAGE", "louislam/uptime-kuma:latest", "Pin a"),
    _value_case("kuma-bad-path", "UPTIME_KUMA_IMAGE", "Louis Lam/kuma:2", "e.g. louislam"),
    _value_case("jitsi-latest", "JITSI_IMAGE_VERSION", "LATEST", "Pin a release"),
    _value_case("jitsi-tag-chars", "JITSI_IMAGE_VERSION", "stable;id", "e.g. stable-11146-2"),
    _value_case("jitsi-repo-chars", "JITSI_IMAGE_REPO", "ghcr.io/jitsi $(id)", "e.g. ghcr.io"),
    _value_case("jitsi-repo-upper", "JITSI_IMAGE_REPO", "GHCR.io/Jitsi", "e.g. ghcr.io/jitsi"),
    _host_case(
        "public-ip-unspecified",
        "[core]\nmeet.example.org address=203.0.113.10 public_ip=0.0.0.0\n",
        "hosts:2: public_ip:",
        "Set public_ip=",
    ),
    _host_case(
        "public-ip-loopback",
        "[core]\nmeet.example.org address=203.0.113.10 public_ip=127.0.0.1\n",
        "hosts:2: public_ip:",
        "Set public_ip=",
    ),
    _host_case(
        "public-ip-multicast",
        "[core]\nmeet.example.org address=203.0.113.10 public_ip=224.0.0.1\n",
        "hosts:2: public_ip:",
        "Set public_ip=",
    ),
    _host_case(
        "address-out-of-range",
        "[core]\nmeet.example.org address=203.0.113.300\n",
        "hosts:2: address:",
        "Fix address=",
    ),
    _host_case(
        "two-cores",
        "[core]\nmeet.example.org address=203.0.113.10\nmeet2.example.org address=203.0.113.12\n",
        "hosts: [core]:",
        "list extra video bridges under [jvb]",
    ),
    _host_case(
        "bad-user",
        "[core]\nmeet.example.org address=203.0.113.10 user=-oProxyCommand=x\n",
        "hosts:2: user:",
        "Use letters",
    ),
    _value_case("storage-driver", "DOCKER_STORAGE_DRIVER", 'overlay2","debug":true', "use one"),
    _value_case("mirror-http", "REGISTRY_MIRROR", "http://mirror.example.org", "e.g. https://"),
    _value_case("mirror-junk", "REGISTRY_MIRROR", "https://x y", "e.g. https://"),
    _value_case("webhook-file", "HEALTH_WEBHOOK_URL", "file:///etc/passwd", "e.g. https://"),
    _value_case("webhook-gopher", "HEALTH_WEBHOOK_URL", "gopher://h.example.org/", "e.g. https"),
    _value_case("webhook-creds", "HEALTH_WEBHOOK_URL", "https://u:p@h.example.org/", "Remove"),
    _value_case("url-credentials", "PUBLIC_URL", "https://user:pw@meet.example.org", "Remove"),
    _value_case("url-query", "PUBLIC_URL", "https://meet.example.org/?x=1", "e.g. https://"),
    _value_case("url-bad-port", "PUBLIC_URL", "https://meet.example.org:abc", "e.g. https://"),
    _value_case(
        "frame-ancestor-path", "FRAME_ANCESTORS", "self,https://intra.example.org/app", "Write e.g."
    ),
    _value_case("frame-ancestor-quoted-self", "FRAME_ANCESTORS", "\"'self'\"", "Write e.g. self"),
    _value_case("acme-http", "ACME_SERVER", "http://acme.example.org/dir", "e.g. https://"),
    # 5b. URLs urlsplit cannot read, and names that mean another name elsewhere
    _value_case("url-full-width-hash", "PUBLIC_URL", "https://meet.example.org\uff03x", "ASCII"),
    _value_case("url-unclosed-bracket", "PUBLIC_URL", "https://[meet.example.org", "ASCII"),
    _value_case(
        "webhook-unclosed-bracket", "HEALTH_WEBHOOK_URL", "https://[h.example.org/", "ASCII"
    ),
    _value_case("webhook-port-0", "HEALTH_WEBHOOK_URL", "https://h.example.org:0/x", "1 to 65535"),
    _value_case("mirror-query", "REGISTRY_MIRROR", "https://mirror.example.org/?x=1", "Remove it"),
    _value_case("url-trailing-dot", "PUBLIC_URL", "https://meet.example.org.", "trailing dot"),
    _value_case("url-kelvin-sign", "PUBLIC_URL", "https://meet.\u212aexample.org", "ASCII"),
    _value_case("monitor-kelvin-sign", "MONITOR_HOSTNAME", "status.\u212aexample.org", "U+212A"),
    _value_case(
        "monitor-is-meet-with-dot", "MONITOR_HOSTNAME", "meet.example.org.", "trailing dot"
    ),
    _value_case("webhook-trailing-dot", "HEALTH_WEBHOOK_URL", "https://h.example.org./", "dot"),
    _value_case("tz-localtime", "TZ", "localtime", "Write the zone itself"),
    _value_case("repo-port-0", "JITSI_IMAGE_REPO", "reg.example.org:0/jitsi", "port from 1 to"),
    _value_case("repo-port-99999", "JITSI_IMAGE_REPO", "reg.example.org:99999/jitsi", "1 to 65535"),
    _value_case("kuma-port-0", "UPTIME_KUMA_IMAGE", "reg.example.org:0/kuma:2", "1 to 65535"),
    _value_case("pool-bare-address", "DOCKER_ADDRESS_POOL", "172.20.0.1", "Give a CIDR"),
    _value_case("pool-too-small", "DOCKER_ADDRESS_POOL", "172.20.0.0/30", "/22 or larger"),
    _value_case("network-zone", "MONITOR_ALLOWED_NETWORKS", "fe80::%eth0/64", "without it"),
    _value_case("prefix-only-dash", "PRIVATE_ROOM_PREFIX", "-", "starts with a letter or digit"),
    _value_case("backup-hour", "HOST_BACKUP_HOUR", "24", "from 0 to 23"),
    Case(
        "backup-keeps-nothing",
        ".env: HOST_BACKUP_KEEP_WEEKLY:",
        "Keep at least one, or set ENABLE_HOST_BACKUP=0",
        env=env_many(HOST_BACKUP_KEEP_DAILY="0", HOST_BACKUP_KEEP_WEEKLY="0"),
    ),
    Case(
        "auth-ldap",
        ".env: AUTH_TYPE:",
        "Use AUTH_TYPE=internal or jwt",
        env=env_many(ENABLE_AUTH="1", AUTH_TYPE="ldap"),
    ),
    Case(
        "auth-matrix",
        ".env: AUTH_TYPE:",
        "Use AUTH_TYPE=internal or jwt",
        env=env_many(ENABLE_AUTH="1", AUTH_TYPE="matrix"),
    ),
    _host_case(
        "inventory-key-twice",
        "[core]\nmeet.example.org address=203.0.113.10 address=203.0.113.11\n",
        "hosts:2: address:",
        "Keep one",
    ),
    _host_case(
        "inventory-host-twice-other-case",
        "[core]\nmeet.example.org address=203.0.113.10\n"
        "[jvb]\nMEET.example.org address=203.0.113.11\n",
        "hosts:4: MEET.example.org:",
        "List each server once",
    ),
    _host_case(
        "inventory-host-trailing-dot",
        "[core]\nmeet.example.org address=203.0.113.10\n"
        "[jvb]\nmeet.example.org. address=203.0.113.11\n",
        "hosts:4: meet.example.org.:",
        "without a trailing dot",
    ),
    _host_case(
        "inventory-kelvin-sign",
        "[core]\nmeet.\u212aexample.org address=203.0.113.10\n",
        "hosts:2:",
        "in ASCII",
    ),
    _host_case(
        "inventory-hash-in-quotes",
        "[core]\nmeet.example.org address=203.0.113.10 TZ='Europe/Berlin#x'\n",
        "hosts:2: TZ: 'Europe/Berlin#x'",
        "e.g. Europe/Berlin",
    ),
    _host_case(
        "inventory-hash-in-word",
        "[core]\nmeet.example.org address=203.0.113.10 TZ=Europe/Berlin#x\n",
        "hosts:2: TZ: 'Europe/Berlin#x'",
        "e.g. Europe/Berlin",
    ),
    _host_case(
        "public-ip-loopback-mapped",
        "[core]\nmeet.example.org address=203.0.113.10 public_ip=::ffff:127.0.0.1\n",
        "hosts:2: public_ip:",
        "Set public_ip=",
    ),
    _host_case(
        "public-ip-broadcast",
        "[core]\nmeet.example.org address=203.0.113.10 public_ip=255.255.255.255\n",
        "hosts:2: public_ip:",
        "Set public_ip=",
    ),
    _host_case(
        "key-is-a-folder",
        "[core]\nmeet.example.org address=203.0.113.10 key=/tmp\n",
        "hosts:2: key:",
        "Name the SSH private key file",
    ),
    # 6. the secrets file
    Case(
        "weak-generated-room-password",
        ".secrets.env:1: GENERATED_ROOM_PASSWORD:",
        "Delete the line",
        secrets=GOOD_SECRETS.replace("Zq8sd0Bf3kLmN1pQ2rSt", "a"),
    ),
    Case(
        "xmpp-password-not-hex",
        ".secrets.env:2: JICOFO_AUTH_PASSWORD:",
        "Delete the line",
        secrets=GOOD_SECRETS.replace("0123456789abcdef0123456789abcdef", "x" * 32),
    ),
    Case(
        "secret-control-char",
        ".secrets.env:4: KUMA_ADMIN_PASSWORD:",
        "Remove it",
        secrets=GOOD_SECRETS.replace("Ab-cd_", "Ab-cd_\x1b"),
    ),
    Case(
        "secret-twice",
        ".secrets.env:5: JVB_AUTH_PASSWORD:",
        "Keep one",
        secrets=GOOD_SECRETS + "JVB_AUTH_PASSWORD=fedcba9876543210fedcba9876543211\n",
    ),
]


def _write(path: Path, content: str | bytes) -> None:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)


def _setup(tmp_path: Path, case: Case) -> tuple[Path, Path, Path]:
    _write(tmp_path / ".env", EXAMPLE_ENV if case.env is None else case.env)
    _write(tmp_path / "hosts", EXAMPLE_HOSTS if case.hosts is None else case.hosts)
    if case.secrets is not None:
        (tmp_path / ".secrets.env").write_text(case.secrets)
    return tmp_path / ".env", tmp_path / "hosts", tmp_path / ".secrets.env"


def _secrets_state(path: Path) -> bytes | None:
    return path.read_bytes() if path.exists() else None


def test_there_are_many_cases() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_named_with_its_fix_and_nothing_is_written(tmp_path: Path, case: Case) -> None:
    env_path, hosts_path, secrets_path = _setup(tmp_path, case)
    before = _secrets_state(secrets_path)
    with pytest.raises(ConfigError) as caught:  # any other exception fails the test
        load(env_path, hosts_path, secrets_path)
    messages = [str(p) for p in caught.value.problems]
    assert any(case.where in m and case.fix in m for m in messages), messages
    assert _secrets_state(secrets_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [".env", "hosts"] + ([".secrets.env"] if before is not None else [])
    )


SUBPROCESS_CASES = [
    c
    for c in CASES
    if c.id
    in {
        "abs-path-name",
        "dotdot-name",
        "unclosed-double",
        "latin1-byte",
        "superscript-number",
        "weak-generated-room-password",
        "url-full-width-hash",
        "url-unclosed-bracket",
    }
]


@pytest.mark.parametrize("case", SUBPROCESS_CASES, ids=[c.id for c in SUBPROCESS_CASES])
def test_invoke_render_refuses_bad_input_without_a_traceback(tmp_path: Path, case: Case) -> None:
    _, _, secrets_path = _setup(tmp_path, case)
    before = _secrets_state(secrets_path)
    done = subprocess.run(
        [sys.executable, "-m", "invoke", "-r", str(REPO), "render", "--skip-validation"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr + done.stdout
    assert case.where in done.stderr and case.fix in done.stderr
    assert not (tmp_path / "build").exists()
    assert not Path("/tmp/pwned-abs").exists()
    assert _secrets_state(secrets_path) == before


def test_env_file_that_is_a_folder_says_so(tmp_path: Path) -> None:
    (tmp_path / ".env").mkdir()
    (tmp_path / "hosts").write_text(CORE)
    with pytest.raises(ConfigError) as caught:
        load(tmp_path / ".env", tmp_path / "hosts", tmp_path / ".secrets.env")
    assert str(caught.value.problems[0]).startswith(".env: -: is a folder")


def test_values_are_not_interpolated_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRET_OF_OPERATOR", "leaked")
    text = env_line("PRIVATE_ROOM_PASSWORD", "PRIVATE_ROOM_PASSWORD=Zx${SECRET_OF_OPERATOR}9q")
    (tmp_path / ".env").write_text(text[0])
    (tmp_path / "hosts").write_text(CORE)
    (tmp_path / ".secrets.env").write_text("X=${SECRET_OF_OPERATOR}\n" + GOOD_SECRETS)
    site = load(tmp_path / ".env", tmp_path / "hosts", tmp_path / ".secrets.env").sites[
        "meet.example.org"
    ]
    assert site.rooms.default_password == "Zx${SECRET_OF_OPERATOR}9q"
    assert site.secrets["X"] == "${SECRET_OF_OPERATOR}"


def test_bom_is_ignored_and_quotes_and_comments_follow_the_grammar(tmp_path: Path) -> None:
    text = env_line("PRIVATE_ROOM_PASSWORD", "PRIVATE_ROOM_PASSWORD='Vx9 #kq2-Lm4' # note")[0]
    (tmp_path / ".env").write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    (tmp_path / "hosts").write_text(CORE)
    site = load(tmp_path / ".env", tmp_path / "hosts", tmp_path / ".secrets.env").sites[
        "meet.example.org"
    ]
    assert site.rooms.default_password == "Vx9 #kq2-Lm4"


def test_secrets_are_written_only_for_a_valid_configuration(tmp_path: Path) -> None:
    env_path, hosts_path, secrets_path = _setup(tmp_path, Case("x", "", ""))
    temporary = tmp_path / "..secrets.env.tmp"
    temporary.write_text("stale")
    load(env_path, hosts_path, secrets_path)
    assert oct(secrets_path.stat().st_mode & 0o777) == "0o600"
    assert not temporary.exists()


@pytest.mark.parametrize("target", ["host:abc", "host:70000", "host:\u00b2", "a b@h", "/x:22"])
def test_bad_fab_targets_are_config_errors(target: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _target(None, target)  # type: ignore[arg-type]
    assert "Write -H host" in str(caught.value)


def test_write_tree_refuses_paths_outside_its_root(tmp_path: Path) -> None:
    (tmp_path / "hosts").write_text(CORE)
    deployment = load(REPO / ".env.example", tmp_path / "hosts", tmp_path / ".secrets.env")
    rendered = render_host(deployment, deployment.hosts[0])
    from dataclasses import replace

    for name in ("../escape", "/tmp/abs-escape", ".."):
        bad: Rendered = replace(rendered, host=replace(rendered.host, name=name))
        with pytest.raises(RenderError):
            write_tree(bad, tmp_path / "build")
    assert not (tmp_path / "escape").exists()
    assert not Path("/tmp/abs-escape").exists()


def test_env_grammar_is_documented() -> None:
    from jitsi_deploy.settings import envfile

    assert re.search(r"Nothing is expanded", envfile.__doc__ or "")


def _render(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoke", "-r", str(REPO), "render", "--skip-validation", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


@pytest.mark.parametrize("link", ["build", "build/meet.example.org"])
def test_render_refuses_a_build_folder_that_is_a_link(tmp_path: Path, link: str) -> None:
    _setup(tmp_path, Case("x", "", "", hosts=CORE))
    if link != "build":
        (tmp_path / "build").mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep").write_text("mine")
    (tmp_path / link).symlink_to(elsewhere)
    done = _render(tmp_path)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr + done.stdout
    assert f"{link} is a symbolic link" in done.stderr and "Move it away" in done.stderr
    assert (tmp_path / link).is_symlink() and (elsewhere / "keep").read_text() == "mine"
    assert sorted(p.name for p in elsewhere.iterdir()) == ["keep"]
    assert not (tmp_path / ".secrets.env").exists()


def test_secrets_are_kept_only_after_the_rendered_files_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A validator refusing a file (stood in by a function that raises, since no setting of a
    valid configuration makes the real ones fail) leaves `.secrets.env` unwritten; once the
    files pass, the secrets are saved."""
    from invoke import Context, Exit

    import tasks
    from jitsi_deploy.errors import ValidationError

    def refuse(rendered: Rendered) -> list[str]:
        raise ValidationError("nginx -t refused /etc/nginx/conf.d/jitsi-meet.conf")

    _setup(tmp_path, Case("x", "", "", hosts=CORE))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tasks, "validate", refuse)
    with pytest.raises(Exit):
        tasks.render(Context())
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env", "hosts"]
    monkeypatch.setattr(tasks, "validate", lambda rendered: [])
    tasks.render(Context())
    assert oct((tmp_path / ".secrets.env").stat().st_mode & 0o777) == "0o600"
    assert (tmp_path / "build" / "meet.example.org").is_dir()


def test_a_secrets_file_that_is_a_link_is_refused_and_its_target_untouched(
    tmp_path: Path,
) -> None:
    target = tmp_path / "shared.env"
    target.write_text(GOOD_SECRETS)
    target.chmod(0o644)
    env_path, hosts_path, secrets_path = _setup(tmp_path, Case("x", "", "", hosts=CORE))
    secrets_path.symlink_to(target)
    with pytest.raises(ConfigError) as caught:
        load(env_path, hosts_path, secrets_path)
    assert str(caught.value.problems[0]).startswith(".secrets.env: -: is a symbolic link")
    assert "Replace it with the file itself" in str(caught.value.problems[0])
    assert oct(target.stat().st_mode & 0o777) == "0o644"
    assert target.read_text() == GOOD_SECRETS


def test_a_hash_inside_an_inventory_value_is_kept(tmp_path: Path) -> None:
    key = tmp_path / "id#1"
    key.write_text("not really a key")
    hosts = f"[core]\nmeet.example.org address=203.0.113.10 key='{key}' # a comment\n"
    (tmp_path / "hosts").write_text(hosts)
    deployment = load(REPO / ".env.example", tmp_path / "hosts", tmp_path / ".secrets.env")
    assert deployment.hosts[0].key == key
