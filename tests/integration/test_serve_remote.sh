#!/usr/bin/env bash
# `unmark serve` with sources and targets that are not local files, over
# real servers on loopback: s3rver (an S3-compatible store) and http_peer.py
# (a plain HTTP server). A result uploaded to S3 is answered with a
# presigned URL that downloads it, and /result redirects there; an S3
# object is a source; a missing key or bucket fails the job naming S3's
# code; an http source on a loopback address is refused until the server
# is told to allow private addresses; an HTTP error fails the job. The
# RunPod worker's S3 results and S3 key sources run against the same store.
set -euo pipefail
BIN=${UNMARK_BIN:?} MEDIA=${UNMARK_TEST_MEDIA:?}
S3RVER=${1:?usage: test_serve_remote.sh TOOLS_DIR}/node_modules/.bin/s3rver
PY=/usr/bin/python3
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/serve_lib.sh"
tmp=$(mktemp -d /tmp/unmark-remote.XXXXXX)
pid= pids=()
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [ -f "$tmp/log" ] && tail -20 "$tmp/log" >&2; exit 1; }
[ -x "$S3RVER" ] || fail "s3rver is not installed at $S3RVER (scripts/install-deps.sh)"

free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

s3port=$(free_port)
mkdir -p "$tmp/s3" "$tmp/www"
"$S3RVER" -d "$tmp/s3" -a 127.0.0.1 -p "$s3port" --configure-bucket unmark-test --silent \
  >"$tmp/s3rver.log" 2>&1 &
pids+=($!)
cp "$MEDIA/moving.mp4" "$tmp/www/clip.mp4"
"$PY" "$HERE/http_peer.py" "$tmp/www" "$tmp/http_port" &
pids+=($!)
for _ in $(seq 100); do
  [ -s "$tmp/http_port" ] && curl -s -o /dev/null "http://127.0.0.1:$s3port/" && break
  sleep 0.1
done
web=http://127.0.0.1:$(cat "$tmp/http_port")

export UNMARK_S3_ENDPOINT=http://127.0.0.1:$s3port UNMARK_S3_PATH_STYLE=1 \
  AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER UNMARK_RESULT_TTL=600

start() { # [VAR=VALUE ...]: the server, with those settings too
  env "$@" "$BIN" serve --listen 127.0.0.1:0 --data "$tmp/data" --workers 1 >>"$tmp/log" 2>&1 &
  pid=$!
  port=$(serve_port "$tmp/log") || fail "the server did not start"
  api=http://127.0.0.1:$port/api/v1
}
stop() { kill -TERM "$pid"; wait "$pid" || true; pid=; : >"$tmp/log"; }
submit() { # JSON body: the new job's id in $id
  curl -s -o "$tmp/body" -H 'Content-Type: application/json' --data-binary "$1" "$api/jobs"
  id=$(jq -r .id "$tmp/body")
  [ "$id" != null ] || fail "submit $1: $(cat "$tmp/body")"
}
wait_end() { # id: its final status in $status, the job in $tmp/job
  for _ in $(seq 600); do
    curl -s -o "$tmp/job" "$api/jobs/$1"
    status=$(jq -r .status "$tmp/job")
    case $status in completed|failed|canceled) return 0;; esac
    sleep 0.1
  done
  fail "job $1 did not end: $(cat "$tmp/job")"
}
job_field() { jq -r "$1" "$tmp/job"; }
opts='"watermark_removal_config":{"detector":"none","regions":[[20,20,100,40]]}'

start
# A result to S3: uploaded, answered with a presigned GET URL that works.
submit '{"source_uri":"'"$tmp"'/www/clip.mp4","target_uri":"s3://unmark-test/out/a.mp4",'"$opts"'}'
wait_end "$id"
[ "$status" = completed ] || fail "S3 target: $(cat "$tmp/job")"
url=$(job_field .result_url)
case $url in "http://127.0.0.1:$s3port/unmark-test/out/a.mp4?"*X-Amz-Signature=*) ;; *) fail "result_url $url";; esac
curl -sf -o "$tmp/a.mp4" "$url" || fail "the presigned URL does not download"
ffprobe -v error "$tmp/a.mp4" || fail "the uploaded result is not a video"
location=$(curl -s -o /dev/null -w '%{redirect_url}' "$api/jobs/$id/result")
[ "$location" = "$url" ] || fail "result redirect: $location"
[ -z "$(ls -A "$tmp/data/work")" ] || fail "the work folder was left: $(ls "$tmp/data/work")"

# An S3 object as the source.
submit '{"source_uri":"s3://unmark-test/out/a.mp4","target_uri":"'"$tmp"'/from-s3.mp4",'"$opts"'}'
wait_end "$id"
[ "$status" = completed ] && ffprobe -v error "$tmp/from-s3.mp4" || fail "S3 source: $(cat "$tmp/job")"

# S3's refusals end the job with S3's own code.
submit '{"source_uri":"s3://unmark-test/missing.mp4","target_uri":"'"$tmp"'/never.mp4",'"$opts"'}'
wait_end "$id"
[ "$status" = failed ] && job_field .error | grep -q NoSuchKey || fail "missing key: $(cat "$tmp/job")"
submit '{"source_uri":"'"$tmp"'/www/clip.mp4","target_uri":"s3://no-such-bucket/x.mp4",'"$opts"'}'
wait_end "$id"
[ "$status" = failed ] && job_field .error | grep -q NoSuchBucket || fail "missing bucket: $(cat "$tmp/job")"
[ -z "$(ls -A "$tmp/data/work")" ] || fail "a failed upload left its file: $(ls -R "$tmp/data/work")"

# A URL on a loopback address is refused by default.
submit '{"source_uri":"'"$web"'/files/clip.mp4","target_uri":"'"$tmp"'/from-web.mp4",'"$opts"'}'
wait_end "$id"
[ "$status" = failed ] && job_field .error | grep -q loopback || fail "loopback URL: $(cat "$tmp/job")"
[ ! -e "$tmp/from-web.mp4" ] || fail "a refused source left output"
stop

# Allowed, it downloads (request headers given), and an HTTP error fails the job naming the status.
start UNMARK_ALLOW_PRIVATE_URLS=1
submit '{"source_uri":"'"$web"'/files/clip.mp4","source_headers":{"X-Token":"abc"},"target_uri":"'"$tmp"'/from-web.mp4",'"$opts"'}'
wait_end "$id"
[ "$status" = completed ] && ffprobe -v error "$tmp/from-web.mp4" || fail "http source: $(cat "$tmp/job")"
submit '{"source_uri":"'"$web"'/status/404","target_uri":"'"$tmp"'/nothing.mp4",'"$opts"'}'
wait_end "$id"
[ "$status" = failed ] && job_field .error | grep -q 404 || fail "404 source: $(cat "$tmp/job")"
stop

# With a bucket for uploads, an upload goes to S3 (where workers anywhere
# read it), the job's source is that object, and no local copy is left.
start UNMARK_S3_BUCKET=unmark-test
curl -s -o "$tmp/body" -F file=@"$tmp/www/clip.mp4" -F target_filename=up.mp4 \
  -F 'watermark_config_json={"detector":"none","regions":[[20,20,100,40]]}' "$api/jobs/upload"
id=$(jq -r .id "$tmp/body")
[ "$id" != null ] || fail "upload with a bucket: $(cat "$tmp/body")"
wait_end "$id"
[ "$status" = completed ] || fail "upload with a bucket: $(cat "$tmp/job")"
[ "$(job_field .source_uri)" = "s3://unmark-test/uploads/$id/clip.mp4" ] ||
  fail "the upload's source: $(job_field .source_uri)"
[ ! -e "$tmp/data/uploads/$id" ] || fail "the upload's local copy was left: $(ls -R "$tmp/data/uploads")"
# A bucket that does not exist: 502 naming S3's code, nothing queued, nothing left.
stop
start UNMARK_S3_BUCKET=no-such-bucket
code=$(curl -s -o "$tmp/body" -w '%{http_code}' -F file=@"$tmp/www/clip.mp4" "$api/jobs/upload")
[ "$code" = 502 ] && jq -r .error "$tmp/body" | grep -q NoSuchBucket || fail "upload to a missing bucket: $code $(cat "$tmp/body")"
[ "$(curl -s "$api/jobs?status=queued" | jq '.jobs | length')" = 0 ] || fail "a failed upload queued a job"
[ -z "$(ls -A "$tmp/data/uploads")" ] || fail "a failed upload left its file: $(ls -R "$tmp/data/uploads")"
stop

# The RunPod worker's S3 path (local test mode): the result goes to the
# bucket under s3_prefix and is answered as a presigned URL that downloads
# it; an S3 key source comes from the same bucket; no secret in the answer.
s3config='"s3Config":{"accessId":"S3RVER","accessSecret":"S3RVER","bucketName":"unmark-test","endpointUrl":"http://127.0.0.1:'$s3port'","forcePathStyle":true}'
(cd "$tmp" && "$BIN" runpod --data "$tmp/rp" --test_input \
  '{"id":"rp1","input":{"source":"'"$tmp"'/www/clip.mp4","output_filename":"rp.mp4",'"${opts/watermark_removal_config/watermark_config}"','"$s3config"'}}' \
  >"$tmp/rp.json" 2>>"$tmp/log") || fail "runpod S3 job: $(cat "$tmp/rp.json")"
[ "$(jq -r .status "$tmp/rp.json")" = success ] || fail "runpod S3 job: $(cat "$tmp/rp.json")"
url=$(jq -r .result.result_url "$tmp/rp.json")
case $url in "http://127.0.0.1:$s3port/unmark-test/jobs/rp1/rp.mp4?"*X-Amz-Signature=*) ;; *) fail "runpod result_url $url";; esac
curl -sf -o "$tmp/rp.mp4" "$url" && ffprobe -v error "$tmp/rp.mp4" || fail "the runpod result does not download"
(cd "$tmp" && "$BIN" runpod --data "$tmp/rp" --test_input \
  '{"id":"rp2","input":{"source_s3_key":"jobs/rp1/rp.mp4",'"${opts/watermark_removal_config/watermark_config}"','"$s3config"'}}' \
  >"$tmp/rp2.json" 2>>"$tmp/log") || fail "runpod S3 key source: $(cat "$tmp/rp2.json")"
[ "$(jq -r .status "$tmp/rp2.json")" = success ] || fail "runpod S3 key source: $(cat "$tmp/rp2.json")"
! grep -q '"S3RVER"' "$tmp/rp.json" "$tmp/rp2.json" || fail "a secret in runpod's answer"
echo "serve with remote sources and targets: all checks passed"
