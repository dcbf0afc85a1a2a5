"""Room passwords are judged by zxcvbn on their NFKC form: what a person would try first is
refused, invisible characters are refused, and every generated password passes."""

from __future__ import annotations

import pytest

from jitsi_deploy.settings.passwords import password_weakness
from jitsi_deploy.settings.rooms import ROOM_PASSWORD


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("Passw0rd2024", "easy to guess"),
        ("Welcome2024!", "easy to guess"),
        ("Summer202020", "easy to guess"),
        ("qwertyuiop12", "easy to guess"),
        ("kqzvmwtr\u200b\u200b\u200b\u200b\u200b", "invisible characters (U+200B)"),
        ("kqzvmwtr\u2060\u200d\u200e\ufeffxyz", "U+2060, U+200D, U+200E, U+FEFF"),
        # 14 code points, 8 characters once the accents are composed (NFKC)
        ("e\u0301" * 6 + "kq", "too short (8 characters"),
        (" Xk2-wq9-Lm4-pr7", "starts or ends with a blank"),
    ],
)
def test_guessable_or_invisible_passwords_are_refused(password: str, why: str) -> None:
    assert why in password_weakness(password)


def test_a_room_name_inside_its_password_counts_little() -> None:
    password = "private-board-2024"
    assert password_weakness(password) == ""
    assert "easy to guess" in password_weakness(password, ("private-board", "board"))


# Full-width letters count as the letters; past 72 characters (zxcvbn's limit) is not an error.
@pytest.mark.parametrize(
    "password",
    ["Xk2-wq9-Lm4-pr7", "Vx9 #kq2-Lm4", "kqzvmwtrbnpl", "\uff38k2-wq9-Lm4-pr7", "Zq8sd0Bf3k-" * 8],
)
def test_strong_passwords_pass(password: str) -> None:
    assert password_weakness(password) == ""


def test_every_generated_room_password_passes() -> None:
    weak = [p for p in (ROOM_PASSWORD.make() for _ in range(300)) if password_weakness(p)]
    assert weak == []
