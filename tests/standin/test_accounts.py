"""fab user-add/-passwd/-remove/-list against real Prosody 13 in the prosody stand-in with
ENABLE_AUTH=1 and AUTH_TYPE=internal (CONTRACT.md, "prosody"): the scripts the product sends to
a core host, run by `sh -s` as the host runs them, `docker exec -i` into the container, and a
real XMPP client logging in on meet.jitsi over c2s afterwards.

Only the SSH hop is left out (the same script goes through `Remote.run_script` in production).
The product names the container `jitsi-prosody`; a small `docker` shim puts the test
container's name in its place, since other test sessions share this engine and the name.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import slixmpp

from jitsi_deploy.operations import accounts
from jitsi_deploy.remote.commands import Command
from jitsi_deploy.remote.transport import Output
from tests.standin.standins import Container, Options, running
from tests.standin.test_prosody import login

pytestmark = pytest.mark.docker

FIRST = "first long passphrase 71"
SECOND = "second long passphrase 93"
SHIM = """#!/bin/sh
# Hands every argument to the real docker, the product's container name replaced.
for argument; do
  shift
  [ "$argument" = jitsi-prosody ] && argument=$STANDIN_CONTAINER
  set -- "$@" "$argument"
done
exec "$REAL_DOCKER" "$@"
"""


class Host:
    """The core host's side: runs the product's scripts against one prosody container."""

    def __init__(self, container: Container, folder: Path) -> None:
        shim = folder / "docker"
        shim.write_text(SHIM)
        shim.chmod(0o755)
        self.container = container
        self.environment = {
            **os.environ,
            "PATH": f"{folder}:{os.environ['PATH']}",
            "STANDIN_CONTAINER": container.name,
            "REAL_DOCKER": shutil.which("docker") or "/usr/bin/docker",
        }

    def run(self, command: Command, judge: accounts.Judge) -> tuple[bool, str]:
        done = subprocess.run(
            ["sh", "-s"], input=accounts.script(command), text=True,
            env=self.environment, capture_output=True, timeout=60,
        )  # fmt: skip
        return judge(Output(done.returncode, done.stdout, done.stderr))

    def logs_in(self, name: str, password: str) -> bool:
        return login(self.container.address(), accounts.jid(name), password)


@pytest.fixture
def auth_options(prosody_options: Options) -> Options:
    prosody_options.env |= {"ENABLE_AUTH": "1", "AUTH_TYPE": "internal"}
    return prosody_options


def started(container: Container, folder: Path) -> Host:
    container.wait_healthy()
    # prosodyctl's admin shell needs the server's socket, made once the server runs.
    container.wait_for(lambda: "register-setup: " in container.logs(), "the accounts step")
    return Host(container, folder)


def test_internal_authentication_refuses_anonymous_logins(images, auth_options) -> None:
    with running(images["prosody"], auth_options) as container:
        container.wait_healthy()
        site = container.exec("cat", "/run/prosody/config/conf.d/jitsi-meet.cfg.lua").stdout
        virtual_host = site.split('VirtualHost "meet.jitsi"')[1].split("VirtualHost")[0]
        assert 'authentication = "internal_hashed"' in virtual_host
        assert '"DIGEST-MD5"; "OAUTHBEARER";' in virtual_host


def test_an_account_added_logs_in_changed_keeps_working_and_removed_cannot(
    images, auth_options, tmp_path
) -> None:
    with running(images["prosody"], auth_options) as container:
        host = started(container, tmp_path)
        assert host.run(accounts.list_command(), accounts.judge_list) == (
            True,
            "no accounts on meet.jitsi",
        )
        assert not host.logs_in("alice", FIRST)

        assert host.run(accounts.add_command("alice", FIRST), accounts.judge_add("alice")) == (
            True,
            "added alice@meet.jitsi",
        )
        assert host.logs_in("alice", FIRST)
        assert not host.logs_in("alice", SECOND)
        again = host.run(accounts.add_command("alice", SECOND), accounts.judge_add("alice"))
        assert again[0] is False and "exists already" in again[1]
        assert host.logs_in("alice", FIRST), "a refused add must not touch the account"

        changed = host.run(accounts.passwd_command("alice", SECOND), accounts.judge_passwd("alice"))
        assert changed[0], changed
        assert host.logs_in("alice", SECOND)
        assert not host.logs_in("alice", FIRST)

        host.run(accounts.add_command("bob", FIRST), accounts.judge_add("bob"))
        assert host.run(accounts.list_command(), accounts.judge_list) == (True, "alice\nbob")

        removed = host.run(accounts.remove_command("alice"), accounts.judge_remove("alice"))
        assert removed == (True, "removed alice@meet.jitsi (its sessions are closed)")
        assert not host.logs_in("alice", SECOND)
        assert host.logs_in("bob", FIRST)
        assert host.run(accounts.remove_command("alice"), accounts.judge_remove("alice")) == (
            True,
            "there is no alice@meet.jitsi: nothing to remove",
        )
        missing = host.run(accounts.passwd_command("alice", FIRST), accounts.judge_passwd("alice"))
        assert missing == (False, "there is no alice@meet.jitsi; add it: fab user-add alice")

        for password in (FIRST, SECOND):
            assert password not in container.logs()


async def _closed_while_held(address: str, jid: str, password: str, action: Callable) -> bool:
    """Log in, keep the session, run ``action``: whether the server then closes the session."""
    client = slixmpp.ClientXMPP(jid, password)
    client.enable_direct_tls = False
    client.enable_plaintext = False
    client.ssl_context.check_hostname = False
    client.ssl_context.verify_mode = ssl.CERT_NONE
    loop = asyncio.get_running_loop()
    started, closed = loop.create_future(), loop.create_future()

    def settle(future: asyncio.Future[bool], value: bool) -> None:
        if not future.done():
            future.set_result(value)

    client.add_event_handler("session_start", lambda _: settle(started, True))
    client.add_event_handler("failed_all_auth", lambda _: settle(started, False))
    client.add_event_handler("disconnected", lambda _: settle(closed, True))
    client.connect(address, 5222)
    try:
        assert await asyncio.wait_for(started, 10), "the held session did not log in"
        await asyncio.to_thread(action)
        return await asyncio.wait_for(closed, 10)
    except TimeoutError:
        return False
    finally:
        client.disconnect()


@pytest.mark.parametrize("change", ["remove", "passwd"])
def test_removing_or_resetting_an_account_closes_its_open_session(
    images, auth_options, tmp_path, change: str
) -> None:
    with running(images["prosody"], auth_options) as container:
        host = started(container, tmp_path)
        assert host.run(accounts.add_command("erin", FIRST), accounts.judge_add("erin"))[0]
        if change == "remove":
            command, judge = accounts.remove_command("erin"), accounts.judge_remove("erin")
        else:
            command, judge = accounts.passwd_command("erin", SECOND), accounts.judge_passwd("erin")
        closed = asyncio.run(
            _closed_while_held(
                container.address(), accounts.jid("erin"), FIRST, lambda: host.run(command, judge)
            )
        )
        assert closed, f"{change} left the open session running"


def test_accounts_outlive_the_container(images, auth_options, tmp_path) -> None:
    """They live in the storage volume, as a redeploy or a restart keeps it."""
    with running(images["prosody"], auth_options) as container:
        host = started(container, tmp_path)
        assert host.run(accounts.add_command("carol", FIRST), accounts.judge_add("carol"))[0]
    with running(images["prosody"], auth_options) as container:
        host = started(container, tmp_path)
        assert host.logs_in("carol", FIRST)
        assert host.run(accounts.list_command(), accounts.judge_list) == (True, "carol")


def test_a_stopped_prosody_is_said_plainly(images, auth_options, tmp_path) -> None:
    with running(images["prosody"], auth_options) as container:
        host = started(container, tmp_path)
        subprocess.run(["docker", "stop", "-t", "5", container.name], capture_output=True)
        ok, text = host.run(accounts.list_command(), accounts.judge_list)
        assert (ok, text) == (
            False,
            "the jitsi-prosody container is not running: deploy (fab deploy)",
        )
