"""Day-two work on deployed hosts: each reads what it needs in one round trip per host and
reports, as the deploy steps do."""
