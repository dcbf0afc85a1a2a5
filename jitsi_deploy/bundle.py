"""The offline image bundle: a folder with one `docker save` archive per image.

One archive per image lets a deploy send a host only the images it lacks.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable
from pathlib import Path


def archive_name(image: str) -> str:
    """The file of ``image`` in a bundle: ghcr.io/jitsi/web:tag -> ghcr.io_jitsi_web_tag.tar."""
    return re.sub(r"[/:@]", "_", image) + ".tar"


def save_bundle(images: Iterable[str], folder: Path) -> Path:
    """Write each image from the local Docker engine into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for image in images:
        subprocess.run(
            ["docker", "save", "-o", str(folder / archive_name(image)), image], check=True
        )
    return folder
