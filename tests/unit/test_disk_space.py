"""A converge that would fill a disk is refused with the numbers before anything is written:
what the facts' df says, what a plan writes where, and the message (the e2e proof on a host
whose Docker folder is a small file system is in tests/e2e/test_package_lock.py)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from jitsi_deploy.deploy import disk_space
from jitsi_deploy.deploy.disk_space import HEADROOM, Need, Space
from jitsi_deploy.errors import DeployError
from jitsi_deploy.remote.commands import Command
from jitsi_deploy.steps.changes import Change, Upload
from jitsi_deploy.steps.facts import HostFacts
from jitsi_deploy.steps.images import IMAGES, parse_images, repository, wanted_images
from jitsi_deploy.steps.step import StepPlan
from tests.unit.sites import rendered, site_with, two_hosts

MB = 10**6
# The facts' df on a Debian 12 test host whose /var/lib/docker is a 300 MiB tmpfs.
DF_OUTPUT = ["/ 64055799808", "/tmp 12268572672", "/var/lib/docker 314572800"]
# `docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}'`, as Docker prints sizes.
IMAGE_LS = [
    "ghcr.io/jitsi/web:stable-11146-2 187MB",
    "ghcr.io/jitsi/jvb:stable-11146-2 1.2GB",
    "louislam/uptime-kuma:2 5.6kB",
    "registry.local:5000/jicofo:stable-11146-2 0B",
]
PULLED = "the images to pull (as large as those they replace)"
SOME_CHANGE = StepPlan("files", [Change("files", "update /etc/x", (Command(("true",), "x"),))])


def test_df_lines_name_each_paths_mount_and_free_bytes() -> None:
    spaces = disk_space.parse_space(DF_OUTPUT)
    assert spaces == {
        "/": Space("/", 64055799808),
        "/tmp": Space("/tmp", 12268572672),
        "/var/lib/docker": Space("/var/lib/docker", 314572800),
    }
    assert disk_space.parse_space(DF_OUTPUT[:1]) == {"/": Space("/", 64055799808)}


def test_image_sizes_are_read_in_dockers_decimal_units() -> None:
    assert parse_images(IMAGE_LS) == {
        "ghcr.io/jitsi/web:stable-11146-2": 187 * MB,
        "ghcr.io/jitsi/jvb:stable-11146-2": 1200 * MB,
        "louislam/uptime-kuma:2": 5600,
        "registry.local:5000/jicofo:stable-11146-2": 0,
    }
    assert repository("registry.local:5000/jicofo:stable-1") == "registry.local:5000/jicofo"
    assert repository("registry.local:5000/jicofo") == "registry.local:5000/jicofo"


def test_a_no_op_needs_nothing_and_any_change_needs_room_on_root(tmp_path: Path) -> None:
    core = rendered(two_hosts(tmp_path), "meet.example.org")
    assert disk_space.needs(core, {}, []) == []
    assert disk_space.needs(core, {}, [SOME_CHANGE]) == [Need("/", 0, "configuration and packages")]


def test_loaded_archives_count_on_dockers_disk_and_the_largest_on_the_uploads(
    tmp_path: Path,
) -> None:
    core = rendered(site_with(tmp_path, IMAGE_SOURCE="bundle"), "meet.example.org")
    loads = []
    for name, size in (("web.tar", 300 * MB), ("jvb.tar", 500 * MB)):
        archive = tmp_path / name
        with archive.open("wb") as sparse:
            sparse.truncate(size)
        upload = Upload(archive, f"/tmp/{name}")
        loads.append(Change("images", f"load {name}", (), uploads=(upload,)))
    needs = disk_space.needs(core, {}, [StepPlan("images", loads)])
    assert needs[1:] == [
        Need("/tmp", 500 * MB, "the largest image archive while it loads"),
        Need("/var/lib/docker", 800 * MB, "2 images to load"),
    ]


def test_a_pull_is_estimated_by_the_release_it_replaces(tmp_path: Path) -> None:
    core = rendered(two_hosts(tmp_path), "meet.example.org")
    wanted = wanted_images(core)
    # The host runs an older release of every image but web, which is new to it (it counts
    # nothing: only the registry knows its size).
    older = {f"{repository(image)}:old": 400 * MB for image in wanted if "/web:" not in image}
    needs = disk_space.needs(core, older, [SOME_CHANGE])
    pulled = Need("/var/lib/docker", (len(wanted) - 1) * 400 * MB, PULLED)
    assert needs[1:] == [pulled]
    # Nothing to pull when the host has the wanted images already.
    assert disk_space.needs(core, dict.fromkeys(wanted, MB), [SOME_CHANGE])[1:] == []


def test_a_short_file_system_is_named_with_its_numbers_and_the_others_pass() -> None:
    spaces = disk_space.parse_space(DF_OUTPUT)
    needs = [
        Need("/", 0, "configuration and packages"),
        Need("/tmp", 500 * MB, "the largest image archive while it loads"),
        Need("/var/lib/docker", 800 * MB, "2 images to load"),
    ]
    assert disk_space.shortages(spaces, needs) == [
        "/var/lib/docker: 0.3 GiB free, 1.7 GiB needed (0.7 GiB for 2 images to load, "
        "1.0 GiB to spare)"
    ]
    # One file system holding all three adds them up.
    shared = {path: Space("/", HEADROOM + 1300 * MB - 1) for path in spaces}
    assert disk_space.shortages(shared, needs) == [
        "/: 2.2 GiB free, 2.2 GiB needed (0.5 GiB for the largest image archive while it loads, "
        "0.7 GiB for 2 images to load, 1.0 GiB to spare)"
    ]
    assert disk_space.shortages({**shared, "/": Space("/", HEADROOM + 1300 * MB)}, needs) == []


def test_the_refusal_names_the_host_and_what_to_do(tmp_path: Path) -> None:
    deployment = two_hosts(tmp_path)
    core = rendered(deployment, "meet.example.org")
    full = {"/": Space("/", 200 * MB), "/tmp": Space("/tmp", 10**10)}
    facts = HostFacts({disk_space.FREE_SPACE.name: full, IMAGES.name: {}})
    with pytest.raises(DeployError) as refused:
        disk_space.refuse_when_short(core.host, core, facts, [SOME_CHANGE])
    assert str(refused.value) == (
        "meet.example.org has not enough free disk space for this deploy, so nothing was "
        "changed:\n  /: 0.2 GiB free, 1.0 GiB needed (1.0 GiB to spare)\nFree space on the "
        "host (`docker image prune -a` removes images no container uses, `apt-get clean` the "
        "package cache), then deploy again."
    )
    disk_space.refuse_when_short(core.host, core, facts, [])  # a no-op writes nothing


def test_the_script_measures_this_machine() -> None:
    """The facts' snippet in this machine's sh: three lines, the root's as statvfs sees it."""
    lines = subprocess.run(["sh", "-c", disk_space.SCRIPT], capture_output=True, text=True).stdout
    spaces = disk_space.parse_space(lines.splitlines())
    assert set(spaces) == {"/", "/tmp", "/var/lib/docker"}
    root = os.statvfs("/")
    assert abs(spaces["/"].free - root.f_bavail * root.f_frsize) < 100 * MB
