"""Local tasks (Invoke): render and validate deployments, run the tests and the benchmarks.

Remote work (deploy, status, logs, ...) lives in fabfile/.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from invoke import Exit, task

from jitsi_deploy.bundle import save_bundle
from jitsi_deploy.deploy import monitoring
from jitsi_deploy.entry import load_or_exit, settings_paths
from jitsi_deploy.errors import DeployError
from jitsi_deploy.model.deployment import SPEC
from jitsi_deploy.render.host import Rendered, render_host, write_tree
from jitsi_deploy.render.validate import validate
from jitsi_deploy.settings.schema import env_example, with_settings_table
from jitsi_deploy.settings.site import Deployment
from jitsi_deploy.steps.images import fetched_images


@task(
    help={
        "env": "settings file (default: .env, else .env.example)",
        "inventory": "inventory file (default: hosts, else hosts.example)",
        "build": "output folder (default: build)",
        "skip_validation": "write the files without running the validators",
    }
)
def render(c, env=None, inventory=None, build="build", skip_validation=False):
    """Render every host's files under build/<host>/ and validate them with the real tools."""
    # New secrets are kept only once every host's files passed validation (below).
    deployment = load_or_exit(*settings_paths(env, inventory, examples=True), save=False)
    build_dir = Path(build)
    _refuse_links(build_dir, [host.name for host in deployment.hosts])
    build_dir.mkdir(parents=True, exist_ok=True)
    # Everything is rendered and validated in a scratch folder beside build/ and moved into
    # place only when every host passed: a failed render leaves build/ as it was.
    scratch = Path(tempfile.mkdtemp(prefix=".render-", dir=build_dir))
    try:
        for host in deployment.hosts:
            rendered = render_host(deployment, host)
            write_tree(rendered, scratch)
            _write_monitor_list(deployment, rendered, scratch / host.name / "monitors.json")
            print(f"{host.name} ({host.role}): {len(rendered.files)} files")
            for result in [] if skip_validation else validate(rendered):
                print(f"  {result}")
        deployment.save_secrets()
        for host in deployment.hosts:
            _replace(scratch / host.name, build_dir / host.name)
            print(f"wrote {build_dir / host.name}/")
    except DeployError as error:
        raise Exit(f"render failed (nothing written under {build_dir}/): {error}", code=1) from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if not any(build_dir.iterdir()):
            build_dir.rmdir()


def _refuse_links(build_dir: Path, names: list[str]) -> None:
    """Stop before anything is written when build/ or a host's folder in it is a link or not
    a folder: render replaces those folders, and must never write or delete through a link."""
    for path in (build_dir, *(build_dir / name for name in names)):
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            kind = "a symbolic link" if path.is_symlink() else "not a folder"
            raise Exit(
                f"{path} is {kind}; render writes real folders there and replaces them. Move it "
                "away (or choose another folder with --build); nothing was rendered or touched.",
                code=1,
            )


def _write_monitor_list(deployment: Deployment, rendered: Rendered, path: Path) -> None:
    """What the deploy will provision in the host's Uptime Kuma, for a person to read (push
    tokens left out: they are derived from a secret)."""
    kuma = monitoring.wanted(deployment, rendered)
    if kuma:
        monitors = [{**asdict(m), "push_token": ""} for m in kuma.monitors]
        path.write_text(json.dumps(monitors, indent=2) + "\n")


def _replace(new: Path, old: Path) -> None:
    """Swap the folder ``new`` in for ``old`` (same file system, so each rename is atomic)."""
    if old.exists() or old.is_symlink():
        retired = new.with_name(new.name + ".old")
        old.rename(retired)
        shutil.rmtree(retired)
    new.rename(old)


@task(
    help={
        "out": "bundle folder to write (default: bundle)",
        "env": "settings file (default: .env, else .env.example)",
        "inventory": "inventory file (default: hosts, else hosts.example)",
    }
)
def bundle(c, out="bundle", env=None, inventory=None):
    """Save the images the hosts run, from this machine's Docker, into an offline bundle folder.

    Pull them here first (docker pull); deploy with --bundle for hosts with IMAGE_SOURCE=bundle.
    """
    deployment = load_or_exit(*settings_paths(env, inventory, examples=True))
    images = sorted(
        {image for h in deployment.hosts for image in fetched_images(render_host(deployment, h))}
    )
    print(f"saved {len(images)} images into {save_bundle(images, Path(out))}/")


@task
def settings_example(c):
    """Write .env.example and the README's settings table from the settings' schema."""
    Path(".env.example").write_text(env_example(SPEC.keys))
    readme = Path("README.md")
    readme.write_text(with_settings_table(readme.read_text(), SPEC.keys))
    print(f"wrote .env.example and the README's settings table: {len(SPEC.keys)} settings")


@task(
    help={
        "args": "extra pytest arguments, e.g. '-k prosody'",
        "fast": "only the tests that need no Docker, root or test hosts (seconds)",
    }
)
def test(c, args="", fast=False):
    """Run the whole test suite (needs the machine prepared by tests/rig/setup-machine.sh)."""
    select = '-m "not docker and not root and not slow" ' if fast else ""
    c.run(f"{sys.executable} -m pytest {select}{args}", pty=False)


@task(
    help={
        "hosts": "deploy benchmark host counts, comma-separated (default 1,5)",
        "monitoring": "Uptime Kuma provisioned: on, off or on,off (default, side by side)",
        "ansible": "also Ansible doing the same work on the same kind of host (default: on; "
        "installs Ansible once into a cache)",
    }
)
def bench(c, hosts="1,5", monitoring="on,off", ansible=True):
    """Benchmarks, figures side by side and beside the previous run's (tests/bench/results.json):
    deploy (first and no-op, 1 vs 5 hosts, monitoring on and off), health check, day two
    (backup, restore, update downtime against plain Compose), the controller's start-up, the
    meeting history (collector events/s, a room join's cost), and Ansible beside the deploy
    (first converge and no-op)."""
    c.run(
        f"{sys.executable} -m tests.bench.deploy --hosts {hosts} --monitoring {monitoring}",
        pty=False,
    )
    c.run(f"{sys.executable} -m tests.health.bench", pty=False)
    c.run(f"{sys.executable} -m tests.bench.day_two", pty=False)
    c.run(f"{sys.executable} -m tests.bench.startup", pty=False)
    c.run(f"{sys.executable} -m tests.bench.meetings", pty=False)
    if ansible:
        c.run(f"{sys.executable} -m tests.bench.ansible", pty=False)
