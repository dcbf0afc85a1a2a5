"""The deploy engine without a server: fact parsers, file changes, step scripts and outcomes."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from pathlib import Path

import pytest

from jitsi_deploy.deploy.runner import OutcomeReader, parse_outcomes, run_steps, step_script
from jitsi_deploy.errors import DeployError
from jitsi_deploy.model.managed import File
from jitsi_deploy.remote.commands import Command
from jitsi_deploy.remote.transport import Output
from jitsi_deploy.steps import STEPS
from jitsi_deploy.steps.changes import (
    Change,
    RemoteFile,
    Upload,
    file_change,
    file_diff,
    metadata_change,
    previous_copy,
    write_file,
)
from jitsi_deploy.steps.facts import OS_RELEASE, SSH_PORTS, SYSTEM_SERVICES, parse_facts
from jitsi_deploy.steps.files import DAEMON_JSON, LIST_AND_HASH, MANAGED, parse_files
from jitsi_deploy.steps.handlers import PENDING, RUNNING
from jitsi_deploy.steps.step import StepPlan

CAPTURED = """\
@@os-release
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
ID=debian
VERSION_ID="12"
@@ssh-ports
22
2222
@@packages
nginx
docker.io
@@files
f 644 root:0 root:0 /etc/a.conf\t
d 755 1000:1000 1000:1000 /opt/jitsi-meet/config/web\t
9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08  /etc/a.conf
@@daemon-json
{"log-driver": "journald"}
@@firewall
Status: inactive
@@images
ghcr.io/jitsi/web:stable-11146-2 187MB
@@services
docker active
nginx inactive
@@pending
up:stack
@@running
web ghcr.io/jitsi/web:stable-11146-2
jvb fbf20d5a5def
@@end
"""


def test_facts_are_parsed_from_captured_output() -> None:
    facts = parse_facts({f for step in STEPS for f in step.facts}, CAPTURED)
    os = facts[OS_RELEASE]
    assert (os.id, os.version, os.family) == ("debian", "12", "debian")
    assert facts[SSH_PORTS] == (22, 2222)
    files = facts[MANAGED]
    assert files.get("/etc/missing.conf") is None
    assert files["/etc/a.conf"] == RemoteFile(
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        0o644,
        "root:0",
        "root:0",
    )
    config = files["/opt/jitsi-meet/config/web"]
    assert config is not None and config.owned_by("1000", "1000") and config.mode == 0o755
    assert facts[DAEMON_JSON] == '{"log-driver": "journald"}'
    assert facts[SYSTEM_SERVICES] == {"docker": "active", "nginx": "inactive"}
    assert facts[PENDING] == {"up:stack"}
    # docker ps names the image a container runs, or shows its ID once the tag moved on.
    assert facts[RUNNING] == {"web": "ghcr.io/jitsi/web:stable-11146-2", "jvb": "fbf20d5a5def"}


def test_an_identical_file_needs_no_change_but_a_wrong_mode_does() -> None:
    file = File("/etc/a.conf", b"test", 0o600)
    actual = RemoteFile(hashlib.sha256(b"test").hexdigest(), 0o644, "root:0", "root:0")
    change = metadata_change("files", file, actual)
    assert change is not None
    assert [c.argv for c in change.commands] == [("chmod", "600", "/etc/a.conf")]


def test_secret_files_never_show_their_content_in_a_diff() -> None:
    secret = File("/opt/jitsi-meet/.env", b"JVB_AUTH_PASSWORD=s3cret\n", 0o600)
    assert "s3cret" not in file_change("files", secret, None).detail
    assert "old" not in file_diff(secret, "JVB_AUTH_PASSWORD=old\n")
    public = File("/etc/a.conf", b"new\n")
    assert "-old\n+new" in file_diff(public, "old\n")


def test_file_content_travels_on_stdin_not_in_argv() -> None:
    command = write_file(File("/etc/x", b"password=hunter2\n", 0o600))
    assert all("hunter2" not in part for part in command.argv)
    assert command.stdin is not None


def test_a_step_script_runs_for_real_and_reports_each_change(tmp_path) -> None:
    """The generated script runs in a real sh here: file written atomically, old kept,
    a warning tolerated, a failure stopping the step."""
    target = tmp_path / "etc" / "x.conf"
    target.parent.mkdir()
    target.write_text("old\n")
    previous = str(tmp_path / "previous")
    owner = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    group = subprocess.run(["id", "-gn"], capture_output=True, text=True).stdout.strip()
    wanted = File(str(target), b"new\n", 0o640, owner, group)
    changes = [
        Change("files", "write", (write_file(wanted, previous),)),
        Change("kernel", "tolerated", (Command(("false",), "fails"),), warn_only=True),
        Change("files", "fails", (Command(("sh", "-c", "echo boom; exit 3"), "fails"),)),
        Change("files", "never runs", (Command(("touch", str(tmp_path / "never")), "no"),)),
    ]
    done = subprocess.run(
        ["sh", "-s"], input=step_script(changes), capture_output=True, text=True, check=False
    )
    outcomes = parse_outcomes(changes, done.stdout, done.returncode)
    assert [o.status for o in outcomes] == ["changed", "warning", "failed"]
    assert outcomes[2].output == "boom"
    assert target.read_text() == "new\n" and oct(target.stat().st_mode & 0o777) == "0o640"
    assert Path(previous_copy(str(target), previous)).read_text() == "old\n"
    assert not (tmp_path / "never").exists()


def test_the_files_fact_reads_a_real_tree(tmp_path: Path) -> None:
    """The fact's own find and sha256sum on a tree with a file, a folder, a missing path and a
    planted link: each is read as it is, and the link stops the deploy."""
    (tmp_path / "a.conf").write_bytes(b"test")
    (tmp_path / "a.conf").chmod(0o640)
    (tmp_path / "config").mkdir(mode=0o750)
    (tmp_path / "config").chmod(0o750)
    wanted = (tmp_path / "a.conf", tmp_path / "config", tmp_path / "missing.conf")
    script = "( set -- " + " ".join(map(str, wanted)) + "\n" + LIST_AND_HASH + " )"
    output = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True)
    files = parse_files(output.stdout.splitlines())
    user = f"{os.getuid()}"
    conf = files[str(tmp_path / "a.conf")]
    assert conf is not None and conf.sha256 == hashlib.sha256(b"test").hexdigest()
    assert conf.mode == 0o640 and conf.owned_by(user, f"{os.getgid()}")
    folder = files[str(tmp_path / "config")]
    assert folder is not None and (folder.sha256, folder.mode) == ("dir", 0o750)
    assert str(tmp_path / "missing.conf") not in files
    (tmp_path / "link.conf").symlink_to(tmp_path / "a.conf")
    script = f"( set -- {tmp_path / 'link.conf'}\n{LIST_AND_HASH} )"
    output = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True)
    with pytest.raises(DeployError, match=f"is a symbolic link to {tmp_path / 'a.conf'}"):
        parse_files(output.stdout.splitlines())


def test_each_change_is_said_as_it_ends_not_when_the_script_ends() -> None:
    """The reader of a running script (deploy/runner.py) ends a change when the next begins:
    the quick first change is said while the slow second one still runs, each with its time."""
    changes = [
        Change("files", "quick", (Command(("true",), "quick"),)),
        Change("images", "slow", (Command(("sleep", "1"), "slow"),)),
    ]
    events: list[tuple[str, str, float]] = []
    reader = OutcomeReader(
        changes,
        began=lambda change: events.append(("began", change.summary, time.monotonic())),
        ended=lambda outcome: events.append(("ended", outcome.change.summary, time.monotonic())),
    )
    with subprocess.Popen(
        ["sh", "-s"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as script:
        assert script.stdin and script.stdout
        script.stdin.write(step_script(changes))
        script.stdin.close()
        for line in script.stdout:
            reader.feed(line.rstrip("\n"))
    outcomes = reader.end(script.returncode)
    finished = time.monotonic()
    assert [(kind, what) for kind, what, _ in events] == [
        ("began", "quick"), ("ended", "quick"), ("began", "slow"), ("ended", "slow")
    ]  # fmt: skip
    assert finished - events[1][2] >= 0.9, "the quick change was said before the slow one ended"
    assert [o.status for o in outcomes] == ["changed", "changed"]
    assert outcomes[0].seconds < 0.5 <= 0.9 <= outcomes[1].seconds


def test_a_change_with_files_to_send_says_so_while_they_upload(tmp_path: Path) -> None:
    """Uploads go before the one script: the progress names them as uploads, then the change."""
    archive = tmp_path / "web.tar"
    archive.write_bytes(b"image")
    load = Change("images", "load web", (), uploads=(Upload(archive, "/tmp/w"),))

    class Recorder:
        """Stands for the SSH transport (the e2e deploys run the real one): records uploads,
        answers the script with the markers a host would print."""

        def __init__(self) -> None:
            self.sent: list[str] = []

        def upload(self, local: Path, remote: str) -> None:
            self.sent.append(remote)

        def run_script(self, script: str, on_line) -> Output:
            for line in ("@@begin 0", "Loaded image: web"):
                on_line(line)
            return Output(0, "", "")

    began: list[str] = []
    host, step = Recorder(), StepPlan("images", [load])
    outcomes = run_steps(host, [step], began=lambda change: began.append(change.summary))  # type: ignore[arg-type]
    assert began == ["upload the files of: load web", "load web"] and host.sent == ["/tmp/w"]
    assert [(o.status, o.output) for o in outcomes] == [("changed", "Loaded image: web")]


def test_nothing_to_apply_sends_nothing() -> None:
    class Silent:
        """Stands for the SSH transport: any use fails the test."""

        def upload(self, local: Path, remote: str) -> None:
            raise AssertionError("uploaded")

        def run_script(self, script: str, on_line) -> Output:
            raise AssertionError("ran a script")

    assert run_steps(Silent(), []) == []  # type: ignore[arg-type]
