#!/bin/bash
# Runs INSIDE the build container (a Debian trixie minbase rootfs) made by tests/kuma/image.py:
# installs Node.js, installs the uptime-kuma package from the npm registry into /app, fixes the
# two defects of the published snapshot, then removes the build tools again.
#
# Env: KUMA_VERSION (npm version to install), BUILD_CA (CA bundle the npm registry is reached
# with; deleted at the end, so the image keeps only Debian's own CAs).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

build_tools=(npm python3 make g++)
apt-get update -qq
apt-get install -y -qq --no-install-recommends nodejs ca-certificates "${build_tools[@]}" >/dev/null

mkdir -p /app/data
cd /app
# Installed as a dependency, not from inside its own folder: the package's devDependencies have
# peer conflicts that npm refuses to resolve. The sqlite driver has no reachable prebuilt binary,
# so it is compiled here (build_from_source skips the download attempt).
npm_config_build_from_source=true npm install --omit=dev --no-audit --no-fund \
    --cafile "$BUILD_CA" "uptime-kuma@$KUMA_VERSION"

package=/app/node_modules/uptime-kuma
# 1. The knex migrations expect every old SQL patch in db/old_migrations/, but the published
#    package ships the newest ones beside it: without the copy a fresh database fails to start.
cp "$package"/db/patch-*.sql "$package/db/old_migrations/"
# 2. sqlHourOffset() tests a field that is never set ("client"), so SQLite got MariaDB's SQL for
#    heartbeat queries and the old-data cleanup. The configured type is the right test.
sed -i 's/this\.dbConfig\.client === "sqlite3"/this.dbConfig.type === "sqlite"/' \
    "$package/server/database.js"
grep -q 'this.dbConfig.type === "sqlite"' "$package/server/database.js"

# npm and the compilers are not needed to run it.
apt-get purge -y -qq --auto-remove "${build_tools[@]}" >/dev/null
apt-get clean
rm -rf /var/lib/apt/lists/* /root/.npm /root/.cache /tmp/* "$BUILD_CA"
node --version
