"""Random printable Unicode in any setting: refused with a message, or kept a value.

A property test with a seeded generator (set RANDOM_VALUES_SEED to explore other draws). For
each key, random strings are drawn from a pool weighted towards what breaks formats (quotes,
backslashes, `$`, `#`, `;`, braces, look-alike letters, right-to-left and combining marks).
Each value must either be refused as a ConfigError that names the key, or render files with
the same structure as the plain example: the same files, compose keys, env variables and
line counts, the very same nginx site, Lua that still parses and shell that still parses.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path

import pytest
import yaml

from jitsi_deploy.errors import ConfigError
from jitsi_deploy.model import paths
from jitsi_deploy.model.deployment import SPEC
from jitsi_deploy.render.host import Rendered
from tests.unit.sites import EXAMPLE_ENV, rendered, two_hosts

SEED = int(os.environ.get("RANDOM_VALUES_SEED", "20261201"))
DRAWS_PER_KEY = 8
HOSTS = ("meet.example.org", "jvb1.example.org")
BREAKERS = "\"'\\$`{}[]#;=:,&*|<>%!?@/ "
POOLS = (
    [chr(c) for c in range(0x21, 0x7F)],  # ASCII
    list(BREAKERS),
    [chr(c) for c in range(0xA1, 0x250)],  # Latin-1 and Latin Extended
    [chr(c) for c in range(0x400, 0x450)],  # Cyrillic, look-alikes of Latin letters
    [chr(c) for c in range(0x300, 0x370)],  # combining marks
    [chr(c) for c in range(0x5D0, 0x5EB)] + [chr(c) for c in range(0x627, 0x64B)],  # RTL
    [chr(c) for c in range(0x2010, 0x2028)],  # dashes and quotes
    [chr(c) for c in range(0x4E00, 0x4E40)] + [chr(c) for c in range(0x1F600, 0x1F640)],
)


def random_value(rng: random.Random) -> str:
    chars = [rng.choice(rng.choice(POOLS)) for _ in range(rng.randint(1, 40))]
    return "".join(c for c in chars if c.isprintable()) or "x"


def env_text(key: str, value: str) -> str:
    quoted = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    keep = [line for line in EXAMPLE_ENV.read_text().splitlines() if not line.startswith(key + "=")]
    return "\n".join([*keep, f"{key}={quoted}"]) + "\n"


def structure(host: Rendered) -> dict[str, object]:
    """What a value must not change: the files, and each one's keys or line count."""
    shape: dict[str, object] = {}
    for file in host.files:
        if file.path.endswith(".jks"):  # binary, made from a secret alone: its kind and count
            shape[file.path] = file.content[:12]
            continue
        text = file.content.decode()
        if file.path.endswith(".yml"):
            shape[file.path] = json.dumps(_keys(yaml.safe_load(text)), sort_keys=True)
        elif file.path.endswith(".env"):
            shape[file.path] = sorted(line.partition("=")[0] for line in text.splitlines())
        elif file.path.endswith(".json"):
            shape[file.path] = json.dumps(_keys(json.loads(text)), sort_keys=True)
        elif file.path == paths.NGINX_SITE:
            # Every setting the site is made of refuses random text by its own rule (a host
            # name, a port): a value that got through would show here byte for byte.
            shape[file.path] = text
        else:
            shape[file.path] = text.count("\n")
    return shape


def _keys(value: object) -> object:
    if isinstance(value, dict):
        return {k: _keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_keys(v) for v in value]
    return None


def parses(host: Rendered, folder: Path) -> None:
    """Lua goes through luac and shell through bash -n, as the host's programs would read them."""
    for file in host.files:
        target = folder / file.path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(file.content)
        if file.path.endswith(".lua"):
            command = ["luac", "-p", str(target)]
        elif file.content.startswith(b"#!/bin/") or file.path == paths.HEALTH_CONFIG:
            command = ["bash", "-n", str(target)]
        else:
            continue
        done = subprocess.run(command, capture_output=True, text=True)
        assert done.returncode == 0, f"{file.path}: {done.stderr}"


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, object]]:
    deployment = two_hosts(tmp_path_factory.mktemp("plain"))
    return {name: structure(rendered(deployment, name)) for name in HOSTS}


@pytest.mark.parametrize("key", [k.name for k in SPEC.keys])
def test_random_text_is_refused_by_name_or_stays_a_value(key: str, plain, tmp_path: Path) -> None:
    rng = random.Random(f"{SEED}-{key}")
    for draw in range(DRAWS_PER_KEY):
        value = random_value(rng)
        env = tmp_path / ".env"
        env.write_text(env_text(key, value), encoding="utf-8")
        try:
            deployment = two_hosts(tmp_path, env)
        except ConfigError as error:
            assert key in str(error), f"{value!r}: {error}"
            continue
        for name in HOSTS:
            host = rendered(deployment, name)
            assert structure(host) == plain[name], f"{key}={value!r} changed {name}'s files"
            parses(host, tmp_path / f"draw{draw}")
