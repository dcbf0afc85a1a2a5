"""A file write as root into a folder someone else controls (the Jitsi containers own theirs):
the real write script runs here in sh against planted links, as it runs on a host."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from jitsi_deploy.model.managed import File
from jitsi_deploy.steps.changes import previous_copy, write_file
from jitsi_deploy.steps.files import parse_files


def me() -> tuple[str, str]:
    return str(os.getuid()), str(os.getgid())


def shared_folder(tmp_path: Path) -> Path:
    """A folder that others may write to, as a container's folder is to its uid 1000."""
    folder = tmp_path / "config" / "plugins"
    folder.mkdir(parents=True)
    folder.chmod(0o777)
    return folder


def run_write(file: File, previous_root: Path) -> subprocess.CompletedProcess[str]:
    command = write_file(file, str(previous_root))
    return subprocess.run(
        command.argv, input=command.stdin.decode(), capture_output=True, text=True, check=False
    )


def victim(tmp_path: Path) -> Path:
    """A file outside the folder, standing for root's /usr/local/sbin/jitsi-health."""
    path = tmp_path / "outside" / "jitsi-health"
    path.parent.mkdir()
    path.write_text("#!/bin/sh\necho original\n")
    return path


def test_old_sibling_names_planted_as_links_are_never_written_through(tmp_path: Path) -> None:
    folder, target = shared_folder(tmp_path), None
    outside = victim(tmp_path)
    target = folder / "mod_room_policy.lua"
    target.write_text("old\n")
    for sibling in (".jitsi-deploy-new", ".jitsi-deploy-prev"):
        (folder / f"mod_room_policy.lua{sibling}").symlink_to(outside)
    done = run_write(File(str(target), b"new\n", 0o644, *me()), tmp_path / "previous")
    assert done.returncode == 0, done.stderr
    assert outside.read_text() == "#!/bin/sh\necho original\n"
    assert not target.is_symlink() and target.read_text() == "new\n"
    assert Path(previous_copy(str(target), str(tmp_path / "previous"))).read_text() == "old\n"


@pytest.mark.parametrize("planted", ["target", "folder"])
def test_a_link_on_the_path_is_refused_and_nothing_is_written(tmp_path: Path, planted) -> None:
    folder = shared_folder(tmp_path)
    outside = victim(tmp_path)
    if planted == "target":
        target = folder / "jitsi-health"
        target.symlink_to(outside)
    else:
        (folder / "sub").symlink_to(outside.parent)
        target = folder / "sub" / "jitsi-health"
    done = run_write(File(str(target), b"#!/bin/sh\necho planted\n", 0o755, *me()), tmp_path)
    assert done.returncode == 3
    assert "is a symbolic link" in done.stderr and "deploy again" in done.stderr
    assert outside.read_text() == "#!/bin/sh\necho original\n"
    assert not list(tmp_path.rglob(".jitsi-deploy-new.*")), "a staged file was left behind"


def test_the_new_content_is_never_readable_by_others_nor_in_the_shared_folder(
    tmp_path: Path,
) -> None:
    """The write blocks on its stdin half-way; meanwhile the staged file is looked at."""
    folder = shared_folder(tmp_path)
    target = folder / "room-policy.cfg.lua"
    command = write_file(File(str(target), b"password='s3cret'\n", 0o600, *me()), str(tmp_path))
    with subprocess.Popen(command.argv, stdin=subprocess.PIPE, text=True) as writing:
        assert writing.stdin is not None
        writing.stdin.write(command.stdin.decode()[:8])
        writing.stdin.flush()
        staged = wait_for(lambda: list(tmp_path.rglob(".jitsi-deploy-new.*")))
        assert staged[0].stat().st_mode & 0o777 == 0o600
        assert staged[0].parent == folder.parent, "not staged in the nearest folder of root's"
        assert not list(folder.iterdir()), "the content appeared in the shared folder early"
        writing.stdin.write(command.stdin.decode()[8:])
    assert writing.returncode == 0
    assert target.read_text() == "password='s3cret'\n"
    assert target.stat().st_mode & 0o777 == 0o600


def wait_for(found, seconds: float = 10.0):
    deadline = time.monotonic() + seconds
    while not (result := found()):
        assert time.monotonic() < deadline, "the write never staged its file"
        time.sleep(0.01)
    return result


def test_a_managed_path_that_is_a_link_stops_the_deploy_before_any_change() -> None:
    line = "l 777 1000:1000 1000:1000 /opt/jitsi-meet/config/x.lua\t/usr/local/sbin/jitsi-health"
    with pytest.raises(Exception, match="is a symbolic link to /usr/local/sbin/jitsi-health"):
        parse_files([line])
