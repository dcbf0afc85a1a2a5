"""The deployed site that the e2e modules share: deploying it takes minutes, and most tests
only read it."""

from __future__ import annotations

import pytest

from tests.e2e.site import Site

# A documentation address (RFC 5737): clients would reach the bridge there; nothing does here.
BRIDGE_PUBLIC_IP = "203.0.113.61"


@pytest.fixture(scope="session")
def site(make_host, tmp_path_factory: pytest.TempPathFactory) -> Site:
    """Two fresh hosts deployed once: the core as root on Debian 12, an extra video bridge as a
    sudo user on Debian 13. The bridge's public address (advertised to clients) is not the one
    it connects from, as with SSH on a private network: private_ip names that one."""
    bookworm = make_host("bookworm")
    trixie = make_host("trixie").as_user("deploy")
    site = Site(tmp_path_factory.mktemp("site"), [bookworm, trixie])
    site.host_values[trixie.name] = f"public_ip={BRIDGE_PUBLIC_IP} private_ip={trixie.address}"
    site.write()
    site.trust()
    first = site.fab("deploy")
    site.first_output = first.stdout + first.stderr  # type: ignore[attr-defined]
    assert first.returncode == 0, site.first_output
    return site
