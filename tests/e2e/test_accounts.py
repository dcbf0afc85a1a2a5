"""fab user-add/-passwd/-remove/-list as a person runs them: over SSH to a core deployed with
ENABLE_AUTH=1 and AUTH_TYPE=internal (Debian 12, root), against the real Prosody 13 of the
prosody stand-in. Logins are tried over c2s from inside the prosody container (5222 is not
published without remote bridges) with the slixmpp of the stand-in image; the test password
reaches that client on stdin.

The session `site` runs with ENABLE_AUTH=0, so this module works on the second core
(conftest.py: auth_core).
"""

from __future__ import annotations

import subprocess
import sys

from tests.e2e.site import REPO, Site
from tests.rig.hosts import host_exec

FIRST = "first long passphrase 71"
SECOND = "second long passphrase 93"

LOGIN = r"""
import asyncio, ssl, sys
import slixmpp

async def attempt(jid, password):
    client = slixmpp.ClientXMPP(jid, password)
    client.enable_direct_tls = False
    client.enable_plaintext = False
    client.ssl_context.check_hostname = False
    client.ssl_context.verify_mode = ssl.CERT_NONE
    answer = asyncio.get_running_loop().create_future()
    def settle(value):
        if not answer.done():
            answer.set_result(value)
    client.add_event_handler("session_start", lambda _: settle("logged in"))
    client.add_event_handler("failed_all_auth", lambda _: settle("refused"))
    client.connect("127.0.0.1", 5222)
    try:
        print(await asyncio.wait_for(answer, 15))
    finally:
        client.disconnect()

jid, password = sys.stdin.read().splitlines()[:2]
asyncio.run(attempt(jid, password))
"""


def fab(site: Site, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """`fab ARGS` with ``stdin`` piped in, as a script gives a password."""
    argv = [sys.executable, "-m", "fabric", *args, "--env", str(site.env)]
    argv += ["--inventory", str(site.folder / "hosts")]
    argv += ["--known-hosts", str(site.folder / "known_hosts")]
    return subprocess.run(
        argv, cwd=REPO, input=stdin, capture_output=True, text=True, timeout=300, check=False
    )


def login(site: Site, name: str, password: str) -> str:
    done = host_exec(
        site.hosts[0], "docker", "exec", "-i", "jitsi-prosody", "python3", "-c", LOGIN,
        input=f"{name}@meet.jitsi\n{password}\n",
    )  # fmt: skip
    return done.stdout.strip() or done.stderr[-500:]


def test_users_added_changed_and_removed_over_ssh(auth_core: Site) -> None:
    added = fab(auth_core, "user-add", "Alice", stdin=f"{FIRST}\n")
    assert added.returncode == 0, added.stdout + added.stderr
    assert "added alice@meet.jitsi" in added.stdout
    assert FIRST not in added.stdout + added.stderr
    assert login(auth_core, "alice", FIRST) == "logged in"
    assert login(auth_core, "alice", SECOND) == "refused"

    again = fab(auth_core, "user-add", "alice", stdin=f"{SECOND}\n")
    assert again.returncode == 1 and "exists already" in again.stdout

    changed = fab(auth_core, "user-passwd", "alice", "--password-stdin", stdin=f"{SECOND}\n")
    assert changed.returncode == 0, changed.stdout + changed.stderr
    assert login(auth_core, "alice", SECOND) == "logged in"
    assert login(auth_core, "alice", FIRST) == "refused"

    listed = fab(auth_core, "user-list")
    assert listed.returncode == 0 and "\nalice\n" in listed.stdout

    removed = fab(auth_core, "user-remove", "alice")
    assert removed.returncode == 0 and "removed alice@meet.jitsi" in removed.stdout
    assert login(auth_core, "alice", SECOND) == "refused"
    assert "no accounts on meet.jitsi" in fab(auth_core, "user-list").stdout


def test_bad_input_touches_nothing(auth_core: Site) -> None:
    weak = fab(auth_core, "user-add", "bob", stdin="password1\n")
    assert weak.returncode == 1 and "nothing was touched" in weak.stderr
    named = fab(auth_core, "user-add", "bob smith", stdin=f"{FIRST}\n")
    assert named.returncode == 1 and "is not an account name" in named.stderr
    assert "no accounts on meet.jitsi" in fab(auth_core, "user-list").stdout
