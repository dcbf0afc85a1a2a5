"""Uptime Kuma provisioned as code: what to watch (monitors), how to get it there (kuma), and
the SSH tunnel that reaches a Kuma bound to its host's loopback (tunnel)."""
