"""The deployed site that the e2e modules share: deploying it takes minutes, and most tests
only read it."""

from __future__ import annotations

import signal
import subprocess

import pytest

from tests.e2e.site import REPO, Site

# A documentation address (RFC 5737): clients would reach the bridge there; nothing does here.
BRIDGE_PUBLIC_IP = "203.0.113.61"
# The shared site's TURN server: its every test reaches the site through the TLS split on 443.
TURN_NAME = "turn.example.org"


@pytest.fixture(scope="session")
def site(make_host, tmp_path_factory: pytest.TempPathFactory) -> Site:
    """Two fresh hosts deployed once: the core as root on Debian 12 with a TURN server, an extra
    video bridge as a sudo user on Debian 13. The bridge's public address (advertised to
    clients) is not the one it connects from, as with SSH on a private network: private_ip
    names that one."""
    bookworm = make_host("bookworm")
    trixie = make_host("trixie").as_user("deploy")
    site = Site(tmp_path_factory.mktemp("site"), [bookworm, trixie])
    site.settings["TURN_HOSTNAME"] = TURN_NAME
    site.host_values[trixie.name] = f"public_ip={BRIDGE_PUBLIC_IP} private_ip={trixie.address}"
    site.write()
    site.trust()
    first = site.fab("deploy")
    site.first_output = first.stdout + first.stderr  # type: ignore[attr-defined]
    assert first.returncode == 0, site.first_output
    return site


# The second core's settings: accounts on, which the shared site must not have, and a TURN
# server of its own, for `fab uninstall` to take off (test_uninstall.py).
AUTH_TURN_NAME = "turn.auth.test"
AUTH_SETTINGS = {"ENABLE_AUTH": "1", "AUTH_TYPE": "internal", "TURN_HOSTNAME": AUTH_TURN_NAME}


@pytest.fixture(scope="session")
def auth_core(make_host, tmp_path_factory: pytest.TempPathFactory) -> Site:
    """A second core of its own (Debian 12, root), for what the shared site must not have:
    accounts (ENABLE_AUTH=1, AUTH_TYPE=internal), later fail2ban, then AUTH_TYPE=jwt
    (test_tokens.py, after the modules that need accounts), last `fab uninstall`
    (test_uninstall.py), which takes its TURN server off too. Its first deploy is cut off
    in the middle of its files step (the process killed) and run again: the resumed run's output
    is kept for test_deploy.py, which checks that the host converged."""
    site = Site(tmp_path_factory.mktemp("auth"), [make_host("bookworm")])
    site.write(AUTH_SETTINGS)
    site.trust()
    argv = site.fab_argv("deploy")
    with subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, text=True) as first:
        assert first.stdout is not None
        for line in first.stdout:
            if " files " in line:
                first.send_signal(signal.SIGKILL)  # cut off in the middle of the files step
                break
    resumed = site.fab("deploy")
    site.first_output = resumed.stdout + resumed.stderr  # type: ignore[attr-defined]
    assert resumed.returncode == 0, site.first_output
    return site
