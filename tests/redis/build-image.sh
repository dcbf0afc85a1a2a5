#!/bin/bash
# Runs INSIDE the build container (a Debian trixie minbase rootfs) made by tests/redis/image.py:
# installs Debian's redis-server and redis-tools where the official redis:8 image has the ones it
# compiles. "Dockerfile:N" cites redis/docker-library-redis at 0076c90 (v8.6.4), debian/Dockerfile;
# the redis:8 it publishes (8.10.1, docker-library/repo-info at 0ae7309, repos/redis/remote/8.md)
# runs the same steps.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

# Dockerfile:3-6 the user before the package: redis-server's postinst then finds it and keeps uid
# and gid 999 instead of picking free ones, so data made by the official image fits this one.
groupadd -r -g 999 redis
useradd -r -g redis -u 999 redis

# debian:trixie-slim's policy-rc.d (see tests/debian/build-image.sh), which the official image
# inherits: redis-server's postinst would otherwise start a daemon of Debian's in the build.
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
chmod 0755 /usr/sbin/policy-rc.d

apt-get update -qq
# Dockerfile:8-15 tzdata (docker-library/redis#138). setpriv, for the step down from root, comes
# with util-linux (essential), as in debian:trixie-slim.
apt-get install -y -qq --no-install-recommends tzdata redis-server redis-tools >/dev/null
test "$(id -u redis):$(id -g redis)" = 999:999
command -v setpriv

# Dockerfile:91-92 `make install` puts the binary in /usr/local/bin with redis-check-aof,
# redis-check-rdb and redis-sentinel as links to it, and the entry point only takes a command for
# the server when it resolves to /usr/local/bin/redis-server (readlink -f). Debian's binary
# (redis-check-rdb, which /usr/bin/redis-server links to) moves there, and Debian's names point
# back at it; redis-cli and redis-benchmark are linked in as they are.
binary="$(readlink -f /usr/bin/redis-server)"
mv "$binary" /usr/local/bin/redis-server
ln -sf /usr/local/bin/redis-server /usr/bin/redis-server
ln -s /usr/local/bin/redis-server "$binary"
for tool in redis-check-aof redis-check-rdb redis-sentinel; do
  ln -s redis-server "/usr/local/bin/$tool"
done
for tool in redis-cli redis-benchmark; do
  ln -s "/usr/bin/$tool" "/usr/local/bin/$tool"
done
test "$(readlink -f "$(command -v redis-server)")" = /usr/local/bin/redis-server

# Dockerfile:35-56 the official image builds its modules (RediSearch, RedisJSON, TimeSeries,
# Bloom) on amd64 and arm64 into this folder, and the entry point loads each .so in it. Debian
# packages none of them: the folder stays empty, and a deploy that needs a module fails here
# where redis:8 would run it.
mkdir -p /usr/local/lib/redis/modules

# Dockerfile:66-71 the official binary's protected mode is off by default, patched in its source;
# Debian's is on, and the entry point passes `--protected-mode no` instead (see there).

# Debian's service set-up has no counterpart in the official image, which has no config file:
# `redis-server` without arguments runs on the compiled defaults in both (all interfaces, data in
# the working folder). The init script, systemd units and logrotate entry are inert here.
rm -rf /etc/redis /var/lib/redis /var/log/redis /run/redis

# Dockerfile:112-113 WORKDIR /data, the redis user's.
mkdir /data
chown redis:redis /data

apt-get clean
rm -rf /var/lib/apt/lists/* /tmp/*
redis-server --version
redis-cli --version
