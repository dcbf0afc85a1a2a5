"""Fetching the release a host runs again (operations/refresh.py), without a server: what the
host's answer means, what is kept for the rollback, what is fetched, and the image ID of a
bundle's archive. tests/e2e/test_refresh.py runs it against a real registry."""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest

from jitsi_deploy.bundle import archive_name
from jitsi_deploy.operations.refresh import (
    Moved,
    Refresh,
    archive_image_id,
    builds_script,
    fetch_changes,
    parse_builds,
    restore_changes,
)
from jitsi_deploy.settings.inventory import Host
from jitsi_deploy.steps.images import BASE_LABEL, wanted_images
from tests.unit.sites import rendered, site_with, two_hosts

OLD, NEW = "sha256:" + "1" * 64, "sha256:" + "2" * 64


def bridge(tmp_path: Path, source: str = "pull"):
    """The video-bridge host's files: one service, jvb."""
    files = rendered(two_hosts(tmp_path), "jvb1.example.org")
    site = replace(files.site, images=replace(files.site.images, source=source))
    return replace(files, site=site)


def test_the_hosts_answer_reads_as_one_build_per_service(tmp_path: Path) -> None:
    files = bridge(tmp_path)
    (build,) = parse_builds(files, f"jvb {OLD} {NEW} -\n")
    assert (build.service, build.image) == ("jvb", wanted_images(files)[0])
    assert (build.running, build.tagged, build.kept) == (OLD, NEW, "")
    assert build.previous == build.image + "-previous"


def test_a_settled_stack_keeps_its_builds_then_pulls_them_again(tmp_path: Path) -> None:
    files = bridge(tmp_path)
    builds = parse_builds(files, f"jvb {OLD} {OLD} -\n")
    keep, pull = fetch_changes(files, builds, None)
    (tag,) = keep.commands
    assert tag.argv == ("docker", "tag", builds[0].image, builds[0].previous)
    assert pull.commands[0].argv[-3:] == ("pull", "--quiet", "jvb")


def test_a_derived_image_is_refreshed_through_its_base(tmp_path: Path) -> None:
    """Prosody's image with the PostgreSQL driver is built on the host: its base is kept and
    pulled again (the deploy after rebuilds on a new base build), and the build it runs is the
    base build its image's label names."""
    files = rendered(site_with(tmp_path, ENABLE_POSTGRES="1"), "meet.example.org")
    base = files.site.images.jitsi("prosody")
    script = builds_script(files)
    (line,) = [line for line in script.splitlines() if line.startswith("echo prosody ")]
    assert BASE_LABEL in line and f"image inspect -f '{{{{.Id}}}}' {base}" in line
    builds = parse_builds(files, "".join(f"{s} {OLD} {OLD} -\n" for s in files.service_names))
    assert {b.image for b in builds if b.service == "prosody"} == {base}

    keep, pull = fetch_changes(files, builds, None)
    assert ("docker", "tag", base, base + "-previous") in [c.argv for c in keep.commands]
    compose_pull, base_pull = pull.commands
    assert "prosody" not in compose_pull.argv and "web" in compose_pull.argv
    assert base_pull.argv == ("docker", "pull", "-q", base)


def test_a_stack_between_two_builds_keeps_the_previous_tags_it_has(tmp_path: Path) -> None:
    """A run cut off half-way left a container on each build: the previous tags still name
    the builds to go back to, so a re-run must not move them to the new ones."""
    files = bridge(tmp_path)
    builds = parse_builds(files, f"jvb {OLD} {NEW} {OLD}\n")
    assert [c.summary for c in fetch_changes(files, builds, None)] == [
        "fetch the release's images again"
    ]


def test_the_rollback_names_the_kept_builds_again(tmp_path: Path) -> None:
    files = bridge(tmp_path)
    (back,) = restore_changes(parse_builds(files, f"jvb {NEW} {NEW} {OLD}\n"))
    image = wanted_images(files)[0]
    assert back.commands[0].argv == ("docker", "tag", image + "-previous", image)
    assert restore_changes(parse_builds(files, f"jvb {OLD} {OLD} {OLD}\n")) == []
    assert restore_changes(parse_builds(files, f"jvb {OLD} {OLD} -\n")) == []


def save_archive(path: Path, config: str) -> Path:
    """A `docker save` archive's manifest, as Docker 20.10 (legacy) or 25+ (OCI) writes it."""
    manifest = json.dumps([{"Config": config, "RepoTags": ["x:1"], "Layers": []}]).encode()
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
    return path


@pytest.mark.parametrize("config", ["2" * 64 + ".json", "blobs/sha256/" + "2" * 64])
def test_an_archives_image_id_is_its_configs_digest(tmp_path: Path, config: str) -> None:
    assert archive_image_id(save_archive(tmp_path / "a.tar", config)) == NEW


def test_a_bundle_sends_only_the_builds_the_host_lacks(tmp_path: Path) -> None:
    files = bridge(tmp_path, source="bundle")
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    save_archive(bundle / archive_name(wanted_images(files)[0]), "2" * 64 + ".json")
    same = parse_builds(files, f"jvb {NEW} {NEW} -\n")
    assert [c.summary for c in fetch_changes(files, same, bundle)][1:] == []
    moved = parse_builds(files, f"jvb {OLD} {OLD} -\n")
    (_, load) = fetch_changes(files, moved, bundle)
    assert load.uploads[0].local == bundle / archive_name(wanted_images(files)[0])
    # Without a bundle nothing is sent: the host keeps its images (an update re-run after a
    # cut-off finds this host on the release already, and must go on).
    assert [c.summary for c in fetch_changes(files, moved, None)] == [
        "keep the builds running now for a rollback"
    ]


def test_the_summaries_say_what_moved_and_which_way() -> None:
    host = Host("meet.example.org", "core", "203.0.113.10", "203.0.113.10")
    moved = (Moved("web", OLD, NEW),)
    fetched = "meet.example.org: a new build of the same release: web 111111111111 -> 222222222222."
    assert Refresh(host, moved).summary() == fetched
    back = Refresh(host, (Moved("web", NEW, OLD),), restored=True).summary()
    assert (
        back == "meet.example.org: the previous builds are back: web 222222222222 -> 111111111111."
    )
    assert "no new build" in Refresh(host).summary()
    assert "could not be fetched: pull failed" in Refresh(host, error="pull failed").summary()
