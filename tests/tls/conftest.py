"""The TLS tests drive the same real nginx and stand-in upstream as the proxy tests."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "nginx"))
