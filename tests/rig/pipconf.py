"""This machine's pip settings in a test host, as the rig mirrors its apt sources into the image:
pip in the host then reaches the package index the way pip here does (e.g. with the CA bundle
of a TLS-inspecting proxy that only this machine trusts).

The settings are those `pip config list` reports here (files and PIP_* variables, a variable
winning over a file, as in pip). They are written to the host's /etc/pip.conf at test time, not
baked into the cached images: an image stays a stock one and is shared by every checkout on this
machine. A value that names a local file (cert, constraint, ...) has the file copied into the
host; local folders and file:// indexes (find-links, extra-index-url) are this machine's disk,
not the index, and are left out.
"""

from __future__ import annotations

import ast
import configparser
import io
import subprocess
import sys
from pathlib import Path

from .hosts import TestHost, host_exec

HOST_CONF = "/etc/pip.conf"
HOST_FILES = "/etc/jitsi-deploy-rig/pip"
ENV_SECTION = ":env:"  # how `pip config list` names settings that come from PIP_* variables


def machine_pip_settings() -> dict[str, dict[str, str]]:
    """{section: {key: value}} of this machine's pip, PIP_* variables folded into [global]."""
    listing = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=True
    ).stdout
    sections: dict[str, dict[str, str]] = {}
    from_env: dict[str, str] = {}
    for line in listing.splitlines():
        name, _, value = line.partition("=")
        section, _, key = name.rpartition(".")
        if not section or not key or not value:
            continue
        target = from_env if section == ENV_SECTION else sections.setdefault(section, {})
        target[key] = str(ast.literal_eval(value))
    for values in sections.values():  # a variable wins over every file section
        for key in from_env:
            values.pop(key, None)
    sections.setdefault("global", {}).update(from_env)
    return {name: values for name, values in sections.items() if values}


def mirror_pip_settings(host: TestHost) -> str:
    """Write this machine's pip settings into `host`; return the pip.conf written there."""
    copied: dict[Path, str] = {}

    def translate(value: str) -> str:
        kept = []
        for item in value.split():
            local = Path(item.removeprefix("file://"))
            if item.startswith("file://") or (local.is_absolute() and not local.is_file()):
                continue  # this machine's own disk: not reachable from the host
            if local.is_absolute():
                target = copied.setdefault(local, f"{HOST_FILES}/{len(copied)}-{local.name}")
                item = target
            kept.append(item)
        return " ".join(kept)

    conf = configparser.ConfigParser(interpolation=None)
    for section, values in machine_pip_settings().items():
        translated = {key: translate(value) for key, value in values.items()}
        if kept := {key: value for key, value in translated.items() if value}:
            conf[section] = kept
    for source, target in copied.items():
        _install(host, target, source.read_text())
    text = io.StringIO()
    text.write("# This machine's pip settings, mirrored by the test rig (tests/rig/pipconf.py).\n")
    conf.write(text)
    _install(host, HOST_CONF, text.getvalue())
    return text.getvalue()


def _install(host: TestHost, path: str, content: str) -> None:
    host_exec(host, "install", "-D", "-m", "644", "/dev/stdin", path, input=content, check=True)
