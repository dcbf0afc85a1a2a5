"""Test rig: Debian test hosts in Docker, reachable over real SSH."""
