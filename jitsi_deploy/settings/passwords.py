"""How hard a room password is to guess, told by zxcvbn (the estimator of Dropbox's design,
maintained on PyPI) rather than by a home-made list of words: it knows common passwords, names,
keyboard runs, dates, l33t substitutions and repeats.

Characters are counted after Unicode normalization (NFKC), so a full-width or ligature letter
counts as the letter a person types; invisible characters (zero-width, joiners, direction marks,
other format and private-use characters) are refused, since nobody can see or type them back.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

MIN_PASSWORD_LENGTH = 12
# zxcvbn's top score: at least 10^10 guesses. Room passwords are shared with every participant
# and kept in chats and calendars, so the bar is one an offline guesser would not clear either.
MIN_GUESSES_LOG10 = 10.0
# zxcvbn refuses longer input (its matching is quadratic): a password is at least as strong as
# its first 72 characters, so those are what is estimated.
_ESTIMATED_LENGTH = 72
_INVISIBLE = {"Cc", "Cf", "Cn", "Co", "Cs", "Zl", "Zp"}


def password_typo(password: str) -> str:
    """What in a password nobody would type back, with the fix, or ''."""
    invisible = [c for c in password if unicodedata.category(c) in _INVISIBLE]
    if invisible:
        codes = ", ".join(f"U+{ord(c):04X}" for c in dict.fromkeys(invisible))
        return f"holds invisible characters ({codes}) that nobody can type. Remove them."
    if password != password.strip():
        return "starts or ends with a blank, which people leave out when they type it. Remove it."
    return ""


def password_weakness(password: str, user_inputs: Iterable[str] = ()) -> str:
    """Why a room password is too weak, or '' when it is acceptable; ``user_inputs`` are words
    of the site (room names, host names) a guesser would try first. A password with a typo
    (see `password_typo`) is judged by its typo."""
    typo = password_typo(password)
    if typo:
        return typo
    normal = unicodedata.normalize("NFKC", password)
    if len(normal) < MIN_PASSWORD_LENGTH:
        return f"is too short ({len(normal)} characters; use at least {MIN_PASSWORD_LENGTH})"
    estimate = _estimate(normal, user_inputs)
    if float(estimate["guesses_log10"]) < MIN_GUESSES_LOG10:
        warning = str(estimate["feedback"].get("warning") or "").rstrip(".")
        return f"is easy to guess ({warning or 'common words, names, dates, runs or repeats'})"
    return ""


def _estimate(password: str, user_inputs: Iterable[str]) -> dict:
    """zxcvbn's estimate of the (normalized) password: guesses_log10 and feedback."""
    from zxcvbn import zxcvbn  # its dictionaries load only when a password is to be judged

    return zxcvbn(password[:_ESTIMATED_LENGTH], user_inputs=list(user_inputs))
