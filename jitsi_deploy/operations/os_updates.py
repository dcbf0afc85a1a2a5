"""`fab update --os`: each host's security updates, by the system's own tool, and whether a
reboot is due.

"Security updates" is what the system itself means by it: on Debian and Ubuntu,
unattended-upgrades with its shipped origins (the -security suite; installed when missing), on
the RHEL family `dnf upgrade --security`. What changed is read from the package database before
and after, so the report names every package whatever the tool printed. A reboot is due when
the system says so (/run/reboot-required, `needs-restarting -r`) or a newer kernel than the
running one is installed. The hosts are not rebooted: that ends every meeting, so it is the
operator's call.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..deploy import package_lock
from ..deploy.console import Say
from ..deploy.fleet import run_all
from ..deploy.host import Options
from ..errors import DeployError
from ..remote.transport import Remote
from ..settings.inventory import Host
from ..steps.facts import split_sections
from ..steps.packages import APT_LOCK_TIMEOUT

# Package downloads and installs on a slow mirror.
TIMEOUT = 30 * 60
_LOCK = " ".join(APT_LOCK_TIMEOUT)
_LIST = (
    "if command -v dpkg-query >/dev/null; then dpkg-query -W -f='${Package} ${Version}\\n'; "
    "else rpm -qa --qf '%{NAME} %{VERSION}-%{RELEASE}\\n'; fi | sort"
)
SCRIPT = f"""\
export LC_ALL=C
before=$(mktemp) && trap 'rm -f "$before"' EXIT
{_LIST} > "$before"
if command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get -q {_LOCK} update >&2 || exit 3
  command -v unattended-upgrade >/dev/null ||
    apt-get -q -y {_LOCK} install unattended-upgrades >&2 || exit 3
  unattended-upgrade >&2 || exit 3
else
  dnf -y -q upgrade --security >&2 || exit 3
fi
echo @@changed
{_LIST} | comm -13 "$before" -
echo @@reboot
if [ -e /run/reboot-required ]; then
  echo "the system asks for it: $(tr '\\n' ' ' < /run/reboot-required.pkgs 2>/dev/null)"
elif command -v needs-restarting >/dev/null && ! needs-restarting -r >/dev/null 2>&1; then
  echo "needs-restarting -r asks for it"
else
  newest=$(find /lib/modules -mindepth 1 -maxdepth 1 -printf '%f\\n' 2>/dev/null |
    sort -V | tail -n 1)
  [ -z "$newest" ] || [ "$newest" = "$(uname -r)" ] || echo "kernel $newest is installed"
fi
"""


@dataclass(frozen=True)
class OsUpdate:
    """One host: the packages now at a new version ("name version"), why a reboot is due."""

    host: Host
    changed: tuple[str, ...] = ()
    reboot: str = ""
    error: str = ""

    def summary(self) -> str:
        if self.error:
            return f"{self.host.name}: the security updates failed: {self.error}"
        done = f"{len(self.changed)} packages updated" if self.changed else "no security updates"
        reboot = (
            f"a reboot is due ({self.reboot.strip()}): reboot when no meeting runs; the stack "
            "starts by itself"
            if self.reboot
            else "no reboot due"
        )
        return f"{self.host.name}: {done}; {reboot}."


def parse(host: Host, output: str) -> OsUpdate:
    sections = split_sections(output)
    return OsUpdate(host, tuple(sections.get("changed", [])), " ".join(sections.get("reboot", [])))


def apply(host: Host, options: Options, say: Say) -> OsUpdate:
    """One host's security updates, once no other package manager holds its locks."""
    remote = Remote(host, options.known_hosts, options.trust_new_host_keys, options.ssh_config)
    try:
        probe = package_lock.remote_probe(remote)
        package_lock.wait_for_locks(host, probe(0), probe, say, options.package_lock_wait)
        output = remote.run_script(SCRIPT, timeout=TIMEOUT)
        if output.exit_code != 0:
            tail = "\n".join(output.stderr.strip().splitlines()[-10:])
            return OsUpdate(host, error=tail or f"exit status {output.exit_code}")
        return parse(host, output.stdout)
    except DeployError as error:
        return OsUpdate(host, error=str(error))
    finally:
        remote.close()


def apply_all(hosts: list[Host], options: Options, say: Say) -> list[OsUpdate]:
    return run_all(hosts, lambda host: apply(host, options, say))
