"""The monitoring phase: provision the core host's Uptime Kuma right after its stack is up.

Kuma is bound to 127.0.0.1:3001 on its host, and this machine (the operator's) speaks to it
through an SSH tunnel over the deploy's own connection (monitoring/tunnel.py), rather than
running a client on the host: the host needs no Python and no Kuma client, and the admin
password never leaves this machine except inside the SSH channel.

One mechanism, in three parts:

+ facts: the digest of the monitors last provisioned (stored on the host), read with every
  other fact in the one facts script, so a deploy that wants what is already there costs no
  extra round trip;
+ plan: a "monitoring" change when the digest differs (check mode shows it, contacts no Kuma);
+ provision, after the steps are applied: converge through the tunnel, then one command
  round trip marks the admin as existing (nginx opens the status site) and, only when the
  converge completed, stores the digest.

Kuma's trouble does not fail the deploy: it becomes warnings in the recap, and the digest is
not stored, so the next deploy tries again. One exception: a Kuma whose admin is not ours (a
refused claim: someone else created it first) fails the deploy and closes the status site.

The status site is also closed by the host's health check, whenever Kuma answers that it needs
set-up (its data was reset): it removes the ready mark, and without the mark the digest fact
reads empty, so the next deploy provisions (claims) Kuma again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from ..model import paths
from ..model.brewery import expected_bridges
from ..model.health import TURN_MONITOR, pushed_services
from ..model.services import KUMA_ADMIN_PASSWORD, placement_of, services_at
from ..monitoring.monitors import (
    HostSpec,
    Monitor,
    Notification,
    Smtp,
    bridge_subject,
    push_token,
    wanted_hash,
    wanted_monitors,
    wanted_notifications,
)
from ..monitoring.report import Admin, Report, Retry
from ..remote.commands import Command
from ..render.host import Rendered
from ..settings.inventory import Host
from ..settings.site import Deployment, Site
from ..steps.changes import Change
from ..steps.facts import Fact, fixed
from .runner import Outcome

STEP = "monitoring"
PROVISION = Change(STEP, "provision Uptime Kuma's monitors (waiting while it starts)", ())
ADMIN_USER = "admin"
# Kuma has just been (re)started by the stack step; its first start migrates its database.
RETRY = Retry(attempts=10, first_delay=1.0, max_delay=15.0)


def _first_line(output: list[str]) -> str:
    return output[0].strip() if output else ""


# Without the ready mark (never claimed, or closed by the health check), the stored digest does
# not count: Kuma must be claimed again.
WANTED_HASH = Fact(
    "kuma-wanted-hash",
    fixed(f"test -e {paths.KUMA_READY} && cat {paths.KUMA_WANTED_HASH} 2>/dev/null"),
    _first_line,
)
FACTS: tuple[Fact[str], ...] = (WANTED_HASH,)


@dataclass(frozen=True)
class Wanted:
    """What the core host's Kuma should hold, and the admin to claim it with."""

    admin: Admin
    monitors: tuple[Monitor, ...]
    notifications: tuple[Notification, ...]
    image: str

    @property
    def hash(self) -> str:
        # The Kuma image counts too: an upgraded Kuma may offer a monitor type that a fallback
        # stands in for now, so a new image is provisioned again.
        digest = f"{wanted_hash(self.monitors, self.notifications)} {self.image}"
        return hashlib.sha256(digest.encode()).hexdigest()


@dataclass(frozen=True)
class Marks:
    """Where the host keeps the admin mark (nginx's gate), the stored digest, and the lock that
    the health check holds while it may close the gate."""

    ready: str = paths.KUMA_READY
    wanted_hash: str = paths.KUMA_WANTED_HASH
    lock: str = paths.HEALTH_LOCK


def wanted(deployment: Deployment, rendered: Rendered) -> Wanted | None:
    """The Kuma of ``rendered``'s host, if it runs one (a core host with monitoring on)."""
    site = rendered.site
    if rendered.host.role != "core" or not site.monitoring.enabled:
        return None
    secret = site.secrets[KUMA_ADMIN_PASSWORD.name]
    this = rendered.host
    # A `fab -H` core outside the inventory stands in for the inventory's core.
    others = [h for h in deployment.hosts if h.name != this.name and h.role != "core"]
    bridges = expected_bridges(placement_of(deployment, this))
    core = _host_spec(secret, this.name, "core", rendered.service_names)
    hosts = [
        replace(
            core,
            bridges=tuple((b, push_token(secret, this.name, bridge_subject(b))) for b in bridges),
            turn=push_token(secret, this.name, TURN_MONITOR) if site.turn.enabled else "",
        ),
        *(_host_spec(secret, h.name, h.role, _service_names(deployment, h)) for h in others),
    ]
    monitors = wanted_monitors(
        public_url=site.public_url, monitor_hostname=site.monitor_hostname, hosts=hosts
    )
    return Wanted(
        Admin(ADMIN_USER, secret),
        tuple(monitors),
        tuple(notifications(site)),
        site.images.uptime_kuma,
    )


def _service_names(deployment: Deployment, host: Host) -> list[str]:
    return [service.name for service in services_at(placement_of(deployment, host))]


def _host_spec(secret: str, host: str, role: str, services: Sequence[str]) -> HostSpec:
    """A host with its health check's push monitor and one per container it reports."""
    containers = tuple((s, push_token(secret, host, s)) for s in pushed_services(services))
    return HostSpec(host, role, push_token(secret, host), containers)


def notifications(site: Site) -> list[Notification]:
    smtp = site.monitoring.kuma_smtp
    return wanted_notifications(
        webhook_url=site.monitoring.kuma_webhook_url,
        smtp=Smtp(
            smtp.host,
            smtp.sender,
            ", ".join(smtp.recipients),
            port=smtp.port,
            username=smtp.user,
            password=smtp.password,
            implicit_tls=smtp.port == 465,
        )
        if smtp
        else None,
    )


def plan(kuma: Wanted | None, stored_hash: str) -> list[Change]:
    """Nothing when the host's Kuma already holds what is wanted; else the provisioning, which
    runs from this machine through the tunnel (no commands for the host's shell)."""
    if kuma is None or stored_hash == kuma.hash:
        return []
    count = len(kuma.monitors)
    return [
        Change(
            STEP,
            f"provision {count} Uptime Kuma monitors through an SSH tunnel",
            (),
            detail=(
                f"would provision {count} monitors and {len(kuma.notifications)} alert "
                "channels (check mode contacts no Kuma)"
            ),
        )
    ]


Converge = Callable[..., Report]


def provision(
    url: str, kuma: Wanted, marks: Marks = Marks(), run_converge: Converge | None = None
) -> tuple[Report, list[Change]]:
    """Converge the Kuma at ``url`` (the tunnel's local end); returns its report and the
    changes that record the result on the host (see ``record``). Never raises for Kuma."""
    if run_converge is None:
        # Kuma's client (socket.io) loads only for a deploy that talks to Kuma, not a no-op.
        from ..monitoring.kuma import converge as run_converge
    report = run_converge(
        url, kuma.admin, list(kuma.monitors), list(kuma.notifications), retry=RETRY
    )
    return report, record(report, kuma, marks)


def record(report: Report, kuma: Wanted, marks: Marks = Marks()) -> list[Change]:
    """The admin mark once the admin exists (even with warnings about monitors); the digest
    only when the converge completed, so anything left undone is retried by the next deploy.
    A refused claim removes both: the status site closes, and the next deploy tries again."""
    if report.refused:
        return [_close(marks)]
    changes = []
    if report.signed_in:
        changes.append(_write(marks, marks.ready, "", "open the status site: Kuma's admin exists"))
    if report.complete:
        changes.append(
            _write(marks, marks.wanted_hash, kuma.hash + "\n", "record the provisioned monitors")
        )
    return changes


def _write(marks: Marks, path: str, content: str, summary: str) -> Change:
    script = (
        'set -e; mkdir -p "$(dirname "$1")"; cat > "$1.new"; chmod 644 "$1.new"; mv "$1.new" "$1"'
    )
    # Under the health check's lock: a run that found Kuma without an admin just before the
    # claim must finish (closing nothing yet) before the mark exists, or it would remove it.
    argv = ("flock", "-w", "120", marks.lock, "sh", "-c", script, "write", path)
    command = Command(argv, f"write {path}", content.encode())
    return Change(STEP, summary, (command,), warn_only=True)


def _close(marks: Marks) -> Change:
    command = Command(("rm", "-f", "--", marks.ready, marks.wanted_hash), f"remove {marks.ready}")
    return Change(STEP, "close the status site: Kuma's admin is not ours", (command,))


def refusal(host: str) -> str:
    """Why a deploy whose claim of Kuma was refused fails, and what to do about it."""
    return (
        f"Uptime Kuma on {host} already has an admin that is not this deployment's "
        f"(KUMA_ADMIN_PASSWORD in .secrets.env does not log in): someone may have claimed it "
        f"while its data was new or reset. The status site stays closed (nginx answers 503). "
        f"If you did not set that admin yourself, check who did; to start Kuma over, stop it, "
        f"empty {paths.KUMA_DATA_DIR} on the host and deploy again (the deploy claims it). If "
        f"you changed the admin's password by hand, put it in .secrets.env instead."
    )


def outcomes(report: Report, seconds: float = 0.0) -> list[Outcome]:
    """The converge as progress lines: what changed (in ``seconds``, Kuma's start included),
    and each warning (a recap warning)."""
    counts = (
        f"Uptime Kuma: {len(report.created)} created, {len(report.edited)} edited, "
        f"{len(report.deleted)} deleted"
    )
    status = "changed" if report.changed else "ok"
    result = [Outcome(Change(STEP, counts, ()), status, seconds=seconds)]
    # A refused claim fails the deploy, with its own advice (refusal).
    advice = "" if report.refused else f". {KUMA_ADVICE}"
    result += [
        Outcome(Change(STEP, "Uptime Kuma", ()), "warning", warning + advice)
        for warning in report.warnings
    ]
    return result


# What a Kuma warning means for the site, and what to do.
KUMA_ADVICE = (
    "Meetings are not affected: only the status site's monitors may be out of date until a "
    "deploy provisions them. Deploy again; if this stays, look at `fab logs --service "
    "uptime-kuma`."
)
