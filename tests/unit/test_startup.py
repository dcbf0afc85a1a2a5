"""`fab` starts without the deploy machinery: the fabfile loads a task's modules when the task
runs (fabfile/common.py lazy), so `fab --list` and every task's start do not pay for all of
them. Timed by tests/bench/startup.py; this test only sees that nothing heavy is run early."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.unit.sites import REPO

LOADED = """
import json, sys, types
import fabfile
ran = [name for name, module in sys.modules.items() if name.startswith("jitsi_deploy")
       and isinstance(module, types.ModuleType) and type(module) is types.ModuleType]
print(json.dumps(sorted(ran)))
"""


def test_importing_the_fabfile_runs_none_of_the_deploy_machinery() -> None:
    done = subprocess.run(
        [sys.executable, "-c", LOADED], cwd=REPO, capture_output=True, text=True, check=True
    )
    ran = json.loads(done.stdout)
    heavy = ("jitsi_deploy.steps", "jitsi_deploy.deploy.host", "jitsi_deploy.smoke.checks",
             "jitsi_deploy.monitoring", "jitsi_deploy.operations.update",
             "jitsi_deploy.settings.", "jitsi_deploy.model.")  # fmt: skip
    assert not [name for name in ran if name.startswith(heavy)], ran


def test_the_token_help_names_the_limit_the_token_module_enforces() -> None:
    """The help writes the limit out rather than load the settings to read it."""
    from jitsi_deploy.operations.tokens import MAX_HOURS

    shown = subprocess.run(
        [sys.executable, "-m", "fabric", "--help", "token"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert f"1 to {MAX_HOURS} " in " ".join(shown.split())
