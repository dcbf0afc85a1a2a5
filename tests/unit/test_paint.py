"""Colour only for a person at a terminal (jitsi_deploy/paint.py)."""

from __future__ import annotations

import io

import pytest

from jitsi_deploy.paint import paint


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_the_outcomes_colour(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert paint("FAILED", stream=Terminal()) == "\x1b[31mFAILED\x1b[0m"
    assert paint("changed ", "changed", Terminal()) == "\x1b[33mchanged \x1b[0m"
    assert paint("ok  ", stream=Terminal()) == "\x1b[32mok  \x1b[0m"
    assert paint("a plain word", stream=Terminal()) == "a plain word"


def test_no_colour_when_redirected_or_asked_not_to(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert paint("FAILED", stream=io.StringIO()) == "FAILED"
    monkeypatch.setenv("NO_COLOR", "1")
    assert paint("FAILED", stream=Terminal()) == "FAILED"
