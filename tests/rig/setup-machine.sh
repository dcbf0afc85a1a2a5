#!/usr/bin/env bash
# Installs and starts what the test suite needs on a Debian machine: the validators, the real
# protocol peers (nginx, Prosody, pebble), debootstrap for test hosts and a Docker engine.
# Idempotent: a second run on the same machine installs nothing and keeps dockerd running.
set -euo pipefail
cd "$(dirname "$0")/../.."

packages=(
  docker.io debootstrap busybox-static nginx-light shellcheck lua-check lua5.4 prosody
  pebble certbot openssl iproute2 curl openssh-client docker-compose logrotate
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

python3 -m pip install -q -r requirements-dev.txt

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
python3 -m tests.rig build &
rig=$!
bash tests/prosody/build-prosody13.sh
wait "$rig"
python3 tests/standin/build.py  # the Jitsi stand-ins (tests/standin), on the Prosody 13 image
