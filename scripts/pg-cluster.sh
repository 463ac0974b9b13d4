#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests: its own data directory in a fresh temporary
# directory, trust authentication for the user postgres, listening on 127.0.0.1 at a random free
# port and on a unix socket inside that directory. Nothing of it outlives `stop`.
#
#   eval "$(scripts/pg-cluster.sh start)"     # prints export lines: TILLBRIDGE_TEST_PG_URL, TILLBRIDGE_PG_CLUSTER_DIR
#   scripts/pg-cluster.sh stop [DIR]          # stops it (immediate) and removes DIR
#                                             # (DIR defaults to $TILLBRIDGE_PG_CLUSTER_DIR)
#   scripts/pg-cluster.sh restart [DIR]       # stops it (fast) if it runs, then starts it again on the same port
#   scripts/pg-cluster.sh kill [DIR]          # SIGKILL to the server and all its processes, as in a crash
#   scripts/pg-cluster.sh bindir              # prints the PostgreSQL bin directory it would use
#
# The server binaries: $TILLBRIDGE_PG_BINDIR, else the newest /usr/lib/postgresql/*/bin (Debian),
# else `pg_config --bindir`. initdb refuses to run as root: as root, the cluster belongs to the
# system user tbpg (created on first use), or to nobody where no user can be created.
# The temporary directory is made in $TILLBRIDGE_PG_TMPDIR, else /tmp as root, else $TMPDIR or /tmp.
# Only the export lines go to stdout; everything else goes to stderr.
set -euo pipefail

MARKER=tillbridge-pg-cluster
PG_USER=tbpg

die() { echo "pg-cluster: $*" >&2; exit 1; }

find_bindir() {
  if [ -n "${TILLBRIDGE_PG_BINDIR:-}" ]; then
    if [ ! -x "$TILLBRIDGE_PG_BINDIR/initdb" ]; then
      echo "pg-cluster: no initdb in TILLBRIDGE_PG_BINDIR=$TILLBRIDGE_PG_BINDIR" >&2
      return 3
    fi
    echo "$TILLBRIDGE_PG_BINDIR"; return 0
  fi
  local newest
  newest="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [ -n "$newest" ] && [ -x "$newest/initdb" ]; then echo "$newest"; return 0; fi
  if command -v pg_config >/dev/null 2>&1; then
    local b; b="$(pg_config --bindir 2>/dev/null || true)"
    if [ -n "$b" ] && [ -x "$b/initdb" ]; then echo "$b"; return 0; fi
  fi
  echo "pg-cluster: no PostgreSQL server binaries (initdb) under /usr/lib/postgresql/*/bin or pg_config --bindir;" \
    "install them (Debian: apt-get install postgresql) or set TILLBRIDGE_PG_BINDIR" >&2
  return 3
}

# The user the cluster runs as, when we are root: tbpg, created if missing; nobody as a fallback.
cluster_user() {
  if id -u "$PG_USER" >/dev/null 2>&1; then echo "$PG_USER"; return; fi
  if command -v useradd >/dev/null 2>&1 \
    && { useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
           "$PG_USER" >/dev/null 2>&1 \
         || id -u "$PG_USER" >/dev/null 2>&1; }; then  # another start may have created it meanwhile
    echo "$PG_USER"; return
  fi
  echo nobody
}

# Runs a command as the owner of the cluster directory (as is, when we are not root).
as_owner() {
  local dir="$1"; shift
  if [ "$(id -u)" -eq 0 ]; then
    local owner; owner="$(stat -c %U "$dir/data")"
    if command -v runuser >/dev/null 2>&1; then
      (cd "$dir" && runuser -u "$owner" -- "$@")
    else
      (cd "$dir" && setpriv --reuid="$owner" --regid="$(id -g "$owner")" --clear-groups -- "$@")
    fi
  else
    (cd "$dir" && "$@")
  fi
}

cluster_dir() {
  local dir="${1:-${TILLBRIDGE_PG_CLUSTER_DIR:-}}"
  [ -n "$dir" ] || die "which cluster? give its directory or set TILLBRIDGE_PG_CLUSTER_DIR"
  [ -f "$dir/$MARKER" ] || die "$dir is not a cluster made by scripts/pg-cluster.sh (no $MARKER file)"
  echo "$dir"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A random port below Linux's ephemeral range (32768+), so no outgoing connection holds it.
random_port() { echo $(( (RANDOM * 32768 + RANDOM) % 20000 + 12000 )); }

pg_start() {  # dir: starts the server with the settings in data/tillbridge.conf, waiting until it accepts connections
  local dir="$1" bindir; bindir="$(cat "$dir/bindir")"
  if ! as_owner "$dir" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >&2; then
    tail -n 20 "$dir/server.log" >&2 || true
    return 1
  fi
}

# Every process of the cluster: the postmaster and its children.
cluster_pids() {
  local dir="$1" pid
  [ -f "$dir/data/postmaster.pid" ] || return 0
  pid="$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  alive "$pid" || return 0
  echo "$pid"
  ps -o pid= --ppid "$pid" 2>/dev/null || true
}

# /proc/PID/stat from field 3 on (the state letter first): the name in parentheses before it may hold spaces.
stat_fields() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null || true; }
# A zombie (a killed process nobody reaped yet) is not alive.
alive() { local f; f="$(stat_fields "$1")"; [ -n "$f" ] && [ "${f%% *}" != Z ]; }
# When the process started (clock ticks after boot, field 22): with its pid, which process it is. Pids come round
# again (pid_max is 32768 on many machines), and a test run starts processes by the thousand.
started() { stat_fields "$1" | awk '{print $20}'; }
# pid:start of each process named, as `started` gives it.
identities() { local p; for p in "$@"; do echo "$p:$(started "$p")"; done; }
# Whether the process of a pid:start identity is alive (not a later process that got the same pid).
alive_as() { [ "$(started "${1%%:*}")" = "${1#*:}" ] && alive "${1%%:*}"; }

cmd_start() {
  local bindir; bindir="$(find_bindir)" || exit 3
  local base="${TILLBRIDGE_PG_TMPDIR:-}"
  if [ -z "$base" ]; then
    # as root, the cluster's user must be able to reach the directory: /tmp, not root's TMPDIR
    if [ "$(id -u)" -eq 0 ]; then base=/tmp; else base="${TMPDIR:-/tmp}"; fi
  fi
  local dir; dir="$(mktemp -d "$base/tillbridge-pg.XXXXXX")"
  # Removed again if anything below fails.
  STARTING_DIR="$dir"
  trap 'if [ $? -ne 0 ]; then cmd_stop "$STARTING_DIR" >/dev/null 2>&1 || rm -rf "$STARTING_DIR"; fi' EXIT
  touch "$dir/$MARKER"
  echo "$bindir" >"$dir/bindir"
  mkdir "$dir/data"
  chmod 0755 "$dir"
  chmod 0700 "$dir/data"
  if [ "$(id -u)" -eq 0 ]; then
    local user; user="$(cluster_user)"
    chown "$user:$(id -gn "$user")" "$dir" "$dir/data"
  fi
  if ! as_owner "$dir" "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust \
      --encoding=UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1; then
    cat "$dir/initdb.log" >&2
    die "initdb failed"
  fi
  echo "include 'tillbridge.conf'" >>"$dir/data/postgresql.conf"

  local attempt port=""
  for attempt in 1 2 3 4 5 6 7 8; do
    port="$(random_port)"
    port_in_use "$port" && continue
    cat >"$dir/data/tillbridge.conf" <<EOF
# written by scripts/pg-cluster.sh
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 300
EOF
    [ "$(id -u)" -ne 0 ] || chown "$(stat -c %U:%G "$dir/data")" "$dir/data/tillbridge.conf"
    if pg_start "$dir"; then
      echo "$port" >"$dir/port"
      printf 'export TILLBRIDGE_TEST_PG_URL=%q\n' "postgres://postgres@127.0.0.1:$port/postgres"
      printf 'export TILLBRIDGE_PG_CLUSTER_DIR=%q\n' "$dir"
      trap - EXIT
      return 0
    fi
    # another process took the port between the check and the bind: try another one
    if ! grep -q 'could not bind\|Address already in use' "$dir/server.log" 2>/dev/null; then
      die "the server did not start (its log above)"
    fi
    echo "pg-cluster: port $port was taken, trying another" >&2
  done
  die "no free port found after $attempt attempts"
}

cmd_stop() {
  local dir; dir="$(cluster_dir "${1:-}")"
  local bindir; bindir="$(cat "$dir/bindir")"
  if [ -d "$dir/data" ] && [ -n "$(cluster_pids "$dir")" ]; then
    as_owner "$dir" "$bindir/pg_ctl" -D "$dir/data" -m immediate -w -t 60 stop >&2 || cmd_kill "$dir"
  fi
  rm -rf "$dir"
}

cmd_restart() {
  local dir; dir="$(cluster_dir "${1:-}")"
  local bindir; bindir="$(cat "$dir/bindir")"
  if [ -n "$(cluster_pids "$dir")" ]; then
    as_owner "$dir" "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >&2
  fi
  pg_start "$dir"
}

cmd_kill() {
  local dir; dir="$(cluster_dir "${1:-}")"
  local pids; pids="$(cluster_pids "$dir" | xargs || true)"
  [ -n "$pids" ] || return 0
  # shellcheck disable=SC2086
  local ids; ids="$(identities $pids | xargs)"
  # shellcheck disable=SC2086
  kill -KILL $pids 2>/dev/null || true
  # A process in the middle of a disk write dies only when the write returns: up to 60 s. A pid that a new process
  # took meanwhile is not the cluster's.
  local id i
  for i in $(seq 1 600); do
    local left=""
    for id in $ids; do alive_as "$id" && left=1; done
    [ -z "$left" ] && break
    sleep 0.1
  done
  for id in $ids; do
    alive_as "$id" && die "process ${id%%:*} of the cluster is still alive 60 s after SIGKILL" \
      "(state $(stat_fields "${id%%:*}" | awk '{print $1}'), waiting in $(cat "/proc/${id%%:*}/wchan" 2>/dev/null))"
  done
  # The lock files stay, as after a crash, and the next postmaster sees that their pid is gone.
  # Where nobody reaps the killed postmaster (a container whose init does not), its zombie keeps
  # that pid in use and the next postmaster would take the files for a live server's, so they go.
  local pm; pm="$(echo "$pids" | awk '{print $1}')"
  if [ -e "/proc/$pm" ]; then rm -f "$dir/data/postmaster.pid" "$dir"/.s.PGSQL.*.lock; fi
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop "${2:-}" ;;
  restart) cmd_restart "${2:-}" ;;
  kill) cmd_kill "${2:-}" ;;
  bindir) find_bindir ;;
  *) echo "usage: $0 start | stop [DIR] | restart [DIR] | kill [DIR] | bindir" >&2; exit 2 ;;
esac
