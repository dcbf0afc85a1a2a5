"""Day-two work on deployed hosts: backup and restore."""
