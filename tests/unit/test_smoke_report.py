"""The smoke report's lines and JSON, the 5222 check against real local sockets, the judges of
the host checks' output, and the target and options taken from the settings."""

from __future__ import annotations

import json
import socket
from dataclasses import replace
from pathlib import Path

import pytest

from jitsi_deploy.deploy.targets import with_unlisted
from jitsi_deploy.errors import ConfigError
from jitsi_deploy.model.brewery import expected_bridges
from jitsi_deploy.model.deployment import load_deployment as load
from jitsi_deploy.model.services import placement_of
from jitsi_deploy.remote.transport import Output
from jitsi_deploy.settings.rooms import RoomPolicy
from jitsi_deploy.smoke import checks, report
from jitsi_deploy.smoke.checks import Result, Target
from jitsi_deploy.smoke.run import settle, target_for

from .test_config import with_env, write

RESULTS = [
    Result("TLS certificate", "pass", "meet.example.org: issued by R11, 62 days left"),
    Result("BOSH", "fail", "no session: POST answered HTTP 502", "the /http-bind route is wrong"),
    Result("unknown room refused", "skip", "OTHER_ROOMS=allow: other rooms are not refused"),
    Result("services healthy", "fail", "jvb: down\nprosody: ok", "a service is down", "core1"),
]


def test_one_line_per_check_and_the_meaning_under_a_failure() -> None:
    assert report.lines(RESULTS) == [
        "ok    TLS certificate: meet.example.org: issued by R11, 62 days left",
        "FAIL  BOSH: no session: POST answered HTTP 502",
        "      -> the /http-bind route is wrong",
        "skip  unknown room refused: OTHER_ROOMS=allow: other rooms are not refused",
        "FAIL  core1: services healthy: jvb: down\n        prosody: ok",
        "      -> a service is down",
        "2 of 4 checks failed.",
    ]
    assert not report.passed(RESULTS)


def test_skips_do_not_fail_the_run() -> None:
    results = [RESULTS[0], RESULTS[2]]
    assert report.passed(results)
    assert report.lines(results)[-1] == "all checks passed."


def test_json_for_scripts() -> None:
    parsed = json.loads(report.as_json(RESULTS))
    assert parsed["ok"] is False
    assert parsed["checks"][1] == {
        "name": "BOSH",
        "status": "fail",
        "detail": "no session: POST answered HTTP 502",
        "meaning": "the /http-bind route is wrong",
        "host": "",
    }


def _target(port: int, bridges: tuple[str, ...] = ()) -> Target:
    return Target(
        "https://meet.example.org",
        RoomPolicy(),
        "127.0.0.1",
        bridge_addresses=bridges,
        xmpp_port=port,
    )


def _xmpp_port_result(target: Target) -> Result:
    check = next(c for c in checks.WEB_CHECKS if c.run is checks.check_xmpp_port)
    return checks.run_check(check, target)


def test_an_answering_5222_fails() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listening:
        result = _xmpp_port_result(_target(listening.getsockname()[1]))
    assert result.status == "fail"
    assert "accepted a connection from 127.0.0.1" in result.detail
    assert "open to the bridges only" in result.meaning


def test_a_closed_5222_passes() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listening:
        port = listening.getsockname()[1]
    result = _xmpp_port_result(_target(port))
    assert (result.status, result.detail) == ("pass", f"127.0.0.1:{port} refused the connection")


def test_a_bridge_may_reach_5222() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listening:
        result = _xmpp_port_result(_target(listening.getsockname()[1], ("127.0.0.1",)))
    assert result.status == "skip"


def debug(*bridges: tuple[str, bool]) -> str:
    """jicofo's /debug with these bridges (nickname, draining), as the real one writes it."""
    listed = {
        f"jvbbrewery@internal-muc.meet.jitsi/{name}": {"operational": True, "drain": drain}
        for name, drain in bridges
    }
    return json.dumps({"bridge_selector": {"strategy": "x", "bridge": listed}})


def test_jicofo_must_see_every_bridge_of_the_inventory_by_nickname() -> None:
    """A second bridge that never joins, or the core's own dropping out while another is up,
    fails the check, named; a draining bridge still counts (it keeps its meetings)."""
    judge = _host_check("bridges").judge  # the core and one [jvb] host
    passed = judge(Output(0, debug(("meet.example.org", False), ("jvb1", True)), ""))
    assert passed == (
        "jicofo sees every bridge of the inventory: jvb1, meet.example.org (jvb1 draining)"
    )
    for output, fault in [
        (Output(0, debug(("meet.example.org", False)), ""), "lacks jvb1 .sees meet.example.org"),
        (Output(0, debug(("jvb1", False)), ""), "lacks meet.example.org .sees jvb1"),
        (Output(0, debug(("jvb2", False)), ""), "lacks meet.example.org, jvb1"),
        (Output(0, "{}", ""), "has no bridges"),
        (Output(7, "", "curl: (7) Failed to connect"), "did not answer"),
    ]:
        with pytest.raises(checks.Failed, match=fault):
            judge(output)


def test_the_room_policy_health_answers() -> None:
    judge = _host_check("room policy in force").judge
    assert judge(Output(0, "ok\n200\n", "")) == "room policy in force"
    for output, fault in [
        (
            Output(0, "broken: private rooms need a password\n503\n", ""),
            "HTTP 503: broken: private",
        ),
        (Output(0, "not found\n404\n", ""), "not loaded"),
        (Output(3, "", "no running prosody container"), "no running prosody container"),
    ]:
        with pytest.raises(checks.Failed, match=fault):
            judge(output)


BOTH = ("meet.example.org", "jvb1")


def _host_check(name: str) -> checks.HostCheck:
    return next(check for check in checks.host_checks(BOTH) if check.name == name)


def test_the_target_is_the_core_site_and_bridges_may_reach_5222(tmp_path: Path) -> None:
    hosts = "[core]\nmeet.example.org address=203.0.113.10\n[jvb]\njvb1 address=203.0.113.20\n"
    env_path, hosts_path = write(tmp_path, with_env(OTHER_ROOMS="deny"), hosts)
    target = target_for(load(env_path, hosts_path, tmp_path / ".secrets.env"))
    assert (target.public_url, target.core_address) == ("https://meet.example.org", "203.0.113.10")
    assert target.bridge_addresses == ("203.0.113.20",)
    assert target.rooms.other_rooms == "deny" and not target.self_signed_ok
    assert target.login == "anonymous"


@pytest.mark.parametrize(
    ("auth", "login"),
    [
        ({}, "anonymous"),
        ({"ENABLE_AUTH": "1", "ENABLE_GUESTS": "1"}, "guest"),
        ({"ENABLE_AUTH": "1"}, "account"),
    ],
)
def test_the_login_follows_the_auth_settings(
    tmp_path: Path, auth: dict[str, str], login: str
) -> None:
    deployment = load(*write(tmp_path, with_env(**auth)), tmp_path / ".secrets.env")
    assert target_for(deployment).login == login


@pytest.mark.parametrize("resolve", ["203.0.113.10", "203.0.113.10:https", "-x:443"])
def test_bad_smoke_options_are_named(tmp_path: Path, resolve: str) -> None:
    deployment = load(*write(tmp_path), tmp_path / ".secrets.env")
    with pytest.raises(ConfigError) as caught:
        target_for(deployment, str(tmp_path / "missing.pem"), resolve)
    assert [p.source for p in caught.value.problems] == ["--ca-file", "--resolve"]


def test_failures_are_retried_until_they_pass_or_the_wait_is_over() -> None:
    rounds: list[int] = []

    def run() -> list[Result]:
        rounds.append(len(rounds))
        return [RESULTS[1] if len(rounds) < 3 else RESULTS[0]]

    assert settle(run, wait=1, pause=0.01) == [RESULTS[0]]
    assert len(rounds) == 3
    assert settle(lambda: [RESULTS[1]], wait=0) == [RESULTS[1]]


def test_each_core_expects_the_bridges_that_dial_it(tmp_path: Path) -> None:
    """The inventory's core: its own bridge and each [jvb] host. A core named with -H alone
    (a restore onto a fresh host): its own only, since the bridges dial the inventory's core."""
    hosts = "[core]\nmeet.example.org address=203.0.113.10\n[jvb]\njvb1 address=203.0.113.20\n"
    env_path, hosts_path = write(tmp_path, hosts=hosts)
    deployment = load(env_path, hosts_path, tmp_path / ".secrets.env")
    fresh = replace(deployment.hosts[0], name="203.0.113.99", address="203.0.113.99")
    deployment = with_unlisted(deployment, [fresh])
    assert expected_bridges(placement_of(deployment, deployment.hosts[0])) == BOTH
    assert expected_bridges(placement_of(deployment, fresh)) == ("203.0.113.99",)
