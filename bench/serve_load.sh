#!/usr/bin/env bash
# The job API under load, on this machine, with wrk from Debian.
#
#   bench/serve_load.sh [BUILD_DIR] [BURST]        (defaults: build, 1000)
#
# 1. GET /api/v1/jobs/{id} while a job is processing (one worker busy with a
#    long removal), 10 s of wrk at 2 threads and 32 connections: requests
#    per second (target >= 5000), printed against GET /health in the same
#    run (no store behind it: the HTTP layer's own ceiling).
# 2. A burst of BURST (even) jobs, small image removals, posted by wrk over
#    32 connections at once (bench/burst.lua): every one must be accepted,
#    stored and run to completion by 2 workers, none lost; prints how long
#    the burst and the run took.
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/integration/serve_lib.sh
build=${1:-build}
burst=${2:-1000}
bin=$build/unmark
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)"; exit 2; }
work=$(mktemp -d /tmp/unmark-load.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
token=bench-token

start() { # workers
  "$bin" serve --listen 127.0.0.1:0 --data "$work/data" --workers "$1" >"$work/log" 2>&1 &
  pid=$!
  port=$(serve_port "$work/log") || { echo "the server did not start"; cat "$work/log"; exit 1; }
  api=http://127.0.0.1:$port/api/v1
}
stop() { kill -TERM "$pid"; wait "$pid" || true; pid=; }
post() { curl -s -H "Authorization: Bearer $token" -H 'Content-Type: application/json' --data-binary "$1" "$api/jobs"; }
rps() { wrk -t2 -c32 -d10s -H "Authorization: Bearer $token" "$1" | awk '/Requests\/sec/ {print $2}'; }

export UNMARK_API_TOKEN=$token
ffmpeg -hide_banner -loglevel error -f lavfi -i testsrc2=size=1280x720:rate=30:duration=120 \
  -c:v libx264 -preset ultrafast "$work/long.mp4"
ffmpeg -hide_banner -loglevel error -f lavfi -i testsrc2=size=160x120 -frames:v 1 "$work/small.png"

echo "== GET /jobs/{id} while a job is processing"
start 1
id=$(post '{"source_uri":"'"$work"'/long.mp4","target_uri":"'"$work"'/long-out.mp4","watermark_removal_config":{"detector":"none","regions":[[10,10,200,80]]}}' | jq -r .id)
for _ in $(seq 100); do
  [ "$(curl -s -H "Authorization: Bearer $token" "$api/jobs/$id" | jq -r .status)" = processing ] && break
  sleep 0.1
done
job_rps=$(rps "$api/jobs/$id")
health_rps=$(rps "$api/health")
status=$(curl -s -H "Authorization: Bearer $token" "$api/jobs/$id" | jq -r .status)
echo "GET /jobs/{id}: $job_rps requests/s (the job was $status at the end; target >= 5000)"
echo "GET /health:    $health_rps requests/s (same run, no store)"
awk -v a="$job_rps" -v b="$health_rps" 'BEGIN { printf "ratio job/health: %.2f\n", a / b }'
stop

echo "== a burst of $burst jobs"
rm -rf "$work/data" && mkdir -p "$work/out"
start 2
t0=$(date +%s.%N)
# (wrk runs for its whole duration whatever the script does; the posts are
# all out long before it ends, and the store's count says when)
wrk -t2 -c32 -d10s -s bench/burst.lua "$api" -- "$work/small.png" "$work/out" $((burst / 2)) "$token" \
  >"$work/wrk" 2>&1 &
wrk_pid=$!
stored() { curl -s -H "Authorization: Bearer $token" "$api/metrics" | awk '/^unmark_jobs\{/ {n += $2} END {print n}'; }
until [ "$(stored)" -ge "$burst" ] || ! kill -0 "$wrk_pid" 2>/dev/null; do sleep 0.02; done
t1=$(date +%s.%N)
accepted=$(stored)
for _ in $(seq 1200); do
  done_n=$(curl -s -H "Authorization: Bearer $token" "$api/metrics" | sed -n 's/^unmark_jobs{status="completed"} //p')
  [ "$done_n" -ge "$burst" ] && break
  [ "$(curl -s -H "Authorization: Bearer $token" "$api/metrics" | awk '/^unmark_jobs\{status="(queued|processing)"\}/ {n += $2} END {print n}')" = 0 ] && break
  sleep 0.5
done
t2=$(date +%s.%N)
wait "$wrk_pid"
non2xx=$(sed -n 's/.*Non-2xx or 3xx responses: *//p' "$work/wrk")
files=$(find "$work/out" -name '*.png' | wc -l)
failed=$(curl -s -H "Authorization: Bearer $token" "$api/metrics" | sed -n 's/^unmark_jobs{status="failed"} //p')
awk -v n="$burst" -v a="$accepted" -v d="$done_n" -v f="$files" -v x="$failed" -v e="$non2xx" -v t0="$t0" -v t1="$t1" -v t2="$t2" 'BEGIN {
  printf "stored %d of %d in %.2f s (%.0f submissions/s)\n", a, n, t1 - t0, n / (t1 - t0)
  printf "completed %d, failed %d, result files %d; all run %.1f s after the burst began\n", d, x, f, t2 - t0
  if (a != n || d != n || f != n || e != "") { print "LOST JOBS"; exit 1 }
}'
stop
