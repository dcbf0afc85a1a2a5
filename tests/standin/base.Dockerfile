# The root filesystem every Jitsi stand-in shares: the project's Debian trixie Prosody 13 image
# (tests/prosody/build-prosody13.sh; the real images are Debian trixie too) plus the real programs
# that fill the other slots: nginx (web), python3-slixmpp (jicofo, jvb), curl and openssl as in the
# real images, and sudo in the role of s6-overlay's setuid s6-overlay-suexec.
# build.py flattens the result into one layer without documentation.
ARG PROSODY13_IMAGE
FROM ${PROSODY13_IMAGE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        ca-certificates curl lua-luaossl lua-unbound nginx openssl python3-slixmpp sudo \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/* \
    # The images' user: "s6", uid and gid 1000, in the prosody group (base/Dockerfile, prosody/Dockerfile).
    && useradd --uid 1000 --user-group --create-home --shell /bin/bash s6 \
    && usermod -a -G prosody s6 \
    && chown s6:s6 /var/lib/prosody \
    # Preinit is the one thing that runs as root, as s6-overlay-suexec runs s6-overlay's preinit.
    && printf '%s\n' 'Defaults:s6 !lecture, !syslog, env_keep += "S6_READ_ONLY_ROOT"' \
        's6 ALL=(root) NOPASSWD: /standin/preinit' >/etc/sudoers.d/standin \
    && chmod 0440 /etc/sudoers.d/standin \
    # Fault flags that survive restarts live here (a volume in tests/health/stack.yml).
    && mkdir -m 1777 /var/fault
