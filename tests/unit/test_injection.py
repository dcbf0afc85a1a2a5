"""Hostile text in any setting stays a value: the rendered compose file, read back by Compose
itself, has exactly the services, keys and environment variables of a plain rendering."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from jitsi_deploy.errors import ConfigError
from jitsi_deploy.model import paths
from jitsi_deploy.model.deployment import SPEC
from jitsi_deploy.model.deployment import load_deployment as load
from jitsi_deploy.render.host import render_host, write_tree
from jitsi_deploy.render.validate import MissingTool, compose_command

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_ENV = (REPO / ".env.example").read_text()
HOSTS = (
    "[core]\nmeet.example.org address=203.0.113.10\n[jvb]\njvb1.example.org address=203.0.113.11\n"
)
PAYLOADS = (
    "Zx9q\"\\n  evil: 1\\n# ${HOME} $(id) `id` 'q' {a: b}",
    "Zx9q-Wm7r: {evil: 1}, [a], &anchor *alias",
    "Zx9q-${EVIL:-injected}-$$HOME",
    "Zx9q\\u0022 evil=1 \\\\",
    "room-${EVIL}",
    'private-x=Zx9q"evil: 1 ${EVIL} Wm7r-Tp3s',
)


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _env(changes: dict[str, str]) -> str:
    keep = [line for line in EXAMPLE_ENV.splitlines() if line.partition("=")[0] not in changes]
    return "\n".join([*keep, *(f"{k}={_quoted(v)}" for k, v in changes.items())]) + "\n"


def _accepted(tmp_path: Path, changes: dict[str, str]) -> bool:
    (tmp_path / ".env").write_text(_env(changes))
    try:
        load(tmp_path / ".env", tmp_path / "hosts", tmp_path / ".secrets.env")
    except ConfigError:
        return False
    return True


def _shape(value: Any, prefix: str = "") -> set[str]:
    """Every key path of a parsed document (list items by position)."""
    if isinstance(value, dict):
        return {p for k, v in value.items() for p in {f"{prefix}/{k}"} | _shape(v, f"{prefix}/{k}")}
    if isinstance(value, list):
        return {p for i, v in enumerate(value) for p in _shape(v, f"{prefix}[{i}]")}
    return set()


def _compose_config(tmp_path: Path, changes: dict[str, str], name: str) -> dict[str, Any]:
    (tmp_path / ".env").write_text(_env(changes))
    deployment = load(tmp_path / ".env", tmp_path / "hosts", tmp_path / ".secrets.env")
    documents = {}
    for host in deployment.hosts:
        root = write_tree(render_host(deployment, host), tmp_path / name)
        done = subprocess.run(
            [*compose_command(), "config"],
            cwd=root / paths.STACK_DIR.lstrip("/"),
            capture_output=True,
            text=True,
            timeout=120,
            env={"PATH": "/usr/local/bin:/usr/bin:/bin", "EVIL": "injected"},
        )
        assert done.returncode == 0, done.stderr
        documents[host.name] = yaml.safe_load(done.stdout)
    return documents


def test_injection_in_every_string_key_adds_no_keys(tmp_path: Path) -> None:
    try:
        compose_command()
    except MissingTool:
        pytest.fail("this test needs docker compose or docker-compose", pytrace=False)
    (tmp_path / "hosts").write_text(HOSTS)
    changes: dict[str, str] = {}
    for key in (k.name for k in SPEC.keys):
        for payload in PAYLOADS:
            if _accepted(tmp_path, {**changes, key: payload}):
                changes[key] = payload
                break
    print("accepted hostile values:", sorted(changes))
    assert "PRIVATE_ROOM_PASSWORD" in changes  # free text reaches the rendering
    plain = _compose_config(tmp_path, {}, "plain")
    hostile = _compose_config(tmp_path, changes, "hostile")
    for host, document in hostile.items():
        assert _shape(document) == _shape(plain[host]), host
        assert "injected" not in json.dumps(document)
