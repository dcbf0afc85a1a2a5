"""Bad input gets one specific message naming the file, the key and the fix; nothing renders."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from jitsi_deploy.errors import ConfigError
from jitsi_deploy.model.deployment import load_deployment as load

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_ENV = (REPO / ".env.example").read_text()
EXAMPLE_HOSTS = (REPO / "hosts.example").read_text()


def write(tmp_path: Path, env: str = EXAMPLE_ENV, hosts: str = EXAMPLE_HOSTS) -> tuple[Path, Path]:
    (tmp_path / ".env").write_text(env)
    (tmp_path / "hosts").write_text(hosts)
    return tmp_path / ".env", tmp_path / "hosts"


def with_env(**changes: str) -> str:
    lines = [
        line
        for line in EXAMPLE_ENV.splitlines()
        if line.partition("=")[0] not in changes or line.startswith("#")
    ]
    return "\n".join(lines + [f"{k}={v}" for k, v in changes.items()]) + "\n"


def problems(tmp_path: Path, env: str = EXAMPLE_ENV, hosts: str = EXAMPLE_HOSTS) -> list[str]:
    env_path, hosts_path = write(tmp_path, env, hosts)
    with pytest.raises(ConfigError) as caught:
        load(env_path, hosts_path, tmp_path / ".secrets.env")
    assert not (tmp_path / "build").exists()
    return [str(p) for p in caught.value.problems]


def test_the_examples_load_as_they_are(tmp_path: Path) -> None:
    env_path, hosts_path = write(tmp_path)
    deployment = load(env_path, hosts_path, tmp_path / ".secrets.env")
    assert [h.name for h in deployment.hosts] == ["meet.example.org"]
    site = deployment.sites["meet.example.org"]
    assert site.meet_hostname == "meet.example.org"
    assert site.rooms.public_rooms == ("daily-standup", "team-meeting", "weekly-review")


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"PUBLIC_URL": ""},
            ".env: PUBLIC_URL: is required but empty or missing. "
            "Set it, e.g. PUBLIC_URL=https://meet.example.org",
        ),
        (
            {"PUBLIC_URL": "http://meet.example.org"},
            ".env: PUBLIC_URL: 'http://meet.example.org' is not an https URL with a valid host "
            "name. Set the full public address, e.g. https://meet.example.org",
        ),
        (
            {"PUBLIC_URL": "https://meet_example"},
            ".env: PUBLIC_URL: 'https://meet_example' is not an https URL with a valid host "
            "name. Set the full public address, e.g. https://meet.example.org",
        ),
        (
            {"LETSENCRYPT_EMAIL": "admin.example.org"},
            ".env: LETSENCRYPT_EMAIL: 'admin.example.org' is not an e-mail address, "
            "e.g. admin@example.org.",
        ),
        (
            {"PRIVATE_ROOM_PASSWORD": "meeting123"},
            ".env: PRIVATE_ROOM_PASSWORD: the password is too short (10 characters; use at "
            "least 12). Choose a longer one (e.g. four or five unrelated words), or leave "
            "PRIVATE_ROOM_PASSWORD empty to have a strong one generated.",
        ),
        (
            {"PRIVATE_ROOM_PASSWORD": "meetingmeeting123"},
            ".env: PRIVATE_ROOM_PASSWORD: the password is easy to guess (Repeats like "
            '"abcabcabc" are only slightly harder to guess than "abc"). Choose a longer one '
            "(e.g. four or five unrelated words), or leave PRIVATE_ROOM_PASSWORD empty to have a "
            "strong one generated.",
        ),
        (
            {"PUBLIC_ROOMS": "daily-standup,private-board"},
            ".env: PUBLIC_ROOMS: 'private-board' starts with the private prefix 'private-', so "
            "it would need a password. Rename the room or change PRIVATE_ROOM_PREFIX.",
        ),
        (
            {"PUBLIC_ROOMS": "daily standup"},
            ".env: PUBLIC_ROOMS: 'daily standup' is not a room name Jitsi accepts. Use letters, "
            "digits, '-', '_' and '.', starting and ending with a letter or digit, at most 64 "
            "characters.",
        ),
        (
            {"PUBLIC_ROOMS": "daily-standup,d\u0430ily-review"},
            ".env: PUBLIC_ROOMS: 'd\u0430ily-review' has characters outside ASCII: '\u0430' "
            "(U+0430). Prosody serves only rooms named with ASCII letters, digits, '-', '_' and "
            "'.', so a look-alike letter names a room nobody can join. Type the name in plain "
            "ASCII.",
        ),
        (
            # Lowercasing the Kelvin sign gives an ASCII k: the name is checked as written.
            {"PUBLIC_ROOMS": "wee\u212aly"},
            ".env: PUBLIC_ROOMS: 'wee\u212aly' has characters outside ASCII: '\u212a' "
            "(U+212A). Prosody serves only rooms named with ASCII letters, digits, '-', '_' and "
            "'.', so a look-alike letter names a room nobody can join. Type the name in plain "
            "ASCII.",
        ),
        (
            {"PUBLIC_ROOMS": "[acme]daily-standup"},
            ".env: PUBLIC_ROOMS: '[acme]daily-standup' names a tenant's room. Write the room "
            "without '[tenant]': the policy applies to the room of that name in every tenant.",
        ),
        (
            {"PRIVATE_ROOM_PASSWORDS": "private\u2010board=Xk2-wq9-Lm4-pr7"},
            ".env: PRIVATE_ROOM_PASSWORDS: 'private\u2010board' has characters outside ASCII: "
            "'\u2010' (U+2010). Prosody serves only rooms named with ASCII letters, digits, '-', "
            "'_' and '.', so a look-alike letter names a room nobody can join. Type the name in "
            "plain ASCII.",
        ),
        (
            {"PRIVATE_ROOM_PASSWORDS": "private%2dboard=Xk2-wq9-Lm4-pr7"},
            ".env: PRIVATE_ROOM_PASSWORDS: 'private%2dboard' is not a room name Jitsi accepts. "
            "Use letters, digits, '-', '_' and '.', starting and ending with a letter or digit, "
            "at most 64 characters.",
        ),
        (
            {"PRIVATE_ROOM_PREFIX": "priv\u0430te-"},
            ".env: PRIVATE_ROOM_PREFIX: 'priv\u0430te-' has characters outside ASCII: '\u0430' "
            "(U+0430). Prosody serves only rooms named with ASCII letters, digits, '-', '_' and "
            "'.', so a look-alike letter names a room nobody can join. Type the name in plain "
            "ASCII.",
        ),
        (
            {"PUBLIC_ROOMS": "daily-standup,Daily-Standup"},
            ".env: PUBLIC_ROOMS: 'daily-standup' is listed twice. Remove one.",
        ),
        (
            {"PRIVATE_ROOM_PASSWORDS": "team-meeting=Xk2-wq9-Lm4-pr7"},
            ".env: PRIVATE_ROOM_PASSWORDS: 'team-meeting' is not a private room. Only rooms "
            "starting with 'private-' take a password.",
        ),
        (
            {"PRIVATE_ROOM_PASSWORDS": "private-board"},
            ".env: PRIVATE_ROOM_PASSWORDS: 'private-board' has no password. "
            "Write room=password pairs.",
        ),
        (
            {"OTHER_ROOMS": "maybe"},
            ".env: OTHER_ROOMS: 'maybe' is not one of allow, deny, password.",
        ),
        ({"PUBLICROOMS": "x"}, ".env: PUBLICROOMS: is not a setting. Did you mean PUBLIC_ROOMS?"),
        ({"ENABLE_AUTH": "on"}, ".env: ENABLE_AUTH: 'on' is not a switch. Use 1 (on) or 0 (off)."),
        (
            {"JITSI_IMAGE_VERSION": "latest"},
            ".env: JITSI_IMAGE_VERSION: 'latest' is a moving tag. Pin a release, "
            "e.g. stable-11146-2.",
        ),
        (
            {"TZ": "Mars/Olympus"},
            ".env: TZ: 'Mars/Olympus' is not a time zone name, e.g. Europe/Berlin or UTC.",
        ),
        (
            {"MONITOR_HOSTNAME": "meet.example.org"},
            ".env: MONITOR_HOSTNAME: 'meet.example.org' is the meeting host name too. Give the "
            "monitor its own name.",
        ),
        (
            {"JVB_MEMORY_LIMIT": "lots"},
            ".env: JVB_MEMORY_LIMIT: 'lots' is not a size. Write a number and k, m or g, "
            "e.g. 512m.",
        ),
    ],
)
def test_bad_settings_are_named_with_their_fix(
    tmp_path: Path, changes: dict[str, str], expected: str
) -> None:
    assert problems(tmp_path, env=with_env(**changes)) == [expected]


CORE = "[core]\nmeet.example.org address=203.0.113.10\n"


@pytest.mark.parametrize(
    ("hosts", "expected"),
    [
        (
            "[core]\nmeet.example.org address=203.0.113.300\n",
            "hosts:2: address: '203.0.113.300' is not an IP address or host name. Fix address=.",
        ),
        (
            "[core]\nmeet.example.org address=meet.example.org public_ip=10.0.0\n",
            "hosts:2: public_ip: '10.0.0' is not an IP address. Set public_ip=<the address "
            "clients reach> for meet.example.org; the video bridge advertises it.",
        ),
        (
            CORE + "[jvb]\njvb1.example.org address=203.0.113.11 private_ip=10.0.0.300\n",
            "hosts:4: private_ip: '10.0.0.300' is not an IP address. Set private_ip="
            "<jvb1.example.org's address on the network between the core and its bridges>, or "
            "leave it out to use public_ip.",
        ),
        (
            CORE + "[jvb]\njvb1.example.org address=2001:db8::11\n",
            "hosts:4: private_ip: '2001:db8::11' (jvb1.example.org) is an IPv6 address, and "
            "bridges reach the core over IPv4 only (the jvb image splits XMPP_SERVER on ':'). "
            "Set private_ip=<its IPv4 address> on this line.",
        ),
        (
            "[jvb]\njvb1.example.org address=203.0.113.11\n",
            "hosts: [core]: 0 core hosts, but jvb hosts need exactly one core to connect to. "
            "List the core host under [core].",
        ),
        (
            CORE + "meet2.example.org address=203.0.113.10\n",
            "hosts:3: meet2.example.org: duplicates meet.example.org (hosts:2). "
            "List each server once.",
        ),
        (
            CORE + "meet.example.org address=203.0.113.12\n",
            "hosts:3: meet.example.org: duplicates meet.example.org (hosts:2). "
            "List each server once.",
        ),
        (
            "[core]\nmeet.example.org address=203.0.113.10 key=/nonexistent/id_ed25519\n",
            "hosts:2: key: the SSH key '/nonexistent/id_ed25519' cannot be read. "
            "Fix the path or its permissions.",
        ),
        (
            "[core]\nmeet.example.org address=203.0.113.10 port=0\n",
            "hosts:2: port: '0' is not a TCP port (1-65535).",
        ),
        (
            "[core]\n203.0.113.10 adress=203.0.113.10\n",
            "hosts:2: adress: is not a host setting. Did you mean address?",
        ),
        (
            "[cores]\n" + CORE,
            "hosts:1: [cores]: unknown section. Use [core] or [jvb]. Did you mean core?",
        ),
        (
            "[core]\nmeet.example.org address=203.0.113.10 JVB_MEMORY_LIMIT=huge\n",
            "hosts:2: JVB_MEMORY_LIMIT: 'huge' is not a size. Write a number and k, m or g, "
            "e.g. 512m.",
        ),
    ],
)
def test_bad_inventory_lines_are_named_with_their_fix(
    tmp_path: Path, hosts: str, expected: str
) -> None:
    assert problems(tmp_path, hosts=hosts) == [expected]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    env = with_env(PUBLIC_URL="http://x", OTHER_ROOMS="maybe")
    assert len(problems(tmp_path, env=env)) == 2


def test_secrets_are_generated_once_with_mode_0600(tmp_path: Path) -> None:
    env_path, hosts_path = write(tmp_path)
    secrets_path = tmp_path / ".secrets.env"
    first = load(env_path, hosts_path, secrets_path).sites["meet.example.org"].secrets
    assert stat.S_IMODE(os.stat(secrets_path).st_mode) == 0o600
    second = load(env_path, hosts_path, secrets_path).sites["meet.example.org"].secrets
    assert first == second
    assert len(first["JVB_AUTH_PASSWORD"]) == 32
    assert first["JVB_AUTH_PASSWORD"] != first["JICOFO_AUTH_PASSWORD"]


def test_env_example_is_generated_from_the_schema() -> None:
    """`invoke settings-example` writes it; a key added without regenerating fails here."""
    from jitsi_deploy.model.deployment import SPEC
    from jitsi_deploy.settings.schema import env_example

    assert env_example(SPEC.keys) == EXAMPLE_ENV
    keys = [line.partition("=")[0] for line in EXAMPLE_ENV.splitlines() if "=" in line]
    keys = [k for k in keys if not k.startswith("#")]
    assert sorted(keys) == sorted(k.name for k in SPEC.keys)


def test_missing_settings_files_are_named_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path / ".env", tmp_path / "hosts", tmp_path / ".secrets.env")
    assert [str(p) for p in caught.value.problems] == [
        ".env: -: not found. Copy .env.example to .env and edit it.",
        "hosts: -: not found. Copy hosts.example to hosts and list your servers.",
    ]
    assert not (tmp_path / ".secrets.env").exists()
