"""The packages a host needs (Docker and Compose, nginx, certbot, cron, a firewall, tools) and
the commands that install the missing ones: apt on Debian and Ubuntu, dnf on the RHEL family.

What differs between releases is data (the tables below), not branches in code.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..errors import DeployError
from ..model.proxy import Http2Style
from ..remote.commands import Command
from .changes import Change
from .facts import OS_RELEASE, SYSTEM_SERVICES, Fact, HostFacts, OsRelease, fixed, quoted
from .step import PlanInput, Step

NAME = "packages"

DOCKER_DOWNLOADS = "https://download.docker.com/linux"
APT_KEYRING = "/etc/apt/keyrings/docker.asc"
APT_SOURCE = "/etc/apt/sources.list.d/docker.list"
# Docker's own packages, the same names in its apt and dnf repositories.
DOCKER_CE = ("docker-ce", "docker-ce-cli", "containerd.io", "docker-compose-plugin")

# The engine package of each source: the two conflict (containerd vs containerd.io), and
# swapping one for the other stops every container on the host, so that is left to a person.
ENGINE = {"official": "docker-ce", "distro": "docker.io"}

# Another package that counts as installed in place of a wanted one: RHEL 9 ships curl-minimal,
# which conflicts with curl and serves this project just as well.
ALTERNATIVES = {"curl": ("curl-minimal",)}

# Packages of features a setting switches on (same name in every family; fail2ban is in EPEL).
OPTIONAL = ("fail2ban", "coturn", "libnginx-mod-stream")
# Packages whose service would start at install with the package's own settings: coturn's make
# an open relay. Their unit is masked first (Debian's maintainer scripts leave a mask they did
# not make alone); the feature's reaction starts it with the deploy's settings.
MASKED_AT_INSTALL = {"coturn": "coturn.service"}

# Keep the host's edited configuration files when a package brings a new version of one.
APT_KEEP_CONFIG = ("-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold")
# The deploy waits for a busy package manager before the step (deploy/package_lock.py, with a
# progress line); this covers a lock taken in the seconds between that wait and the install.
APT_LOCK_TIMEOUT = ("-o", "DPkg::Lock::Timeout=60")


@dataclass(frozen=True)
class Family:
    """What the releases of one family share.

    + prerequisites: installed before a repository is added (to fetch its key, to manage it).
    + packages: the rest of what the deploy uses besides Docker.
    + services: started and enabled after installing (Debian starts them itself, RHEL does not);
      the firewall is not among them: the firewall step enables it once SSH is allowed.
    """

    prerequisites: tuple[str, ...]
    packages: tuple[str, ...]
    services: tuple[str, ...]


FAMILIES = {
    "debian": Family(
        prerequisites=("ca-certificates", "curl"),
        # python3: the nightly backup (scripts/jitsi-backup) runs the project's archive code.
        packages=(
            *("nginx", "certbot", "openssl", "cron", "ufw", "logrotate", "util-linux"),
            "python3",
        ),
        services=("docker", "nginx", "cron"),
    ),
    "rhel": Family(
        # dnf-plugins-core brings `dnf config-manager`; EPEL is where certbot lives.
        prerequisites=("dnf-plugins-core", "epel-release"),
        packages=(
            *("ca-certificates", "curl", "nginx", "certbot", "openssl", "cronie", "firewalld"),
            *("logrotate", "util-linux", "python3"),
        ),
        services=("docker", "nginx", "crond"),
    ),
}


@dataclass(frozen=True)
class Release:
    """One supported release.

    + name: how messages call it.
    + family: a key of FAMILIES.
    + docker_repo: its folder on Docker's download host.
    + codename: the suite of Docker's apt repository (apt releases only).
    + distro_docker: the distribution's own engine and Compose packages; () when it has none.
    + builder_repo: the repository EPEL packages draw on (CRB on 9, PowerTools on 8).
    + nginx_http2: how its nginx turns HTTP/2 on: "listen" (`listen ... http2`) before nginx
      1.25.1, "directive" (`http2 on;`) from then on, where the old form is deprecated.
    """

    name: str
    family: str
    docker_repo: str
    codename: str = ""
    distro_docker: tuple[str, ...] = ()
    builder_repo: str = ""
    nginx_http2: Http2Style = "listen"


# Keyed by (os-release ID, VERSION_ID); the RHEL family by major version only (9.4 -> 9).
# CentOS Stream 8 is absent: it ended in May 2024 and its mirrors are gone.
RELEASES: dict[tuple[str, str], Release] = {
    # docker-compose is Compose v1 (Python) up to Debian 12, v2 from Debian 13.
    ("debian", "11"): Release(
        "Debian 11", "debian", "debian", "bullseye", ("docker.io", "docker-compose")
    ),
    ("debian", "12"): Release(
        "Debian 12", "debian", "debian", "bookworm", ("docker.io", "docker-compose")
    ),
    ("debian", "13"): Release(
        "Debian 13",
        "debian",
        "debian",
        "trixie",
        ("docker.io", "docker-compose"),
        nginx_http2="directive",
    ),
    # Ubuntu 20.04 has only Compose v1; 22.04 and later have v2 in universe.
    ("ubuntu", "20.04"): Release(
        "Ubuntu 20.04", "debian", "ubuntu", "focal", ("docker.io", "docker-compose")
    ),
    ("ubuntu", "22.04"): Release(
        "Ubuntu 22.04", "debian", "ubuntu", "jammy", ("docker.io", "docker-compose-v2")
    ),
    ("ubuntu", "24.04"): Release(
        "Ubuntu 24.04", "debian", "ubuntu", "noble", ("docker.io", "docker-compose-v2")
    ),
    # Docker builds one repository for CentOS and its rebuilds; no RHEL-family distribution
    # packages Docker itself.
    ("rocky", "8"): Release("Rocky Linux 8", "rhel", "centos", builder_repo="powertools"),
    ("rocky", "9"): Release("Rocky Linux 9", "rhel", "centos", builder_repo="crb"),
    ("almalinux", "8"): Release("AlmaLinux 8", "rhel", "centos", builder_repo="powertools"),
    ("almalinux", "9"): Release("AlmaLinux 9", "rhel", "centos", builder_repo="crb"),
    ("centos", "9"): Release("CentOS Stream 9", "rhel", "centos", builder_repo="crb"),
}


def release_of(os: OsRelease) -> Release:
    """The supported release the host runs; a DeployError naming it and the supported list."""
    version = os.version.partition(".")[0] if os.family == "rhel" else os.version
    release = RELEASES.get((os.id, version))
    if release is None:
        running = f"{os.id} {os.version}".strip() or "an unidentified system"
        supported = ", ".join(r.name for r in RELEASES.values())
        raise DeployError(
            f"the host runs {running}, which is not supported; supported: {supported}"
        )
    return release


def docker_packages(release: Release, docker_source: str) -> tuple[str, ...]:
    if docker_source == "official":
        return DOCKER_CE
    if not release.distro_docker:
        raise DeployError(
            f"{release.name} has no Docker packages of its own: "
            "set DOCKER_SOURCE=official in .env to install Docker's"
        )
    return release.distro_docker


def wanted_packages(
    release: Release, docker_source: str, options: tuple[str, ...] = ()
) -> tuple[str, ...]:
    """Every package the deploy needs on this host, prerequisites first, then ``options``
    (packages of switched-on features, from OPTIONAL)."""
    family = FAMILIES[release.family]
    docker = docker_packages(release, docker_source)
    return (*family.prerequisites, *family.packages, *docker, *options)


def packages_to_ask() -> tuple[str, ...]:
    """Every package name whose presence the plan may need, for the facts script: it runs
    before the release is known."""
    names = {*DOCKER_CE, *ENGINE.values(), *OPTIONAL}
    names.update(*(ALTERNATIVES.values()))
    for family in FAMILIES.values():
        names.update(family.prerequisites, family.packages)
    for release in RELEASES.values():
        names.update(release.distro_docker)
    return tuple(sorted(names))


def parse_installed(output: list[str]) -> frozenset[str]:
    return frozenset(output)


def _installed_command(rendered: object) -> str:
    asked = quoted(packages_to_ask())
    return (
        "if command -v dpkg-query >/dev/null; then\n"
        f"  dpkg-query -W -f='${{Package}} ${{db:Status-Status}}\\n' {asked} 2>/dev/null"
        " | awk '$2 == \"installed\" {print $1}'\n"
        "else\n"
        f"  rpm -q --qf '%{{NAME}}\\n' {asked} 2>/dev/null | grep -v 'not installed'\n"
        "fi"
    )


INSTALLED = Fact("packages", _installed_command, parse_installed)


def is_installed(installed: frozenset[str], package: str) -> bool:
    return any(name in installed for name in (package, *ALTERNATIVES.get(package, ())))


def check_engine(installed: frozenset[str], docker_source: str) -> None:
    """Refuse to install one Docker over the other: see ENGINE."""
    for source, engine in ENGINE.items():
        if source != docker_source and engine in installed:
            raise DeployError(
                f"Docker is installed from the {source} packages ({engine}) but "
                f"DOCKER_SOURCE={docker_source}: set DOCKER_SOURCE={source} in .env, "
                f"or remove {engine} from the host first"
            )


def package_changes(
    facts: HostFacts, docker_source: str, options: tuple[str, ...] = ()
) -> list[Change]:
    """Install what is missing, then start the services that are not running; [] when none."""
    release = release_of(facts[OS_RELEASE])
    installed = facts[INSTALLED]
    check_engine(installed, docker_source)
    wanted = wanted_packages(release, docker_source, options)
    missing = tuple(p for p in wanted if not is_installed(installed, p))
    changes = [install_change(release, docker_source, missing)] if missing else []
    active = facts[SYSTEM_SERVICES]
    stopped = tuple(s for s in FAMILIES[release.family].services if active.get(s) != "active")
    if stopped:
        names = " ".join(stopped)
        start = Command(("systemctl", "enable", "--now", *stopped), f"enable and start {names}")
        changes.append(Change(NAME, f"enable and start {names}", (start,)))
    return changes


def plan(given: PlanInput) -> list[Change]:
    tuning = given.rendered.site.tuning
    features = ("fail2ban",) if tuning.fail2ban else ()
    if given.rendered.host.role == "core" and given.rendered.site.turn.enabled:
        features += turn_packages(release_of(given.facts[OS_RELEASE]))
    return package_changes(given.facts, tuning.docker_source, features)


def turn_packages(release: Release) -> tuple[str, ...]:
    """coturn and nginx's stream module, as Debian and Ubuntu package them; the split on 443
    lives in Debian's modules-enabled folder, which the RHEL family's nginx does not read."""
    if release.family != "debian":
        raise DeployError(
            f"TURN_HOSTNAME: the TURN server runs on Debian and Ubuntu cores, not {release.name}. "
            "Empty TURN_HOSTNAME, or move the core to a supported release."
        )
    return ("coturn", "libnginx-mod-stream")


def install_change(release: Release, docker_source: str, missing: tuple[str, ...]) -> Change:
    """Prerequisites, then repositories, then the rest; one install when no repository is new."""
    install = INSTALLERS[release.family]
    repositories = repository_commands(release, docker_source, missing)
    if repositories:
        prerequisites = FAMILIES[release.family].prerequisites
        first = tuple(p for p in missing if p in prerequisites)
        rest = tuple(p for p in missing if p not in prerequisites)
        commands = (*install(first), *repositories, *install(rest))
    else:
        commands = install(missing)
    commands = (*mask_first(missing), *commands)
    return Change(
        NAME,
        f"install {len(missing)} packages: {' '.join(missing)}",
        commands,
        detail="\n".join(f"install {p}" for p in missing),
        explain=explain_install_failure,
    )


def mask_first(missing: tuple[str, ...]) -> tuple[Command, ...]:
    units = [MASKED_AT_INSTALL[p] for p in missing if p in MASKED_AT_INSTALL]
    if not units:
        return ()
    names = " ".join(units)
    return (Command(("systemctl", "mask", *units), f"keep {names} stopped until configured"),)


def repository_commands(
    release: Release, docker_source: str, missing: tuple[str, ...]
) -> tuple[Command, ...]:
    """The repositories the missing packages come from, added only when they are needed."""
    commands: list[Command] = []
    if release.builder_repo and "certbot" in missing:
        commands.append(
            Command(
                ("dnf", "config-manager", "--set-enabled", release.builder_repo),
                f"enable the {release.builder_repo} repository EPEL packages depend on",
            )
        )
    if docker_source == "official" and set(DOCKER_CE) & set(missing):
        commands += DOCKER_REPOSITORY[release.family](release)
    return tuple(commands)


def apt_install(packages: Iterable[str]) -> tuple[Command, ...]:
    # Recommends stay on: docker.io recommends apparmor, without which Docker fails to start
    # on kernels that enforce AppArmor.
    packages = tuple(packages)
    if not packages:
        return ()
    return (
        Command(("apt-get", "update"), "refresh the package lists"),
        Command(
            (
                *("env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y"),
                *APT_LOCK_TIMEOUT,
                *APT_KEEP_CONFIG,
                *packages,
            ),
            f"install {' '.join(packages)}",
        ),
    )


def dnf_install(packages: Iterable[str]) -> tuple[Command, ...]:
    packages = tuple(packages)
    if not packages:
        return ()
    return (Command(("dnf", "install", "-y", *packages), f"install {' '.join(packages)}"),)


def apt_docker_repository(release: Release) -> tuple[Command, ...]:
    """Docker's signing key and apt source, for this release's codename and the host's arch."""
    base = f"{DOCKER_DOWNLOADS}/{release.docker_repo}"
    script = 'echo "deb [arch=$(dpkg --print-architecture) signed-by=$1] $2 $3 stable" > "$4"'
    return (
        Command(("install", "-m", "0755", "-d", "/etc/apt/keyrings"), "create /etc/apt/keyrings"),
        Command(
            ("curl", "-fsSL", f"{base}/gpg", "-o", APT_KEYRING),
            f"fetch Docker's signing key to {APT_KEYRING}",
        ),
        Command(("chmod", "a+r", APT_KEYRING), f"make {APT_KEYRING} readable by apt"),
        Command(
            ("sh", "-c", script, "docker-source", APT_KEYRING, base, release.codename, APT_SOURCE),
            f"add Docker's apt repository for {release.codename} to {APT_SOURCE}",
        ),
    )


def dnf_docker_repository(release: Release) -> tuple[Command, ...]:
    url = f"{DOCKER_DOWNLOADS}/{release.docker_repo}/docker-ce.repo"
    return (Command(("dnf", "config-manager", "--add-repo", url), "add Docker's dnf repository"),)


INSTALLERS: dict[str, Callable[[Iterable[str]], tuple[Command, ...]]] = {
    "debian": apt_install,
    "rhel": dnf_install,
}
DOCKER_REPOSITORY: dict[str, Callable[[Release], tuple[Command, ...]]] = {
    "debian": apt_docker_repository,
    "rhel": dnf_docker_repository,
}


# --- a busy package manager ---------------------------------------------------------------------

# The locks apt and dpkg take (POSIX fcntl locks). On a new server unattended-upgrades holds the
# dpkg ones for minutes while it installs the first security updates, and apt-daily the lists
# lock while it refreshes the package lists; apt-get fails at once on a held lock.
APT_LOCKS = (
    "/var/lib/dpkg/lock-frontend",
    "/var/lib/dpkg/lock",
    "/var/lib/apt/lists/lock",
    "/var/cache/apt/archives/lock",
)


@dataclass(frozen=True)
class LockHolder:
    path: str
    pid: int
    program: str


def lock_probe(wait_seconds: int = 0) -> str:
    """Shell printing `path pid program` for each held package lock, read from /proc/locks
    (device:inode of the lock file); with ``wait_seconds``, it first waits up to that long,
    looking each second, for every lock to be free. Prints nothing where apt is absent."""
    # One stat and one awk: each lock file's device:inode as /proc/locks writes it (major and
    # minor in hex, from the kernel's dev_t encoding), then the processes holding one.
    holders = (
        f"stat -c '%d %i %n' {' '.join(APT_LOCKS)} 2>/dev/null | awk '"
        'NR == FNR { d = int($1 / 4096); files[sprintf("%02x:%02x:%s", int($1 / 256) % 4096, '
        "$1 % 256 + (d - d % 256) % 1048576, $2)] = $3; next } "
        '$2 != "->" && ($6 in files) && !seen[$6 " " $5]++ { '
        'comm = "unknown"; proc = "/proc/" $5 "/comm"; '
        "if ((getline line < proc) > 0) comm = line; close(proc); "
        "print files[$6], $5, comm }' - /proc/locks"
    )
    return (
        f"held() {{ {holders}; }}; end=$(( $(date +%s) + {int(wait_seconds)} )); "
        'while out=$(held); [ -n "$out" ] && [ "$(date +%s)" -lt "$end" ]; do sleep 1; done; '
        '[ -n "$out" ] && echo "$out"; true'
    )


def uses_apt(changes: list[Change]) -> bool:
    """Whether these changes run apt-get, which needs its locks."""
    return any("apt-get" in command.argv for change in changes for command in change.commands)


def parse_holders(output: list[str]) -> tuple[LockHolder, ...]:
    found = []
    for line in output:
        path, pid, program = [*line.split(" ", 2), "", ""][:3]
        if path.startswith("/") and pid.lstrip("-").isdigit():
            found.append(LockHolder(path, int(pid), program.strip() or "unknown"))
    # In the order apt takes its locks (the probe lists them as the kernel does).
    order = {path: index for index, path in enumerate(APT_LOCKS)}
    return tuple(sorted(found, key=lambda held: (order.get(held.path, len(order)), held.pid)))


LOCK_HOLDERS = Fact("package-locks", fixed(lock_probe()), parse_holders)


def holders_text(holders: Iterable[LockHolder]) -> str:
    """`unattended-upgr (pid 812) holds /var/lib/dpkg/lock-frontend, /var/lib/dpkg/lock`."""
    by_process: dict[tuple[int, str], list[str]] = {}
    for holder in holders:
        by_process.setdefault((holder.pid, holder.program), []).append(holder.path)
    return "; ".join(
        f"{program} (pid {pid}) holds {', '.join(paths)}"
        for (pid, program), paths in by_process.items()
    )


def minutes(seconds: float) -> str:
    whole = max(0, round(seconds))
    return f"{whole // 60}m{whole % 60:02d}s"


ADVICE = (
    "On a new server that is usually unattended-upgrades installing the first security updates: "
    "let it finish (on the host: `systemctl status apt-daily-upgrade unattended-upgrades`, "
    "`ps -o pid,etime,args -p PID`), then run the deploy again. Do not kill it or delete the "
    "lock files: dpkg could be left half-configured."
)


def lock_message(holders: tuple[LockHolder, ...], waited: float) -> str:
    """Why the deploy stopped before installing anything, and what to do."""
    return (
        f"the package manager is busy: {holders_text(holders)}, still after waiting "
        f"{minutes(waited)}. {ADVICE} Nothing was installed."
    )


_APT_LOCKED = re.compile(r"Could not get lock (\S+?)\.? It is held by process (\d+) \(([^)]*)\)")


def explain_install_failure(output: str) -> str:
    """apt's own lock refusal (a lock taken between the wait and the install) in the words of
    lock_message; any other failure as the last lines apt printed."""
    locked = _APT_LOCKED.findall(output)
    if locked:
        path, pid, program = locked[-1]
        holder = holders_text([LockHolder(path, int(pid), program)])
        return f"the package manager became busy: {holder}. {ADVICE}"
    return "\n".join(output.strip().splitlines()[-15:])


STEP = Step(NAME, (OS_RELEASE, INSTALLED, SYSTEM_SERVICES, LOCK_HOLDERS), plan)
