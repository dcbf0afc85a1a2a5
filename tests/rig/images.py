"""Debian test-host images: debootstrap rootfs -> cached tarball -> `docker import`.

The rootfs tarballs live outside the repository (CACHE_DIR) so that a rerun on the same machine
skips debootstrap, and an image that already exists is not imported again.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import subprocess
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

CACHE_DIR = Path(os.environ.get("JITSI_DEPLOY_RIG_CACHE", "/var/cache/jitsi-deploy/rig"))
IMAGE_REPO = "jitsi-deploy-rig/debian"
RECIPE_LABEL = "jitsi-deploy-rig.recipe"
# Debian release number per suite, as /etc/os-release reports it.
SUITES = {"bookworm": "12", "trixie": "13"}
PACKAGES = (
    "openssh-server,systemd,systemd-sysv,dbus,python3,sudo,ca-certificates,iproute2,procps,"
    "curl,gnupg"
)
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
# The machine's apt suites that are mirrored into a test host, as suffixes of its codename.
MIRRORED_SUFFIXES = ("", "-updates", "-security")

# sshd host keys must differ per host, so the image ships none and each container makes its own
# before sshd starts.
HOSTKEYS_UNIT = """\
[Unit]
Description=Generate this host's own SSH host keys
Before=ssh.service ssh.socket
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
"""

# Docker keeps /proc/sys read-only in a container, but a real server's is writable and a nested
# dockerd writes its network sysctls there (e.g. disable_ipv6 on a container's interface). Only
# /proc/sys/net is opened: those keys belong to the host's own network namespace, so nothing
# reaches the engine's kernel settings.
PROC_SYS_NET_UNIT = """\
[Unit]
Description=Writable /proc/sys/net, as on a real server
DefaultDependencies=no
Before=sysinit.target systemd-sysctl.service
ConditionPathIsReadWrite=!/proc/sys/net

[Service]
Type=oneshot
ExecStart=/usr/bin/mount --bind /proc/sys/net /proc/sys/net
ExecStart=/usr/bin/mount -o remount,bind,rw /proc/sys/net

[Install]
WantedBy=sysinit.target
"""

SSHD_CONFIG = """\
# Test host: root may log in, by key only.
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
"""


@dataclass(frozen=True)
class AptSource:
    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]


def image_tag(suite: str) -> str:
    if suite not in SUITES:
        raise ValueError(f"unknown suite {suite!r}; known: {', '.join(SUITES)}")
    return f"{IMAGE_REPO}:{suite}"


def ensure_image(suite: str) -> str:
    """Return the tag of the test-host image for `suite`, building it only if it is missing."""
    tag = image_tag(suite)
    recipe = recipe_id(suite)
    with lock(f"image-{suite}"):
        if _image_recipe(tag) == recipe:
            return tag
        tarball = ensure_rootfs(suite)
        log.info("importing %s as %s", tarball, tag)
        changes = ["-c", 'CMD ["/sbin/init"]', "-c", f"LABEL {RECIPE_LABEL}={recipe}"]
        _run(["docker", "import", *changes, str(tarball), tag])
    return tag


def recipe_id(suite: str) -> str:
    """Identifies how an image is made: this module and the apt sources it copies. A change of
    either makes a new rootfs and image instead of reusing a stale cached one."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(render_sources(host_apt_sources(), suite).encode())
    return digest.hexdigest()[:12]


def ensure_all_images() -> list[str]:
    """Build every suite's image; debootstrap is mostly network and disk bound, so in parallel."""
    with ThreadPoolExecutor(max_workers=len(SUITES)) as pool:
        return list(pool.map(ensure_image, SUITES))


def ensure_rootfs(suite: str) -> Path:
    """Return the cached rootfs tarball of `suite`, running debootstrap on a cache miss."""
    tarball = CACHE_DIR / f"debian-{suite}-{recipe_id(suite)}.tar"
    if tarball.exists():
        return tarball
    for stale in CACHE_DIR.glob(f"debian-{suite}-*.tar"):
        stale.unlink()
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    sources = host_apt_sources()
    with tempfile.TemporaryDirectory(dir=CACHE_DIR, prefix=f"build-{suite}-") as tmp:
        root = Path(tmp) / "rootfs"
        _debootstrap(suite, root, sources)
        _customize(root, suite, sources)
        partial = Path(tmp) / "rootfs.tar"
        _run(["tar", "--numeric-owner", "--xattrs", "-C", str(root), "-cf", str(partial), "."])
        # Rename last so that an interrupted build never leaves a tarball that looks complete.
        partial.rename(tarball)
    return tarball


def _debootstrap(suite: str, root: Path, sources: list[AptSource]) -> None:
    mirror = _main_mirror(sources)
    log_path = CACHE_DIR / f"debootstrap-{suite}.log"
    log.info("debootstrap %s from %s (log: %s)", suite, mirror, log_path)
    argv = ["debootstrap", "--variant=minbase", f"--include={PACKAGES}", f"--keyring={KEYRING}"]
    with log_path.open("w") as out:
        done = subprocess.run([*argv, suite, str(root), mirror], stdout=out, stderr=out)
    if done.returncode != 0:
        raise RuntimeError(f"debootstrap {suite} failed ({done.returncode}); see {log_path}")


def _customize(root: Path, suite: str, sources: list[AptSource]) -> None:
    _write(root / "etc/apt/sources.list.d/debian.sources", render_sources(sources, suite))
    (root / "etc/apt/sources.list").unlink(missing_ok=True)
    _write(root / "etc/ssh/sshd_config.d/rig.conf", SSHD_CONFIG)
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    _install_unit(root, "rig-ssh-hostkeys.service", HOSTKEYS_UNIT, "multi-user.target")
    _install_unit(root, "rig-proc-sys-net.service", PROC_SYS_NET_UNIT, "sysinit.target")
    # An empty machine-id makes systemd create a fresh one in every container.
    _write(root / "etc/machine-id", "")
    (root / "var/lib/dbus/machine-id").unlink(missing_ok=True)
    (root / "etc/hostname").unlink(missing_ok=True)
    _add_users(root)
    _run(["chroot", str(root), "apt-get", "clean"])


def _install_unit(root: Path, name: str, text: str, wanted_by: str) -> None:
    """Write and enable a unit (the symlink `systemctl enable` would make)."""
    _write(root / "etc/systemd/system" / name, text)
    wants = root / "etc/systemd/system" / f"{wanted_by}.wants" / name
    wants.parent.mkdir(parents=True, exist_ok=True)
    wants.symlink_to(f"/etc/systemd/system/{name}")


def _add_users(root: Path) -> None:
    """`deploy` may sudo without a password; `nosudo` may not sudo at all."""
    for user in ("deploy", "nosudo"):
        _run(["chroot", str(root), "useradd", "--create-home", "--shell", "/bin/bash", user])
    sudoers = root / "etc/sudoers.d/deploy"
    _write(sudoers, "deploy ALL=(ALL) NOPASSWD:ALL\n")
    sudoers.chmod(0o440)


def host_apt_sources() -> list[AptSource]:
    """The `deb` sources of this machine, from deb822 .sources files or a one-line sources.list."""
    found: list[AptSource] = []
    for path in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        found += _parse_deb822(path.read_text())
    for path in [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*.list")]:
        if path.exists():
            found += _parse_one_line(path.read_text())
    if not found:
        raise RuntimeError("no Debian apt source found on this machine")
    return found


def _parse_deb822(text: str) -> list[AptSource]:
    found = []
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line:
                continue
            key, value = line.split(":", 1)
            fields[key.strip().lower()] = value.strip()
        if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes") != "no":
            for uri in fields.get("uris", "").split():
                found.append(AptSource(uri, _words(fields, "suites"), _words(fields, "components")))
    return found


def _words(fields: dict[str, str], key: str) -> tuple[str, ...]:
    return tuple(fields.get(key, "").split())


def _parse_one_line(text: str) -> list[AptSource]:
    found = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if not words or words[0] != "deb":
            continue
        if words[1].startswith("["):  # options such as [signed-by=...] end at the first "]"
            end = next(i for i, w in enumerate(words) if w.endswith("]"))
            words = ["deb", *words[end + 1 :]]
        found.append(AptSource(words[1], (words[2],), tuple(words[3:])))
    return found


def render_sources(sources: list[AptSource], suite: str) -> str:
    """deb822 sources for `suite`: this machine's mirrors, its codename mapped to `suite`."""
    codename = _host_codename()
    stanzas = []
    for src in sources:
        suites = [suite + suffix for suffix in MIRRORED_SUFFIXES if codename + suffix in src.suites]
        if suites:
            stanzas.append(
                f"Types: deb\nURIs: {src.uri}\nSuites: {' '.join(suites)}\n"
                f"Components: {' '.join(src.components)}\nSigned-By: {KEYRING}\n"
            )
    return "\n".join(stanzas)


def _main_mirror(sources: list[AptSource]) -> str:
    codename = _host_codename()
    for src in sources:
        if codename in src.suites:
            return src.uri
    raise RuntimeError(f"no apt source of this machine carries its own suite {codename!r}")


def _host_codename() -> str:
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.split("=", 1)[1].strip('"')
    raise RuntimeError("/etc/os-release has no VERSION_CODENAME")


def _image_recipe(tag: str) -> str | None:
    template = f'{{{{index .Config.Labels "{RECIPE_LABEL}"}}}}'
    argv = ["docker", "image", "inspect", "--format", template, tag]
    done = subprocess.run(argv, capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else None


@contextmanager
def lock(name: str) -> Iterator[None]:
    """Serialise a rig step across threads and processes (e.g. parallel pytest workers)."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with (CACHE_DIR / f"{name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
