"""The official redis:8 image's contract as tests/redis/docker-entrypoint.sh enforces it: each rule
broken once and its consequence seen (who owns the data and config files, which user and
capabilities the server keeps, the umask, which arguments reach redis-server, protected mode),
and the deploy's own way of starting it: the config from stdin, the password required.

Secrets reach the containers as `-e NAME`, their values in the docker client's environment,
never in its argv. Containers start detached; each wait is a poll with a deadline.
"""

from __future__ import annotations

import functools
import json
import stat
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.redis.image import ensure_image
from tests.rig.containers import docker, logs, pass_env, running
from tests.rig.containers import started as started_container

pytestmark = pytest.mark.slow

DATA = "/data"
CONF_DIR = "/usr/local/etc/redis"
CONF = f"{CONF_DIR}/redis.conf"
PASSWORD = "first-secret-58"
READY_TIMEOUT = 20.0
POLL = 0.05
# The compose service as the deploy writes it (`$$` already unescaped): the config on stdin.
DEPLOY_COMMAND = (
    "exec docker-entrypoint.sh redis-server - <<EOF\n"
    "requirepass $REDIS_PASSWORD\n"
    'save ""\n'
    "appendonly no\n"
    "maxmemory 96mb\n"
    "EOF"
)
DEPLOY_HEALTHCHECK = 'REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli ping | grep -q PONG'
NOAUTH = "NOAUTH Authentication required."
DENIED = "DENIED Redis is running in protected mode"
SKIP_NOTICE = "Permissions will not be modified. Use SKIP_FIX_PERMS=1 to skip permission changes."


started = functools.partial(started_container, prefix="redis")


def cli(name: str, *args: str, password: str | None = None, host: str | None = None) -> str:
    """redis-cli in the container ``name``, to its own server or to ``host``; the password as
    REDISCLI_AUTH, as the deploy's health check passes it."""
    auth = {"REDISCLI_AUTH": password} if password else {}
    target = ["-h", host] if host else []
    argv = ["exec", *pass_env(auth), name, "redis-cli", *target, *args]
    done = docker(*argv, env=auth, check=False)
    return (done.stdout + done.stderr).strip()


def wait_ready(name: str, port: int = 6379) -> None:
    """The server answers on its port: PONG, or NOAUTH when it wants a password."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if not running(name):
            raise AssertionError(f"{name} stopped before it was ready:\n{logs(name)}")
        if cli(name, "-p", str(port), "ping") in ("PONG", NOAUTH):
            return
        time.sleep(POLL)
    raise AssertionError(f"{name} not ready within {READY_TIMEOUT} s:\n{logs(name)}")


def wait_healthy(name: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    state = "{{.State.Health.Status}}"
    while docker("inspect", "--format", state, name).stdout.strip() != "healthy":
        assert time.monotonic() < deadline and running(name), logs(name)
        time.sleep(POLL)


def wait_exit(name: str) -> int:
    """The exit code of a container expected to stop on its own."""
    try:
        return int(docker("wait", name, timeout=READY_TIMEOUT).stdout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{name} still runs after {READY_TIMEOUT} s:\n{logs(name)}")


def pid1(name: str, field: str) -> str:
    """A line of the server's /proc/1/status (Uid, CapBnd, NoNewPrivs, Umask), its first value."""
    status = docker("exec", name, "cat", "/proc/1/status").stdout
    line = next(line for line in status.splitlines() if line.startswith(f"{field}:"))
    return line.split()[1]


def address(name: str) -> str:
    return docker("inspect", "--format", "{{.NetworkSettings.IPAddress}}", name).stdout.strip()


def folder(path: Path, mode: int = 0o755, files: Sequence[str] = ()) -> Path:
    """A host folder of root's, as a deploy's bind mount starts, holding empty ``files``."""
    path.mkdir(mode=mode)
    path.chmod(mode)
    for name in files:
        (path / name).touch(mode=0o600)
    return path


def conf_folder(path: Path, text: str, *others: str) -> Path:
    """A config folder of root's: redis.conf (0600, only root may read it) and ``others``."""
    folder(path, files=others)
    (path / "redis.conf").write_text(text)
    (path / "redis.conf").chmod(0o600)
    return path


def owner(path: Path) -> int:
    return path.stat().st_uid


@pytest.fixture(scope="module")
def image() -> str:
    """redis:8; the first build on a machine takes half a minute, later ones a second."""
    done = subprocess.run(["docker", "info"], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"the Redis tests need a running Docker engine: {done.stderr}")
    return ensure_image()


@pytest.fixture(scope="module")
def client(image: str) -> Iterator[str]:
    """A container of the same image with `sleep` as its command, to reach servers over the
    network as another service does: the entry point runs any command but the server as given."""
    with started(image, "sleep", "infinity") as name:
        yield name


def test_the_image_is_configured_as_the_official_one(image: str) -> None:
    config = json.loads(docker("image", "inspect", "--format", "{{json .Config}}", image).stdout)
    assert config["Entrypoint"] == ["docker-entrypoint.sh"]
    assert config["Cmd"] == ["redis-server"]
    assert list(config["ExposedPorts"]) == ["6379/tcp"]
    assert config["WorkingDir"] == DATA
    assert not config.get("Volumes")  # the 8.x images declare none
    paths = (
        "for t in redis-server redis-sentinel redis-check-aof; do readlink -f $(command -v $t); "
        "done; for t in redis-cli docker-entrypoint.sh; do command -v $t; done; "
        "id redis; stat -c %u:%g:%a /data; "
        "test ! -e /etc/redis"
    )
    done = docker("run", "--rm", "--entrypoint", "sh", image, "-c", paths)
    assert done.stdout.splitlines() == [
        *["/usr/local/bin/redis-server"] * 3,
        "/usr/local/bin/redis-cli",
        "/usr/local/bin/docker-entrypoint.sh",
        "uid=999(redis) gid=999(redis) groups=999(redis)",
        "999:999:755",
    ]


def test_the_deploys_stdin_config_runs_as_redis_and_wants_the_password(
    image: str, client: str
) -> None:
    """The compose service exactly: `sh -c` feeding the config to `redis-server -`, REDIS_PASSWORD
    in the environment, healthy by its health check; then uid 999, NOAUTH without the password,
    in and configured with it, from inside and from another container."""
    env = {"REDIS_PASSWORD": PASSWORD}
    health = ["--health-cmd", DEPLOY_HEALTHCHECK, "--health-interval", "1s"]
    with started(image, "sh", "-c", DEPLOY_COMMAND, env=env, options=health) as name:
        wait_healthy(name)
        assert "Reading config from stdin" in logs(name)
        assert docker("exec", name, "cat", "/proc/1/comm").stdout.strip() == "redis-server"
        assert pid1(name, "Uid") == "999"
        assert cli(name, "ping") == NOAUTH
        assert cli(name, "ping", password=PASSWORD) == "PONG"
        assert cli(name, "config", "get", "maxmemory", password=PASSWORD).split() == [
            "maxmemory",
            "100663296",
        ]
        assert cli(name, "config", "get", "save", password=PASSWORD).split() == ["save"]
        assert cli(name, "config", "get", "appendonly", password=PASSWORD).split()[1] == "no"
        host = address(name)
        assert cli(client, "ping", host=host) == NOAUTH
        refused = cli(client, "ping", host=host, password="wrong-secret")
        assert "WRONGPASS" in refused and "PONG" not in refused
        assert cli(client, "ping", host=host, password=PASSWORD) == "PONG"


def test_a_data_folder_redis_cannot_write_is_handed_to_redis(image: str, tmp_path: Path) -> None:
    """A fresh bind mount (root's, 0755) and the append-only folder of a root run: both redis's."""
    data = folder(tmp_path / "data")
    (data / "appendonlydir").mkdir(mode=0o700)
    with started(image, options=["--volume", f"{data}:{DATA}"]) as name:
        wait_ready(name)
        assert owner(data) == owner(data / "appendonlydir") == 999
        assert stat.S_IMODE(data.stat().st_mode) == 0o755
        assert cli(name, "save") == "OK"


def test_an_unknown_file_leaves_the_data_folder_as_it_is(image: str, tmp_path: Path) -> None:
    """Only *.rdb and appendonlydir may be there: anything else (a home folder mounted by
    mistake) and nothing changes, with a notice; the server starts and cannot save."""
    data = folder(tmp_path / "data", files=["notes.txt"])
    with started(image, options=["--volume", f"{data}:{DATA}"]) as name:
        wait_ready(name)
        assert f"Notice: Unknown file './notes.txt' found in data dir. {SKIP_NOTICE}" in logs(name)
        assert owner(data) == owner(data / "notes.txt") == 0
        assert pid1(name, "Uid") == "999"
        assert cli(name, "save") != "OK"


def test_skip_fix_perms_leaves_the_data_folder_as_it_is(image: str, tmp_path: Path) -> None:
    data = folder(tmp_path / "data")
    options = ["--volume", f"{data}:{DATA}"]
    with started(image, env={"SKIP_FIX_PERMS": "1"}, options=options) as name:
        wait_ready(name)
        assert owner(data) == 0
        assert pid1(name, "Uid") == "999"


def test_a_non_root_user_runs_the_server_as_itself(image: str, tmp_path: Path) -> None:
    """`user: 1000:1000`: no chown, no step down; the folder must already be that user's."""
    data = folder(tmp_path / "data")
    options = ["--user", "1000:1000", "--volume", f"{data}:{DATA}"]
    with started(image, options=options) as name:
        wait_ready(name)
        assert pid1(name, "Uid") == "1000"
        assert owner(data) == 0
        assert cli(name, "save") != "OK"


@pytest.mark.parametrize(
    ("env", "options"),
    [({"SKIP_DROP_PRIVS": "1"}, []), ({}, ["--cap-drop", "SETUID"])],
    ids=["SKIP_DROP_PRIVS", "no-SETUID"],
)
def test_without_the_step_down_the_server_stays_root_and_fixes_nothing(
    image: str, tmp_path: Path, env: dict[str, str], options: list[str]
) -> None:
    data = folder(tmp_path / "data")
    with started(image, env=env, options=[*options, "--volume", f"{data}:{DATA}"]) as name:
        wait_ready(name)
        assert pid1(name, "Uid") == "0"
        assert owner(data) == 0


def test_the_server_keeps_no_capability_and_no_way_to_gain_one(image: str) -> None:
    """setpriv empties the bounding set and sets no-new-privileges. The one capability it would
    keep, SYS_RESOURCE, is not Docker's default, and this machine's engine cannot grant it
    (`--cap-add SYS_RESOURCE` fails here): that branch of the rule goes untested."""
    with started(image) as name:
        wait_ready(name)
        assert pid1(name, "CapBnd") == "0000000000000000"
        assert pid1(name, "NoNewPrivs") == "1"


def test_files_the_server_writes_are_private_unless_a_umask_is_given(
    image: str, tmp_path: Path
) -> None:
    """Docker's umask 0022 becomes 0077 (the dump is 0600); a umask of the container's own stays."""
    for umask, mode in (("0022", 0o600), ("0027", 0o640)):
        data = folder(tmp_path / f"data-{umask}")
        command = ["sh", "-c", f"umask {umask}; exec docker-entrypoint.sh redis-server"]
        with started(image, *command, options=["--volume", f"{data}:{DATA}"]) as name:
            wait_ready(name)
            assert cli(name, "save") == "OK"
            assert stat.S_IMODE((data / "dump.rdb").stat().st_mode) == mode, umask
            assert owner(data / "dump.rdb") == 999


def test_options_as_the_first_argument_are_redis_servers(image: str) -> None:
    with started(image, "--port", "7000") as name:
        wait_ready(name, port=7000)
        assert docker("exec", name, "cat", "/proc/1/comm").stdout.strip() == "redis-server"
        assert pid1(name, "Uid") == "999"


def test_a_conf_file_as_the_first_argument_is_redis_servers_and_made_readable(
    image: str, tmp_path: Path
) -> None:
    """The config folder holding only the file: the file (root's, 0600) becomes redis's."""
    conf = conf_folder(tmp_path / "conf", "port 7001\nrequirepass conf-secret\n")
    with started(image, CONF, options=["--volume", f"{conf}:{CONF_DIR}"]) as name:
        wait_ready(name, port=7001)
        assert cli(name, "-p", "7001", "ping") == NOAUTH
        assert owner(conf / "redis.conf") == 999


def test_a_config_folder_with_other_files_is_left_as_it_is(image: str, tmp_path: Path) -> None:
    """Another file beside the config: nothing changes, and redis cannot read root's file."""
    conf = conf_folder(tmp_path / "conf", "port 7001\n", "users.acl")
    with started(image, CONF, options=["--volume", f"{conf}:{CONF_DIR}"]) as name:
        assert wait_exit(name) == 1
        assert f"Notice: Unknown file '{CONF_DIR}/users.acl' found in '{CONF_DIR}'" in logs(name)
        assert owner(conf / "redis.conf") == 0


def test_other_commands_run_as_given(image: str) -> None:
    done = docker("run", "--rm", image, "sh", "-c", "id -u; umask; redis-cli --version")
    assert done.stdout.split()[:3] == ["0", "0077", "redis-cli"]


def test_without_a_config_file_protected_mode_is_off(image: str, client: str) -> None:
    """The official binary's default (Debian's would answer DENIED): another container gets in
    without a password, as with redis:8; a deploy must set one."""
    with started(image) as name:
        wait_ready(name)
        assert cli(client, "ping", host=address(name)) == "PONG"
        assert cli(name, "config", "get", "protected-mode").split() == ["protected-mode", "no"]


@pytest.mark.parametrize("where", ["config file", "command line"])
def test_protected_mode_the_command_sets_is_kept(
    image: str, client: str, tmp_path: Path, where: str
) -> None:
    if where == "config file":
        conf = conf_folder(tmp_path / "conf", "Protected-Mode yes\n")
        command, options = [CONF], ["--volume", f"{conf}:{CONF_DIR}"]
    else:
        command, options = ["--protected-mode", "yes"], []
    with started(image, *command, options=options) as name:
        wait_ready(name)
        assert cli(client, "ping", host=address(name)).startswith(DENIED)
        assert cli(name, "config", "get", "protected-mode").split() == ["protected-mode", "yes"]


def test_sentinel_steps_down_and_gets_its_config_writable(image: str, tmp_path: Path) -> None:
    """redis-sentinel (a link to redis-server) is the server too: its config folder, root's, is
    made redis's, since sentinel rewrites the file."""
    conf = conf_folder(tmp_path / "conf", "port 26379\n")
    (conf / "redis.conf").chmod(0o644)
    options = ["--volume", f"{conf}:{CONF_DIR}"]
    with started(image, "redis-sentinel", CONF, options=options) as name:
        wait_ready(name, port=26379)
        assert pid1(name, "Uid") == "999"
        assert owner(conf) == owner(conf / "redis.conf") == 999
