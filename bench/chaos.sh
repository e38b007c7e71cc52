#!/usr/bin/env bash
# Reliability under chaos: JOBS short jobs (default 200) submitted through
# `unmark serve --workers 0`, run by 3 `unmark worker` processes on one
# PostgreSQL store, while one worker, picked at random, is killed with
# SIGKILL every PERIOD seconds (default 2) and started again. At the end
# it prints how many jobs completed, how many were lost (not completed),
# and how many were published twice (two "job ID: published" lines in the
# workers' logs), then the claim-throughput benchmark (bench_claims, 2000
# empty jobs, 4 connections) on the same server; it exits 1 when a job was
# lost or published twice.
#
#   bench/chaos.sh [BUILD_DIR] [JOBS] [PERIOD]     (defaults: build, 200, 2)
#
# The store is UNMARK_STORE when it names a PostgreSQL database; otherwise
# a throwaway server on loopback (tests/integration/pg_server.sh), stopped
# afterwards. Workers hold 2 s leases, so a killed worker's job runs again
# about 2 s later; the retry limit stays at its default (3).
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/integration/serve_lib.sh
build=${1:-build}
jobs=${2:-200}
period=${3:-2}
bin=$build/unmark
work=$(mktemp -d /tmp/unmark-chaos.XXXXXX)
pg_dir=
declare -A pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -z "$pg_dir" ] || bash tests/integration/pg_server.sh stop "$pg_dir"
  rm -rf "$work"
}
trap cleanup EXIT
case "${UNMARK_STORE:-}" in
postgres://* | postgresql://*) ;;
*)
  pg_dir=$(mktemp -d /tmp/unmark-pg.XXXXXX)
  UNMARK_STORE=$(bash tests/integration/pg_server.sh start "$pg_dir")/postgres
  ;;
esac
export UNMARK_STORE UNMARK_LOG_LEVEL=info

ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=160x120:rate=25:duration=10 -c:v libx264 \
  -preset ultrafast "$work/clip.mp4"
mkdir -p "$work/out"

"$bin" serve --listen 127.0.0.1:0 --data "$work/data" --workers 0 >"$work/serve.log" 2>&1 &
pids[serve]=$!
port=$(serve_port "$work/serve.log") || { cat "$work/serve.log"; echo "chaos: the server did not start"; exit 1; }
api=http://127.0.0.1:$port/api/v1

# start_worker N: worker N's next life, logging to its own file.
lives=0
start_worker() {
  lives=$((lives + 1))
  UNMARK_PRESET=ultrafast "$bin" worker --data "$work/w$1" --lease 2 >"$work/worker$1.$lives.log" 2>&1 &
  pids[w$1]=$!
}
# All jobs queued first, so that the kills fall while they run.
for i in $(seq "$jobs"); do
  curl -sf -o /dev/null -H 'Content-Type: application/json' "$api/jobs" --data-binary \
    '{"source_uri":"'"$work"'/clip.mp4","target_uri":"'"$work"'/out/'"$i"'.mp4","watermark_removal_config":{"detector":"none","regions":[[10,10,40,30]]}}' ||
    { echo "chaos: job $i was refused"; exit 1; }
done
start=$(date +%s)
for n in 1 2 3; do start_worker "$n"; done

# ended: jobs completed, failed or canceled, from /metrics.
count() { curl -s "$api/metrics" | sed -n "s/^unmark_jobs{status=\"$1\"} //p"; }
ended() { echo $(($(count completed) + $(count failed) + $(count canceled))); }
kills=0
deadline=$((start + 600))
while [ "$(ended)" -lt "$jobs" ] && [ "$(date +%s)" -lt "$deadline" ]; do
  sleep "$period"
  n=$((RANDOM % 3 + 1))
  kill -9 "${pids[w$n]}" 2>/dev/null || true
  wait "${pids[w$n]}" 2>/dev/null || true
  kills=$((kills + 1))
  start_worker "$n"
done
took=$(($(date +%s) - start))

completed=$(count completed)
failed=$(count failed)
twice=$(cat "$work"/worker*.log | sed -n 's/.*job \([0-9a-f-]*\): published.*/\1/p' | sort | uniq -d | wc -l)
files=$(find "$work/out" -name '*.mp4' | wc -l)
lost=$((jobs - completed))
echo "chaos: $jobs jobs, 3 workers, $kills SIGKILLs (one every $period s), $took s"
echo "completed $completed/$jobs, lost $lost (failed $failed), published twice $twice, result files $files"
grep -h "its worker was lost" "$work"/worker*.log | head -5 || true
echo "reaped: $(cat "$work"/worker*.log | grep -c 'queued again' || true) time(s)"

for name in "${!pids[@]}"; do kill -TERM "${pids[$name]}"; wait "${pids[$name]}" || true; done
pids=()
echo "claim throughput on the same server:"
"$build/bench_claims" "$UNMARK_STORE" 2000 4

[ "$lost" = 0 ] && [ "$twice" = 0 ] && [ "$files" = "$jobs" ]
