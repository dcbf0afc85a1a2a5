"""Remote tasks (Fabric): converge servers over SSH and look after them.

`fab deploy` works on the inventory's hosts (or those given with -H), all in parallel. Each
module holds the tasks of one concern; Fabric collects every task imported here. Local work
(render, tests, benchmarks) lives in tasks.py.
"""

# ruff: noqa: E402 (the two settings below must come before the tasks' imports)
import sys
from pathlib import Path

# Fabric puts this folder on sys.path, not the project's, from which the tasks import the
# jitsi_deploy package (a fabfile.py beside it got the project's folder for free).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# Invoke turns Python's bytecode cache off (unless --write-pyc), so each `fab` compiled the
# project's modules anew: 60 ms of a no-op deploy. Back to Python's own setting (-B and
# PYTHONDONTWRITEBYTECODE still turn it off); __pycache__ is ignored by git.
sys.dont_write_bytecode = bool(sys.flags.dont_write_bytecode)

from .care import backup, drain, restart, restore, rotate_secrets, uninstall, update
from .deploy import check, deploy, smoke
from .look import health, logs, monitor_login, report, status
from .people import token, user_add, user_list, user_passwd, user_remove

__all__ = [
    "backup",
    "check",
    "deploy",
    "drain",
    "health",
    "logs",
    "monitor_login",
    "report",
    "restart",
    "restore",
    "rotate_secrets",
    "smoke",
    "status",
    "token",
    "uninstall",
    "update",
    "user_add",
    "user_list",
    "user_passwd",
    "user_remove",
]
