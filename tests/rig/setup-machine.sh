#!/usr/bin/env bash
# Installs and starts what the test suite needs on a Debian machine: the validators, the real
# protocol peers (nginx with its stream module, Prosody, PostgreSQL, pebble, coturn and its TURN
# client, an image registry, a JDK for the bridge's side of its TLS), debootstrap for test hosts
# and a Docker engine, and the project's virtual environment .venv with the test tools
# (`.venv/bin/invoke test` runs them).
# Idempotent: a second run on the same machine installs nothing and keeps dockerd running.
set -euo pipefail
cd "$(dirname "$0")/../.."

packages=(
  docker.io debootstrap busybox-static nginx-light shellcheck lua-check lua5.4 prosody
  pebble certbot openssl iproute2 curl openssh-client docker-compose logrotate
  python3-venv docker-registry default-jdk-headless coturn libnginx-mod-stream postgresql
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  apt-get update -qq
  # With recommends, as a person installs them: the suite was built against such a machine.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The project's virtual environment, as the README's first command makes it. It is made anew
# when it has no pip (made before python3-venv was installed) or runs another Python release
# than python3 (a release upgrade leaves a venv's packages behind).
release='import sys; print(*sys.version_info[:2])'
wanted=$(python3 -c "$release")
if [[ "$(.venv/bin/python -c "import pip; $release" 2>/dev/null)" != "$wanted" ]]; then
  python3 -m venv --clear .venv
fi
.venv/bin/python -m pip install -q -r requirements-dev.txt

# Test hosts and their networks live in ranges reserved for testing (RFC 2544).
if ! docker info >/dev/null 2>&1; then
  nohup dockerd --bip 198.18.0.1/24 \
    --default-address-pool base=198.19.0.0/16,size=24 \
    >/var/log/dockerd-tests.log 2>&1 &
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start: see /var/log/dockerd-tests.log" >&2; exit 1; }
fi

# The test-host images and the Prosody 13 image, side by side; both are cached under
# /var/cache/jitsi-deploy, so a rerun on the same machine takes seconds.
.venv/bin/python -m tests.rig build &
rig=$!
# The real Uptime Kuma 2 image (from npm; cached in /var/cache/jitsi-deploy/kuma).
.venv/bin/python -m tests.kuma.image &
kuma=$!
# postgres:17 as the deploy names it, from Debian trixie's PostgreSQL 17 with the official image's
# entry point contract (tests/postgres; cached in /var/cache/jitsi-deploy/postgres).
.venv/bin/python -m tests.postgres.image &
postgres=$!
# redis:8 likewise, from Debian trixie's Redis under the official image's entry point contract
# (tests/redis; cached in /var/cache/jitsi-deploy/redis), and debian:trixie-slim, the collector's
# base, from this machine's mirrors (tests/debian; cached in /var/cache/jitsi-deploy/debian).
.venv/bin/python -m tests.redis.image &
redis=$!
.venv/bin/python -m tests.debian.image &
debian=$!
bash tests/prosody/build-prosody13.sh
wait "$rig"
# The Jitsi stand-ins (tests/standin) build on the Prosody 13 image.
.venv/bin/python tests/standin/build.py
wait "$kuma"
wait "$postgres"
wait "$redis"
wait "$debian"
