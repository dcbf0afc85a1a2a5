"""Password guessing is throttled per session, in a real Prosody (0.12.3 here, 13.0.1 in a
container), on a server whose wait is cut to PASSWORD_WAIT seconds (the module's default is 60)."""

from __future__ import annotations

import asyncio
import re

import pytest

from .conftest import GetServer
from .policies import DEFAULT_PASSWORD, FOCUS, PASSWORD_WAIT, WRONG_PASSWORD
from .server import Prosody
from .test_room_policy import CHANGED_PASSWORD, PASSWORD_REFUSED, ROOM_SECRET
from .xmpp import Refusal, Sessions, run, unique

TRIES = 5  # the module's default
# What a fail2ban filter matches, with fail2ban's <HOST> as a group.
FAIL2BAN_LINE = re.compile(
    r"room policy: (?:wrong password|password throttled): address=(?P<host>\S+) "
)


def throttled(refusal: Refusal | None) -> bool:
    return (
        refusal is not None
        and (refusal.type, refusal.condition) == ("wait", "policy-violation")
        and re.fullmatch(r"Too many wrong passwords: try again in \d+ seconds", refusal.text)
        is not None
    )


@pytest.fixture
def server(prosody_servers: GetServer, version: str) -> Prosody:
    return prosody_servers(version, "throttle")


def test_sixth_wrong_password_in_a_row_is_throttled_then_the_right_one_works(
    server: Prosody,
) -> None:
    async def scenario(sessions: Sessions) -> None:
        room = unique("private-guess")
        focus = await sessions.account(*FOCUS)
        assert await focus.join(room) is None
        guesser = await sessions.user()
        for _ in range(TRIES):
            assert await guesser.join(room, password=WRONG_PASSWORD) == PASSWORD_REFUSED
        assert throttled(await guesser.join(room, password=WRONG_PASSWORD))
        # During the wait the right password is no better than a guess ...
        assert throttled(await guesser.join(room, password=DEFAULT_PASSWORD))
        # ... and other sessions are not held up.
        other = await sessions.user()
        assert await other.join(room, password=DEFAULT_PASSWORD) is None
        await asyncio.sleep(PASSWORD_WAIT + 0.5)
        assert await guesser.join(room, password=DEFAULT_PASSWORD) is None

    run(server, scenario)
    log = server.log_text()
    lines = [line for line in log.splitlines() if FAIL2BAN_LINE.search(line)]
    assert len(lines) == TRIES + 2, lines
    assert sum("wrong password: " in line for line in lines) == TRIES
    assert all(f"count={n}" in lines[n - 1] for n in range(1, TRIES + 1))
    hosts = {FAIL2BAN_LINE.search(line)["host"] for line in lines}
    assert len(hosts) == 1 and hosts != {"unknown"}, hosts
    for secret in (DEFAULT_PASSWORD, WRONG_PASSWORD):
        assert secret not in log


def test_after_the_wait_each_wrong_password_starts_it_again(server: Prosody) -> None:
    async def scenario(sessions: Sessions) -> None:
        room = unique("private-guess")
        focus = await sessions.account(*FOCUS)
        assert await focus.join(room) is None
        guesser = await sessions.user()
        for _ in range(TRIES):
            assert await guesser.join(room, password=WRONG_PASSWORD) == PASSWORD_REFUSED
        await asyncio.sleep(PASSWORD_WAIT + 0.5)
        assert await guesser.join(room, password=WRONG_PASSWORD) == PASSWORD_REFUSED
        assert throttled(await guesser.join(room, password=WRONG_PASSWORD))

    run(server, scenario)


def test_joins_without_a_password_are_not_guesses(server: Prosody) -> None:
    async def scenario(sessions: Sessions) -> None:
        room = unique("private-ask")
        focus = await sessions.account(*FOCUS)
        assert await focus.join(room) is None
        user = await sessions.user()
        # The web client first joins without one, then asks its user.
        for _ in range(TRIES + 2):
            assert await user.join(room) == PASSWORD_REFUSED
        assert await user.join(room, password=DEFAULT_PASSWORD) is None

    run(server, scenario)


def test_guesses_in_breakout_rooms_count_too(server: Prosody) -> None:
    async def scenario(sessions: Sessions) -> None:
        room = unique("private-split")
        focus = await sessions.account(*FOCUS)
        assert await focus.join(room) is None
        breakout = await focus.create_breakout_room(room)
        assert await focus.join(breakout) is None
        guesser = await sessions.user()
        for target in (room, breakout, room, breakout, room):
            assert await guesser.join(target, password=WRONG_PASSWORD) == PASSWORD_REFUSED
        assert throttled(await guesser.join(breakout, password=WRONG_PASSWORD))
        assert throttled(await guesser.join(room, password=DEFAULT_PASSWORD))

    run(server, scenario)


def test_passwords_moderators_set_are_throttled_too(server: Prosody) -> None:
    async def scenario(sessions: Sessions) -> None:
        room = unique("weekly")
        focus = await sessions.account(*FOCUS)
        assert await focus.join(room) is None
        assert await focus.configure(room, {ROOM_SECRET: CHANGED_PASSWORD}) is None
        guesser = await sessions.user()
        for _ in range(TRIES):
            assert await guesser.join(room, password=WRONG_PASSWORD) == PASSWORD_REFUSED
        assert throttled(await guesser.join(room, password=CHANGED_PASSWORD))
        await asyncio.sleep(PASSWORD_WAIT + 0.5)
        assert await guesser.join(room, password=CHANGED_PASSWORD) is None

    run(server, scenario)
