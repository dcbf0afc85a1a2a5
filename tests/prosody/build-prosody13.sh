#!/usr/bin/env bash
# Builds a local Docker image with Debian trixie's Prosody 13 (the version the Jitsi prosody image
# runs), for tests/prosody. No image registry is reachable from the test machines, so the image is
# made from a debootstrap root filesystem. Idempotent: the rootfs tarball is cached under
# $PROSODY13_CACHE and the image is only imported when missing.
#
# Env: PROSODY13_IMAGE (image name), PROSODY13_CACHE (cache dir), DEBIAN_MIRROR (overrides the
# mirror read from this machine's apt sources).
set -euo pipefail

image="${PROSODY13_IMAGE:-jitsi-deploy/prosody13:trixie}"
cache="${PROSODY13_CACHE:-/var/cache/jitsi-deploy/prosody13}"
tarball="$cache/rootfs.tar"

# The machine's own Debian mirror, so the build works where only the configured registry is reachable.
debian_mirror() {
    if [[ -n "${DEBIAN_MIRROR:-}" ]]; then
        echo "$DEBIAN_MIRROR"
        return
    fi
    local uri
    uri=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    if [[ -z "$uri" ]]; then
        uri=$(awk '/^deb / && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
    fi
    if [[ -z "$uri" ]]; then
        echo "no Debian mirror found in /etc/apt; set DEBIAN_MIRROR" >&2
        exit 1
    fi
    echo "$uri"
}

build_tarball() {
    local rootfs="$cache/rootfs.tmp"
    rm -rf "$rootfs"
    mkdir -p "$cache"
    debootstrap --variant=minbase trixie "$rootfs" "$(debian_mirror)"
    # debootstrap's --include does not resolve prosody's Lua library dependencies, apt does.
    # policy-rc.d keeps the package from starting its service: tests run prosody themselves.
    printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
    chmod +x "$rootfs/usr/sbin/policy-rc.d"
    chroot "$rootfs" apt-get install -y --no-install-recommends prosody lua5.4
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -rf "$rootfs"
}

if docker image inspect "$image" >/dev/null 2>&1; then
    echo "$image already present"
    exit 0
fi
[[ -f "$tarball" ]] || build_tarball
docker import "$tarball" "$image"
docker run --rm "$image" dpkg-query -W prosody
