# The Jitsi prosody image of the pinned release with the Lua PostgreSQL driver, which Prosody's
# SQL storage needs and the image lacks (it installs lua5.4 and Prosody 13, no lua-dbi-*), and
# prosody-migrator, which moves a deployment's files into the database: Debian's prosody
# package has it, packages.prosody.im's (the image's) ships it as a package of its own.
# Debian's driver serves the image's Lua 5.4. The image deletes its apt lists: they are fetched
# for the one install, then deleted with apt's caches (90 MB). It runs as s6 (uid 1000): so
# does this one.
ARG BASE
FROM ${BASE}
USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends lua-dbi-postgresql \
 && { command -v prosody-migrator >/dev/null \
      || apt-get install -y --no-install-recommends prosody-migrator; } \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
USER s6
