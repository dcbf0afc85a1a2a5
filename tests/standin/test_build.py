"""The stand-in builder: images under configurable names, and one `docker save` bundle."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import tarfile
from pathlib import Path

spec = importlib.util.spec_from_file_location("standin_build", Path(__file__).with_name("build.py"))
assert spec and spec.loader
build = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build)


def test_bundle_holds_every_image_under_the_requested_names(tmp_path: Path):
    images = build.build_standins(build.image_names("localhost/jitsi-test", "t1", "kuma-test:t1"))
    try:
        bundle = build.save_bundle(images, tmp_path / "images.tar")
    finally:
        subprocess.run(["docker", "rmi", *images.values()], capture_output=True)
    with tarfile.open(bundle) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    tags = sorted(tag for entry in manifest for tag in entry["RepoTags"])
    assert tags == sorted(images.values())
    assert images["jvb"] == "localhost/jitsi-test/jvb:t1"
