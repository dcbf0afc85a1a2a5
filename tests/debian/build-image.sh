#!/bin/bash
# Runs INSIDE the build container (a Debian trixie minbase rootfs, this machine's mirrors as its
# apt sources) made by tests/debian/image.py: turns it into what the official debian:trixie-slim
# is, the way docker-library/debian makes it with debuerreotype. Cites debuerreotype/debuerreotype
# at 7de510f: "debian.sh:N" is examples/debian.sh, "minimizing:N" scripts/debuerreotype-minimizing-
# config, "slimify:N" scripts/debuerreotype-slimify (its lists: scripts/.slimify-excludes and
# .slimify-includes), "fixup:N" scripts/debuerreotype-fixup, "tar-exclude" scripts/.tar-exclude.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

# debian.sh:260 the container-minded configuration.
minimizing_config() {
  # minimizing:27-37 no service starts while a package installs.
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod 0755 /usr/sbin/policy-rc.d
  # minimizing:46-59
  echo 'force-unsafe-io' >/etc/dpkg/dpkg.cfg.d/docker-apt-speedup
  # minimizing:65-84
  echo 'Apt::AutoRemove::SuggestsImportant "false";' >/etc/apt/apt.conf.d/docker-autoremove-suggests
  # minimizing:87-111 "apt-get clean" after every install and update.
  local clean='"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true";'
  cat >/etc/apt/apt.conf.d/docker-clean <<EOF
DPkg::Post-Invoke { $clean };
APT::Update::Post-Invoke { $clean };

Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  # minimizing:113-141, 143-152
  echo 'Acquire::GzipIndexes "true";' >/etc/apt/apt.conf.d/docker-gzip-indexes
  echo 'Acquire::Languages "none";' >/etc/apt/apt.conf.d/docker-no-languages
  chmod 0644 /etc/dpkg/dpkg.cfg.d/docker-apt-speedup /etc/apt/apt.conf.d/docker-*
}

# slimify:31-106 documentation, manuals and translations go, and dpkg keeps them out of every
# package installed later (the copyright files stay).
slimify() {
  local excludes=(/usr/share/doc/'*' /usr/share/info/'*' /usr/share/linda/'*'
    /usr/share/lintian/overrides/'*' /usr/share/locale/'*' /usr/share/man/'*'
    /usr/share/doc/kde/HTML/'*'/'*' /usr/share/gnome/help/'*'/'*' /usr/share/omf/'*'/'*-*.emf')
  local includes=(/usr/share/doc/'*'/copyright /usr/share/doc/kde/HTML/C/'*'
    /usr/share/gnome/help/'*'/C/'*' /usr/share/locale/all_languages
    /usr/share/locale/currency/'*' /usr/share/locale/l10n/'*' /usr/share/locale/languages
    /usr/share/locale/locale.alias /usr/share/omf/'*'/'*-C.emf')
  # slimify:33, 103-106 man sections stay as empty folders: some postinsts write into them.
  local sections
  shopt -s nullglob
  sections=(/usr/share/man/man[0-9]/)
  shopt -u nullglob
  local keep=() pattern dir
  for pattern in "${includes[@]}"; do
    ((${#keep[@]})) && keep+=(-o)
    keep+=(-path "$pattern")
  done
  {
    echo '# This is the "slim" variant of the Debian base image.'
    printf 'path-exclude %s\n' "${excludes[@]}"
    printf 'path-include %s\n' "${includes[@]}"
  } >/etc/dpkg/dpkg.cfg.d/docker
  chmod 0644 /etc/dpkg/dpkg.cfg.d/docker
  for pattern in "${excludes[@]}"; do
    # slimify:68-70 only a "folder/*" whose folder exists is emptied now (the others are dpkg's
    # to filter from now on).
    dir="$(dirname "$pattern")"
    [[ "$pattern" == *'/*' && -d "$dir" ]] || continue
    # slimify:73-79 files first, then (81-89) empty folders and dangling links until none is left.
    find "$dir" -depth -mindepth 1 -not \( -type d -o -type l \) -not \( "${keep[@]}" \) -delete
    while [[ -n "$(find "$dir" -depth -mindepth 1 \( -empty -o -xtype l \) -print -delete)" ]]; do :; done
  done
  ((${#sections[@]} == 0)) || mkdir -p "${sections[@]}"
}

minimizing_config
# debian.sh:262-268 the suite as its mirrors have it now (this machine's -updates and -security).
apt-get update -qq
apt-get full-upgrade -y -qq >/dev/null
slimify

# fixup:31-41 and tar-exclude: no logs, caches or package lists of the build; debian.sh:329-333
# no machine-id (systemd's first-boot logic, were anyone to boot it).
rm -f /var/log/dpkg.log /var/log/bootstrap.log /var/log/alternatives.log \
  /var/log/apt/history.log /var/log/apt/term.log /var/cache/ldconfig/aux-cache \
  /etc/machine-id /etc/apt/apt.conf.d/01autoremove-kernels
apt-get clean
rm -f /var/lib/apt/lists/*Packages* /var/lib/apt/lists/*Release* /var/lib/apt/lists/lock
rm -rf /tmp/*
test ! -e /usr/share/doc/apt/NEWS.Debian.gz && test -e /usr/share/doc/apt/copyright
grep -h '^Suites:' /etc/apt/sources.list.d/debian.sources
cat /etc/debian_version
