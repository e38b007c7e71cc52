#!/usr/bin/env bash
# `unmark worker` processes sharing one store with `unmark serve --workers 0`
# (the API alone), driven over real HTTP on loopback:
#   - jobs submitted through the API are run by the workers, progress shows
#     in the API, each job names its worker;
#   - a worker killed with SIGKILL mid-job: once its lease (3 s) runs out
#     the other worker runs the job again, to completion, published once;
#   - with --max-attempts 1 such a job fails instead, saying why;
#   - cancel through the API stops a job running in a worker process;
#   - restarting serve --workers 0 leaves a running job alone (its lease is
#     live); SIGTERM on a worker releases its job to the queue at once (not
#     after the 30 s lease), and another worker completes it, the release
#     not counted as an attempt.
#
# The store is a SQLite file in the test's folder, or, with
# UNMARK_TEST_POSTGRES (a server's URI, which pg_server.sh run sets), that
# server's database.
set -euo pipefail
. "$(dirname "$0")/serve_lib.sh"
BIN=${UNMARK_BIN:?} MEDIA=${UNMARK_TEST_MEDIA:?}
tmp=$(mktemp -d /tmp/unmark-worker.XXXXXX)
if [ -n "${UNMARK_TEST_POSTGRES:-}" ]; then
  export UNMARK_STORE=$UNMARK_TEST_POSTGRES/postgres
else
  export UNMARK_STORE=sqlite:$tmp/jobs.db
fi
declare -A pids=() # name -> pid of the processes started here
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for f in "$tmp"/*.log; do echo "== $f" >&2; tail -15 "$f" >&2; done
  exit 1
}

# serve ARGS...: starts the API alone; $api is set once it answers.
serve() {
  : >"$tmp/serve.log"
  "$BIN" serve --listen 127.0.0.1:0 --data "$tmp/data" --workers 0 "$@" >>"$tmp/serve.log" 2>&1 &
  pids[serve]=$!
  local port
  port=$(serve_port "$tmp/serve.log") || fail "the server did not start"
  api=http://127.0.0.1:$port/api/v1
}
# worker NAME ARGS...: starts a worker process logging to $tmp/NAME.log.
worker() {
  local name=$1
  shift
  "$BIN" worker --data "$tmp/$name-data" "$@" >"$tmp/$name.log" 2>&1 &
  pids[$name]=$!
  for _ in $(seq 50); do grep -q "worker id" "$tmp/$name.log" && return 0; sleep 0.1; done
  fail "worker $name did not start"
}
# halt NAME SIGNAL: signals a process started here and waits for it.
halt() {
  kill "-$2" "${pids[$1]}"
  wait "${pids[$1]}" 2>/dev/null || true
  unset "pids[$1]"
}

call() { # METHOD PATH [BODY]: the status in $code, the body in $tmp/body
  local args=(-s -o "$tmp/body" -w '%{http_code}' -X "$1")
  [ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
  code=$(curl "${args[@]}" "$api$2")
}
field() { jq -r "$1" "$tmp/body"; }
submit() { # SOURCE TARGET: the job's id in $id
  call POST /jobs '{"source_uri":"'"$1"'","target_uri":"'"$2"'","watermark_removal_config":{"detector":"none","regions":[[10,10,50,50]]}}'
  [ "$code" = 202 ] || fail "submit $1: $code $(cat "$tmp/body")"
  id=$(field .id)
}
wait_for() { # ID JQ-CONDITION [SECONDS]: until the job matches
  for _ in $(seq $((${3:-60} * 10))); do
    call GET "/jobs/$1"
    [ "$(jq -r "$2" "$tmp/body")" = true ] && return 0
    sleep 0.1
  done
  fail "job $1 never matched $2: $(cat "$tmp/body")"
}
# holder ID: the name of the process here whose worker runs the job.
holder() {
  call GET "/jobs/$1"
  local pid
  pid=$(field .worker | awk -F: '{print $(NF-1)}')
  for name in "${!pids[@]}"; do [ "${pids[$name]}" = "$pid" ] && { echo "$name"; return; }; done
  fail "job $1 is held by $(field .worker), no worker of this test"
}
published() { cat "$tmp"/*.log | grep -c "job $1: published" || true; }

# A clip long enough to be caught mid-run (a few seconds' work).
ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=320x240:rate=25:duration=30 -c:v libx264 \
  -preset ultrafast "$tmp/long.mp4"

serve
worker a --lease 3
worker b --lease 3
grep -q "leases of 3 s, at most 3 attempt(s)" "$tmp/a.log" || fail "the worker's start line: $(cat "$tmp/a.log")"
# the store is named, without the password its URI may hold
case $UNMARK_STORE in
*@*) ! grep -qF "${UNMARK_STORE%%@*}" "$tmp/a.log" "$tmp/serve.log" || fail "a log shows the store's password" ;;
esac
grep -q "0 worker(s)" "$tmp/serve.log" || fail "serve --workers 0 started workers"

# Jobs submitted through the API complete in the workers.
ids=()
for i in 1 2 3 4; do
  submit "$MEDIA/cfr.mp4" "$tmp/short$i.mp4"
  ids+=("$id")
done
for i in 1 2 3 4; do
  wait_for "${ids[$((i - 1))]}" '.status == "completed"'
  [ -s "$tmp/short$i.mp4" ] || fail "short job $i left no output"
  [ "$(field .attempts)" = 1 ] || fail "short job $i: attempts $(field .attempts)"
  case "$(field .worker)" in *:"${pids[a]}":1 | *:"${pids[b]}":1) ;; *) fail "short job $i's worker $(field .worker)" ;; esac
done

# A worker killed mid-job: after the lease the other one runs it, once.
submit "$tmp/long.mp4" "$tmp/long-out.mp4"
long=$id
wait_for "$long" '.status == "processing" and .progress > 0' 60
victim=$(holder "$long")
[ "$(jq '.lease_expires_at > .started_at' "$tmp/body")" = true ] || fail "no lease: $(cat "$tmp/body")"
halt "$victim" KILL
wait_for "$long" '.status == "completed"' 150
[ "$(field .attempts)" = 2 ] || fail "attempts after a lost worker: $(field .attempts)"
survivor=$(holder "$long")
[ "$survivor" != "$victim" ] || fail "the killed worker completed its job"
[ -s "$tmp/long-out.mp4" ] || fail "the re-run job left no output"
[ "$(published "$long")" = 1 ] || fail "job $long published $(published "$long") times"
grep -q "queued again" "$tmp/$survivor.log" || fail "the surviving worker did not reap the job"
halt "$survivor" TERM

# With --max-attempts 1 a job whose worker is lost fails, saying why.
worker c --lease 3 --max-attempts 1
worker d --lease 3 --max-attempts 1
submit "$tmp/long.mp4" "$tmp/lost-out.mp4"
lost=$id
wait_for "$lost" '.status == "processing"' 60
victim=$(holder "$lost")
victim_id=$(field .worker)
halt "$victim" KILL
wait_for "$lost" '.status == "failed"' 60
[ "$(field .error)" = "its worker was lost once (lease expired; last worker $victim_id)" ] ||
  fail "the lost job's error: $(field .error)"
[ ! -e "$tmp/lost-out.mp4" ] || fail "a lost job left output"
for name in c d; do
  if [ -n "${pids[$name]:-}" ]; then halt "$name" TERM; fi
done

# Long leases from here on: what happens below is not a lease running out.
worker e --lease 30
worker f --lease 30

# Cancel through the API stops a job running in a worker process.
submit "$tmp/long.mp4" "$tmp/canceled-out.mp4"
canceled=$id
wait_for "$canceled" '.status == "processing" and .progress > 0' 60
runner=$(holder "$canceled")
call POST "/jobs/$canceled/cancel"
[ "$code" = 200 ] || fail "cancel: $code"
for _ in $(seq 50); do grep -q "job $canceled: canceled" "$tmp/$runner.log" && break; sleep 0.1; done
grep -q "job $canceled: canceled" "$tmp/$runner.log" || fail "the worker did not stop the canceled job"
[ ! -e "$tmp/canceled-out.mp4" ] || fail "a canceled job left output"

# A running job: serve restarts around it (no workers: it touches no lease);
# then SIGTERM on its worker puts it back in the queue at once.
submit "$tmp/long.mp4" "$tmp/released-out.mp4"
released=$id
wait_for "$released" '.status == "processing"' 60
runner=$(holder "$released")
held_by=$(field .worker)
halt serve TERM
serve
call GET "/jobs/$released"
[ "$(field .status)" = processing ] && [ "$(field .worker)" = "$held_by" ] ||
  fail "serve's restart touched a running job: $(cat "$tmp/body")"
halt "$runner" TERM
grep -q "job $released: interrupted by shutdown and released to the queue" "$tmp/$runner.log" ||
  fail "the stopped worker did not release its job"
# back in the queue (or already taken by the other worker) at once, well
# before its 30 s lease would have run out
wait_for "$released" '.status == "queued" or (.status == "processing" and .worker != "'"$held_by"'")' 10
wait_for "$released" '.status == "completed"' 120
[ "$(field .attempts)" = 1 ] || fail "a released job's attempts: $(field .attempts)"
[ "$(holder "$released")" != "$runner" ] || fail "the released job ran on the stopped worker"
echo "worker: all checks passed"
