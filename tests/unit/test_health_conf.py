"""The rendered health.conf, cron and logrotate files, read back by the programs that use them."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from jitsi_deploy.model import paths
from jitsi_deploy.model.health import HealthSettings, check_entries, restart_after_entries
from jitsi_deploy.model.services import SERVICES
from jitsi_deploy.render.templating import render_template
from jitsi_deploy.steps import handlers
from jitsi_deploy.steps.changes import Change
from jitsi_deploy.steps.images import wanted_images
from jitsi_deploy.steps.step import PlanInput
from tests.unit.sites import handler_facts, rendered, two_hosts

TRICKY_URL = "https://kuma.example.org/api/push/a'b?x=1&y=$(touch /tmp/pwned)"


def render(name: str, health: HealthSettings) -> str:
    return render_template(
        f"health/{name}", health=health, public_hostname="meet.example.org",
        services=list(SERVICES), checks=check_entries(list(SERVICES)),
        restart_after=restart_after_entries(list(SERVICES)),
    )  # fmt: skip


def test_health_conf_round_trips_through_bash(tmp_path: Path):
    health = HealthSettings(webhook_url=TRICKY_URL, webhook_mode="kuma", check_nginx=False)
    conf = tmp_path / "health.conf"
    conf.write_text(render("health.conf.j2", health))
    out = subprocess.run(
        ["bash", "-c", 'source "$1"; printf "%s\\n" "$WEBHOOK_URL" "$SERVICES" "$CHECK_NGINX" '
         '"$NGINX_RESTART_CMD" "$FAILS_BEFORE_ACTION"', "-", str(conf)],
        check=True, capture_output=True, text=True,
    ).stdout.splitlines()  # fmt: skip
    names = " ".join(s.name for s in SERVICES)
    assert out == [TRICKY_URL, names, "0", "systemctl restart nginx", "2"]


def test_every_script_setting_is_rendered():
    script = (Path(__file__).resolve().parents[2] / "scripts/jitsi-health").read_text()
    defaults = script[script.index("# Defaults;") : script.index("usage()")]
    keys = set(re.findall(r"^([A-Z_]+)=", defaults, re.MULTILINE))
    conf = render("health.conf.j2", HealthSettings())
    rendered = set(re.findall(r"^([A-Z_]+)=", conf, re.MULTILINE))
    assert keys == rendered


def test_cron_runs_the_script_every_minute_as_root():
    lines = render("cron.j2", HealthSettings()).splitlines()
    job = next(line for line in lines if line.startswith("* * * * *"))
    assert job.split()[5:11] == [
        "root", "umask", "027;", "exec", "/usr/local/sbin/jitsi-health", "--config",
    ]  # fmt: skip


def test_the_log_cron_creates_is_not_readable_by_others(tmp_path: Path):
    """The job's command, run by /bin/sh as cron does (under cron's umask 022), creates the
    log 0640 like the script's own umask, not 0644 by the redirection."""
    log = tmp_path / "health.log"
    health = HealthSettings(script_path="/bin/true", log_file=str(log))
    job = next(line for line in render("cron.j2", health).splitlines() if line.startswith("*"))
    command = job.split(None, 6)[6]
    subprocess.run(["/bin/sh", "-c", f"umask 022; {command}"], check=True)
    assert oct(log.stat().st_mode & 0o777) == "0o640"


def test_logrotate_config_is_accepted_by_logrotate(tmp_path: Path):
    """logrotate -d parses the file and reports errors without rotating (tests/rig installs it)."""
    log = tmp_path / "health.log"
    log.write_text("line\n")
    conf = tmp_path / "logrotate.conf"
    conf.write_text(render("logrotate.j2", HealthSettings(log_file=str(log))))
    result = subprocess.run(
        ["logrotate", "-d", "-s", str(tmp_path / "status"), str(conf)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and "error" not in result.stderr.lower(), result.stderr


@pytest.mark.parametrize(
    "bad", [{"webhook_mode": "slack"}, {"fails_before_action": 0}, {"backoff_base": -1}]
)
def test_invalid_settings_are_refused(bad):
    with pytest.raises(ValueError):
        HealthSettings(**bad)


def test_the_deploy_arms_the_health_check_once_the_stack_is_up(tmp_path: Path):
    """Until the marker exists the cron runs do nothing (scripts/jitsi-health): a stack that
    runs but is not armed (a host deployed before arming existed) gets one `up -d`, then the
    marker, in the same change, so a failed `up` leaves it unarmed. A bridge `fab drain`
    stopped gets the same `up`, which starts it, and its mark goes."""
    core = rendered(two_hosts(tmp_path), "meet.example.org")
    conf = core.file(paths.HEALTH_CONFIG).content.decode()
    assert f"ARMED_FILE={paths.HEALTH_ARMED}\n" in conf
    assert f"DRAINED_FILE={paths.BRIDGE_DRAINED}\n" in conf

    def plan(armed: bool, drained: bool = False) -> list[Change]:
        images = wanted_images(core)
        running = dict(zip(core.service_names, images, strict=True))
        facts = handler_facts(running, dict.fromkeys(images, 1), armed=armed, drained=drained)
        return handlers.plan(PlanInput(core, facts))

    assert plan(True) == []
    (up,) = [c for c in plan(False) if c.summary.startswith("start or update")]
    assert up.commands[-1].argv[-2:] == (paths.HEALTH_ARMED, paths.BRIDGE_DRAINED)
    assert "compose" in up.commands[0].argv and "up" in up.commands[0].argv
    assert [c.summary for c in plan(True, drained=True)] == [c.summary for c in plan(False)]


def test_arming_ends_a_drain_and_keeps_an_armed_mark(tmp_path: Path):
    """The arm command for real: the armed mark is made once (its time says since when the
    health check runs), the drained mark goes; no bridge answers here, which is no failure."""
    armed, drained = tmp_path / "armed", tmp_path / "drained"
    drained.touch()
    run = ["sh", "-c", handlers.ARM, "arm", str(armed), str(drained)]
    assert subprocess.run(run, timeout=30).returncode == 0
    assert armed.exists() and not drained.exists()
    made = armed.stat().st_mtime_ns
    assert subprocess.run(run, timeout=30).returncode == 0
    assert armed.stat().st_mtime_ns == made
