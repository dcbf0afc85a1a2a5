"""The DOCKER-USER script as rendered, run with the real iptables in a network namespace of its
own (`unshare --net`, as root): its rules replace the previous ones in one transaction, and when
the kernel refuses one rule nothing changes, so 5222 never stands open behind an empty chain."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from jitsi_deploy.model import paths
from jitsi_deploy.model.firewall_rules import Rule, closed_to_others
from jitsi_deploy.render.host import template
from tests.unit.sites import rendered, two_hosts

pytestmark = pytest.mark.root  # a network namespace and iptables: `invoke test --fast` skips it


def script_for(tmp_path: Path, sources: list[str]) -> str:
    """The script for a core whose 5222 admits ``sources``."""
    core = rendered(two_hosts(tmp_path), "meet.example.org").host
    rules = tuple(Rule(5222, "tcp", source, "xmpp from a bridge") for source in sources)
    context = {
        "host": core,
        "rules": rules,
        "closed": closed_to_others(rules),
        "chain": paths.DOCKER_USER_CHAIN,
        "script": paths.DOCKER_USER_SCRIPT,
        "unit": "jitsi-docker-user.service",
    }
    return template("firewall/docker-user.sh.j2", context).decode()


def run_in_namespace(tmp_path: Path, *scripts: str) -> tuple[list[int], str]:
    """Docker's DOCKER-USER chain, then each script in turn; their exit codes and the rules."""
    for number, script in enumerate(scripts):
        (tmp_path / f"{number}.sh").write_text(script)
    runs = "".join(
        f'sh {tmp_path}/{n}.sh >/dev/null 2>&1; echo "rc $?"; ' for n in range(len(scripts))
    )
    done = subprocess.run(
        ["unshare", "--net", "sh", "-c", f"iptables -w -N DOCKER-USER; {runs}iptables -w -S"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    codes = [int(line.split()[1]) for line in done.stdout.splitlines() if line.startswith("rc ")]
    rules = "\n".join(line for line in done.stdout.splitlines() if line.startswith("-A"))
    return codes, rules


def test_the_rendered_script_admits_the_bridge_and_drops_the_rest(tmp_path: Path) -> None:
    core = rendered(two_hosts(tmp_path), "meet.example.org")
    script = core.file(paths.DOCKER_USER_SCRIPT).content.decode()
    codes, rules = run_in_namespace(tmp_path, script, script)
    assert codes == [0, 0]
    chain = paths.DOCKER_USER_CHAIN
    match = "-m conntrack --ctstate DNAT --ctorigdstport 5222 --ctdir ORIGINAL"  # as -S prints
    assert rules.splitlines() == [
        f"-A DOCKER-USER -j {chain}",  # once, also after a second run
        f"-A {chain} -s 203.0.113.11/32 -p tcp {match} -j RETURN",
        f"-A {chain} -p tcp {match} -j DROP",
    ]


def test_a_rule_the_kernel_refuses_keeps_the_previous_rules(tmp_path: Path) -> None:
    """An IPv6 source in iptables (the settings refuse one; here the script gets it anyway)."""
    codes, before = run_in_namespace(tmp_path, script_for(tmp_path, ["198.51.100.7"]))
    codes, after = run_in_namespace(
        tmp_path,
        script_for(tmp_path, ["198.51.100.7"]),
        script_for(tmp_path, ["198.51.100.8", "2001:db8::8"]),
    )
    assert codes[0] == 0 and codes[1] != 0 and after == before and "198.51.100.7/32" in after
    codes, replaced = run_in_namespace(
        tmp_path, script_for(tmp_path, ["198.51.100.7"]), script_for(tmp_path, ["198.51.100.8"])
    )
    assert codes == [0, 0] and "198.51.100.8/32" in replaced and "198.51.100.7" not in replaced
