"""Builds stand-in images for the Jitsi stack from a static busybox, locally and offline.

The real images (ghcr.io/jitsi/*, louislam/uptime-kuma) cannot be pulled on the test machines,
so each stand-in is the same tiny busybox root filesystem, imported under the real image name and
told by STANDIN_SERVICE which service to play. Each answers that service's health endpoints on
the same port and ships /usr/local/bin/healthcheck.sh like the real image; faults are injected
with flag files (see rootfs/standin/http).

    python tests/standin/build.py [--jitsi-tag TAG] [--save BUNDLE_DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import subprocess
import tarfile
from pathlib import Path

from jitsi_deploy.bundle import save_bundle

BUSYBOX = Path("/bin/busybox")
ROOTFS = Path(__file__).resolve().parent / "rootfs"
SERVICES = ("web", "prosody", "jicofo", "jvb", "uptime-kuma")
JITSI_REPO = "ghcr.io/jitsi"
JITSI_TAG = "stable-11146-2"
KUMA_IMAGE = "louislam/uptime-kuma:2"
HASH_LABEL = "org.jitsi-deploy.standin.hash"


def image_names(
    jitsi_repo: str = JITSI_REPO, jitsi_tag: str = JITSI_TAG, kuma_image: str = KUMA_IMAGE
) -> dict[str, str]:
    """The image reference each service is tagged with, as the deploy's compose file names it."""
    names = {s: f"{jitsi_repo}/{s}:{jitsi_tag}" for s in ("web", "prosody", "jicofo", "jvb")}
    names["uptime-kuma"] = kuma_image
    return names


def _applets() -> list[str]:
    out = subprocess.run([str(BUSYBOX), "--list"], check=True, capture_output=True, text=True)
    return out.stdout.split()


def _add_dir(tar: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = mode
    tar.addfile(info)


def _add_file(tar: tarfile.TarFile, name: str, data: bytes, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    tar.addfile(info, io.BytesIO(data))


def rootfs_tar() -> bytes:
    """The stand-in root filesystem: busybox, its applet links, the stand-in scripts."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d in (
            "bin",
            "etc",
            "tmp",
            "var",
            "var/fault",
            "usr",
            "usr/bin",
            "usr/local",
            "usr/local/bin",
        ):
            _add_dir(tar, d, 0o1777 if d in ("tmp", "var/fault") else 0o755)
        _add_dir(tar, "standin")
        _add_file(tar, "bin/busybox", BUSYBOX.read_bytes(), 0o755)
        for applet in _applets():
            if applet != "busybox":
                link = tarfile.TarInfo(f"bin/{applet}")
                link.type = tarfile.SYMTYPE
                link.linkname = "busybox"
                tar.addfile(link)
        _add_file(tar, "etc/passwd", b"root:x:0:0:root:/:/bin/sh\n", 0o644)
        _add_file(tar, "etc/group", b"root:x:0:\n", 0o644)
        for path in sorted(p for p in ROOTFS.rglob("*") if p.is_file()):
            _add_file(tar, str(path.relative_to(ROOTFS)), path.read_bytes(), 0o755)
    return buf.getvalue()


def _current_hash(image: str) -> str | None:
    out = subprocess.run(
        ["docker", "image", "inspect", "-f", f'{{{{index .Config.Labels "{HASH_LABEL}"}}}}', image],
        capture_output=True,
        text=True,
    )
    return out.stdout.strip() if out.returncode == 0 else None


def build_standins(images: dict[str, str] | None = None) -> dict[str, str]:
    """Import one stand-in per service under its image name; returns service -> image.

    An image whose label carries the same content hash is kept, so repeated test runs cost
    one `docker image inspect` per service (the cache lives in the engine, not in the repo).
    """
    images = images or image_names()
    tar = rootfs_tar()
    for service, image in images.items():
        digest = hashlib.sha256(tar + service.encode()).hexdigest()[:16]
        if _current_hash(image) == digest:
            continue
        changes = [
            f"ENV STANDIN_SERVICE={service}",
            'CMD ["/standin/start"]',
            f"LABEL {HASH_LABEL}={digest}",
        ]
        args = ["docker", "import"]
        for change in changes:
            args += ["-c", change]
        subprocess.run([*args, "-", image], input=tar, check=True, capture_output=True)
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
        print(f"saved {save_bundle(images.values(), args.save)}")


if __name__ == "__main__":
    main()
