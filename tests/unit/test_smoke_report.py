"""The smoke report's lines and JSON, and the 5222 check against real local sockets."""

from __future__ import annotations

import json
import socket

from jitsi_deploy.settings.rooms import RoomPolicy
from jitsi_deploy.smoke import checks, report
from jitsi_deploy.smoke.checks import Result, Target

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
