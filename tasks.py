"""Local tasks (Invoke): render and validate deployments, run the tests and the benchmarks.

Remote work (deploy, status, logs, ...) lives in fabfile.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

from invoke import Exit, task

from jitsi_deploy.bundle import save_bundle
from jitsi_deploy.entry import load_or_exit, settings_paths
from jitsi_deploy.errors import DeployError
from jitsi_deploy.model.deployment import SPEC
from jitsi_deploy.render.host import render_host, write_tree
from jitsi_deploy.render.validate import validate
from jitsi_deploy.settings.schema import env_example
from jitsi_deploy.steps.images import wanted_images


@task(
    help={
        "env": "settings file (default: .env, else .env.example)",
        "hosts": "inventory file (default: hosts, else hosts.example)",
        "build": "output folder (default: build)",
        "skip_validation": "write the files without running the validators",
    }
)
def render(c, env=None, hosts=None, build="build", skip_validation=False):
    """Render every host's files under build/<host>/ and validate them with the real tools."""
    deployment = load_or_exit(*settings_paths(env, hosts, examples=True))
    try:
        for host in deployment.hosts:
            rendered = render_host(deployment, host)
            root = write_tree(rendered, Path(build))
            print(f"{host.name} ({host.role}): {len(rendered.files)} files in {root}/")
            for result in [] if skip_validation else validate(rendered):
                print(f"  {result}")
    except DeployError as error:
        raise Exit(f"render failed: {error}", code=1) from None


@task(
    help={
        "out": "bundle folder to write (default: bundle)",
        "env": "settings file (default: .env, else .env.example)",
        "hosts": "inventory file (default: hosts, else hosts.example)",
    }
)
def bundle(c, out="bundle", env=None, hosts=None):
    """Save the images the hosts run, from this machine's Docker, into an offline bundle folder.

    Pull them here first (docker pull); deploy with --bundle for hosts with IMAGE_SOURCE=bundle.
    """
    deployment = load_or_exit(*settings_paths(env, hosts, examples=True))
    images = sorted(
        {image for h in deployment.hosts for image in wanted_images(render_host(deployment, h))}
    )
    print(f"saved {len(images)} images into {save_bundle(images, Path(out))}/")


@task
def settings_example(c):
    """Write .env.example from the settings' schema (every key, its default and meaning)."""
    Path(".env.example").write_text(env_example(SPEC.keys))
    print(f"wrote .env.example: {len(SPEC.keys)} settings")


@task(help={"args": "extra pytest arguments, e.g. '-k prosody'"})
def test(c, args=""):
    """Run the whole test suite (needs the machine prepared by tests/rig/setup-machine.sh)."""
    c.run(f"{sys.executable} -m pytest {args}", pty=False)


@task(help={"hosts": "deploy benchmark host counts, comma-separated (default 1,5)"})
def bench(c, hosts="1,5"):
    """Benchmarks, figures side by side: deploy (first and no-op, 1 vs 5 hosts), health check."""
    c.run(f"{sys.executable} -m tests.bench.deploy --hosts {hosts}", pty=False)
    c.run(f"{sys.executable} tests/health/bench.py", pty=False)
