#!/usr/bin/env bash
# `unmark runpod`: the local test mode (--test_input, ./test_input.json, bad
# inputs named by field, nothing to run), then the worker against a loopback
# peer playing RunPod's side (tests/peers/runpod_peer.py): a job taken with
# the worker id, job_in_progress and the key; progress posts; the result
# posted with isStream=false; pings naming the running job; a failing job
# posted as the SDK posts a handler's {"error": ...}, through a 500 retried;
# a 429 backed off; an answer without an id ignored and a list of jobs run;
# SIGTERM during a job drains (the job is finished and posted, exit 0).
set -euo pipefail
BIN=${UNMARK_BIN:?} MEDIA=${UNMARK_TEST_MEDIA:?}
PEER=$(cd "$(dirname "$0")/../peers" && pwd)/runpod_peer.py
tmp=$(mktemp -d /tmp/unmark-runpod.XXXXXX)
peer= worker=
cleanup() {
  [ -n "$worker" ] && kill -9 "$worker" 2>/dev/null
  [ -n "$peer" ] && kill "$peer" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
log=$tmp/log
fail() { echo "FAIL: $*" >&2; [ -f "$log" ] && tail -30 "$log" >&2; exit 1; }
unset RUNPOD_WEBHOOK_GET_JOB RUNPOD_WEBHOOK_POST_OUTPUT RUNPOD_WEBHOOK_PING RUNPOD_POD_ID RUNPOD_AI_API_KEY \
  RUNPOD_PING_INTERVAL UNMARK_DATA
cd "$tmp"

# Region removal only, where detection is not the point.
OPTS='"watermark_config":{"detector":"none","regions":[[10,10,40,20]]}'
is_video() { [ "$(ffprobe -v error -select_streams v:0 -show_entries stream=codec_type -of csv=p=0 "$1")" = video ]; }

# local ARGS...: a local run; its stdout in $out, its exit status in $rc (a
# sanitizer's report, whose exit status may look like a job's failure, fails).
local_run() {
  rc=0
  out=$("$BIN" runpod "$@" 2>"$log") || rc=$?
  ! grep -q "Sanitizer" "$log" || fail "sanitizer report"
}
field() { jq -r "$1" <<<"$out"; }

# ---- help ----------------------------------------------------------------------
"$BIN" help | grep -q "unmark runpod" || fail "the overview does not list runpod"
"$BIN" runpod --help | grep -q -- "--test_input JSON" || fail "runpod --help"

# ---- local mode ---------------------------------------------------------------
local_run --data "$tmp/data" --test_input "{\"input\":{\"source\":\"$MEDIA/moving.mp4\",$OPTS}}"
[ "$rc" = 0 ] || fail "--test_input: exit $rc: $out"
[ "$(field .status)" = success ] || fail "--test_input: $out"
[ "$(field .result.filename)" = moving_clean.mp4 ] || fail "--test_input filename: $out"
[ "$(field .result.local_path)" = "$tmp/data/runpod/local_test/moving_clean.mp4" ] || fail "local_path: $out"
is_video "$tmp/data/runpod/local_test/moving_clean.mp4" || fail "the local result is not a video"

# ./test_input.json when RUNPOD_WEBHOOK_GET_JOB is unset; a base64 source,
# named by filename; the default data folder; the download deleted.
mkdir "$tmp/wd"
printf '{"id":"file-job","input":{"source_base64":"%s","filename":"clip.mp4",%s}}' \
  "$(base64 -w0 "$MEDIA/noaudio.mp4")" "$OPTS" >"$tmp/wd/test_input.json"
(cd "$tmp/wd" && local_run && [ "$rc" = 0 ] && echo "$out" >"$tmp/wd/out.json") ||
  fail "./test_input.json: $(cat "$log")"
out=$(cat "$tmp/wd/out.json")
[ "$(field .result.local_path)" = "$tmp/wd/unmark-data/runpod/file-job/clip_clean.mp4" ] || fail "test_input.json: $out"
is_video "$tmp/wd/unmark-data/runpod/file-job/clip_clean.mp4" || fail "test_input.json: not a video"
[ ! -e "$tmp/wd/unmark-data/runpod/file-job/download" ] || fail "the decoded input was left behind"

# Bad inputs: exit 1 and an error naming the field.
while IFS='|' read -r input want; do
  local_run --data "$tmp/data" --test-input "{\"input\":$input}"
  [ "$rc" = 1 ] || fail "input $input: exit $rc, want 1"
  [ "$(field .status)" = error ] || fail "input $input: $out"
  case "$(field .error)" in "$want"*) ;; *) fail "input $input: error \"$(field .error)\", want \"$want...\"" ;; esac
done <<JSON
{"watermark_config":{"detector":"none"}}|source: missing
{"source":"$MEDIA/moving.mp4","watermark_config":{"colour":1}}|watermark_config.colour: unknown option
{"source":"$MEDIA/moving.mp4","watermark_config":{"detector":"yolo"}}|watermark_config.detector
{"source_s3":{"key":"a.mp4"},"s3Config":{"accessId":"a","accessSecret":"s"}}|source_s3.bucket: missing
{"source":"$MEDIA/moving.mp4","source_url":"http://127.0.0.1/x.mp4"}|source_url: give one source only
{"source_url":"ftp://host/x.mp4"}|source_url: must be an http
{"source":"$MEDIA/moving.mp4","output_filename":"x.avi"}|output_filename: the extension
{"source":"$tmp/missing.mp4"}|source: $tmp/missing.mp4
JSON
local_run --test_input '{"id":"x"}'
[ "$rc" = 1 ] && [ "$(field .error)" = 'input: missing: a test job is {"input": {...}}' ] || fail "no input: $rc $out"
local_run --test_input 'not json'
[ "$rc" = 1 ] && case "$(field .error)" in "test input: not JSON"*) true ;; *) false ;; esac || fail "bad JSON: $out"
# A secret never shows in an error.
local_run --test_input '{"input":{"source_s3":{"bucket":"b"},"s3Config":{"accessId":"a","accessSecret":"TOPSECRET"}}}'
[ "$rc" = 1 ] && ! grep -q TOPSECRET <<<"$out" && ! grep -q TOPSECRET "$log" || fail "secret shown: $out"

# Nothing to run: exit 2, saying what is missing.
mkdir "$tmp/empty"
rc=0
(cd "$tmp/empty" && "$BIN" runpod >"$tmp/empty.out" 2>"$log") || rc=$?
[ "$rc" = 2 ] || fail "nothing to run: exit $rc, want 2"
grep -q RUNPOD_WEBHOOK_GET_JOB "$log" && grep -q test_input "$log" || fail "nothing to run: $(cat "$log")"

# ---- the worker, against the peer ---------------------------------------------
/usr/bin/python3 "$PEER" "$tmp/port" &
peer=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
port=$(cat "$tmp/port")
base=http://127.0.0.1:$port
KEY=rp-key-0123456789 POD=pod-7
peer_post() { curl -sf -X POST --data-binary "$2" "$base$1" >/dev/null || fail "peer $1"; }
state() { curl -sf "$base/_state" >"$tmp/state.json" || fail "the peer's state"; }
J='def done($id): [.posts[] | select(.path == "/job-done/'$POD'/" + $id and .status == 200
                                     and .body.status != "IN_PROGRESS")];
   def progress($id): [.posts[] | select(.path == "/job-done/'$POD'/" + $id and .body.status == "IN_PROGRESS")];'
q() { jq -r "$J $1" "$tmp/state.json"; }
# wait_for JQ [SECONDS]: until the peer's state makes JQ true.
wait_for() {
  for _ in $(seq $((${2:-120} * 10))); do
    state
    [ "$(q "$1")" = true ] && return 0
    kill -0 "$worker" 2>/dev/null || fail "the worker died while waiting for $1"
    sleep 0.1
  done
  fail "timed out waiting for $1: $(cat "$tmp/state.json")"
}

ffmpeg -v error -f lavfi -i testsrc2=size=640x360:rate=25:duration=8 -c:v libx264 -preset ultrafast "$tmp/long.mp4"
peer_post /_jobs "{\"id\":\"job-a\",\"input\":{\"source\":\"$tmp/long.mp4\",$OPTS}}"
RUNPOD_WEBHOOK_GET_JOB="$base/job-take/\$ID?gpu=test" \
  RUNPOD_WEBHOOK_POST_OUTPUT="$base/job-done/\$RUNPOD_POD_ID/\$ID?gpu=test" \
  RUNPOD_WEBHOOK_PING="$base/ping/\$RUNPOD_POD_ID" RUNPOD_POD_ID=$POD RUNPOD_AI_API_KEY=$KEY \
  RUNPOD_PING_INTERVAL=200 "$BIN" runpod --data "$tmp/wdata" >"$tmp/worker.out" 2>"$log" &
worker=$!

# A job is taken, makes progress, pings name it, and its result is posted.
wait_for 'done("job-a") | length == 1'
take=$(q '.takes[0]')
[ "$(jq -r .path <<<"$take")" = "/job-take/$POD" ] || fail "take path: $take"
[ "$(jq -r .params.job_in_progress <<<"$take")" = 0 ] && [ "$(jq -r .params.gpu <<<"$take")" = test ] ||
  fail "take query: $take"
[ "$(jq -r .auth <<<"$take")" = "$KEY" ] || fail "take Authorization: $take"
[ "$(q 'progress("job-a") | length > 0')" = true ] || fail "no progress posted"
[ "$(q 'progress("job-a") | all(.params.isStream == "false" and .auth == "'$KEY'"
       and (.body.output.progress | type == "number" and . >= 0 and . <= 1) and .body.output.stage == "remove")')" = true ] ||
  fail "progress posts: $(q 'progress("job-a")')"
[ "$(q '(progress("job-a") | map(.time) | max) < (done("job-a")[0].time)')" = true ] || fail "progress after the result"
a=$(q 'done("job-a")[0]')
[ "$(jq -r .params.isStream <<<"$a")" = false ] && [ "$(jq -r .params.gpu <<<"$a")" = test ] || fail "result query: $a"
[ "$(jq -r .auth <<<"$a")" = "$KEY" ] && [ "$(jq -r .request_id <<<"$a")" = job-a ] || fail "result headers: $a"
[ "$(jq -r .body.output.status <<<"$a")" = success ] && [ "$(jq -r '.body | has("error")' <<<"$a")" = false ] ||
  fail "result: $a"
[ "$(jq -r .body.output.result.local_path <<<"$a")" = "$tmp/wdata/runpod/job-a/long_clean.mp4" ] || fail "result: $a"
is_video "$tmp/wdata/runpod/job-a/long_clean.mp4" || fail "job-a's result is not a video"
[ "$(q '[.pings[] | select(.params.job_id == "job-a" and .auth == "'$KEY'" and .path == "/ping/'$POD'"
        and (.params.runpod_version | length > 0))] | length > 0')" = true ] ||
  fail "no ping named the running job: $(q '.pings[-3:]')"

# A failing job is posted as the SDK posts a handler's {"error": ...}; a 500
# answer to the post is retried.
peer_post /_fail '{"what":"post","status":500,"count":1}'
peer_post /_jobs "{\"id\":\"job-b\",\"input\":{\"source\":\"$tmp/missing.mp4\"}}"
wait_for 'done("job-b") | length == 1'
b=$(q 'done("job-b")[0]')
case "$(jq -r .body.error <<<"$b")" in "source: $tmp/missing.mp4"*) ;; *) fail "failed job's post: $b" ;; esac
[ "$(jq -r .body.output.status <<<"$b")" = error ] || fail "failed job's output: $b"
[ "$(q '[.posts[] | select(.path == "/job-done/'$POD'/job-b" and .status == 500)] | length')" = 1 ] ||
  fail "the 500 was not met"
grep -q "job job-b: posting the result failed (HTTP 500); retrying" "$log" || fail "the post retry was not logged"

# 429 makes the worker back off; an answer without an id is ignored (logged);
# a list of jobs is run.
peer_post /_fail '{"what":"take","status":429,"count":1}'
peer_post /_jobs '{"input":{"source":"nowhere"}}'
peer_post /_jobs "[{\"id\":\"job-c\",\"input\":{\"source\":\"$MEDIA/moving.mp4\",$OPTS}}]"
wait_for 'done("job-c") | length == 1'
[ "$(q 'done("job-c")[0].body.output.status')" = success ] || fail "job-c: $(q 'done("job-c")')"
[ "$(q '[.takes[] | select(.status == 429)] | length')" = 1 ] || fail "no 429 served"
[ "$(q '([.takes[] | select(.status == 200)][-1].time) - ([.takes[] | select(.status == 429)][0].time) >= 4.5')" = true ] ||
  fail "no back-off after 429"
grep -q "HTTP 429 (too many requests); backing off 5 s" "$log" || fail "the back-off was not logged"
grep -q "job has missing field(s): id" "$log" || fail "the job without an id was not logged"

# SIGTERM while a job runs: it finishes and is posted, no job is taken after,
# and the worker exits 0.
peer_post /_jobs "{\"id\":\"job-d\",\"input\":{\"source\":\"$tmp/long.mp4\",\"output_filename\":\"drained.mp4\",$OPTS}}"
wait_for 'progress("job-d") | length > 0'
kill -TERM "$worker"
term=$(date +%s.%N)
rc=0
wait "$worker" || rc=$?
worker=
[ "$rc" = 0 ] || fail "the worker exited $rc after SIGTERM"
state
[ "$(q 'done("job-d")[0].body.output.status')" = success ] || fail "the drained job was not posted: $(q 'done("job-d")')"
is_video "$tmp/wdata/runpod/job-d/drained.mp4" || fail "the drained job's result"
[ "$(q "[.takes[] | select(.time > $term)] | length")" = 0 ] || fail "a job was taken after SIGTERM"
grep -q "stopping" "$log" || fail "no stop logged"
! grep -q "$KEY" "$log" || fail "the API key was logged"
! grep -q "Sanitizer" "$log" || fail "sanitizer report from the worker"
echo "runpod: all checks passed"
