#!/usr/bin/env bash
# S3 over real HTTP on loopback. Usage: test_s3.sh ITEST_PROGRAM TOOLS_DIR
#
# Two servers: s3rver (an S3-compatible store, from scripts/install-deps.sh
# in TOOLS_DIR) for transfers, and a small botocore-backed server that
# checks every request's SigV4 signature the way S3 does (s3rver checks
# none). The cmocka program runs against both; then our presigned URLs are
# compared with botocore's presigner at a fixed clock, path-style and
# virtual-hosted, with and without a session token.
set -euo pipefail
PROG=${1:?usage: test_s3.sh ITEST_PROGRAM TOOLS_DIR}
S3RVER=${2:?usage: test_s3.sh ITEST_PROGRAM TOOLS_DIR}/node_modules/.bin/s3rver
PY=/usr/bin/python3
[ -x "$S3RVER" ] || { echo "FAIL: s3rver is not installed at $S3RVER (scripts/install-deps.sh)" >&2; exit 1; }
"$PY" -c 'import botocore' 2>/dev/null || { echo "FAIL: python3-botocore is not installed" >&2; exit 1; }

tmp=$(mktemp -d /tmp/unmark-s3.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; tail -20 "$tmp"/*.log >&2 2>/dev/null || true; exit 1; }

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# wait_http URL: until anything answers HTTP there (10 s at most).
wait_http() {
  for _ in $(seq 100); do
    curl -s -o /dev/null --max-time 1 "$1" && return 0
    sleep 0.1
  done
  fail "nothing answers at $1"
}

export VERIFY_ACCESS=AKIDEXAMPLE VERIFY_SECRET='verify/secret+key'

# s3rver, with the test bucket; "localhost" as its service endpoint, so
# that BUCKET.s3.localhost names a bucket (curl resolves *.localhost to
# loopback itself).
port=$(free_port)
mkdir "$tmp/s3"
"$S3RVER" -d "$tmp/s3" -a 127.0.0.1 -p "$port" --service-endpoint localhost \
  --configure-bucket unmark-test --silent >"$tmp/s3rver.log" 2>&1 &
pids+=($!)

# The verifier: answers a PUT or GET only when its signature is the one
# botocore computes from the same request (signed headers, path and query
# as received; the payload hash must match the body), else 403
# SignatureDoesNotMatch. Objects are kept in memory.
cat >"$tmp/verify.py" <<'PY'
import hashlib, http.server, os, sys
import botocore.auth, botocore.awsrequest, botocore.credentials

ACCESS, SECRET = os.environ['VERIFY_ACCESS'], os.environ['VERIFY_SECRET']
objects = {}

def expected_signature(handler, names, region):
    headers = {n: handler.headers[n] for n in names if handler.headers[n] is not None}
    req = botocore.awsrequest.AWSRequest(method=handler.command,
                                         url='http://' + handler.headers['Host'] + handler.path,
                                         headers=headers)
    req.context['timestamp'] = handler.headers['x-amz-date']
    signer = botocore.auth.S3SigV4Auth(botocore.credentials.Credentials(ACCESS, SECRET), 's3', region)
    creq = signer.canonical_request(req)
    return signer.signature(signer.string_to_sign(req, creq), req), creq

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, fmt, *args):
        sys.stderr.write(fmt % args + '\n')

    def reply(self, code, body=b''):
        self.send_response(code)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def s3_error(self, code, s3code):
        self.reply(code, f'<?xml version="1.0"?><Error><Code>{s3code}</Code>'
                         f'<Message>checked by botocore</Message></Error>'.encode())

    def verified(self, body):
        auth = self.headers.get('Authorization', '')
        prefix = 'AWS4-HMAC-SHA256 '
        try:
            parts = dict(p.strip().split('=', 1) for p in auth[len(prefix):].split(','))
            access, date, region, service, end = parts['Credential'].split('/')
            names = parts['SignedHeaders'].split(';')
            want, creq = expected_signature(self, names, region)
        except (KeyError, ValueError, TypeError) as e:
            sys.stderr.write(f'malformed {self.command} {self.path}: {auth}: {e!r}\n')
            return False
        ok = (auth.startswith(prefix) and access == ACCESS and service == 's3' and
              end == 'aws4_request' and self.headers.get('x-amz-date', '').startswith(date) and
              {'host', 'x-amz-date', 'x-amz-content-sha256'} <= set(names) and
              self.headers.get('x-amz-content-sha256') == hashlib.sha256(body).hexdigest() and
              parts['Signature'] == want)
        if not ok:
            sys.stderr.write(f'rejected {self.command} {self.path}: {auth}\n{creq}\n')
        return ok

    def do_PUT(self):
        body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
        if not self.verified(body):
            return self.s3_error(403, 'SignatureDoesNotMatch')
        objects[self.headers['Host'].split('.')[0] + self.path] = body
        self.reply(200)

    def do_GET(self):
        if not self.verified(b''):
            return self.s3_error(403, 'SignatureDoesNotMatch')
        body = objects.get(self.headers['Host'].split('.')[0] + self.path)
        if body is None:
            return self.s3_error(404, 'NoSuchKey')
        self.reply(200, body)

http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), Handler).serve_forever()
PY
vport=$(free_port)
"$PY" "$tmp/verify.py" "$vport" >"$tmp/verify.log" 2>&1 &
pids+=($!)

wait_http "http://127.0.0.1:$port/"
wait_http "http://127.0.0.1:$vport/"

S3_ENDPOINT=http://127.0.0.1:$port S3_VHOST_ENDPOINT=http://s3.localhost:$port \
  S3_VERIFY_ENDPOINT=http://127.0.0.1:$vport S3_VERIFY_VHOST_ENDPOINT=http://s3.localhost:$vport \
  "$PROG" || fail "the S3 tests failed (servers' logs below)"

# Our presigned URL against botocore's, for the same request and clock.
cat >"$tmp/presign.py" <<'PY'
import datetime, sys
import botocore.auth, botocore.session
from botocore.config import Config

endpoint, style, bucket, key, when, ttl, token = sys.argv[1:8]

class Frozen(datetime.datetime):
    @classmethod
    def utcnow(cls):
        return datetime.datetime.utcfromtimestamp(int(when))

class Clock:  # what botocore.auth reads its clock through
    datetime = Frozen

botocore.auth.datetime = Clock
client = botocore.session.get_session().create_client(
    's3', region_name='eu-west-3', endpoint_url=endpoint,
    aws_access_key_id='AKIDEXAMPLE', aws_secret_access_key='wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
    aws_session_token=token or None,
    config=Config(signature_version='s3v4', s3={'addressing_style': style}))
print(client.generate_presigned_url('get_object', Params={'Bucket': bucket, 'Key': key},
                                    ExpiresIn=int(ttl)))
PY
# same_url A B: same scheme, host and path, and the same query parameters
# (botocore and we order them differently).
same_url() {
  "$PY" - "$1" "$2" <<'PY'
import sys
from urllib.parse import urlsplit, parse_qsl
a, b = (urlsplit(u) for u in sys.argv[1:3])
sys.exit(0 if a[:3] == b[:3] and sorted(parse_qsl(a.query)) == sorted(parse_qsl(b.query)) else 1)
PY
}
when=1700000000
while IFS='|' read -r endpoint style key ttl token; do
  path_style=0; [ "$style" = path ] && path_style=1
  ours=$("$PROG" presign "$endpoint" "$path_style" unmark-test "$key" "$when" "$ttl" "$token")
  theirs=$("$PY" "$tmp/presign.py" "$endpoint" "$style" unmark-test "$key" "$when" "$ttl" "$token")
  same_url "$ours" "$theirs" || fail "presigned URL for $key ($style, $endpoint):
  ours:     $ours
  botocore: $theirs"
done <<'CASES'
http://127.0.0.1:4568|path|video.mp4|3600|
http://127.0.0.1:4568|path|dir/a b+c~(1)%.mp4|604800|
https://s3.amazonaws.com|virtual|results/übung 1.mp4|60|
https://minio.example:9000|path|k|900|FwoGZXIvYXdzEJr//////////wEaDH+token/with=chars
http://s3.localhost:4568|virtual|x/y/z.bin|86400|session-token
CASES
echo "s3: all checks passed"
