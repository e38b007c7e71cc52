#!/usr/bin/env bash
# `unmark serve` driven over real HTTP on loopback: submission and its
# checks (each bad field named, 401, 413), a job run to completion, listing,
# cancel, metrics, and persistence across restarts (a queued job runs after
# one; a job killed mid-run runs again once its lease runs out).
#
# With UNMARK_TEST_POSTGRES (a server's URI, which pg_server.sh run sets)
# the same checks run with the jobs in that server's database instead of
# the data folder's SQLite file.
set -euo pipefail
. "$(dirname "$0")/serve_lib.sh"
BIN=${UNMARK_BIN:?} MEDIA=${UNMARK_TEST_MEDIA:?}
[ -z "${UNMARK_TEST_POSTGRES:-}" ] || export UNMARK_STORE=$UNMARK_TEST_POSTGRES/postgres
tmp=$(mktemp -d /tmp/unmark-serve.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [ -f "$tmp/log" ] && tail -20 "$tmp/log" >&2; exit 1; }
TOKEN=secret-token

# Starts the server on a free port; $port and $api are set once it answers.
start() {
  UNMARK_API_TOKEN=$TOKEN UNMARK_MAX_BODY=4K UNMARK_MAX_UPLOAD=2M "$BIN" serve --listen 127.0.0.1:0 --data "$tmp/data" \
    --workers "$1" --lease 2 >>"$tmp/log" 2>&1 &
  pid=$!
  port=$(serve_port "$tmp/log") || fail "the server did not start"
  api=http://127.0.0.1:$port/api/v1
  # the store is named, without the password its URI may hold
  [ -z "${UNMARK_STORE:-}" ] || ! grep -qF "${UNMARK_STORE%%@*}" "$tmp/log" ||
    fail "the log shows the store's password"
}
stop() { kill -TERM "$pid"; wait "$pid" || true; pid=; : >"$tmp/log"; }
crash() { kill -9 "$pid"; wait "$pid" 2>/dev/null || true; pid=; : >"$tmp/log"; }

# call METHOD PATH [BODY]: the status in $code, the body in $tmp/body.
call() {
  local args=(-s -o "$tmp/body" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $TOKEN")
  [ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
  code=$(curl "${args[@]}" "$api$2")
}
expect() { [ "$code" = "$1" ] || fail "$2: status $code, want $1: $(cat "$tmp/body")"; }
field() { jq -r "$1" "$tmp/body"; }

wait_status() { # id status [seconds]
  for _ in $(seq $((${3:-60} * 10))); do
    call GET "/jobs/$1"
    [ "$(field .status)" = "$2" ] && return 0
    sleep 0.1
  done
  fail "job $1 is $(field .status), not $2: $(cat "$tmp/body")"
}

start 1
# Health needs no token; everything else does.
[ "$(curl -s "$api/health" | jq -r .status)" = ok ] || fail "health"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$api/jobs" -d '{}')
[ "$code" = 401 ] || fail "no token: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer wrong' "$api/jobs")
[ "$code" = 401 ] || fail "wrong token: $code"

# Bad submissions: 400 naming the field.
src=$MEDIA/moving.mp4
while IFS='|' read -r body want; do
  call POST /jobs "$body"
  expect 400 "bad body $body"
  [ "$(field .field)" = "$want" ] || fail "body $body: field $(field .field), want $want"
done <<JSON
{"source_uri":|body
[1,2]|body
{"target_uri":"$tmp/x.mp4"}|source_uri
{"source_uri":42,"target_uri":"$tmp/x.mp4"}|source_uri
{"source_uri":"ftp://host/x.mp4","target_uri":"$tmp/x.mp4"}|source_uri
{"source_uri":"$src","target_uri":"$tmp/x.mp4","job_type":"resize"}|job_type
{"source_uri":"$src","target_uri":"$tmp/x.mp4","priority":11}|priority
{"source_uri":"$src","target_uri":"$tmp/x.mp4","priority":"high"}|priority
{"source_uri":"$src","target_uri":"$tmp/x.mp4","metadata":[1]}|metadata
{"source_uri":"$src","target_uri":"$tmp/x.mp4","watermark_removal_config":{"colour":1}}|watermark_removal_config.colour
{"source_uri":"$src","target_uri":"$tmp/x.mp4","watermark_removal_config":{"regions":[[1,2,0,4]]}}|watermark_removal_config.regions
{"source_uri":"$src","target_uri":"$tmp/x.mp4","watermark_removal_config":{"detector":"yolo"}}|watermark_removal_config.detector
{"source_uri":"$src","target_uri":"$tmp/x.mp4","colour":1}|colour
{"source_uri":"$src","target_uri":"ftp://host/x.mp4"}|target_uri
{"source_uri":"$src","source_base64":"AAAA","target_uri":"$tmp/x.mp4"}|source_base64
{"source_uri":"$src","source_headers":{"X-A":["b"]}}|source_headers
{"source_uri":"$src","source_headers":{"bad name":"b"}}|source_headers
{"source_uri":"$src","source_verify_ssl":"no"}|source_verify_ssl
{"source_uri":"data:;base64,@@@@"}|source
{"source_uri":"$src","transcode_config":{"start":1}}|transcode_config
{"source_uri":"$src","job_type":"transcode","watermark_removal_config":{}}|watermark_removal_config
{"source_uri":"$src","job_type":"transcode","transcode_config":{"args":"-vf hflip"}}|transcode_config.args
{"source_uri":"$src","job_type":"transcode","transcode_config":{"start":2,"end":1}}|transcode_config.end
{"source_uri":"$src","job_type":"transcode","transcode_config":{"start":-1}}|transcode_config.start
{"source_uri":"$src","job_type":"transcode","transcode_config":{"width":1}}|transcode_config.width
{"source_uri":"$src","job_type":"transcode","transcode_config":{"height":2.5}}|transcode_config.height
{"source_uri":"$src","job_type":"transcode","transcode_config":{"crf":52}}|transcode_config.crf
{"source_uri":"$src","job_type":"transcode","transcode_config":{"preset":"insane"}}|transcode_config.preset
JSON
call POST /jobs "{\"source_uri\":\"$src\",\"target_uri\":\"$tmp/x.mp4\",\"metadata\":{\"pad\":\"$(head -c 6000 /dev/zero | tr '\0' a)\"}}"
expect 413 "oversized body"

# A job runs to completion and its result is where it was asked for.
job='{"source_uri":"file://'$src'","target_uri":"'$tmp'/out.mp4","priority":7,"metadata":{"user":"u1"},
      "watermark_removal_config":{"detector":"none","regions":[[20,20,120,40]]}}'
call POST /jobs "$job"
expect 202 "submit"
id=$(field .id)
[ "$(field .status)" = queued ] && [ "$(field .priority)" = 7 ] && [ "$(field .metadata.user)" = u1 ] ||
  fail "submitted job: $(cat "$tmp/body")"
wait_status "$id" completed
[ "$(field .progress)" = 1 ] || [ "$(field .progress)" = 1.0 ] || fail "progress $(field .progress)"
[ "$(field .result_url)" = "file://$tmp/out.mp4" ] || fail "result_url $(field .result_url)"
[ -s "$tmp/out.mp4" ] || fail "no output file"
[ "$(field .attempts)" = 1 ] || fail "attempts $(field .attempts)"

# The result downloads, byte for byte; before completion it is a conflict.
code=$(curl -s -D "$tmp/headers" -o "$tmp/download.mp4" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
  "$api/jobs/$id/result")
[ "$code" = 200 ] || fail "result download: status $code"
cmp -s "$tmp/download.mp4" "$tmp/out.mp4" || fail "the downloaded result differs from the file"
grep -qi '^content-type: video/mp4' "$tmp/headers" || fail "result type: $(cat "$tmp/headers")"

# The API describes itself, every endpoint included.
call GET /openapi.json; expect 200 "openapi"
for path in /jobs /jobs/upload '/jobs/{id}' '/jobs/{id}/cancel' '/jobs/{id}/result' /health /metrics; do
  [ "$(jq -r --arg p "$path" '.paths[$p] | type' "$tmp/body")" = object ] || fail "openapi lacks $path"
done
[ "$(field .openapi)" = 3.0.3 ] || fail "openapi version $(field .openapi)"

# Bytes in the body (base64 or a data: URI) become a file in the data folder;
# with no target the result goes there too, named after the source.
png64=$(base64 -w0 "$MEDIA/image.png")
call POST /jobs '{"source_base64":"'"$png64"'","watermark_removal_config":{"regions":[[2,2,8,8]]}}'
expect 413 "a base64 source larger than the body cap"
body='{"source_uri":"data:image/png;base64,'"$(base64 -w0 "$MEDIA/mask_small.png")"'","watermark_removal_config":{"detector":"none","regions":[[2,2,8,8]]}}'
call POST /jobs "$body"; expect 202 "a data: source"
b64=$(field .id)
case "$(field .target_uri)" in "$tmp/data/results/$b64/source_clean.png") ;; *) fail "default target $(field .target_uri)";; esac
wait_status "$b64" completed
ffprobe -v error "$(field .target_uri)" || fail "the data: job's result is not an image"

# Uploads: multipart, streamed to the data folder; names are sanitised.
up() { code=$(curl -s -o "$tmp/body" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$@" "$api/jobs/upload"); }
up -F "file=@$MEDIA/image.png;filename=../../evil name.png" -F target_filename=../../../etc/clean.png \
  -F priority=9 -F 'metadata_json={"by":"upload"}' -F 'watermark_config_json={"detector":"none","regions":[[4,4,16,16]]}'
expect 202 "upload"
upid=$(field .id)
[ "$(field .source_uri)" = "$tmp/data/uploads/$upid/evil_name.png" ] || fail "upload source $(field .source_uri)"
[ "$(field .target_uri)" = "$tmp/data/results/$upid/clean.png" ] || fail "upload target $(field .target_uri)"
[ "$(field .priority)" = 9 ] && [ "$(field .metadata.by)" = upload ] || fail "upload fields $(cat "$tmp/body")"
wait_status "$upid" completed
code=$(curl -s -o "$tmp/up.png" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$api/jobs/$upid/result")
[ "$code" = 200 ] && ffprobe -v error "$tmp/up.png" || fail "upload result download: $code"
while IFS='|' read -r want field_want args; do
  eval "up $args"
  expect "$want" "upload $args"
  [ "$(field .field)" = "$field_want" ] || fail "upload $args: field $(field .field), want $field_want"
done <<FORMS
400|file|-F job_type=transcode
400|watermark_config_json.colour|-F "file=@$MEDIA/image.png" -F 'watermark_config_json={"colour":1}'
400|watermark_config_json|-F "file=@$MEDIA/image.png" -F 'watermark_config_json={oops'
400|priority|-F "file=@$MEDIA/image.png" -F priority=high
400|size|-F "file=@$MEDIA/image.png" -F size=3
400|transcode_config_json.end|-F "file=@$MEDIA/cfr.mp4" -F job_type=transcode -F 'transcode_config_json={"end":-2}'
400|transcode_config_json|-F "file=@$MEDIA/cfr.mp4" -F job_type=transcode -F 'transcode_config_json=[1'
415|Content-Type|-H 'Content-Type: application/json' --data-binary '{}'
FORMS
head -c 3000000 /dev/urandom >"$tmp/big.bin"
up -F "file=@$tmp/big.bin"; expect 413 "an upload over UNMARK_MAX_UPLOAD"
printf -- '--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\nabcdef' >"$tmp/cut"
up -H 'Content-Type: multipart/form-data; boundary=XyZ' --data-binary "@$tmp/cut"
expect 400 "a truncated multipart body"
# (the server cleans up once the answer is sent: give it a moment)
for _ in $(seq 20); do
  [ "$(find "$tmp/data/uploads" -mindepth 1 -maxdepth 1 | wc -l)" = 2 ] && break
  sleep 0.1
done
[ "$(find "$tmp/data/uploads" -mindepth 1 -maxdepth 1 | wc -l)" = 2 ] ||
  fail "refused uploads left folders: $(find "$tmp/data/uploads")"

# A job that fails says why; the target stays absent.
call POST /jobs '{"source_uri":"'$tmp'/missing.mp4","target_uri":"'$tmp'/never.mp4","watermark_removal_config":{"detector":"none"}}'
expect 202 "submit a failing job"
bad=$(field .id)
wait_status "$bad" failed
field .error | grep -q missing.mp4 || fail "error does not name the input: $(field .error)"
[ ! -e "$tmp/never.mp4" ] || fail "a failed job left output"

# Listing, filters, lookups.
call GET "/jobs?status=completed"
expect 200 "list"
[ "$(field '.jobs | length')" = 3 ] && [ "$(field '.jobs[2].id')" = "$id" ] || fail "list: $(cat "$tmp/body")"
call GET "/jobs?status=bogus"; expect 400 "bad status filter"
call GET "/jobs?limit=0"; expect 400 "bad limit"
call GET /jobs/00000000-0000-4000-8000-000000000000; expect 404 "unknown job"
call GET "/jobs/$bad/result"; expect 409 "the result of a failed job"
call DELETE /jobs; expect 405 "wrong method"
call GET /metrics; expect 200 "metrics"
grep -q 'unmark_jobs{status="completed"} 3' "$tmp/body" || fail "metrics: $(cat "$tmp/body")"

# A transcode job trims and resizes through named options; one that asks
# for a start past the end fails saying so.
call POST /jobs '{"source_uri":"'$MEDIA'/cfr.mp4","target_uri":"'$tmp'/cut.mp4","job_type":"transcode",
  "transcode_config":{"start":0.5,"end":1.5,"width":160,"crf":30,"preset":"ultrafast"}}'
expect 202 "submit a transcode"
cut=$(field .id)
[ "$(field .transcode_config.width)" = 160 ] || fail "transcode job: $(cat "$tmp/body")"
wait_status "$cut" completed
probe=$(ffprobe -v error -count_frames -select_streams v -show_entries stream=width,height,nb_read_frames -of csv=p=0 "$tmp/cut.mp4")
[ "$probe" = 160,120,25 ] || fail "transcode result: $probe, want 160x120 and 25 frames"
[ "$(ffprobe -v error -select_streams a -show_entries stream=codec_name -of csv=p=0 "$tmp/cut.mp4")" = aac ] ||
  fail "the transcode lost its audio"
call POST /jobs '{"source_uri":"'$MEDIA'/cfr.mp4","target_uri":"'$tmp'/late.mp4","job_type":"transcode","transcode_config":{"start":10}}'
expect 202 "submit a transcode past the end"
late=$(field .id)
wait_status "$late" failed
field .error | grep -q "cannot start at 10 s" || fail "past-the-end error: $(field .error)"
[ ! -e "$tmp/late.mp4" ] || fail "a failed transcode left output"
stop

# With no workers, jobs wait; cancel ends a queued one, twice is a conflict.
start 0
call POST /jobs "${job/out.mp4/queued.mp4}"; expect 202 "queue a job"
queued=$(field .id)
call POST /jobs "${job/out.mp4/canceled.mp4}"; expect 202 "queue another"
canceled=$(field .id)
call POST "/jobs/$canceled/cancel"; expect 200 "cancel"
[ "$(field .status)" = canceled ] || fail "cancel: $(cat "$tmp/body")"
call POST "/jobs/$canceled/cancel"; expect 409 "cancel twice"
# PATCH changes a queued job; not an ended one, nor unknown fields.
call PATCH "/jobs/$queued" '{"priority":9,"metadata":{"user":"u2"}}'; expect 200 "patch"
[ "$(field .priority)" = 9 ] && [ "$(field .metadata.user)" = u2 ] || fail "patch: $(cat "$tmp/body")"
call PATCH "/jobs/$queued" '{"target_uri":"/tmp/x"}'; expect 400 "patch an unknown field"
[ "$(field .field)" = target_uri ] || fail "patch field $(field .field)"
call PATCH "/jobs/$queued" '{"priority":0}'; expect 400 "patch a bad priority"
call PATCH "/jobs/$canceled" '{"priority":2}'; expect 409 "patch a canceled job"
stop

# After a restart the queued job runs; the canceled one does not.
start 1
wait_status "$queued" completed
[ -s "$tmp/queued.mp4" ] || fail "the queued job's output"
call GET "/jobs/$id"; [ "$(field .status)" = completed ] || fail "the first job after restarts"
call GET "/jobs/$canceled"; [ "$(field .status)" = canceled ] || fail "the canceled job ran"
[ ! -e "$tmp/canceled.mp4" ] || fail "the canceled job wrote output"

# A job killed mid-run is queued again once its lease (2 s) has run out, and
# completes.
ffmpeg -v error -f lavfi -i testsrc2=size=640x360:rate=25:duration=40 -c:v libx264 -preset ultrafast "$tmp/long.mp4"
call POST /jobs '{"source_uri":"'$tmp'/long.mp4","target_uri":"'$tmp'/long-out.mp4","watermark_removal_config":{"detector":"none","regions":[[10,10,50,50]]}}'
expect 202 "submit a long job"
long=$(field .id)
wait_status "$long" processing 30
crash
[ ! -e "$tmp/long-out.mp4" ] || fail "a killed job left output at its target"
start 1
wait_status "$long" completed 120
grep -q "1 job(s) whose worker was lost (lease expired) are queued again" "$tmp/log" ||
  fail "no recovery logged"
[ "$(field .attempts)" = 2 ] || fail "attempts after recovery: $(field .attempts)"

# Cancel reaches a running job: it stops and leaves no output.
call POST /jobs '{"source_uri":"'$tmp'/long.mp4","target_uri":"'$tmp'/stopped.mp4","watermark_removal_config":{"detector":"none","regions":[[10,10,50,50]]}}'
expect 202 "submit a job to cancel while it runs"
running=$(field .id)
wait_status "$running" processing 30
call POST "/jobs/$running/cancel"; expect 200 "cancel a running job"
for _ in $(seq 50); do grep -q "job $running: canceled" "$tmp/log" && break; sleep 0.1; done
grep -q "job $running: canceled" "$tmp/log" || fail "the worker did not stop the canceled job"
call GET "/jobs/$running"; [ "$(field .status)" = canceled ] || fail "status after cancel: $(field .status)"
[ ! -e "$tmp/stopped.mp4" ] || fail "a canceled job left output"
stop
echo "serve: all checks passed"
