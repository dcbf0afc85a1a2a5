"""Uptime Kuma provisioned as code: what to watch (monitors) and how to get it there (kuma)."""
