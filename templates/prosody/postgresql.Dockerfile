# The Jitsi prosody image of the pinned release with the Lua PostgreSQL driver, which Prosody's
# SQL storage needs and the image lacks (it installs lua5.4 and Prosody 13, no lua-dbi-*).
# Debian's package serves the image's Lua 5.4; the image deletes its apt lists, so they are
# fetched for the one install and deleted again. The image runs as s6 (uid 1000): so does this.
ARG BASE
FROM ${BASE}
USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends lua-dbi-postgresql \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb
USER s6
