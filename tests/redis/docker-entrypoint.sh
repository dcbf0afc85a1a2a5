#!/bin/bash
# Entry point of the test rig's redis:8 image (tests/redis/image.py): the official image's
# start-up contract, rule by rule. "entrypoint:N" cites redis/docker-library-redis at 0d55be9,
# debian/docker-entrypoint.sh: the setpriv entry point of the 8.x images (since 8.0-rc1, its
# pull requests 435 and 451); function names are upstream's.
#
# One rule more than upstream: its binary is built with protected mode off (Dockerfile:66-71 at
# 0076c90), Debian's is not, so this script passes `--protected-mode no` to the server unless its
# config file sets protected-mode (see protected_mode_args). Not reproduced: a `protected-mode`
# line in a config read from stdin (`redis-server -`) or in a file the config file includes loses
# to that option here, where upstream honours it.
# Not upstream's either, and not here: REDIS_PASSWORD / REDIS_PASSWORD_FILE (an open proposal,
# its pull request 492); the released image ignores them, and so does this one.

# entrypoint:2 -e, as upstream.
set -e

# entrypoint:4 the step down from root: redis's uid and gid, no supplementary groups.
SETPRIV="/usr/bin/setpriv --reuid redis --regid redis --clear-groups"
IS_REDIS_SENTINEL=""
IS_REDIS_SERVER=""
CONFIG=""

SKIP_FIX_PERMS_NOTICE="Use SKIP_FIX_PERMS=1 to skip permission changes."

# entrypoint:12-14 whether the container may still change users (a `cap_drop` may have taken it).
has_cap() {
  /usr/bin/setpriv -d | grep -q 'Capability bounding set:.*\b'"$1"'\b'
}

# entrypoint:16-32 redis-server --sentinel, or redis-sentinel (a link to redis-server).
check_for_sentinel() {
  CMD="$1"
  shift
  if [ "$CMD" = '/usr/local/bin/redis-server' ]; then
    for arg in "$@"; do
      if [ "$arg" = "--sentinel" ]; then
        return 0
      fi
    done
  fi
  if [ "$CMD" = '/usr/local/bin/redis-sentinel' ]; then
    return 0
  fi
  return 1
}

# entrypoint:34-47 the data folder (the working folder, /data) is made the redis user's only
# when it holds nothing but what redis writes there: *.rdb files and appendonlydir. Anything else
# (a home folder mounted by mistake) is left alone, with a notice.
fix_data_dir_perms() {
  unknown_file="$(find . -mindepth 1 -maxdepth 1 \
    -not \( -name \*.rdb -or \( -type d -and -name appendonlydir \) \) \
    -print -quit)"
  if [ -z "$unknown_file" ]; then
    find . -print0 | fix_perms_and_owner rw
  else
    echo "Notice: Unknown file '$unknown_file' found in data dir. Permissions will not be modified. $SKIP_FIX_PERMS_NOTICE"
  fi
}

# entrypoint:49-72 the config file and its folder likewise, when the folder holds only that file.
fix_config_perms() {
  config="$1"
  mode="$2"
  if [ ! -f "$config" ]; then
    return 0
  fi
  confdir="$(dirname "$config")"
  if [ ! -d "$confdir" ]; then
    return 0
  fi
  pattern=$(printf "%s" "$(basename "$config")" | sed 's/[][?*]/\\&/g')
  unknown_file=$(find "$confdir" -mindepth 1 -maxdepth 1 -not -name "$pattern" -print -quit)
  if [ -z "$unknown_file" ]; then
    printf '%s\0%s\0' "$confdir" "$config" | fix_perms_and_owner "$mode"
  else
    echo "Notice: Unknown file '$unknown_file' found in '$confdir'. Permissions will not be modified. $SKIP_FIX_PERMS_NOTICE"
  fi
}

# entrypoint:74-91 only what redis could not read (r) or read and write (rw) as itself changes:
# owner redis, and u+r / u+rw (u+x more for a folder). A failure is a warning, not an exit.
fix_perms_and_owner() {
  mode="$1"
  while IFS= read -r -d '' file; do
    if [ "$mode" = "rw" ] && $SETPRIV test -r "$file" -a -w "$file"; then
      continue
    elif [ "$mode" = "r" ] && $SETPRIV test -r "$file"; then
      continue
    fi
    new_mode=$mode
    if [ -d "$file" ]; then
      new_mode=${mode}x
    fi
    err=$(chown redis "$file" 2>&1) || echo "Warning: cannot change owner to 'redis' for '$file': $err. $SKIP_FIX_PERMS_NOTICE"
    err=$(chmod "u+$new_mode" "$file" 2>&1) || echo "Warning: cannot change mode to 'u+$new_mode' for '$file': $err. $SKIP_FIX_PERMS_NOTICE"
  done
}

# Not upstream's (see the top): `--protected-mode no` right after the command and its config
# file or stdin marker, so the command's own options still override it; nothing when the config
# file sets protected-mode (keys are case-insensitive) or for sentinel, which turns it off itself.
protected_mode_args() {
  local head=1
  if [ -n "$CONFIG" ] || [ "${2:-}" = - ]; then
    # redis-server reads stdin only when `-` is its first or last argument: it stays first.
    head=2
  fi
  if [ -n "$IS_REDIS_SENTINEL" ] \
    || { [ -n "$CONFIG" ] && grep -qiE '^[[:space:]]*protected-mode[[:space:]]' "$CONFIG" 2>/dev/null; }; then
    ARGS=("$@")
  else
    ARGS=("${@:1:head}" --protected-mode no "${@:head+1}")
  fi
}

# entrypoint:93-97 `docker run redis:8 --port 7000` or `docker run redis:8 /path/redis.conf`:
# the arguments are redis-server's.
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
  set -- redis-server "$@"
fi
CMD=$(command -v "$1" 2>/dev/null || :)

# entrypoint:100-102 the server is whatever resolves to /usr/local/bin/redis-server (a path, a
# link such as redis-sentinel); any other command runs as given.
if [ "$(readlink -f "$CMD")" = '/usr/local/bin/redis-server' ]; then
  IS_REDIS_SERVER=1
fi

if check_for_sentinel "$CMD" "$@"; then
  IS_REDIS_SENTINEL=1
fi

# entrypoint:108-111 a first argument that is not an option is the server's config file.
if [ "$IS_REDIS_SERVER" ] && [ "${2#-}" = "$2" ]; then
  CONFIG="$2"
fi

# entrypoint:113-140 started as root (no `--user`), with SETUID and SETGID left and without
# SKIP_DROP_PRIVS: the permissions are fixed unless SKIP_FIX_PERMS, then this script runs again
# as redis with no-new-privileges and no capabilities but SYS_RESOURCE (for the open-files limit).
if [ "$IS_REDIS_SERVER" ] && [ -z "$SKIP_DROP_PRIVS" ] && [ "$(id -u)" = '0' ] && has_cap setuid && has_cap setgid; then
  if [ -z "$SKIP_FIX_PERMS" ]; then
    if [ "$IS_REDIS_SENTINEL" ]; then
      fix_config_perms "$CONFIG" rw
    else
      fix_data_dir_perms
      fix_config_perms "$CONFIG" r
    fi
  fi
  CAPS_TO_KEEP=""
  if has_cap sys_resource; then
    CAPS_TO_KEEP=",+sys_resource"
  fi
  # shellcheck disable=SC2086 # SETPRIV is a command and its options, split on purpose
  exec $SETPRIV \
    --nnp \
    --inh-caps=-all$CAPS_TO_KEEP \
    --ambient-caps=-all$CAPS_TO_KEEP \
    --bounding-set=-all$CAPS_TO_KEEP \
    "$0" "$@"
fi

# entrypoint:142-148 files private to their owner (docker-library/redis#305), unless the
# container was given a umask of its own: only Docker's default 0022 is replaced.
um="$(umask)"
if [ "$um" = '0022' ]; then
  umask 0077
fi

# entrypoint:150-182 every .so of the modules folder is loaded (always empty here: build-image.sh).
if [ "$IS_REDIS_SERVER" ] && ! [ "$IS_REDIS_SENTINEL" ]; then
  echo "Starting Redis Server"
  modules_dir="/usr/local/lib/redis/modules/"
  if [ ! -d "$modules_dir" ]; then
    echo "Warning: Default Redis modules directory $modules_dir does not exist."
  elif [ -n "$(ls -A $modules_dir 2>/dev/null)" ]; then
    for module in "$modules_dir"/*.so; do
      if [ ! -s "$module" ]; then
        echo "Skipping module $module: file has no size."
        continue
      fi
      if [ -d "$module" ]; then
        echo "Skipping module $module: is a directory."
        continue
      fi
      if [ ! -r "$module" ]; then
        echo "Skipping module $module: file is not readable."
        continue
      fi
      if [ ! -x "$module" ]; then
        echo "Warning: Module $module is not executable."
        continue
      fi
      set -- "$@" --loadmodule "$module"
    done
  fi
fi

if [ "$IS_REDIS_SERVER" ]; then
  protected_mode_args "$@"
  set -- "${ARGS[@]}"
fi

# entrypoint:184
exec "$@"
