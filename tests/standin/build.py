"""Builds the stand-in images of the Jitsi stack, locally and offline, under the real names.

The real images (ghcr.io/jitsi/*) cannot be pulled on the test machines. The stand-ins enforce
the part of their runtime contract a compose file can get wrong (CONTRACT.md): an s6-overlay
style init that runs from /run, uid 1000 on a read-only root, the volumes and variables each
image checks. Real programs fill the slots where they can: Prosody 13 (the project's Debian trixie
image, tests/prosody/build-prosody13.sh), nginx for web, slixmpp XMPP clients as jicofo and jvb.

    python tests/standin/build.py [--jitsi-tag TAG] [--save BUNDLE_DIR]

Images are cached in the engine by a hash of their recipe: a rerun costs one `docker image
inspect` per image. Uptime Kuma's stand-in stays a static busybox answering its front page.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
ROOTFS = HERE / "rootfs"
KUMA_ROOTFS = HERE / "kuma"
BASE_DOCKERFILE = HERE / "base.Dockerfile"
BUSYBOX = Path("/bin/busybox")
PROSODY13_IMAGE = os.environ.get("PROSODY13_IMAGE", "jitsi-deploy/prosody13:trixie")
CACHE_DIR = Path(os.environ.get("JITSI_DEPLOY_STANDIN_CACHE", "/var/cache/jitsi-deploy/standin"))
BASE_REPO = "jitsi-deploy/standin-base"
JITSI_SERVICES = ("web", "prosody", "jicofo", "jvb")
JITSI_REPO = "ghcr.io/jitsi"
JITSI_TAG = "stable-11146-2"
KUMA_IMAGE = "louislam/uptime-kuma:2"
LOCAL_REPO = "localhost/jitsi-deploy-standin"
HASH_LABEL = "org.jitsi-deploy.standin.hash"
# What the base image keeps out of its one layer: nothing in the containers reads it.
TRIMMED = ("usr/share/doc/", "usr/share/man/", "usr/share/info/", "usr/share/locale/")
# Per image, as in each image's Dockerfile at stable-11146-2.
VOLUMES = {
    "web": ["/config", "/usr/share/jitsi-meet/transcripts"],
    "prosody": ["/config", "/prosody-plugins-custom"],
    "jicofo": ["/config"],
    "jvb": ["/config"],
}
EXPOSE = {"web": "8000 8443", "prosody": "5222 5280", "jicofo": "8888", "jvb": "8080 10000/udp"}
# Folders an image makes for its user (web/Dockerfile: /storage for the TLS material).
FOLDERS = {"web": "RUN mkdir /storage && chown s6:s6 /storage\n"}


def image_names(
    jitsi_repo: str = JITSI_REPO, jitsi_tag: str = JITSI_TAG, kuma_image: str = KUMA_IMAGE
) -> dict[str, str]:
    """The image reference each service is tagged with, as the deploy's compose file names it."""
    names = {s: f"{jitsi_repo}/{s}:{jitsi_tag}" for s in JITSI_SERVICES}
    names["uptime-kuma"] = kuma_image
    return names


def local_names(tag: str = "test") -> dict[str, str]:
    """Names for the project's own test runs. Test sessions share one engine, and a session on
    an older checkout builds other stand-ins under the real names at the same time."""
    return image_names(LOCAL_REPO, tag, f"{LOCAL_REPO}/uptime-kuma:{tag}")


def _docker(*args: str, stdin: bytes | None = None) -> str:
    done = subprocess.run(["docker", *args], input=stdin, capture_output=True)
    if done.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:2])} failed: {done.stderr.decode()[-2000:]}")
    return done.stdout.decode().strip()


def _label(image: str) -> str | None:
    template = f'{{{{index .Config.Labels "{HASH_LABEL}"}}}}'
    done = subprocess.run(
        ["docker", "image", "inspect", "-f", template, image], capture_output=True, text=True
    )
    return done.stdout.strip() if done.returncode == 0 else None


def _files(*roots: Path) -> Iterator[tuple[str, Path]]:
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                yield f"{root.name}/{path.relative_to(root)}", path


def _digest(*parts: bytes | Path) -> str:
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            digest.update(f"{part.stat().st_mode & 0o777:o}".encode())
            part = part.read_bytes()
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()[:16]


@contextmanager
def _lock() -> Iterator[None]:
    """One build at a time on this engine (parallel test sessions share its images)."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with (CACHE_DIR / "build.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _exists(image: str) -> bool:
    found = subprocess.run(["docker", "image", "inspect", image], capture_output=True)
    return found.returncode == 0


def ensure_base() -> str:
    """The shared base image, tagged by a hash of its recipe and of the Prosody 13 image."""
    if not _exists(PROSODY13_IMAGE):
        subprocess.run(["bash", str(REPO / "tests/prosody/build-prosody13.sh")], check=True)
    prosody13 = _docker("image", "inspect", "-f", "{{.Id}}", PROSODY13_IMAGE)
    tag = f"{BASE_REPO}:{_digest(BASE_DOCKERFILE.read_bytes(), prosody13.encode())}"
    if _exists(tag):
        return tag
    staging = f"{tag}-staging"
    with tempfile.TemporaryDirectory(dir=CACHE_DIR) as tmp:
        _docker(
            "build", "-q", "--build-arg", f"PROSODY13_IMAGE={PROSODY13_IMAGE}",
            "-f", str(BASE_DOCKERFILE), "-t", staging, tmp,
        )  # fmt: skip
        container = _docker("create", staging, "true")
        try:
            rootfs = Path(tmp) / "rootfs.tar"
            _export_trimmed(container, rootfs)
        finally:
            _docker("rm", container)
            _docker("rmi", staging)
        _docker("import", str(rootfs), tag)
    return tag


def _export_trimmed(container: str, target: Path) -> None:
    """The container's root filesystem as one tar file, without documentation and translations."""
    with subprocess.Popen(["docker", "export", container], stdout=subprocess.PIPE) as export:
        assert export.stdout is not None
        with (
            tarfile.open(fileobj=export.stdout, mode="r|") as src,
            tarfile.open(target, "w") as dst,
        ):
            for member in src:
                if not member.name.startswith(TRIMMED):
                    dst.addfile(member, src.extractfile(member) if member.isfile() else None)
    if export.returncode != 0:
        raise RuntimeError(f"docker export {container} failed")


def _dockerfile(service: str, base: str) -> str:
    volumes = ", ".join(f'"{v}"' for v in VOLUMES[service])
    return f"""\
FROM {base}
COPY common/ /
COPY {service}/ /
{FOLDERS.get(service, "")}ENV STANDIN_SERVICE={service}
# As base/Dockerfile sets them for s6-overlay.
ENV S6_READ_ONLY_ROOT=1 S6_BEHAVIOUR_IF_STAGE2_FAILS=2
VOLUME [{volumes}]
EXPOSE {EXPOSE[service]}
USER s6
ENTRYPOINT ["/init"]
"""


def build_service(service: str, image: str, base: str) -> None:
    dockerfile = _dockerfile(service, base)
    files = list(_files(ROOTFS / "common", ROOTFS / service))
    names = "\n".join(name for name, _ in files).encode()
    digest = _digest(dockerfile.encode(), names, *(path for _, path in files))
    if _label(image) == digest:
        return
    dockerfile += f"LABEL {HASH_LABEL}={digest}\n"
    _docker("build", "-q", "-t", image, "-f", "-", str(ROOTFS), stdin=dockerfile.encode())


def _kuma_rootfs() -> bytes:
    """Busybox, its applet links and the Uptime Kuma stand-in's scripts."""
    applets = subprocess.run(
        [str(BUSYBOX), "--list"], check=True, capture_output=True, text=True
    ).stdout.split()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:

        def add(name: str, data: bytes | None = None, mode: int = 0o755) -> None:
            info = tarfile.TarInfo(name)
            info.mode = mode
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))

        for folder in ("bin", "etc", "usr", "usr/local", "usr/local/bin", "standin", "var"):
            add(folder)
        for folder in ("tmp", "var/fault"):
            add(folder, mode=0o1777)
        add("bin/busybox", BUSYBOX.read_bytes())
        for applet in applets:
            if applet != "busybox":
                link = tarfile.TarInfo(f"bin/{applet}")
                link.type = tarfile.SYMTYPE
                link.linkname = "busybox"
                tar.addfile(link)
        add("etc/passwd", b"root:x:0:0:root:/:/bin/sh\n", 0o644)
        add("etc/group", b"root:x:0:\n", 0o644)
        for name, path in _files(KUMA_ROOTFS):
            add(name.split("/", 1)[1], path.read_bytes())
    return buf.getvalue()


def build_kuma(image: str) -> None:
    tar = _kuma_rootfs()
    digest = _digest(tar)
    if _label(image) == digest:
        return
    changes = ['CMD ["/standin/start"]', f"LABEL {HASH_LABEL}={digest}"]
    _docker("import", *(arg for c in changes for arg in ("-c", c)), "-", image, stdin=tar)


def build_standins(images: dict[str, str] | None = None) -> dict[str, str]:
    """Build (or find cached) one stand-in per service under its image name; service -> image."""
    images = images or image_names()
    with _lock():
        base = ensure_base()
        for service in JITSI_SERVICES:
            build_service(service, images[service], base)
        build_kuma(images["uptime-kuma"])
    return images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jitsi-repo", default=JITSI_REPO)
    parser.add_argument("--jitsi-tag", default=JITSI_TAG)
    parser.add_argument("--kuma-image", default=KUMA_IMAGE)
    parser.add_argument("--save", type=Path, help="also write the images to this bundle folder")
    args = parser.parse_args()
    images = build_standins(image_names(args.jitsi_repo, args.jitsi_tag, args.kuma_image))
    for service, image in images.items():
        print(f"{service}: {image}")
    if args.save:
        sys.path.insert(0, str(REPO))  # run as a script: the project's package is beside tests/
        from jitsi_deploy.bundle import save_bundle

        print(f"saved {save_bundle(images.values(), args.save)}")


if __name__ == "__main__":
    main()
