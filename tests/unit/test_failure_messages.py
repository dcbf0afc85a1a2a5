"""A failure is a sentence: what happened, what it means, what to do (host and address where
they help), like the unreachable host's `cannot connect to ADDRESS:PORT ... Is the host up
and the port right?`."""

from __future__ import annotations

import io
from pathlib import Path

import paramiko
import pytest

from jitsi_deploy.deploy import host as host_module
from jitsi_deploy.deploy.console import Console
from jitsi_deploy.deploy.host import cut_off, failure
from jitsi_deploy.deploy.runner import Outcome
from jitsi_deploy.remote.transport import ConnectError, Remote
from jitsi_deploy.settings.inventory import Host
from jitsi_deploy.steps.changes import Change
from jitsi_deploy.steps.step import StepPlan

HOST = Host("meet.example.org", "core", "203.0.113.10", "203.0.113.10")
INSTALL = Change("packages", "install 2 packages: nginx certbot", ())


def test_a_failed_change_says_what_did_not_run_and_how_to_go_on() -> None:
    said = failure(Outcome(INSTALL, "failed", "E: Unable to locate package certbot"))
    assert said.startswith("install 2 packages: nginx certbot failed, so the changes after it")
    assert "\nE: Unable to locate package certbot\n" in said
    assert "deploy again: the deploy goes on from there" in said
    assert "--verbose" in said


def test_advice_replaces_the_raw_output_where_a_change_has_it() -> None:
    explained = Change("tls", "get a certificate", (), explain=lambda out: "port 80 is closed.")
    assert "\nport 80 is closed.\n" in failure(Outcome(explained, "failed", "raw"))


def test_a_step_cut_off_names_the_host_the_step_and_how_far_it_got() -> None:
    step = StepPlan("packages", [INSTALL, Change("packages", "start nginx", ())])
    said = cut_off(HOST, step, 1)
    assert said.startswith("the connection to 203.0.113.10:22 ended during step packages, ")
    assert "after 1 of its 2 changes. Deploy again once the host answers" in said


@pytest.mark.parametrize(
    ("error", "advice"),
    [
        (paramiko.AuthenticationException("Authentication failed."), "refused the login"),
        (paramiko.SSHException("Error reading SSH protocol banner"), "Is it an SSH server"),
    ],
)
def test_a_refused_ssh_login_says_where_to_look(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: Exception, advice: str
) -> None:
    remote = Remote(HOST, tmp_path / "known_hosts")

    def refuse() -> None:
        raise error

    monkeypatch.setattr(remote.connection, "open", refuse)
    with pytest.raises(ConnectError) as refused:
        remote.run_script("true")
    said = str(refused.value)
    assert said.startswith("meet.example.org: root@203.0.113.10:22 ") or advice in said, said
    assert advice in said and str(error) in said


def test_a_long_step_ends_with_its_time_and_an_error_has_a_one_line_headline() -> None:
    printed = io.StringIO()
    console = Console(printed)
    outcomes = [
        Outcome(INSTALL, "changed"),
        Outcome(Change("packages", "start nginx", ()), "changed"),
    ]
    host_module._say_outcomes(console, HOST, outcomes, 31.4)
    host_module._say_outcomes(console, HOST, outcomes[:1], 0.4)
    lines = printed.getvalue().splitlines()
    assert lines[0].endswith("install 2 packages: nginx certbot"), lines
    assert lines[1].endswith("start nginx (this step: 31s)"), lines
    assert lines[2].endswith("install 2 packages: nginx certbot"), "a quick step: no time"
    said = host_module._headline(HOST, "meet.example.org: cannot connect to x:22 (refused).\nmore")
    assert said == "cannot connect to x:22 (refused)."
