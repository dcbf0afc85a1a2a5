"""`fab uninstall`: take the site off a host, the deploy's way round: facts read in one round
trip, a plan of changes, one script (check mode shows the plan and runs nothing).

Removed: the health check's and the nightly backup's cron entries (first, so no run restarts
what is being stopped), the stack's containers and network, the DOCKER-USER chain and its unit,
the nginx site and its TLS split, the TURN server (stopped and masked: Debian's package would
run it as an open relay without the deploy's settings), fail2ban's jails, the ufw rules this
project added except SSH's, and every file and folder the deploy writes outside the stack's
folder (render_host lists them, so what a new step writes is removed without a line here).

Kept, unless purged: the stack's folder (settings, secrets, accounts, the monitors' history)
and its volumes, the nightly archives, the logs and the certificates: what people made, and
what a later deploy takes up again. Always kept: the packages (Docker, nginx, certbot, ufw),
which other work may use, and the firewall's state: ufw stays on with SSH open.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from ..deploy.fleet import run_all
from ..deploy.host import Options, gather_facts, plan
from ..deploy.runner import Outcome, run_steps
from ..errors import DeployError
from ..model import paths
from ..model.firewall_rules import Rule
from ..model.proxy import proxy_settings
from ..remote.commands import Command, sh
from ..remote.transport import Remote
from ..render.host import Rendered, render_host
from ..settings.inventory import Host
from ..settings.site import Deployment
from ..steps import firewall
from ..steps.certificates import CertbotPaths
from ..steps.changes import Change
from ..steps.facts import OS_RELEASE, SSH_PORTS, Fact, HostFacts, fixed, lines
from ..steps.handlers import compose
from ..steps.step import PlanInput, Step, StepPlan

NAME = "uninstall"
CERTBOT = CertbotPaths()
# Removed first: no cron run starts, and none already running acts once its lock is free.
DISARM = (paths.HEALTH_CRON, paths.HOST_BACKUP_CRON, paths.HEALTH_ARMED)
# Written by the deploy beside what render_host lists: its own state and certbot's hook.
STATE_PATHS = ("/var/lib/jitsi-deploy", CERTBOT.hook)
# What people made or a later deploy takes up again: removed when purged alone.
KEPT = (paths.STACK_DIR, paths.HOST_BACKUP_DIR, paths.HEALTH_LOG, paths.HOST_BACKUP_LOG)
NGINX_RELOAD = "if systemctl is-active -q nginx; then nginx -t -q && systemctl reload nginx; fi"
FAIL2BAN_RESTART = "if systemctl is-active -q fail2ban; then systemctl restart fail2ban; fi"
TURN_STOP = "systemctl disable --now coturn 2>/dev/null; systemctl mask coturn"
# The jump from DOCKER-USER goes first: the chain can be deleted once nothing refers to it.
CHAIN_REMOVAL = (
    f"systemctl disable --now {PurePosixPath(paths.DOCKER_USER_UNIT).name} 2>/dev/null; "
    f"while iptables -w -D DOCKER-USER -j {paths.DOCKER_USER_CHAIN} 2>/dev/null; do :; done; "
    f"iptables -w -F {paths.DOCKER_USER_CHAIN} && iptables -w -X {paths.DOCKER_USER_CHAIN}"
)


def machinery(rendered: Rendered) -> tuple[str, ...]:
    """Every path of the deploy's own that is removed, the deepest first. Each carries the
    project's name: no removal can reach a folder the system or a person owns."""
    outside = (
        item.path
        for item in (*rendered.files, *rendered.directories)
        if not any(PurePosixPath(item.path).is_relative_to(kept) for kept in KEPT)
    )
    found = sorted({*outside, *STATE_PATHS}, key=lambda p: (-p.count("/"), p))
    unnamed = [path for path in found if "jitsi" not in path]
    if unnamed:
        raise DeployError(f"would remove paths not named after the project: {unnamed}")
    return tuple(found)


def certificates(rendered: Rendered) -> dict[str, str]:
    """certbot's renewal file of each name the site serves, by name (its lineage's mark)."""
    if rendered.site.tls.mode != "letsencrypt" or rendered.host.role != "core":
        return {}
    names = proxy_settings(rendered.site).host_names()
    return {name: f"{CERTBOT.config_dir}/renewal/{name}.conf" for name in names}


def _candidates(rendered: Rendered) -> tuple[str, ...]:
    return (*machinery(rendered), *KEPT, *certificates(rendered).values())


def _existing(rendered: Rendered) -> str:
    quoted = " ".join(shlex.quote(path) for path in _candidates(rendered))
    return f'for p in {quoted}; do if [ -e "$p" ] || [ -L "$p" ]; then echo "$p"; fi; done'


PRESENT = Fact("uninstall-present", _existing, frozenset)
CONTAINERS = Fact(
    "uninstall-containers",
    fixed(
        f"docker ps -aq --filter label=com.docker.compose.project={paths.COMPOSE_PROJECT} "
        "2>/dev/null"
    ),
    lines,
)
CHAIN = Fact(
    "uninstall-chain",
    fixed(f"iptables -w -n -L {paths.DOCKER_USER_CHAIN} >/dev/null 2>&1 && echo present"),
    lines,
)


@dataclass(frozen=True)
class Uninstalled:
    """How the uninstall of one host went: the changes ``planned``, their ``outcomes`` (none in
    check mode), what was ``kept``; ``error`` when it could not go on."""

    host: str
    planned: list[Change] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    error: str = ""


def steps(purge: bool) -> tuple[Step, ...]:
    """The uninstall in order: nothing restarts the stack once its crons are gone, and the
    firewall closes the site's ports once nothing serves them."""
    return (
        Step("cron", (PRESENT,), _cron),
        Step("stack", (PRESENT, CONTAINERS), lambda given: _stack(given, purge)),
        Step("docker-user", (PRESENT, CHAIN), _docker_user),
        _read_without(
            "nginx",
            (paths.NGINX_SITE, paths.NGINX_STREAM),
            "remove the site from nginx",
            NGINX_RELOAD,
        ),
        _read_without("turn", (paths.COTURN_DROPIN,), "stop and mask the TURN server", TURN_STOP),
        _read_without(
            "fail2ban", (paths.FAIL2BAN_JAILS,), "remove its jails from fail2ban", FAIL2BAN_RESTART
        ),
        Step("firewall", (OS_RELEASE, SSH_PORTS, firewall.FIREWALL_STATE), _firewall),
        Step("files", (PRESENT,), lambda given: _files(given, purge)),
    )


def _present(given: PlanInput, candidates: tuple[str, ...]) -> list[str]:
    return [path for path in candidates if path in given.facts[PRESENT]]


def _cron(given: PlanInput) -> list[Change]:
    found = _present(given, DISARM)
    if not found:
        return []
    command = Command(("rm", "-f", "--", *found), "remove the cron entries")
    return [Change(NAME, "stop the health check and the nightly backup", (command,))]


def _stack(given: PlanInput, purge: bool) -> list[Change]:
    containers = given.facts[CONTAINERS]
    if paths.COMPOSE_FILE in given.facts[PRESENT] and (containers or purge):
        purged = ("--volumes", "--rmi", "all") if purge else ()
        lock = Command(("mkdir", "-p", paths.HEALTH_STATE_DIR), "where the lock is taken")
        down = compose("down", "--remove-orphans", *purged, description="take the stack down")
        what = "its containers, volumes and images" if purge else "its containers (volumes kept)"
        return [Change(NAME, f"take the stack down: {what}", (lock, down))]
    if containers:  # its compose file is gone: the containers go by their label
        remove = Command(("docker", "rm", "-f", *containers), "remove the stack's containers")
        return [Change(NAME, f"remove the stack's {len(containers)} containers", (remove,))]
    return []


def _docker_user(given: PlanInput) -> list[Change]:
    if not given.facts[CHAIN] and paths.DOCKER_USER_UNIT not in given.facts[PRESENT]:
        return []
    command = sh(CHAIN_REMOVAL, f"remove the {paths.DOCKER_USER_CHAIN} chain and its unit")
    return [Change(NAME, "remove the DOCKER-USER rules for the bridges' XMPP", (command,))]


def _read_without(program: str, files: tuple[str, ...], summary: str, reread: str) -> Step:
    """A step removing the files ``program`` reads, then having it read its files again or
    stop (when it runs): the nginx site and split, coturn's unit drop-in, fail2ban's jails."""

    def plan(given: PlanInput) -> list[Change]:
        found = _present(given, files)
        if not found:
            return []
        remove = Command(("rm", "-f", "--", *found), f"remove {' '.join(found)}")
        return [Change(NAME, summary, (remove, sh(reread, f"tell {program}")))]

    return Step(program, (PRESENT,), plan)


def _firewall(given: PlanInput) -> list[Change]:
    """The ufw rules of this project go, SSH's stay: a firewall that is on stays on and never
    locks SSH out; one that is off is left off (firewalld's rules carry no mark: kept)."""
    facts = given.facts
    if not _firewall_on(facts):
        return []
    ssh = Rule(given.rendered.host.port, "tcp", "any", "ssh")
    return firewall.firewall_changes(facts, (ssh,))


def _firewall_on(facts: HostFacts) -> bool:
    state = facts[firewall.FIREWALL_STATE]
    family = facts[OS_RELEASE].family
    if family == "debian":
        return firewall.parse_ufw(state).active
    return family == "rhel" and firewall.parse_firewalld(state).active


def _files(given: PlanInput, purge: bool) -> list[Change]:
    candidates = machinery(given.rendered) + (KEPT if purge else ())
    found = _present(given, candidates)
    relocked = any(step.name == "stack" for step in given.earlier)
    if relocked and paths.HEALTH_STATE_DIR not in found:
        found.append(paths.HEALTH_STATE_DIR)  # the stack step's lock made it again
    changes = []
    if found:
        remove = Command(("rm", "-rf", "--", *found), f"remove {len(found)} files and folders")
        reload = Command(("systemctl", "daemon-reload"), "forget the removed units")
        summary = f"remove the deploy's {len(found)} files and folders"
        changes.append(Change(NAME, summary, (remove, reload), "\n".join(found)))
    if purge:
        changes += [_delete_certificate(name) for name in _lineages(given)]
    return changes


def _lineages(given: PlanInput) -> list[str]:
    renewals = certificates(given.rendered)
    return [name for name, path in renewals.items() if path in given.facts[PRESENT]]


def _delete_certificate(name: str) -> Change:
    argv = ("certbot", "delete", "--non-interactive", "--cert-name", name, *CERTBOT.args())
    return Change(NAME, f"delete the certificate of {name}", (Command(argv, "certbot delete"),))


def kept(given: PlanInput, purge: bool) -> list[str]:
    """What stays on the host for a later deploy or for the people who made it."""
    if purge:
        return []
    return _present(given, KEPT) + [
        f"{CERTBOT.live(name)} (certbot delete --cert-name {name})" for name in _lineages(given)
    ]


def uninstall_host(remote: Remote, rendered: Rendered, purge: bool, check: bool) -> Uninstalled:
    """Plan the uninstall of one host and, unless ``check``, apply it; never raises for the
    host's own failure."""
    name = rendered.host.name
    try:
        chosen = steps(purge)
        facts = gather_facts(remote, rendered, chosen)
        planned = plan(rendered, facts, None, chosen)
        given = PlanInput(rendered, facts)
        changes = [change for step in planned for change in step.changes]
        if check:
            return Uninstalled(name, changes, kept=kept(given, purge))
        outcomes = run_steps(remote, [StepPlan(NAME, changes)])
    except DeployError as error:
        return Uninstalled(name, error=str(error))
    failed = [o for o in outcomes if o.status == "failed"]
    error = f"{failed[0].change.summary}: {failed[0].output}" if failed else ""
    if len(outcomes) < len(changes) and not error:
        error = f"cut off after {len(outcomes)} of {len(changes)} changes: run it again"
    return Uninstalled(name, changes, outcomes, kept(given, purge), error)


def uninstall_hosts(
    deployment: Deployment, hosts: list[Host], options: Options, purge: bool, check: bool
) -> list[Uninstalled]:
    """Each host's uninstall, the hosts in parallel."""

    def one(host: Host) -> Uninstalled:
        remote = Remote(host, options.known_hosts, options.trust_new_host_keys, options.ssh_config)
        try:
            return uninstall_host(remote, render_host(deployment, host), purge, check)
        finally:
            remote.close()

    return run_all(hosts, one)


def report(result: Uninstalled, check: bool) -> str:
    """What was (or, in check mode, would be) done on one host, and what stays there."""
    if result.error:
        return f"{result.host}: the uninstall failed: {result.error}"
    if not result.planned:
        text = f"{result.host}: nothing of the site's machinery is left here."
    else:
        done = "would make" if check else "made"
        lines = [f"{result.host}: {done} {len(result.planned)} changes:"]
        lines += [f"  {change.summary}" for change in result.planned]
        text = "\n".join(lines)
    if result.kept:
        kept = "\n".join(f"  {path}" for path in result.kept)
        text += f"\n  kept (--purge removes them):\n{kept}"
    return text
