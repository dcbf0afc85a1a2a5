"""Facts in, package commands out: each supported release, both Docker sources, and the refusals."""

from __future__ import annotations

import pytest

from jitsi_deploy.errors import DeployError
from jitsi_deploy.remote.commands import Command
from jitsi_deploy.steps.facts import OS_RELEASE, SYSTEM_SERVICES, HostFacts, OsRelease
from jitsi_deploy.steps.packages import (
    INSTALLED,
    RELEASES,
    package_changes,
    packages_to_ask,
    release_of,
    wanted_packages,
)

DEBIAN_BASE = ("ca-certificates", "curl", "nginx", "certbot", "openssl", "cron", "ufw", "logrotate")
RHEL_BASE = (
    "dnf-plugins-core",
    "epel-release",
    "ca-certificates",
    "curl",
    "nginx",
    "certbot",
    "openssl",
)
RHEL_REST = ("cronie", "firewalld", "logrotate", "util-linux", "python3")
DOCKER_CE = ("docker-ce", "docker-ce-cli", "containerd.io", "docker-compose-plugin")
KEEP_CONFIG = ("-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold")
LOCK_TIMEOUT = ("-o", "DPkg::Lock::Timeout=60")
APT_INSTALL = (
    *("env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y"),
    *LOCK_TIMEOUT,
    *KEEP_CONFIG,
)
FAMILIES = {
    "debian": "debian",
    "ubuntu": "debian",
    "rocky": "rhel",
    "almalinux": "rhel",
    "centos": "rhel",
}
RUNNING = {"docker": "active", "nginx": "active", "cron": "active", "crond": "active"}

# (os-release ID, VERSION_ID, Docker's apt suite, the distribution's Compose package)
DEBIAN_RELEASES = [
    ("debian", "11", "bullseye", "docker-compose"),
    ("debian", "12", "bookworm", "docker-compose"),
    ("debian", "13", "trixie", "docker-compose"),
    ("ubuntu", "20.04", "focal", "docker-compose"),
    ("ubuntu", "22.04", "jammy", "docker-compose-v2"),
    ("ubuntu", "24.04", "noble", "docker-compose-v2"),
]
# (ID, VERSION_ID as os-release prints it, the repository EPEL draws on)
RHEL_RELEASES = [
    ("rocky", "8.10", "powertools"),
    ("rocky", "9.4", "crb"),
    ("almalinux", "8.9", "powertools"),
    ("almalinux", "9.4", "crb"),
    ("centos", "9", "crb"),
]


def host(
    os_id: str,
    version: str,
    packages: frozenset[str] = frozenset(),
    services: dict[str, str] | None = None,
) -> HostFacts:
    return HostFacts(
        {
            OS_RELEASE.name: OsRelease(os_id, version, FAMILIES.get(os_id, "")),
            INSTALLED.name: packages,
            SYSTEM_SERVICES.name: services if services is not None else {},
        }
    )


def wanted(facts: HostFacts, source: str) -> tuple[str, ...]:
    return wanted_packages(release_of(facts[OS_RELEASE]), source)


def argvs(facts: HostFacts, source: str) -> list[tuple[str, ...]]:
    return [c.argv for change in package_changes(facts, source) for c in change.commands]


@pytest.mark.parametrize(("os_id", "version", "codename", "compose"), DEBIAN_RELEASES)
def test_a_fresh_debian_host_gets_dockers_repository_after_curl(
    os_id: str, version: str, codename: str, compose: str
) -> None:
    commands = argvs(host(os_id, version), "official")
    repo = f"https://download.docker.com/linux/{os_id}"
    assert commands[:2] == [("apt-get", "update"), (*APT_INSTALL, "ca-certificates", "curl")]
    assert commands[2:5] == [
        ("install", "-m", "0755", "-d", "/etc/apt/keyrings"),
        ("curl", "-fsSL", f"{repo}/gpg", "-o", "/etc/apt/keyrings/docker.asc"),
        ("chmod", "a+r", "/etc/apt/keyrings/docker.asc"),
    ]
    source = commands[5]
    assert source[:2] == ("sh", "-c")
    assert source[-4:] == (
        "/etc/apt/keyrings/docker.asc",
        repo,
        codename,
        "/etc/apt/sources.list.d/docker.list",
    )
    assert "$(dpkg --print-architecture)" in source[2]
    rest = (*DEBIAN_BASE[2:], "util-linux", "python3", *DOCKER_CE)
    assert commands[6:] == [
        ("apt-get", "update"),
        (*APT_INSTALL, *rest),
        ("systemctl", "enable", "--now", "docker", "nginx", "cron"),
    ]
    assert compose not in commands[7]


@pytest.mark.parametrize(("os_id", "version", "codename", "compose"), DEBIAN_RELEASES)
def test_distro_docker_on_debian_is_one_install_with_the_releases_compose(
    os_id: str, version: str, codename: str, compose: str
) -> None:
    commands = argvs(host(os_id, version, services=RUNNING), "distro")
    everything = (*DEBIAN_BASE, "util-linux", "python3", "docker.io", compose)
    assert commands == [("apt-get", "update"), (*APT_INSTALL, *everything)]
    assert codename not in str(commands)


@pytest.mark.parametrize(("os_id", "version", "builder_repo"), RHEL_RELEASES)
def test_a_fresh_rhel_host_gets_epel_and_dockers_repository_before_the_packages(
    os_id: str, version: str, builder_repo: str
) -> None:
    assert argvs(host(os_id, version), "official") == [
        ("dnf", "install", "-y", "dnf-plugins-core", "epel-release"),
        ("dnf", "config-manager", "--set-enabled", builder_repo),
        (
            "dnf",
            "config-manager",
            "--add-repo",
            "https://download.docker.com/linux/centos/docker-ce.repo",
        ),
        ("dnf", "install", "-y", *RHEL_BASE[2:], *RHEL_REST, *DOCKER_CE),
        ("systemctl", "enable", "--now", "docker", "nginx", "crond"),
    ]


@pytest.mark.parametrize(("os_id", "version", "builder_repo"), RHEL_RELEASES)
def test_distro_docker_on_rhel_is_refused_with_the_fix(
    os_id: str, version: str, builder_repo: str
) -> None:
    with pytest.raises(DeployError, match="set DOCKER_SOURCE=official"):
        package_changes(host(os_id, version), "distro")


@pytest.mark.parametrize(
    ("os_id", "version", "source"),
    [(r[0], r[1], "official") for r in DEBIAN_RELEASES]
    + [(r[0], r[1], "distro") for r in DEBIAN_RELEASES]
    + [(r[0], r[1], "official") for r in RHEL_RELEASES],
)
def test_nothing_to_do_when_everything_is_installed_and_running(
    os_id: str, version: str, source: str
) -> None:
    installed = frozenset(wanted(host(os_id, version), source))
    assert package_changes(host(os_id, version, installed, RUNNING), source) == []


def test_only_the_missing_packages_are_installed_without_adding_repositories() -> None:
    facts = host("debian", "12", frozenset(packages_to_ask()) - {"certbot", "ufw", "docker.io"})
    changes = package_changes(facts, "official")
    assert [c.argv for c in changes[0].commands] == [
        ("apt-get", "update"),
        (*APT_INSTALL, "certbot", "ufw"),
    ]
    assert changes[0].summary == "install 2 packages: certbot ufw"
    assert changes[0].detail == "install certbot\ninstall ufw"


def test_a_missing_docker_alone_adds_the_repository_without_a_first_install() -> None:
    everything = frozenset(wanted(host("ubuntu", "24.04"), "official"))
    facts = host("ubuntu", "24.04", everything - {"docker-compose-plugin"}, RUNNING)
    commands = argvs(facts, "official")
    assert commands[0] == ("install", "-m", "0755", "-d", "/etc/apt/keyrings")
    assert commands[-2:] == [("apt-get", "update"), (*APT_INSTALL, "docker-compose-plugin")]


def test_certbot_missing_on_rhel_enables_crb_but_leaves_docker_repository_alone() -> None:
    everything = frozenset(wanted(host("rocky", "9.4"), "official"))
    facts = host("rocky", "9.4", everything - {"certbot"}, RUNNING)
    assert argvs(facts, "official") == [
        ("dnf", "config-manager", "--set-enabled", "crb"),
        ("dnf", "install", "-y", "certbot"),
    ]


def test_curl_minimal_counts_as_curl_on_rhel_9() -> None:
    everything = frozenset(wanted(host("almalinux", "9.4"), "official"))
    facts = host("almalinux", "9.4", everything - {"curl"} | {"curl-minimal"}, RUNNING)
    assert package_changes(facts, "official") == []


def test_stopped_services_alone_are_started() -> None:
    installed = frozenset(wanted(host("debian", "12"), "official"))
    facts = host("debian", "12", installed, {**RUNNING, "nginx": "inactive", "cron": "failed"})
    [change] = package_changes(facts, "official")
    assert change.commands == (
        Command(("systemctl", "enable", "--now", "nginx", "cron"), "enable and start nginx cron"),
    )


@pytest.mark.parametrize(
    ("source", "installed", "other"),
    [("official", "docker.io", "distro"), ("distro", "docker-ce", "official")],
)
def test_the_other_docker_already_installed_is_refused(
    source: str, installed: str, other: str
) -> None:
    with pytest.raises(DeployError, match=f"set DOCKER_SOURCE={other} .*remove {installed}"):
        package_changes(host("debian", "12", frozenset({installed})), source)


@pytest.mark.parametrize(
    ("os_id", "version", "shown"),
    [
        ("debian", "10", "debian 10"),
        ("ubuntu", "23.10", "ubuntu 23.10"),
        ("rocky", "10.0", "rocky 10.0"),
        ("centos", "8", "centos 8"),
        ("arch", "", "arch"),
        ("", "", "an unidentified system"),
    ],
)
def test_unsupported_systems_are_named_with_the_supported_list(
    os_id: str, version: str, shown: str
) -> None:
    with pytest.raises(DeployError) as caught:
        package_changes(host(os_id, version), "official")
    message = str(caught.value)
    assert f"the host runs {shown}, which is not supported" in message
    assert "Debian 11, Debian 12, Debian 13, Ubuntu 20.04" in message
    assert "Rocky Linux 9" in message


def test_the_facts_script_asks_about_every_package_a_plan_can_want() -> None:
    asked = set(packages_to_ask())
    for (os_id, version), release in RELEASES.items():
        sources = ["official", "distro"] if release.distro_docker else ["official"]
        for source in sources:
            assert set(wanted(host(os_id, version), source)) <= asked
    assert {"docker.io", "docker-ce", "curl-minimal"} <= asked
