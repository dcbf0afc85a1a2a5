"""The stand-in builder: images under configurable names, saved as an offline bundle."""

from __future__ import annotations

import json
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from jitsi_deploy.bundle import archive_name, save_bundle
from tests.standin import build

pytestmark = pytest.mark.docker


def test_bundle_holds_every_image_under_the_requested_names(tmp_path: Path):
    images = build.build_standins(build.image_names("localhost/jitsi-test", "t1", "kuma-test:t1"))
    try:
        bundle = save_bundle(images.values(), tmp_path / "images")
    finally:
        subprocess.run(["docker", "rmi", *images.values()], capture_output=True)
    tags = []
    for image in images.values():
        with tarfile.open(bundle / archive_name(image)) as tar:
            manifest = json.load(tar.extractfile("manifest.json"))
        tags += [tag for entry in manifest for tag in entry["RepoTags"]]
    assert sorted(tags) == sorted(images.values())
    assert images["jvb"] == "localhost/jitsi-test/jvb:t1"


def test_a_second_build_reuses_every_image():
    """Images carry a hash of their recipe: an unchanged recipe builds nothing."""
    names = build.local_names()
    build.build_standins(names)
    ids = {image: _image_id(image) for image in names.values()}
    start = time.monotonic()
    build.build_standins(names)
    assert time.monotonic() - start < 10
    assert {image: _image_id(image) for image in names.values()} == ids


def _image_id(image: str) -> str:
    done = subprocess.run(
        ["docker", "image", "inspect", "-f", "{{.Id}}", image],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return done.stdout.strip()
