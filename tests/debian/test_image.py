"""debian:trixie-slim as tests/debian/image.py builds it: configured and slimmed as the official
image. What the deploy builds on it, the collector's image (Debian's Python with its database
and Redis clients), is built and run by tests/prosody/test_meeting_history.py."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.debian.image import ensure_image

pytestmark = pytest.mark.slow


def docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def image() -> str:
    """debian:trixie-slim; the first build on a machine takes a minute, later ones a second."""
    done = docker("info")
    if done.returncode != 0:
        pytest.fail(f"the Debian image tests need a running Docker engine: {done.stderr}")
    return ensure_image()


def test_the_image_is_configured_and_slimmed_as_the_official_one(image: str) -> None:
    config = json.loads(docker("image", "inspect", "--format", "{{json .Config}}", image).stdout)
    assert config["Cmd"] == ["bash"]
    assert config.get("Entrypoint") is None
    probe = (
        "find /var/lib/apt/lists -type f; "
        "test -e /usr/share/doc/apt/copyright || echo no-copyright; "
        "find /usr/share/doc /usr/share/man /usr/share/locale -type f ! -name copyright; "
        "test -x /usr/sbin/policy-rc.d || echo no-policy-rc.d; "
        "grep -q 'path-exclude /usr/share/doc/\\*' /etc/dpkg/dpkg.cfg.d/docker || echo no-filter; "
        "cat /etc/debian_version"
    )
    done = docker("run", "--rm", image, "bash", "-c", probe)
    assert done.returncode == 0, done.stderr
    # Nothing but the release: no package lists, documents, manuals or translations.
    assert done.stdout.splitlines()[0].startswith("13."), done.stdout
