#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on loopback, for the tests of the PostgreSQL
# job store.
#
#   pg_server.sh start DIR    makes a cluster in DIR (created; must not hold
#                             one yet), starts it on 127.0.0.1 at a free port
#                             and prints its URI, postgres://postgres:PASSWORD
#                             @127.0.0.1:PORT (no database: tests add their
#                             own); also written to DIR/uri
#   pg_server.sh stop DIR     stops it and removes DIR
#   pg_server.sh run CMD...   start in a new folder under /tmp, run CMD with
#                             UNMARK_TEST_POSTGRES set to the URI, then stop,
#                             whatever happened; exits with CMD's status
#
# The server binaries are the newest under /usr/lib/postgresql (PG_BIN to
# choose). As root (CI runs the tests as root) the cluster belongs to the
# postgres user, since PostgreSQL refuses to run as root. Host connections
# need the password (SCRAM); the cluster is tuned for speed, not durability
# (fsync off).
#
# `run` fails when the server cannot be made or started; it skips (exit 77,
# which CTest is told means skipped) only when UNMARK_TEST_POSTGRES=skip is
# set on purpose.
set -euo pipefail

PASSWORD=unmark-test-secret
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}

die() { echo "pg_server: $*" >&2; exit 1; }

# as_owner CMD...: runs CMD as the cluster's owner: the postgres user when
# we are root, else ourselves.
as_owner() {
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
  local dir=$1 port
  [ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ] ||
    die "no PostgreSQL server in ${PG_BIN:-/usr/lib/postgresql/*/bin} (scripts/install-deps.sh installs it)"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  [ ! -e "$dir/data" ] || die "$dir already holds a cluster"
  [ "$(id -u)" != 0 ] || chown postgres: "$dir"
  printf '%s\n' "$PASSWORD" | as_owner tee "$dir/password" >/dev/null
  as_owner "$PG_BIN/initdb" -D "$dir/data" -U postgres --pwfile="$dir/password" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --no-locale --no-sync \
    >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  # A free port can be taken between finding it and binding it: try again.
  for _ in 1 2 3; do
    port=$(free_port)
    if as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o \
      "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      start >/dev/null; then
      echo "postgres://postgres:$PASSWORD@127.0.0.1:$port" | as_owner tee "$dir/uri"
      return 0
    fi
  done
  tail -20 "$dir/server.log" >&2 2>/dev/null || true
  die "the server in $dir did not start"
}

stop() {
  local dir=$1
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
      as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}

# watch PID DIR: stops the server once PID has gone. For a run killed
# outright (SIGKILL, as CTest does at a timeout), whose trap never runs; it
# runs in a session of its own, so a kill of the test's process group
# spares it.
watch() {
  while kill -0 "$1" 2>/dev/null; do sleep 1; done
  stop "$2"
}

run() {
  [ $# -gt 0 ] || die "usage: pg_server.sh run CMD [ARGS...]"
  if [ "${UNMARK_TEST_POSTGRES:-}" = skip ]; then
    echo "pg_server: skipped (UNMARK_TEST_POSTGRES=skip)"
    exit 77
  fi
  local uri
  # global: the EXIT trap runs after run has returned
  run_dir=$(mktemp -d /tmp/unmark-pg.XXXXXX)
  trap 'stop "$run_dir"' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 129' HUP
  setsid -f bash "$0" watch $$ "$run_dir" </dev/null >/dev/null 2>&1
  uri=$(start "$run_dir")
  UNMARK_TEST_POSTGRES=$uri "$@"
}

case "${1:-}" in
start | stop) [ $# = 2 ] || die "usage: pg_server.sh $1 DIR"; "$1" "$2" ;;
watch) watch "$2" "$3" ;;
run) shift; run "$@" ;;
*) die "usage: pg_server.sh start DIR | stop DIR | run CMD [ARGS...]" ;;
esac
