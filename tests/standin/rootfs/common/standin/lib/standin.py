"""Shared by the stand-ins' Python parts: the environment as the real images' templates read it,
fault flags, the JVM heap rule and a small HTTP endpoint. Runs on Debian trixie's python3.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

log = logging.getLogger("standin")

MIB = 1024 * 1024
# What a JVM needs besides its heap (metaspace, threads, code cache, direct buffers).
JVM_OVERHEAD = 256 * MIB
# cgroup v1 reports "no limit" as a page-rounded 2**63 - 1.
UNLIMITED = 1 << 60


class Refusal(Exception):
    """The container must not start: the message says why."""


def setup_logging() -> None:
    logging.basicConfig(
        level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(levelname)s %(message)s"
    )
    logging.getLogger("slixmpp").setLevel(logging.WARNING)


def exit_on_sigterm() -> None:
    """Stop at once on `docker stop`: PID 1 ignores signals it does not handle."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))


def compact_json(value: object) -> str:
    """JSON without spaces, as jicofo's and jvb's Jackson writes it (scripts grep for keys)."""
    return json.dumps(value, separators=(",", ":"))


def env(name: str, default: str = "") -> str:
    """A variable the way the images' templates read it: unset and empty both mean the default."""
    return os.environ.get(name) or default


def env_bool(name: str, default: str) -> bool:
    """`.Env.NAME | default "x" | toBool`: tpl's toBool drops quotes and accepts exactly Go's
    strconv.ParseBool words; anything else aborts the template (and the image's config step)."""
    value = env(name, default).replace('"', "").replace("'", "")
    if value in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if value in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise Refusal(f"{name}={value!r} is not a boolean the templates accept (1, 0, true, false)")


def env_list(name: str, default: str = "") -> list[str]:
    """`splitList "," ... | compact`: comma-separated, empty items dropped."""
    return [item for item in env(name, default).split(",") if item]


def fault(name: str) -> bool:
    """Injected fault flags: /tmp/fault-NAME is lost on restart (/tmp is a tmpfs), a file
    /var/fault/NAME survives restarts."""
    return Path(f"/tmp/fault-{name}").exists() or Path(f"/var/fault/{name}").exists()


def java_size(value: str) -> int | None:
    """Bytes of a JVM -Xmx argument (k, m, g, t suffixes, either case), None if the JVM would
    reject it."""
    match = re.fullmatch(r"(\d+)([kKmMgGtT]?)", value)
    if not match:
        return None
    power = " kmgt".index((match.group(2) or " ").lower())
    return int(match.group(1)) * 1024**power


MEMORY_LIMIT_FILES = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")


def memory_limit(files: tuple[str, ...] = MEMORY_LIMIT_FILES) -> int | None:
    """The container's memory limit from its cgroup (v2 or v1), None when unlimited. Where no
    file says, the heap rule could not be checked: a Refusal, never a rule quietly off."""
    for path in files:
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text == "max" or int(text) >= UNLIMITED:
            return None
        return int(text)
    raise Refusal(
        f"cannot read the container's memory limit ({' or '.join(files)}), so the heap rule "
        "cannot be checked: run the stand-in where Docker gives containers a memory cgroup"
    )


def check_heap(variable: str) -> None:
    """jvb.sh and jicofo.sh start `java -Xmx$VARIABLE`, 3072m when unset. A value the JVM cannot
    parse stops it at once. A heap that does not fit the memory limit is refused here, earlier
    than the real JVM, which starts and is OOM-killed once the heap grows under load."""
    value = env(variable, "3072m")
    heap = java_size(value)
    if heap is None:
        raise Refusal(
            f"Invalid maximum heap size: -Xmx{value} ({variable})\n"
            "Error: Could not create the Java Virtual Machine."
        )
    if heap < 2 * MIB:
        raise Refusal(f"Too small maximum heap: -Xmx{value} ({variable})")
    limit = memory_limit()
    if limit is not None and heap > limit - JVM_OVERHEAD:
        fits = max(limit - JVM_OVERHEAD, 0) // MIB
        raise Refusal(
            f"{variable}={value} (-Xmx{value}) does not fit the container's memory limit of "
            f"{limit // MIB} MiB: the JVM needs {JVM_OVERHEAD // MIB} MiB besides its heap. "
            f"Set {variable} to at most {fits}m or raise the limit."
        )


def refuse_and_exit(error: Refusal) -> None:
    print(f"FATAL ERROR: {error}", file=sys.stderr, flush=True)
    sys.exit(1)


Route = Callable[[BaseHTTPRequestHandler], tuple[int, str, str]]


def serve_http(host: str, port: int, routes: dict[tuple[str, str], Route]) -> None:
    """Serve `routes` ((method, path) -> handler returning status, content type, body) from a
    thread. Every path answers 500 while the `health` fault flag is set."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            path = self.path.split("?", 1)[0]
            route = routes.get((self.command, path))
            if fault("health"):
                status, kind, body = 500, "text/plain", "stand-in fault injected\n"
            elif route is None:
                status, kind, body = 404, "text/plain", "Not Found\n"
            else:
                status, kind, body = route(self)
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    log.info("REST on %s:%d", host, port)


def xmpp_servers() -> list[tuple[str, int]]:
    """The bridge's XMPP servers as jvb.conf renders them: XMPP_SERVER is a comma list of
    "host[:port]", XMPP_PORT (5222) the default port, and the default host is the prosody
    service's network alias xmpp.meet.jitsi."""
    port = env("XMPP_PORT", "5222")
    servers = []
    for item in env_list("XMPP_SERVER", "xmpp.meet.jitsi"):
        host, _, own_port = item.partition(":")
        servers.append((host, int(own_port or port)))
    return servers
