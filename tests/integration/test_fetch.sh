#!/usr/bin/env bash
# Runs the fetch test program (tests/integration/test_fetch.c) against a
# loopback HTTP server (http_peer.py) serving a scratch folder: the program
# gets the server's base URL in $UNMARK_FETCH_BASE and the folder it serves
# at /files/ in $UNMARK_FETCH_ROOT.
# Usage: test_fetch.sh TEST_PROGRAM
set -euo pipefail
program=${1:?usage: test_fetch.sh TEST_PROGRAM}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d /tmp/unmark-fetch.XXXXXX)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

mkdir "$tmp/www"
/usr/bin/python3 "$here/http_peer.py" "$tmp/www" "$tmp/port" 2>"$tmp/peer.log" &
pid=$!
for _ in $(seq 100); do
  [ -s "$tmp/port" ] && break
  sleep 0.1
done
if [ ! -s "$tmp/port" ]; then
  echo "FAIL: the HTTP peer did not start" >&2
  cat "$tmp/peer.log" >&2
  exit 1
fi

status=0
UNMARK_FETCH_BASE="http://127.0.0.1:$(cat "$tmp/port")" UNMARK_FETCH_ROOT="$tmp/www" "$program" ||
  status=$?
if [ "$status" != 0 ] && [ -s "$tmp/peer.log" ]; then
  echo "--- HTTP peer's log:" >&2
  cat "$tmp/peer.log" >&2
fi
exit "$status"
