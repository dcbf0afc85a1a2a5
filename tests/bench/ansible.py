"""Ansible beside `fab deploy`, on the same kind of fresh Debian 12 rig host, doing the same work
with Ansible's own modules: the packages (apt), every folder and file the deploy writes with
its owner and mode (file, copy; their reactions as handlers running the deploy's own commands),
the services (systemd), the self-signed certificates, the firewall (community.general.ufw), the
images loaded from the same bundle, and the stack started (docker-compose, as the deploy does on
Debian 12). Monitoring is off on both sides: Uptime Kuma has no Ansible module to provision it.

Timed as whole `ansible-playbook` processes: a first converge (its image loading timed apart,
so the figure without it compares with the deploy's "wall less image loads") and a no-op
re-run, the median of NO_OP_RUNS. The converged site must serve its page, or there is no
figure. Ansible (the community package, with its collections) is installed once into a cache
outside the clone.

    python -m tests.bench.ansible
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path, PurePosixPath

from jitsi_deploy.bundle import archive_name
from jitsi_deploy.entry import load_or_exit
from jitsi_deploy.model import paths
from jitsi_deploy.model.proxy import proxy_settings
from jitsi_deploy.render.host import Rendered, render_host
from jitsi_deploy.steps import handlers
from jitsi_deploy.steps import images as images_step
from jitsi_deploy.steps.certificates import parse_probe, placeholder_plan
from jitsi_deploy.steps.changes import Change
from jitsi_deploy.steps.images import wanted_images
from jitsi_deploy.steps.packages import FAMILIES, RELEASES, wanted_packages
from tests.bench import ledger
from tests.bench.deploy import deploy_once, step_seconds
from tests.bench.process import median_seconds
from tests.e2e.site import REPO, Site, bundle
from tests.rig.hosts import CACHE_DIR, TestHost, host_exec, start_host, stop_host

ANSIBLE = "ansible==12.*"  # ansible-core 2.19 and the community collections
VENV = CACHE_DIR / "bench" / "ansible"
NO_OP_RUNS = 3
SETTINGS = {"ENABLE_MONITORING": "0"}
Figures = dict[str, float]
# The deploy's host reactions; the stack's (pull, up, restarts) are the last play's `up`.
HOST_REACTIONS = tuple(r for r in handlers.HOST_ORDER if r not in ("pull:images", "up:stack"))


def ensure_ansible() -> Path:
    """ansible-playbook from a virtual environment cached outside the clone (made once)."""
    playbook = VENV / "bin" / "ansible-playbook"
    if not playbook.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", ANSIBLE], check=True)
    return playbook


def bench() -> Figures:
    """Ansible's first converge and no-op on one fresh host, then ours on another, alike."""
    ansible = ensure_ansible()
    figures: Figures = {}
    for name, measure in (("bench-ansible", _ansible), ("bench-ours", _ours)):
        try:
            host = start_host(name, "bookworm")
            with tempfile.TemporaryDirectory() as folder:
                site = Site(Path(folder), [host])
                site.write(SETTINGS)
                site.trust()
                figures |= measure(site, ansible)
        finally:
            stop_host(name)
    return figures


def _ansible(site: Site, ansible: Path) -> Figures:
    deployment = load_or_exit(site.env, site.folder / "hosts")
    rendered = render_host(deployment, deployment.hosts[0])
    work = site.folder / "ansible"
    _write(work, site, rendered)
    run = partial(_play, ansible, work)
    base, images, stack = run("base.json"), run("images.json"), run("stack.json")
    _serves_its_page(site.hosts[0], rendered)
    no_op = statistics.median(
        sum(run(play) for play in ("base.json", "images.json", "stack.json"))
        for _ in range(NO_OP_RUNS)
    )
    return {
        "Ansible, first converge: wall (s)": base + images + stack,
        "Ansible, first converge: wall less image loads (s)": base + stack,
        "Ansible, no-op re-run: whole ansible-playbook processes (s)": no_op,
    }


def _ours(site: Site, _: Path) -> Figures:
    """The deploy on the same settings, timed the same way as the deploy bench does."""
    wall, reports = deploy_once(site)
    images = max(step_seconds(r, images_step.NAME) for r in reports)
    no_op = median_seconds(site.fab_argv("deploy"), REPO, NO_OP_RUNS)
    return {
        "fab deploy, first converge: wall (s)": wall,
        "fab deploy, first converge: wall less image loads (s)": wall - images,
        "fab deploy, no-op re-run: whole fab process (s)": no_op,
    }


def _play(ansible: Path, work: Path, playbook: str) -> float:
    """Seconds of one whole ansible-playbook process; a failed play ends the bench."""
    started = time.perf_counter()
    done = subprocess.run(
        [str(ansible), "-i", "inventory", playbook], cwd=work, capture_output=True, text=True
    )
    if done.returncode:
        raise SystemExit(f"ansible-playbook {playbook} failed:\n{done.stdout[-4000:]}")
    return time.perf_counter() - started


def _write(work: Path, site: Site, rendered: Rendered) -> None:
    """The playbooks (JSON, which is YAML), the files they copy, the inventory and settings."""
    files = work / "files"
    files.mkdir(parents=True)
    for index, file in enumerate(rendered.files):
        (files / str(index)).write_bytes(file.content)
    host = site.hosts[0]
    (work / "inventory").write_text(_inventory(host, site.folder / "known_hosts"))
    (work / "ansible.cfg").write_text(
        "[defaults]\nforks = 10\ninterpreter_python = /usr/bin/python3\n"
        "[ssh_connection]\npipelining = True\n"
    )
    bundle_folder = bundle()
    plays = {
        "base.json": _base_play(rendered, files),
        "images.json": _images_play(rendered, bundle_folder),
        "stack.json": _stack_play(),
    }
    for name, play in plays.items():
        (work / name).write_text(json.dumps([play], indent=1))


def _inventory(host: TestHost, known_hosts: Path) -> str:
    ssh = f"-o UserKnownHostsFile={known_hosts} -o StrictHostKeyChecking=yes"
    return (
        f"{host.name} ansible_host={host.address} ansible_user={host.user} "
        f"ansible_ssh_private_key_file={host.key_path} ansible_ssh_common_args='{ssh}'\n"
    )


def _base_play(rendered: Rendered, files: Path) -> dict:
    release = RELEASES[("debian", "12")]
    tasks = [
        {"name": "packages", "apt": {"name": list(wanted_packages(release, "distro")),
                                     "update_cache": True, "cache_valid_time": 3600}},
        {"name": "services", "systemd": {"name": "{{ item }}", "state": "started",
                                         "enabled": True},
         "loop": list(FAMILIES["debian"].services)},
        {"name": "folders", "file": {"path": "{{ item.path }}", "state": "directory",
                                     "mode": "{{ item.mode }}", "owner": "{{ item.owner }}",
                                     "group": "{{ item.group }}"},
         "loop": [{"path": d.path, "mode": f"{d.mode:04o}", "owner": d.owner, "group": d.group}
                  for d in rendered.directories]},
        # The deploy makes a file's missing parent folders as it writes it; copy does not.
        {"name": "the files' folders", "file": {"path": "{{ item }}", "state": "directory"},
         "loop": sorted({str(PurePosixPath(f.path).parent) for f in rendered.files}
                        - {d.path for d in rendered.directories})},
        *_file_tasks(rendered, files),
        *_certificate_tasks(rendered),
        *_firewall_tasks(rendered),
    ]  # fmt: skip
    return {"hosts": "all", "gather_facts": False, "tasks": tasks, "handlers": _handlers()}


def _file_tasks(rendered: Rendered, files: Path) -> list[dict]:
    """One copy task per reaction (a file's changes notify its reactions' handlers)."""
    by_reactions: dict[tuple[str, ...], list[dict]] = {}
    for index, file in enumerate(rendered.files):
        item = {"src": str(files / str(index)), "dest": file.path, "mode": f"{file.mode:04o}",
                "owner": file.owner, "group": file.group}  # fmt: skip
        by_reactions.setdefault(_host_reactions(file.reacts), []).append(item)
    return [
        {"name": f"files ({', '.join(reacts) or 'no reaction'})",
         "copy": {"src": "{{ item.src }}", "dest": "{{ item.dest }}", "mode": "{{ item.mode }}",
                  "owner": "{{ item.owner }}", "group": "{{ item.group }}"},
         "loop": items, **({"notify": list(reacts)} if reacts else {})}
        for reacts, items in by_reactions.items()
    ]  # fmt: skip


def _host_reactions(reacts: tuple[str, ...]) -> tuple[str, ...]:
    """What a file's change needs on the host; the stack's own are the last play's `up`."""
    return tuple(r for r in reacts if r in HOST_REACTIONS)


def _handlers() -> list[dict]:
    """The deploy's own reaction commands, in its order (Ansible runs handlers as listed)."""
    return [_shell_task(name, handlers.reaction_changes([name], (paths.NGINX_SITE,))[0])
            for name in HOST_REACTIONS]  # fmt: skip


def _shell_task(name: str, change: Change) -> dict:
    warn_only = {"ignore_errors": True} if change.warn_only else {}
    return {"name": name, "shell": " && ".join(c.shell() for c in change.commands), **warn_only}


def _certificate_tasks(rendered: Rendered) -> list[dict]:
    """The deploy's own placeholder commands (TLS_MODE=selfsigned): per name, a self-signed
    certificate, then the links nginx reads, once."""
    proxy = proxy_settings(rendered.site, "listen")
    commands = placeholder_plan(proxy, parse_probe(""))  # what a host without any needs
    made, linked = commands[::2], commands[1::2]
    return [
        {"name": f"self-signed certificate for {name}",
         "shell": {"cmd": f"{make.shell()} && {link.shell()}",
                   "creates": f"{proxy.tls_root}/{name}/fullchain.pem"},
         "notify": ["reload:nginx"]}
        for name, make, link in zip(proxy.host_names(), made, linked, strict=True)
    ]  # fmt: skip


def _firewall_tasks(rendered: Rendered) -> list[dict]:
    rules = [
        {"port": str(r.port) if not r.last else f"{r.port}:{r.last}", "proto": r.protocol,
         "from_ip": r.source, "comment": f"jitsi-deploy: {r.purpose}"}
        for r in rendered.firewall
    ]  # fmt: skip
    return [
        {"name": "firewall rules",
         "community.general.ufw": {"rule": "allow", "port": "{{ item.port }}",
                                   "proto": "{{ item.proto }}", "from_ip": "{{ item.from_ip }}",
                                   "comment": "{{ item.comment }}"},
         "loop": rules},
        {"name": "firewall on, incoming denied by default",
         "community.general.ufw": {"state": "enabled", "policy": "deny", "direction": "incoming"}},
    ]  # fmt: skip


def _images_play(rendered: Rendered, bundle_folder: Path) -> dict:
    """Each image the host lacks, sent from the bundle and loaded (the deploy's way too)."""
    tasks = []
    for image in wanted_images(rendered):
        archive = bundle_folder / archive_name(image)
        remote = f"/tmp/{archive.name}"
        present = f"present_{len(tasks)}"
        tasks += [
            {"name": f"is {image} there", "command": f"docker image inspect {image}",
             "register": present, "changed_when": False, "failed_when": False},
            {"name": f"send {image}", "copy": {"src": str(archive), "dest": remote},
             "when": f"{present}.rc != 0"},
            {"name": f"load {image}", "shell": f"docker load -i {remote} && rm -f {remote}",
             "when": f"{present}.rc != 0"},
        ]  # fmt: skip
    return {"hosts": "all", "gather_facts": False, "tasks": tasks}


def _stack_play() -> dict:
    up = f"cd {paths.STACK_DIR} && docker-compose up -d --remove-orphans"
    return {
        "hosts": "all",
        "gather_facts": False,
        "tasks": [
            {"name": "the stack up", "shell": up, "register": "up",
             "changed_when": "'Creating' in up.stderr or 'Recreating' in up.stderr "
                             "or 'Starting' in up.stderr"},
        ],
    }  # fmt: skip


def _serves_its_page(host: TestHost, rendered: Rendered) -> None:
    """The converged site answers 200 through its nginx (else the comparison means nothing)."""
    name = rendered.site.meet_hostname
    for _ in range(60):
        done = host_exec(
            host, "curl", "-ksS", "-o", "/dev/null", "-w", "%{http_code}",
            "--resolve", f"{name}:443:127.0.0.1", f"https://{name}/",
        )  # fmt: skip
        if done.stdout.strip() == "200":
            return
        time.sleep(1)
    raise SystemExit(f"the site Ansible converged does not serve its page: {done.stdout}")


def main() -> None:
    if not shutil.which("docker"):
        raise SystemExit("the rig needs Docker: run tests/rig/setup-machine.sh first")
    ledger.show("Ansible beside fab deploy (1 host, monitoring off)", bench())


if __name__ == "__main__":
    main()
