"""Deploy and run a self-hosted Jitsi Meet service: render, converge over SSH, keep it healthy."""
