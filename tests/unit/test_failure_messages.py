"""A failure is a sentence: what happened, what it means, what to do (host and address where
they help), like the unreachable host's `cannot connect to ADDRESS:PORT ... Is the host up
and the port right?`."""

from __future__ import annotations

from pathlib import Path

import paramiko
import pytest

from jitsi_deploy.deploy import host as host_module
from jitsi_deploy.deploy.host import cut_off, failure
from jitsi_deploy.deploy.runner import Outcome
from jitsi_deploy.remote.transport import ConnectError, Remote
from jitsi_deploy.settings.inventory import Host
from jitsi_deploy.steps.changes import Change

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


def test_a_script_cut_off_names_the_address_and_how_far_it_got() -> None:
    changes = [INSTALL, Change("packages", "start nginx", ())]
    said = cut_off(HOST, changes, 1)
    assert said.startswith("the connection to 203.0.113.10:22 ended after 1 of the 2 changes, ")
    assert "during: start nginx. Deploy again once the host answers" in said


@pytest.mark.parametrize(
    ("error", "advice"),
    [
        (paramiko.AuthenticationException("Authentication failed."), "refused the login"),
        (paramiko.SSHException("Error reading SSH protocol banner"), "Is it an SSH server"),
        (paramiko.SSHException("No authentication methods available"), "no key to offer"),
    ],
)
def test_a_refused_ssh_login_says_where_to_look(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: Exception, advice: str
) -> None:
    remote = Remote(HOST, tmp_path / "known_hosts")

    def refuse() -> None:
        raise error

    monkeypatch.setattr(remote, "_socket", lambda: None)  # no TCP connection is made
    monkeypatch.setattr(remote.connection, "open", refuse)
    with pytest.raises(ConnectError) as refused:
        remote.run_script("true")
    said = str(refused.value)
    assert said.startswith("meet.example.org: root@203.0.113.10:22 ") or advice in said, said
    assert advice in said and str(error) in said


def test_an_error_has_a_one_line_headline_for_the_progress() -> None:
    said = host_module._headline(HOST, "meet.example.org: cannot connect to x:22 (refused).\nmore")
    assert said == "cannot connect to x:22 (refused)."
