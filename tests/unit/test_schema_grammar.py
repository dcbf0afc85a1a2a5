"""The README's settings table is the schema's, and the ranges and choices it states are the
ones the settings reader enforces: each bound and each choice is tried on the real loader."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from jitsi_deploy.errors import ConfigError
from jitsi_deploy.model.deployment import SPEC
from jitsi_deploy.settings.schema import Key, with_settings_table
from tests.unit.sites import EXAMPLE_ENV, REPO, two_hosts

RANGE = re.compile(r"from (\d+) to (\d+)")
CHOICES = re.compile(r"(?:^|empty, or )one of ([^;]+)")


def refused(folder: Path, key: str, value: str, **companions: str) -> bool:
    changes = {key: value, **companions}
    lines = [
        ln for ln in EXAMPLE_ENV.read_text().splitlines() if ln.partition("=")[0] not in changes
    ]
    env = folder / ".env"
    env.write_text("\n".join([*lines, *(f"{k}={v}" for k, v in changes.items())]) + "\n")
    try:
        two_hosts(folder, env)
    except ConfigError as error:
        assert key in str(error)
        return True
    return False


def keys_matching(pattern: re.Pattern[str]) -> list[tuple[Key, re.Match[str]]]:
    return [(k, m) for k in SPEC.keys if (m := pattern.search(k.grammar))]


def test_the_readme_table_is_generated_from_the_schema() -> None:
    readme = (REPO / "README.md").read_text()
    assert with_settings_table(readme, SPEC.keys) == readme, "run `invoke settings-example`"


def test_every_key_states_its_grammar() -> None:
    assert [k.name for k in SPEC.keys if not k.grammar] == []


@pytest.mark.parametrize(
    ("key", "bounds"),
    [(k.name, m.groups()) for k, m in keys_matching(RANGE)],
)
def test_a_stated_range_is_the_enforced_range(key: str, bounds: tuple[str, str], tmp_path):
    low, high = map(int, bounds)
    assert not refused(tmp_path, key, str(low))
    assert not refused(tmp_path, key, str(high))
    assert refused(tmp_path, key, str(low - 1))
    assert refused(tmp_path, key, str(high + 1))


@pytest.mark.parametrize(
    ("key", "choices"),
    [(k.name, m.group(1)) for k, m in keys_matching(CHOICES)],
)
def test_stated_choices_are_the_accepted_ones(key: str, choices: str, tmp_path) -> None:
    (tmp_path / "cert.pem").write_text("certificate")
    (tmp_path / "key.pem").write_text("key")
    # Choices that need a companion setting get it.
    companions = {
        ("ENABLE_GUESTS", True): {"ENABLE_AUTH": "1"},
        ("ENABLE_MEETING_HISTORY", True): {"ENABLE_POSTGRES": "1"},
        ("TLS_MODE", True): {
            "TLS_CERT_FILE": str(tmp_path / "cert.pem"),
            "TLS_KEY_FILE": str(tmp_path / "key.pem"),
        },
    }
    for choice in choices.split(", "):
        extra = companions.get((key, choice not in ("0", "false", "no")), {})
        assert not refused(tmp_path, key, choice, **extra), choice
    assert refused(tmp_path, key, "nonesuch")
