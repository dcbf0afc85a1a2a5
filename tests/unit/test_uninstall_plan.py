"""The uninstall's plan from a host's facts, without a server: what goes, in which order, what
stays; SSH's rule is never removed and a firewall that is off is never switched on."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from jitsi_deploy.deploy.host import plan
from jitsi_deploy.errors import DeployError
from jitsi_deploy.model import paths
from jitsi_deploy.model.managed import File
from jitsi_deploy.operations.uninstall import (
    CHAIN,
    CONTAINERS,
    KEPT,
    PRESENT,
    kept,
    machinery,
    steps,
)
from jitsi_deploy.render.host import Rendered
from jitsi_deploy.steps.facts import OS_RELEASE, SSH_PORTS, HostFacts, OsRelease
from jitsi_deploy.steps.firewall import FIREWALL_STATE
from jitsi_deploy.steps.step import PlanInput
from tests.unit.sites import rendered, site_with
from tests.unit.test_firewall_plan import UFW_ACTIVE, UFW_INACTIVE, ours

CORE = "meet.example.org"
TURN = "turn.example.org"
# As the deploy leaves ufw: SSH's rule is the project's own too.
UFW_DEPLOYED = UFW_ACTIVE.replace(
    "allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 OpenSSH - in",
    f"allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in {ours('ssh')}",
)


@pytest.fixture
def core(tmp_path: Path) -> Rendered:
    return rendered(site_with(tmp_path, ENABLE_FAIL2BAN="1", TLS_MODE="letsencrypt"), CORE)


def facts(present: frozenset[str], ufw: str = UFW_DEPLOYED, containers=("c1", "c2")) -> HostFacts:
    return HostFacts(
        {
            PRESENT.name: present,
            CONTAINERS.name: tuple(containers),
            CHAIN.name: ("present",) if paths.DOCKER_USER_UNIT in present else (),
            OS_RELEASE.name: OsRelease("debian", "12", "debian"),
            SSH_PORTS.name: (22,),
            FIREWALL_STATE.name: tuple(ufw.splitlines()),
        }
    )


def deployed(core: Rendered) -> frozenset[str]:
    renewal = f"/etc/letsencrypt/renewal/{CORE}.conf"
    return frozenset({*machinery(core), *KEPT, paths.COMPOSE_FILE, renewal})


def summaries(core: Rendered, host: HostFacts, purge: bool = False) -> list[str]:
    return [c.summary for s in plan(core, host, None, steps(purge)) for c in s.changes]


def commands(core: Rendered, host: HostFacts, purge: bool = False) -> list[str]:
    planned = plan(core, host, None, steps(purge))
    return [cmd.shell() for s in planned for c in s.changes for cmd in c.commands]


def test_the_deploys_own_paths_go_and_every_one_is_named_after_the_project(core: Rendered):
    ours = machinery(core)
    for path in (paths.NGINX_SITE, paths.HEALTH_CRON, paths.SYSCTL_FILE, paths.FAIL2BAN_JAILS,
                 paths.DOCKER_USER_UNIT, paths.ETC_DIR, "/var/lib/jitsi-deploy"):  # fmt: skip
        assert path in ours
    assert not any(p.startswith((paths.STACK_DIR, paths.HOST_BACKUP_DIR)) for p in ours)
    assert ours.index(paths.HEALTH_CONFIG) < ours.index(paths.ETC_DIR), "the deepest first"


def test_a_path_not_named_after_the_project_is_refused(core: Rendered):
    stray = replace(core, files=(*core.files, File("/etc/sysctl.conf", b"")))
    with pytest.raises(DeployError, match=r"/etc/sysctl\.conf"):
        machinery(stray)


def test_a_deployed_host_is_disarmed_first_then_taken_down_and_its_files_removed(core: Rendered):
    planned = summaries(core, facts(deployed(core)))
    assert planned[0] == "stop the health check and the nightly backup"
    assert planned[1] == "take the stack down: its containers (volumes kept)"
    assert "remove the site from nginx" in planned
    assert "remove its jails from fail2ban" in planned
    assert planned[-1].startswith("remove the deploy's ")
    shell = commands(core, facts(deployed(core)))
    assert not any(paths.STACK_DIR in c and c.startswith("rm") for c in shell), "data kept"
    assert not any("certbot delete" in c for c in shell), "certificates kept"


def test_the_projects_ufw_rules_go_but_ssh_and_a_persons_rules_stay(core: Rendered):
    shell = commands(core, facts(deployed(core)))
    removed = [c for c in shell if c.startswith("ufw delete")]
    assert {c.split(" port ")[1] for c in removed} == {"80", "443", "10000", "5222"}
    assert not any("ufw enable" in c or "--force enable" in c for c in shell)


def test_a_firewall_that_is_off_stays_off(core: Rendered):
    shell = commands(core, facts(deployed(core), ufw=UFW_INACTIVE))
    assert not any(c.startswith("ufw") for c in shell)


def test_nothing_left_means_nothing_to_do(core: Rendered):
    assert summaries(core, facts(frozenset(KEPT), ufw=UFW_INACTIVE, containers=())) == []


def test_purge_also_removes_the_data_volumes_and_certificates(core: Rendered):
    shell = commands(core, facts(deployed(core)), purge=True)
    assert any("--volumes --rmi all" in c for c in shell)
    removal = next(c for c in shell if c.startswith("rm -rf"))
    assert all(path in removal for path in KEPT)
    assert any(c.startswith(f"certbot delete --non-interactive --cert-name {CORE}") for c in shell)


def test_what_stays_is_said_unless_purged(core: Rendered):
    given = PlanInput(core, facts(deployed(core)))
    stays = kept(given, purge=False)
    assert paths.STACK_DIR in stays and paths.HOST_BACKUP_DIR in stays
    assert any(f"certbot delete --cert-name {CORE}" in line for line in stays)
    assert kept(given, purge=True) == []


@pytest.fixture
def turn_core(tmp_path: Path) -> Rendered:
    settings = {"ENABLE_FAIL2BAN": "1", "TLS_MODE": "letsencrypt", "TURN_HOSTNAME": TURN}
    return rendered(site_with(tmp_path, **settings), CORE)


def test_the_turn_server_is_stopped_and_masked_once_nginx_no_longer_routes_to_it(
    turn_core: Rendered,
):
    """nginx first loses the site and the split of 443 (nothing reaches coturn), then coturn
    loses its drop-in and is stopped and masked (Debian's unit would run it as an open relay on
    the package's defaults), then its settings go with the other files."""
    planned = plan(turn_core, facts(deployed(turn_core)), None, steps(False))
    order = [step.name for step in planned]
    assert order.index("nginx") < order.index("turn") < order.index("files")
    shell = {s.name: [cmd.shell() for c in s.changes for cmd in c.commands] for s in planned}
    assert paths.NGINX_SITE in shell["nginx"][0] and paths.NGINX_STREAM in shell["nginx"][0]
    assert shell["turn"][0] == f"rm -f -- {paths.COTURN_DROPIN}"
    assert "systemctl mask coturn" in shell["turn"][1]
    assert paths.TURN_CONFIG in shell["files"][0]


def test_a_site_without_turn_leaves_coturn_alone(core: Rendered):
    """A coturn the site never ran (a person's own) is neither stopped nor masked."""
    planned = plan(core, facts(deployed(core)), None, steps(False))
    assert "turn" not in [step.name for step in planned]
    assert not any("coturn" in c for c in commands(core, facts(deployed(core))))
