#!/bin/bash
# Runs INSIDE the build container (a Debian trixie minbase rootfs) made by tests/postgres/image.py:
# installs Debian's postgresql-17 the way the official postgres:17 image installs PGDG's.
# "Dockerfile:N" cites docker-library/postgres at 6edb0a8, 17/trixie/Dockerfile.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pg_major=17

# Dockerfile:10-16 the user before the package: postgresql-common's postinst then keeps uid and
# gid 999 instead of picking free ones, so volumes made by the official image fit this one.
groupadd -r postgres --gid=999
useradd -r -g postgres --uid=999 --home-dir=/var/lib/postgresql --shell=/bin/bash postgres
install --directory --owner postgres --group postgres --mode 1777 /var/lib/postgresql

apt-get update -qq
# Dockerfile:18-27 less (psql's pager); :29-50 gosu, Debian's package where upstream downloads
# the release; :52-64 locales; :66-73 libnss-wrapper (any --user), xz-utils and zstd (.sql.xz,
# .sql.zst init scripts).
apt-get install -y -qq --no-install-recommends \
    less gosu locales libnss-wrapper xz-utils zstd postgresql-common >/dev/null

# Dockerfile:61-63 initdb takes its encoding from LANG (en_US.utf8, set by the image): UTF8.
echo 'en_US.UTF-8 UTF-8' >>/etc/locale.gen
locale-gen
locale -a | grep -q 'en_US.utf8'

# Dockerfile:155-159 no cluster of Debian's own: the entrypoint makes the one in PGDATA.
sed -ri 's/#(create_main_cluster) .*$/\1 = false/' /etc/postgresql-common/createcluster.conf
apt-get install -y -qq --no-install-recommends "postgresql-$pg_major" >/dev/null
test ! -e "/var/lib/postgresql/$pg_major"

# Dockerfile:174-180 every cluster initdb makes listens on all addresses.
sample="/usr/share/postgresql/$pg_major/postgresql.conf.sample"
sed -ri "s!^#?(listen_addresses)\s*=\s*\S+.*!\1 = '*'!" "$sample"
grep -qF "listen_addresses = '*'" "$sample"

# Dockerfile:75 the init scripts' folder.
mkdir /docker-entrypoint-initdb.d
# Dockerfile:182 the socket folder, writable for any --user.
install --directory --owner postgres --group postgres --mode 3777 /var/run/postgresql
# Dockerfile:184-186 PGDATA; the entrypoint narrows 1777 to 0700 at each start.
install --directory --owner postgres --group postgres --mode 1777 /var/lib/postgresql/data

apt-get clean
rm -rf /var/lib/apt/lists/* /tmp/*
"/usr/lib/postgresql/$pg_major/bin/postgres" --version
