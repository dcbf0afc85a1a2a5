"""The one facts script, run by a real sh: its snippets side by side, each section printed in
order and whole; in turn where no private folder in memory can be made."""

from __future__ import annotations

import subprocess
from pathlib import Path

from jitsi_deploy.steps.facts import Fact, facts_script, fixed, lines, split_sections

FACTS = (
    # The slowest first: side by side, it finishes last, and must still print first.
    Fact("slow", fixed("sleep 0.3; echo one; echo two"), lines),
    Fact("empty", fixed(""), lines),
    Fact("quiet", fixed("true"), lines),
    Fact("local", fixed("d=/somewhere; echo $d"), lines),
    Fact("reads-stdin", fixed("cat"), lines),  # must not eat the rest of the script
    Fact("last", fixed("echo last"), lines),
)
EXPECTED = {
    "slow": ["one", "two"],
    "empty": [],
    "quiet": [],
    "local": ["/somewhere"],
    "reads-stdin": [],
    "last": ["last"],
    "end": [],
}


def script(facts: tuple[Fact, ...]) -> str:
    return facts_script(facts, None)  # type: ignore[arg-type] (fixed snippets read no rendering)


def run(script: str, path: str = "/usr/bin:/bin") -> str:
    # As on a host: the script comes on sh's stdin.
    done = subprocess.run(
        ["sh", "-s"], input=script, env={"PATH": path}, capture_output=True, text=True, check=True
    )
    return done.stdout


def test_side_by_side_every_section_comes_whole_and_in_order() -> None:
    output = run(script(FACTS))
    assert list(split_sections(output)) == list(EXPECTED)
    assert split_sections(output) == EXPECTED


def test_no_folder_is_left_behind() -> None:
    before = set(Path("/dev/shm").glob("jitsi-deploy-facts.*"))
    run(script(FACTS))
    assert set(Path("/dev/shm").glob("jitsi-deploy-facts.*")) == before


def test_the_snippets_do_run_side_by_side(tmp_path: Path) -> None:
    """The first waits for a sign only the second makes: in turn, it would give up first."""
    sign = tmp_path / "sign"
    waits = f"for i in $(seq 100); do [ -e {sign} ] && echo together && exit; sleep 0.05; done"
    facts = (Fact("waits", fixed(waits), lines), Fact("signs", fixed(f"touch {sign}"), lines))
    output = run(script(facts))
    assert split_sections(output)["waits"] == ["together"]


def test_without_a_folder_in_memory_they_run_in_turn_with_the_same_output(tmp_path: Path) -> None:
    (tmp_path / "mktemp").write_text("#!/bin/sh\nexit 1\n")  # as with no /dev/shm, or it full
    (tmp_path / "mktemp").chmod(0o755)
    output = run(script(FACTS), f"{tmp_path}:/usr/bin:/bin")
    assert split_sections(output) == EXPECTED
