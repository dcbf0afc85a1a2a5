"""Deploy steps, in the order they run: each reads facts and plans changes (see step.py).

Adding a step is one module with its facts and plan function, and one line here.
"""

from __future__ import annotations

from . import files, firewall, handlers, images, packages, storage, tls
from .step import Step

STEPS: tuple[Step, ...] = (
    packages.STEP,
    firewall.STEP,
    tls.PLACEHOLDERS,  # before the site that names the certificates
    files.STEP,
    images.STEP,
    storage.STEP,  # before the handlers recreate Prosody on the database
    handlers.STEP,
    tls.OBTAIN,  # after nginx serves the ACME challenge directory
)
