"""Runs a throw-away Prosody (0.12 on this machine, 13 in a trixie container) with the room policy.

The room policy reaches Prosody the way a deployment ships it: the module file as is and the
settings rendered from ``room-policy.cfg.lua.j2`` into ``conf.d/`` (or, for settings the
deployment tool can never write, a settings file given as text).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import jinja2

from jitsi_deploy.render.templating import TEMPLATES_DIR, lua_literal, render_template
from jitsi_deploy.settings.rooms import RoomPolicy
from tests.ports import free_port

HERE = Path(__file__).resolve().parent
PROSODY13_IMAGE = os.environ.get("PROSODY13_IMAGE", "jitsi-deploy/prosody13:trixie")
VERSIONS = ("0.12", "13")
C2S_PORT_13 = 5222
HTTP_PORT_13 = 5280
STARTUP_TIMEOUT = 30.0


@dataclass
class Prosody:
    version: str
    directory: Path
    address: str
    port: int
    http_port: int
    container: str | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.directory / "prosody.log"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


def _scram_sha1_account(password: str) -> str:
    """An internal_hashed account file, so no prosodyctl has to run before the server."""
    salt = os.urandom(16).hex()
    iterations = 4096
    salted = hashlib.pbkdf2_hmac("sha1", password.encode(), salt.encode(), iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha1).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha1).digest()
    fields = {
        "iteration_count": iterations,
        "salt": salt,
        "stored_key": hashlib.sha1(client_key).hexdigest(),
        "server_key": server_key.hex(),
    }
    return f"return {lua_literal(fields)};\n"


def _write_account(data: Path, address: str, password: str) -> None:
    user, host = address.split("@")
    # Prosody's data directory encodes every non-alphanumeric character of a host name.
    encoded = "".join(ch if ch.isalnum() else f"%{ord(ch):02x}" for ch in host)
    accounts = data / encoded / "accounts"
    accounts.mkdir(parents=True, exist_ok=True)
    (accounts / f"{user}.dat").write_text(_scram_sha1_account(password))


# Jitsi's breakout rooms module names breakout rooms; its stand-in here (see its header) does.
BREAKOUT_LINK = "breakout_link_standin"


@dataclass(frozen=True)
class Setup:
    """What one test server runs with: the room policy, or a settings file as text, extra
    options of the MUC component and of the global section, the modules of the main MUC, and
    those of the breakout rooms' MUC (None: no such component)."""

    settings: RoomPolicy | str
    muc_options: dict[str, object] = field(default_factory=dict)
    global_options: dict[str, object] = field(default_factory=dict)
    main_modules: tuple[str, ...] = ("room_policy", BREAKOUT_LINK)
    breakout_modules: tuple[str, ...] | None = ("room_policy",)


def _render_config(directory: Path, setup: Setup, ports: tuple[int, int], interface: str) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["lua"] = lua_literal
    template = env.get_template("prosody.cfg.lua.j2")
    return template.render(
        dir=str(directory),
        port=ports[0],
        http_port=ports[1],
        interface=interface,
        muc_options=setup.muc_options,
        global_options=setup.global_options,
        main_modules=setup.main_modules,
        breakout_modules=setup.breakout_modules,
    )


def prepare(
    directory: Path,
    setup: Setup,
    accounts: dict[str, str],
    ports: tuple[int, int],
    interface: str,
) -> None:
    for sub in ("plugins", "conf.d", "data", "certs"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    shutil.copy(TEMPLATES_DIR / "prosody" / "mod_room_policy.lua", directory / "plugins")
    shutil.copy(HERE / "plugins" / f"mod_{BREAKOUT_LINK}.lua", directory / "plugins")
    settings = setup.settings
    if isinstance(settings, RoomPolicy):
        settings = render_template(
            "prosody/room-policy.cfg.lua.j2", site=SimpleNamespace(rooms=settings)
        )
    (directory / "conf.d" / "room-policy.cfg.lua").write_text(settings)
    config = _render_config(directory, setup, ports, interface)
    (directory / "prosody.cfg.lua").write_text(config)
    for address, password in accounts.items():
        _write_account(directory / "data", address, password)


# The listening socket accepts connections while hosts and modules are still loading; only a
# stream answer shows that Prosody finished starting and runs its event loop.
STREAM_OPEN = (
    b"<?xml version='1.0'?><stream:stream to='meet.jitsi' version='1.0' "
    b"xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
)


def _answers_xmpp(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=1) as connection:
            connection.sendall(STREAM_OPEN)
            answer = b""
            while b"<stream:stream" not in answer:
                chunk = connection.recv(4096)
                if not chunk:
                    return False
                answer += chunk
            return True
    except OSError:
        return False


def _wait_until_ready(address: str, port: int, server: Prosody, alive: Callable[[], bool]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if not alive():
            break
        if _answers_xmpp(address, port):
            return
        time.sleep(0.1)
    log = server.log_text() if server.log_path.exists() else "(no log)"
    raise RuntimeError(f"Prosody {server.version} did not start:\n{log[-3000:]}")


def ensure_prosody13_image() -> None:
    """Builds the Prosody 13 image when missing (the builder skips cached work)."""
    found = subprocess.run(
        ["docker", "image", "inspect", PROSODY13_IMAGE], capture_output=True, check=False
    )
    if found.returncode != 0:
        subprocess.run(["bash", str(HERE / "build-prosody13.sh")], check=True)


def start(version: str, directory: Path, setup: Setup, accounts: dict[str, str]) -> Prosody:
    if version == "0.12":
        return _start_local(directory, setup, accounts)
    return _start_container(directory, setup, accounts)


def _start_local(directory: Path, setup: Setup, accounts: dict[str, str]) -> Prosody:
    port, http_port = free_port(), free_port()
    prepare(directory, setup, accounts, (port, http_port), "127.0.0.1")
    with (directory / "stdout.log").open("wb") as out:
        process = subprocess.Popen(
            ["prosody", "-F", "--config", str(directory / "prosody.cfg.lua")],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Prosody("0.12", directory, "127.0.0.1", port, http_port, process=process)
    _wait_until_ready(server.address, port, server, lambda: process.poll() is None)
    return server


def _start_container(directory: Path, setup: Setup, accounts: dict[str, str]) -> Prosody:
    ensure_prosody13_image()
    return start_container(directory, setup, accounts, Image(PROSODY13_IMAGE))


@dataclass(frozen=True)
class Image:
    """The Prosody 13 image a container runs, and what it gets from its environment (names
    only: docker takes the values from this process's environment, so none is in argv); the
    Docker network it joins (the default bridge unless named)."""

    name: str
    environment: tuple[str, ...] = ()
    network: str = ""


def start_container(
    directory: Path, setup: Setup, accounts: dict[str, str], image: Image
) -> Prosody:
    """Prosody 13 from ``image`` (its entrypoint bypassed) with the test server's settings;
    files already in ``directory``'s conf.d are read too."""
    prepare(directory, setup, accounts, (C2S_PORT_13, HTTP_PORT_13), "*")
    name = f"jitsi-deploy-prosody13-{os.getpid()}-{directory.name}"
    config = str(directory / "prosody.cfg.lua")
    environment = [arg for variable in image.environment for arg in ("-e", variable)]
    if image.network:
        environment += ["--network", image.network]
    subprocess.run(
        ["docker", "run", "-d", "--name", name, "--user", "root", *environment,
         "--entrypoint", "prosody", "-v", f"{directory}:{directory}", image.name,
         "-F", "--config", config],
        check=True,
        capture_output=True,
    )  # fmt: skip
    server = Prosody("13", directory, "", C2S_PORT_13, HTTP_PORT_13, container=name)
    return wait_for_container(server)


def wait_for_container(server: Prosody) -> Prosody:
    """``server`` once its (re)started container answers XMPP, with its current address."""
    assert server.container
    address = subprocess.run(
        ["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
         server.container],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()  # fmt: skip
    server.address = address
    name = server.container
    _wait_until_ready(address, C2S_PORT_13, server, lambda: _container_running(name))
    return server


def _container_running(name: str) -> bool:
    state = subprocess.run(
        ["docker", "inspect", "-f", "{{.State.Running}}", name], capture_output=True, text=True
    )
    return state.stdout.strip() == "true"


def stop(server: Prosody) -> None:
    if server.container:
        subprocess.run(["docker", "rm", "-f", server.container], capture_output=True, check=False)
        return
    if server.process:
        server.process.terminate()
        server.process.wait(timeout=15)


def _curl(argv: list[str], url: str, headers: tuple[str, ...]) -> tuple[int, str]:
    command = [*argv, "curl", "-sS", "--max-time", "5", "-o", "-", "-w", "\n%{http_code}", url]
    for header in headers:
        command += ["-H", header]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    body, _, status = out.rpartition("\n")
    return int(status), body


def http_get(server: Prosody, path: str, *headers: str) -> tuple[int, str]:
    """Status and body of a GET to 127.0.0.1 from the server's own network namespace, with the
    same curl a health script in the prosody container runs: Prosody 13's container is entered
    with nsenter."""
    prefix: list[str] = []
    if server.container:
        pid = subprocess.run(
            ["docker", "inspect", "-f", "{{.State.Pid}}", server.container],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        prefix = ["nsenter", "--target", pid, "--net"]
    return _curl(prefix, f"http://127.0.0.1:{server.http_port}{path}", headers)


def http_get_from_host(server: Prosody, path: str) -> tuple[int, str]:
    """A GET from this machine to the container's address: not a loopback client."""
    assert server.container, "only a containerised server has an address of its own"
    return _curl([], f"http://{server.address}:{server.http_port}{path}", ())
