"""Day-two operations on deployed hosts: each reads facts in one round trip and returns a
report (or changes), as the deploy's steps do."""
