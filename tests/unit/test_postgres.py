"""ENABLE_POSTGRES=1 on the example site, without a server: what the core's compose file, env
file and Prosody settings say, when the deploy builds Prosody's image, and what switching it
off removes. tests/prosody/test_sql_storage.py runs the same settings and recipe for real."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from jitsi_deploy.model import paths
from jitsi_deploy.model.services import PROSODY_WITH_POSTGRES
from jitsi_deploy.steps import STEPS, storage
from jitsi_deploy.steps.facts import HostFacts
from jitsi_deploy.steps.images import (
    BUILDS,
    IMAGES,
    build_changes,
    fetched_images,
    parse_builds,
    recipe_digest,
    wanted_images,
)
from jitsi_deploy.steps.images import plan as images_plan
from jitsi_deploy.steps.step import PlanInput
from tests.unit.sites import rendered, site_with

STORAGE = SQL_SETTINGS = f"{paths.PROSODY_CONF_D}/storage-sql.cfg.lua"
BASE_ID = "sha256:" + "1" * 64


def core(tmp_path: Path, enabled: str = "1"):
    return rendered(site_with(tmp_path, ENABLE_POSTGRES=enabled), "meet.example.org")


def compose(files) -> dict:
    return yaml.safe_load(files.file(paths.COMPOSE_FILE).content)


def test_postgres_runs_inside_the_stack_with_its_password_from_the_env_file(
    tmp_path: Path,
) -> None:
    files = core(tmp_path)
    postgres = compose(files)["services"]["postgres"]
    assert postgres["image"] == "postgres:17"
    assert "ports" not in postgres, "only the stack's network reaches it"
    assert postgres["environment"]["POSTGRES_PASSWORD"] == "${POSTGRES_PASSWORD}"
    assert postgres["volumes"] == [f"{paths.POSTGRES_DATA_DIR}:/var/lib/postgresql/data"]
    assert postgres["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    # Sized to its limit (512m): a quarter for shared buffers.
    assert "shared_buffers=128MB" in postgres["command"]
    env = files.file(paths.COMPOSE_ENV).content.decode()
    assert f"POSTGRES_PASSWORD={files.site.secrets['POSTGRES_PASSWORD']}\n" in env
    (data,) = [d for d in files.directories if d.path == paths.POSTGRES_DATA_DIR]
    assert (data.mode, data.owner) == (0o700, "999")


def test_prosody_waits_for_a_healthy_database_and_runs_the_derived_image(
    tmp_path: Path,
) -> None:
    files = core(tmp_path)
    prosody = compose(files)["services"]["prosody"]
    assert prosody["image"] == f"{PROSODY_WITH_POSTGRES}:{files.site.images.jitsi_version}"
    assert prosody["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert prosody["environment"]["POSTGRES_PASSWORD"] == "${POSTGRES_PASSWORD}"
    settings = files.file(STORAGE).content.decode()
    assert 'default_storage = "sql"' in settings and "password = ENV_POSTGRES_PASSWORD" in settings
    assert files.site.secrets["POSTGRES_PASSWORD"] not in settings


def test_off_by_default_and_switching_it_off_removes_the_settings(tmp_path: Path) -> None:
    files = core(tmp_path, "0")
    services = compose(files)["services"]
    assert "postgres" not in services and "depends_on" not in services["prosody"]
    assert services["prosody"]["image"] == files.site.images.jitsi("prosody")
    assert STORAGE not in [f.path for f in files.files]
    assert [a.reacts for a in files.absent if a.path == STORAGE] == [("restart:prosody",)]


def test_the_bundle_holds_the_base_and_the_host_builds_the_rest(tmp_path: Path) -> None:
    files = core(tmp_path)
    base = files.site.images.jitsi("prosody")
    derived = f"{PROSODY_WITH_POSTGRES}:{files.site.images.jitsi_version}"
    assert base in fetched_images(files) and derived not in fetched_images(files)
    assert derived in wanted_images(files)
    present = dict.fromkeys(fetched_images(files), 1)
    facts = HostFacts({IMAGES.name: present, BUILDS.name: {}})
    (build,) = images_plan(PlanInput(files, facts))
    assert build.reacts == ("up:stack",) and build.commands[0].stdin
    assert build.commands[0].argv[-3:] == (base, derived, recipe_digest_of(files))


def recipe_digest_of(files) -> str:
    (derivation,) = [s.derived(files.site) for s in files.services if s.derived(files.site)]
    return recipe_digest(derivation)


def test_the_image_is_built_again_only_for_a_new_base_build_or_recipe(tmp_path: Path) -> None:
    files = core(tmp_path)
    derived = f"{PROSODY_WITH_POSTGRES}:{files.site.images.jitsi_version}"
    digest = recipe_digest_of(files)

    def builds(line: str) -> int:
        return len(build_changes(files, parse_builds([line])))

    assert builds(f"{derived} {BASE_ID} {digest} {BASE_ID}") == 0
    assert builds(f"{derived} {BASE_ID} {digest} sha256:{'2' * 64}") == 1  # a new base build
    assert builds(f"{derived} {BASE_ID} 0123456789abcdef {BASE_ID}") == 1  # a new recipe
    assert builds(f"{derived}   {BASE_ID}") == 1  # never built
    assert builds(f"{derived} {BASE_ID} {digest} ") == 1  # the base is to be loaded first


def test_files_are_moved_into_the_database_once_before_prosody_switches(tmp_path: Path) -> None:
    files = core(tmp_path)
    listed = [
        "meet%2ejitsi/accounts/alice.dat",
        "meet%2ejitsi/accounts/bob.dat",
        "auth%2emeet%2ejitsi/accounts/focus.dat",
        "meet%2ejitsi/archive/alice.list",
    ]
    stores = storage.parse_stores(listed)
    assert stores.hosts == {
        "meet.jitsi": ["accounts", "archive-archive"],
        "auth.meet.jitsi": ["accounts"],
    }

    (move,) = storage.plan(PlanInput(files, HostFacts({storage.STORES.name: stores})))
    (command,) = move.commands
    mark, settings, container, *ready = command.argv[command.argv.index("move") + 1 :]
    assert (mark, settings, container) == (paths.STORAGE_MOVED, SQL_SETTINGS, "jitsi-postgres")
    assert ready[-1] == "prosody" and "127.0.0.1" in ready  # asked over TCP
    password = files.site.secrets["POSTGRES_PASSWORD"]
    assert command.stdin and password.encode() in command.stdin
    assert not [arg for arg in command.argv if password in arg]
    names = [step.name for step in STEPS]
    assert names.index("images") < names.index("storage") < names.index("handlers")


def test_nothing_is_moved_twice_nor_without_files_nor_with_postgres_off(tmp_path: Path) -> None:
    def planned(files, stores: storage.Stores) -> list:
        return storage.plan(PlanInput(files, HostFacts({storage.STORES.name: stores})))

    listed = storage.parse_stores(["meet%2ejitsi/accounts/alice.dat"])
    on, off = core(tmp_path), core(tmp_path, "0")
    assert planned(on, storage.parse_stores(["moved"])) == []
    assert planned(on, storage.Stores()) == []
    assert planned(off, listed) == []
    assert storage.STORES.command(off) == "true"


FAKE_DOCKER = """#!/bin/sh
echo "docker $*" >> "$CALLS"
case "$*" in *"$FAIL"*) exit 1 ;; esac
"""


@pytest.mark.parametrize("failing", ["compose up", "exec", "compose run", ""])
def test_a_failed_move_takes_prosodys_sql_settings_away_again(tmp_path: Path, failing: str) -> None:
    """The move's script with a stand-in `docker` that fails at one point: until the mark is
    written, Prosody's SQL settings go, so a restart keeps it on its files."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(FAKE_DOCKER)
    (bin_dir / "docker").chmod(0o755)
    for instant in ("chown", "sleep"):  # PostgreSQL that never gets ready fails at once
        (bin_dir / instant).symlink_to("/bin/true")
    mark, settings = tmp_path / "moved", tmp_path / "storage-sql.cfg.lua"
    settings.write_text("default_storage = 'sql'\n")
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "CALLS": str(tmp_path / "calls"),
           "FAIL": failing or "nothing fails"}  # fmt: skip
    script = storage.MOVE.replace(f"cd {paths.STACK_DIR} && ", "")
    done = subprocess.run(
        ["sh", "-c", script, "move", str(mark), str(settings), "jitsi-postgres", "pg_isready"],
        input="config", env=env, capture_output=True, text=True, timeout=20,
    )  # fmt: skip
    assert (done.returncode == 0) == (not failing), done.stderr
    assert mark.exists() == settings.exists() == (not failing)
