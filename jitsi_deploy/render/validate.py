"""Check rendered files with the tools that will read them: Compose, nginx, luacheck, shellcheck."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

from ..errors import ValidationError
from ..model import paths
from .host import Rendered, write_tree

REPO = Path(__file__).resolve().parents[2]
# The Debian package of each validator, for the hint when one is missing.
PACKAGES = {
    "docker-compose": "docker-compose",
    "nginx": "nginx-light",
    "nginx stream module": "libnginx-mod-stream",
    "openssl": "openssl",
    "luacheck": "lua-check",
    "shellcheck": "shellcheck",
}


class MissingTool(ValidationError):
    """A validator is not installed here: its check is skipped and said so, not failed."""


def compose_command() -> list[str]:
    """Compose v2 (`docker compose`) where the plugin exists, else v1 (`docker-compose`)."""
    if shutil.which("docker") and _succeeds(["docker", "compose", "version"]):
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise _missing("docker-compose")


def validate(rendered: Rendered) -> list[str]:
    """Run every validator that applies; one line per check ("ok ..." or "skipped ...: why").

    Raises ValidationError on the first file a validator refuses.
    """
    results = []
    with tempfile.TemporaryDirectory(prefix="jitsi-deploy-check-") as scratch:
        tree = write_tree(rendered, Path(scratch))
        for label, check in _checks(tree):
            try:
                check()
                results.append(f"ok       {label}")
            except MissingTool as missing:
                results.append(f"skipped  {label}: {missing}")
    return results


def _checks(tree: Path) -> list[tuple[str, Callable[[], None]]]:
    def label(tool: str, file: Path) -> str:
        return f"{tool} /{file.relative_to(tree)}"

    checks = [("compose config", partial(_compose, tree / paths.STACK_DIR.lstrip("/")))]
    stream = tree / paths.NGINX_STREAM.lstrip("/")
    checks += [
        (label("nginx -t", f), partial(_nginx, f, stream)) for f in _under(tree, paths.NGINX_SITE)
    ]
    checks += [(label("luacheck", f), partial(_luacheck, f)) for f in sorted(tree.rglob("*.lua"))]
    checks += [(label("shellcheck", f), partial(_shellcheck, f)) for f in _shell_scripts(tree)]
    return checks


def _compose(stack: Path) -> None:
    _run([*compose_command(), "config", "--quiet"], "compose config", cwd=stack)


def _nginx(site: Path, stream: Path) -> None:
    """`nginx -t` on the site, and the TLS split on 443 when there is one, inside a minimal
    main config under a scratch prefix.

    The files name the certificate links the deploy manages on the host; here they point at a
    throwaway self-signed pair, since nginx loads the certificates when it tests a config.
    """
    scratch = site.parent / ".nginx-test"
    certs = scratch / "tls"
    certs.mkdir(parents=True)
    _throwaway_pair(certs)
    main = f"pid {scratch}/nginx.pid;\nerror_log {scratch}/error.log;\n"
    if stream.exists():
        if not Path(STREAM_MODULE).exists():
            raise _missing("nginx stream module")
        _with_test_certs(stream, scratch / "stream.conf", certs)
        main += f"load_module {STREAM_MODULE};\ninclude {scratch}/stream.conf;\n"
    _with_test_certs(site, scratch / "site.conf", certs)
    main += f"events {{}}\nhttp {{ include /etc/nginx/mime.types; include {scratch}/site.conf; }}\n"
    (scratch / "nginx.conf").write_text(main)
    nginx = ["nginx", "-t", "-q", "-e", str(scratch / "error.log"), "-p", str(scratch)]
    _run([*nginx, "-c", str(scratch / "nginx.conf")], "nginx -t")


# Where Debian's libnginx-mod-stream puts the module the TLS split needs.
STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"
PAIR = ("fullchain.pem", "privkey.pem")


def _throwaway_pair(certs: Path) -> None:
    key, chain = str(certs / PAIR[1]), str(certs / PAIR[0])
    argv = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    _run([*argv, "-subj", "/CN=validate", "-keyout", key, "-out", chain], "openssl")


def _with_test_certs(source: Path, target: Path, certs: Path) -> None:
    """``source`` copied to ``target`` with every certificate link replaced by the pair."""
    text = source.read_text()
    for link in sorted(set(re.findall(rf"{re.escape(paths.TLS_ROOT)}/[^;\s]+", text))):
        text = text.replace(link, str(certs / (PAIR[0] if "fullchain" in link else PAIR[1])))
    target.write_text(text)


def _luacheck(file: Path) -> None:
    argv = ["luacheck", "--no-color", "--config", str(REPO / ".luacheckrc"), str(file)]
    if file.name.endswith(".cfg.lua"):
        # A Prosody config file is a list of global assignments: that is its format.
        argv.append("--no-global")
    _run(argv, "luacheck")


def _shellcheck(file: Path) -> None:
    _run(["shellcheck", str(file)], "shellcheck")


def _under(tree: Path, remote_path: str) -> list[Path]:
    file = tree / remote_path.lstrip("/")
    return [file] if file.is_file() else []


def _shell_scripts(tree: Path) -> list[Path]:
    return [f for f in sorted(tree.rglob("*")) if f.is_file() and _is_shell(f)]


def _is_shell(file: Path) -> bool:
    with file.open("rb") as handle:
        first = handle.readline()
    return first.startswith(b"#!") and (b"sh" in first.split(b"/")[-1])


def _missing(tool: str) -> MissingTool:
    return MissingTool(f"{tool} is not installed here (apt-get install {PACKAGES[tool]})")


def _run(argv: list[str], what: str, cwd: Path | None = None) -> None:
    if not shutil.which(argv[0]):
        raise _missing(argv[0])
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise ValidationError(f"{what} failed (exit {result.returncode}):\n{output}")


def _succeeds(argv: list[str]) -> bool:
    return subprocess.run(argv, capture_output=True, check=False).returncode == 0
