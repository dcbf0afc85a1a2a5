#!/usr/bin/env bash
# Entry point of the test rig's postgres:17 image (tests/postgres/image.py): the official image's
# start-up contract, rule by rule. "entrypoint:N" cites docker-library/postgres at 6edb0a8,
# 17/trixie/docker-entrypoint.sh (17/bookworm's is the same file). Function names are upstream's:
# a sourced /docker-entrypoint-initdb.d/*.sh may call them (docker_process_sql above all).
#
# Not modelled: POSTGRES_INITDB_WALDIR is refused instead of honoured; sourcing this file and
# docker-ensure-initdb.sh (the init-only helper) are left out.

# entrypoint:2 -e but not -u, as upstream: sourced init scripts may read unset variables.
set -Eeo pipefail

# entrypoint:9-25 VAR or VAR_FILE (Docker secrets), never both; VAR_FILE is read into VAR.
file_env() {
  local var="$1"
  local file_var="${var}_FILE"
  local default="${2:-}"
  if [[ -n "${!var:-}" && -n "${!file_var:-}" ]]; then
    printf >&2 'error: both %s and %s are set (but are exclusive)\n' "$var" "$file_var"
    exit 1
  fi
  local value="$default"
  if [[ -n "${!var:-}" ]]; then
    value="${!var}"
  elif [[ -n "${!file_var:-}" ]]; then
    value="$(<"${!file_var}")"
  fi
  export "$var"="$value"
  unset "$file_var"
}

# entrypoint:234-247 the settings, and whether PGDATA already holds a cluster: initdb writes
# PG_VERSION, so a non-empty one means initialized, whatever else the folder holds.
docker_setup_env() {
  file_env POSTGRES_PASSWORD
  file_env POSTGRES_USER postgres
  file_env POSTGRES_DB "$POSTGRES_USER"
  file_env POSTGRES_INITDB_ARGS
  : "${POSTGRES_HOST_AUTH_METHOD:=}"
  DATABASE_ALREADY_EXISTS=
  if [[ -s "$PGDATA/PG_VERSION" ]]; then
    DATABASE_ALREADY_EXISTS=true
  fi
}

# entrypoint:47-54, 87-89 give initdb a separate WAL folder. Not implemented here, and ignoring
# it would go unnoticed: refused.
refuse_unmodelled() {
  if [[ -n "${POSTGRES_INITDB_WALDIR:-}" ]]; then
    echo >&2 "error: the test image of postgres:17 does not implement POSTGRES_INITDB_WALDIR"
    exit 1
  fi
}

# entrypoint:36-61 PGDATA private to its owner (postgres refuses a folder others may read), and,
# started as root, handed to the postgres user (a fresh bind mount belongs to root). Failures are
# ignored as upstream does: a non-root user may not chmod, and initdb then says why.
docker_create_db_directories() {
  mkdir -p "$PGDATA"
  chmod 00700 "$PGDATA" || :
  mkdir -p /var/run/postgresql || :
  chmod 03775 /var/run/postgresql || :
  if [[ "$(id -u)" == 0 ]]; then
    find "$PGDATA" \! -user postgres -exec chown postgres '{}' +
    find /var/run/postgresql \! -user postgres -exec chown postgres '{}' +
  fi
}

# entrypoint:68-85 initdb needs the current uid in the passwd database; a `--user` of the compose
# file is not in the image's, so nss_wrapper lends it one.
docker_fake_passwd_entry() {
  local uid gid wrapper
  uid="$(id -u)"
  if getent passwd "$uid" &>/dev/null; then
    return
  fi
  for wrapper in {/usr,}/lib{/*,}/libnss_wrapper.so; do
    if [[ -s "$wrapper" ]]; then
      gid="$(id -g)"
      NSS_WRAPPER_PASSWD="$(mktemp)"
      NSS_WRAPPER_GROUP="$(mktemp)"
      export LD_PRELOAD="$wrapper" NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP
      printf 'postgres:x:%s:%s:PostgreSQL:%s:/bin/false\n' "$uid" "$gid" "$PGDATA" \
        >"$NSS_WRAPPER_PASSWD"
      printf 'postgres:x:%s:\n' "$gid" >"$NSS_WRAPPER_GROUP"
      return
    fi
  done
}

# entrypoint:94-98
docker_drop_fake_passwd_entry() {
  if [[ "${LD_PRELOAD:-}" == */libnss_wrapper.so ]]; then
    rm -f "$NSS_WRAPPER_PASSWD" "$NSS_WRAPPER_GROUP"
    unset LD_PRELOAD NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP
  fi
}

# entrypoint:67-99 the superuser is POSTGRES_USER with POSTGRES_PASSWORD; initdb's own defaults
# make local (socket) and loopback connections `trust`. POSTGRES_INITDB_ARGS is split as shell
# words (eval), as upstream; --pwfile refuses an empty file, hence the newline (entrypoint:91).
docker_init_database_dir() {
  docker_fake_passwd_entry
  # shellcheck disable=SC2016 # the variables expand inside eval, as upstream's do
  eval 'initdb --username="$POSTGRES_USER" --pwfile=<(printf "%s\n" "$POSTGRES_PASSWORD")' \
    "$POSTGRES_INITDB_ARGS"
  docker_drop_fake_passwd_entry
}

# entrypoint:105-137 a first start without a password is refused unless every connection is
# explicitly trusted, which is allowed with a warning.
docker_verify_minimum_env() {
  if [[ -z "$POSTGRES_PASSWORD" && "$POSTGRES_HOST_AUTH_METHOD" != trust ]]; then
    cat >&2 <<'EOE'
Error: Database is uninitialized and superuser password is not specified.
       You must specify POSTGRES_PASSWORD to a non-empty value for the
       superuser. For example, "-e POSTGRES_PASSWORD=password" on "docker run".

       You may also use "POSTGRES_HOST_AUTH_METHOD=trust" to allow all
       connections without a password. This is *not* recommended.

       See PostgreSQL documentation about "trust":
       https://www.postgresql.org/docs/current/auth-trust.html
EOE
    exit 1
  fi
  if [[ "$POSTGRES_HOST_AUTH_METHOD" == trust ]]; then
    cat >&2 <<'EOWARN'
********************************************************************************
WARNING: POSTGRES_HOST_AUTH_METHOD has been set to "trust". This will allow
         anyone with access to the Postgres port to access your database without
         a password, even if POSTGRES_PASSWORD is set.
********************************************************************************
EOWARN
  fi
}

# entrypoint:263-281 every other host authenticates with the server's password_encryption
# (scram-sha-256 on 17) unless POSTGRES_HOST_AUTH_METHOD names another method.
pg_setup_hba_conf() {
  if [[ "$1" == postgres ]]; then
    shift
  fi
  local auth
  auth="$(postgres -C password_encryption "$@")"
  : "${POSTGRES_HOST_AUTH_METHOD:=$auth}"
  {
    printf '\n'
    if [[ "$POSTGRES_HOST_AUTH_METHOD" == trust ]]; then
      printf '# warning trust is enabled for all connections\n'
    fi
    printf 'host all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD"
  } >>"$PGDATA/pg_hba.conf"
}

# entrypoint:285-301 set-up runs on a socket-only server, so no client reaches the cluster before
# the database and the init scripts are in place; the command's own -c options apply to it too.
docker_temp_server_start() {
  if [[ "$1" == postgres ]]; then
    shift
  fi
  set -- "$@" -c listen_addresses='' -p "${PGPORT:-5432}"
  NOTIFY_SOCKET='' PGUSER="${PGUSER:-$POSTGRES_USER}" \
    pg_ctl -D "$PGDATA" -o "$(printf '%q ' "$@")" -w start
}

# entrypoint:304-307
docker_temp_server_stop() {
  PGUSER="${PGUSER:-postgres}" pg_ctl -D "$PGDATA" -m fast -w stop
}

# entrypoint:206-213 psql over the socket as the superuser, stopping at the first error.
docker_process_sql() {
  local query_runner=(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc)
  if [[ -n "$POSTGRES_DB" ]]; then
    query_runner+=(--dbname "$POSTGRES_DB")
  fi
  PGHOST='' PGHOSTADDR='' "${query_runner[@]}" "$@"
}

# entrypoint:217-230 POSTGRES_DB, unless initdb made it already (postgres, template1).
docker_setup_db() {
  local db="$POSTGRES_DB" exists
  exists="$(
    POSTGRES_DB='' docker_process_sql --dbname postgres --set db="$db" --tuples-only \
      <<<"SELECT 1 FROM pg_database WHERE datname = :'db';"
  )"
  if [[ -z "$exists" ]]; then
    POSTGRES_DB='' docker_process_sql --dbname postgres --set db="$db" <<<'CREATE DATABASE :"db";'
  fi
}

# entrypoint:172-199 the init scripts, in glob order: an executable .sh runs, any other .sh is
# sourced (it sees this script's functions), SQL goes through psql, anything else is ignored.
docker_process_init_files() {
  # entrypoint:173-174 older sourced init scripts call "${psql[@]}"
  # shellcheck disable=SC2034 # read by those scripts
  psql=(docker_process_sql)
  local f
  for f; do
    case "$f" in
      *.sh)
        if [[ -x "$f" ]]; then
          printf '%s: running %s\n' "$0" "$f"
          "$f"
        else
          printf '%s: sourcing %s\n' "$0" "$f"
          # shellcheck disable=SC1090 # the init scripts are the compose file's
          . "$f"
        fi
        ;;
      *.sql) printf '%s: running %s\n' "$0" "$f" && docker_process_sql -f "$f" ;;
      *.sql.gz) printf '%s: running %s\n' "$0" "$f" && gunzip -c "$f" | docker_process_sql ;;
      *.sql.xz) printf '%s: running %s\n' "$0" "$f" && xzcat "$f" | docker_process_sql ;;
      *.sql.zst) printf '%s: running %s\n' "$0" "$f" && zstd -dc "$f" | docker_process_sql ;;
      *) printf '%s: ignoring %s\n' "$0" "$f" ;;
    esac
  done
}

# entrypoint:311-324 options that make postgres print and exit need no data directory.
_pg_want_help() {
  local arg
  for arg; do
    case "$arg" in
      -'?' | --help | --describe-config | -V | --version) return 0 ;;
    esac
  done
  return 1
}

# entrypoint:342-367 a new cluster: refusal checks, initdb, pg_hba, then the database and the
# init scripts on the socket-only server. Runs once: the next start finds PG_VERSION.
docker_init_cluster() {
  docker_verify_minimum_env
  # entrypoint:346-347 an unreadable init folder stops here, not half-way through the set-up
  ls /docker-entrypoint-initdb.d/ >/dev/null
  docker_init_database_dir
  pg_setup_hba_conf "$@"
  # entrypoint:352-354 for local connections that initdb arguments made password-only
  export PGPASSWORD="${PGPASSWORD:-$POSTGRES_PASSWORD}"
  docker_temp_server_start "$@"
  docker_setup_db
  docker_process_init_files /docker-entrypoint-initdb.d/*
  docker_temp_server_stop
  unset PGPASSWORD
  printf '\nPostgreSQL init process complete; ready for start up.\n\n'
}

_main() {
  # entrypoint:327-330 `docker run postgres:17 -c name=value` passes the options to postgres
  if [[ "${1:0:1}" == - ]]; then
    set -- postgres "$@"
  fi
  if [[ "$1" == postgres ]] && ! _pg_want_help "$@"; then
    docker_setup_env
    refuse_unmodelled
    docker_create_db_directories
    # entrypoint:336-339 root only prepares the folders: the server runs as postgres (uid 999).
    # A non-root `--user` goes on as itself.
    if [[ "$(id -u)" == 0 ]]; then
      exec gosu postgres "${BASH_SOURCE[0]}" "$@"
    fi
    # entrypoint:341-374 an existing cluster keeps its users and passwords: the variables only
    # matter for the first start.
    if [[ -z "$DATABASE_ALREADY_EXISTS" ]]; then
      docker_init_cluster "$@"
    else
      printf '\n%s; Skipping initialization\n\n' \
        'PostgreSQL Database directory appears to contain a database'
    fi
  fi
  # entrypoint:377 any other command runs as given (psql, pg_dump, bash...)
  exec "$@"
}

_main "$@"
