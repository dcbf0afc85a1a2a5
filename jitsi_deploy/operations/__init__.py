"""Day-two operations on running hosts: each builds its commands as data, runs them in one
round trip per host, and says per host how it went."""
