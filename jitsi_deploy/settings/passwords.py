"""How hard a room password is to guess: refuse what a person would try first."""

from __future__ import annotations

import math

MIN_PASSWORD_LENGTH = 12
MIN_PASSWORD_BITS = 36
_COMMON_WORDS = (
    "password", "passwort", "meeting", "jitsi", "welcome", "letmein", "secret", "admin",
    "master", "dragon", "monkey", "sunshine", "princess", "football", "iloveyou", "login",
    "changeme", "private", "summer", "winter", "spring", "autumn", "hello", "trustno",
)  # fmt: skip
_SEQUENCES = ("abcdefghijklmnopqrstuvwxyz", "0123456789", "qwertyuiop", "asdfghjkl", "zxcvbnm")
_WORD_BITS, _RUN_BITS = 10.0, 4.0


def password_weakness(password: str) -> str:
    """Why a room password is too weak, or '' when it is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"is too short ({len(password)} characters; use at least {MIN_PASSWORD_LENGTH})"
    if password_bits(password) < MIN_PASSWORD_BITS:
        return "is easy to guess (common words, runs like 1234 or qwerty, repeated characters)"
    return ""


def password_bits(password: str) -> float:
    """A guesser's view of the password's strength in bits: a common word or a run along the
    alphabet, the digits or a keyboard row counts as one guess of a few bits, a character seen
    before as one bit, every other character as a pick from the classes the password uses."""
    rest, bits = password.lower(), 0.0
    for word in _COMMON_WORDS:
        bits += _WORD_BITS * rest.count(word)
        rest = rest.replace(word, " ")
    pick, seen = math.log2(_alphabet_size(password)), {" "}
    i = 0
    while i < len(rest):
        run = _run_length(rest, i)
        if run >= 3:
            bits += _RUN_BITS
        elif rest[i] != " ":
            bits += 1.0 if rest[i] in seen else pick
            seen.add(rest[i])
        i += run if run >= 3 else 1
    return bits


def _run_length(text: str, start: int) -> int:
    """How many characters from ``start`` follow each other in one of the known sequences."""
    longest = 1
    for sequence in _SEQUENCES:
        for ordered in (sequence, sequence[::-1]):
            end = start + 1
            while end < len(text) and text[start : end + 1] in ordered:
                end += 1
            longest = max(longest, end - start)
    return longest


def _alphabet_size(password: str) -> int:
    classes = (
        (26, any(c.islower() for c in password)),
        (26, any(c.isupper() for c in password)),
        (10, any(c.isdigit() for c in password)),
        (33, any(not c.isalnum() for c in password)),
        (100, any(not c.isascii() for c in password)),
    )
    return max(10, sum(size for size, used in classes if used))
