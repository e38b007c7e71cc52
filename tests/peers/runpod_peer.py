#!/usr/bin/env python3
"""RunPod's side of the serverless pull protocol, on loopback, for testing
`unmark runpod` (python3 standard library only).

    GET  /job-take/WORKER?...          the next queued answer (200, JSON), else 204;
                                       a queued failure status is served first
    POST /job-done/WORKER/JOB?...      records a result or a progress post (200),
                                       or answers a queued failure status
    GET  /ping/WORKER?...              records a heartbeat (200)
    POST /_jobs                        queues a body (a job, or a list of jobs) as one answer
    POST /_fail                        {"what": "take"|"post", "status": 429, "count": 1}
    GET  /_state                       everything recorded, as JSON

Every recorded request keeps its path, its query (raw and parsed), its
Authorization header and, for posts, the body parsed as JSON (the SDK posts
JSON text labelled application/x-www-form-urlencoded).

Usage: runpod_peer.py PORT_FILE   (binds 127.0.0.1 on a free port, writes the
port to PORT_FILE, and serves until killed)
"""
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

LOCK = threading.Lock()
STATE = {"takes": [], "posts": [], "pings": [], "queued": 0}
ANSWERS = []                       # job-take answers waiting, as JSON text
FAILS = {"take": [], "post": []}   # statuses to answer before anything else


def record(handler, kind, status, body=None):
    parts = urlsplit(handler.path)
    entry = {
        "path": parts.path,
        "query": parts.query,
        "params": {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()},
        "auth": handler.headers.get("Authorization"),
        "content_type": handler.headers.get("Content-Type"),
        "request_id": handler.headers.get("X-Request-ID"),
        "status": status,
        "time": time.time(),
    }
    if body is not None:
        entry["body"] = body
    STATE[kind].append(entry)


class Peer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: the test reads /_state
        pass

    def answer(self, status, body=b"", content_type="application/json"):
        self.send_response(status)
        if body:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        path = urlsplit(self.path).path
        with LOCK:
            if path == "/_state":
                STATE["queued"] = len(ANSWERS)
                return self.answer(200, json.dumps(STATE).encode())
            if path.startswith("/ping/"):
                record(self, "pings", 200)
                return self.answer(200, b"{}")
            if path.startswith("/job-take/"):
                if FAILS["take"]:
                    status = FAILS["take"].pop(0)
                    record(self, "takes", status)
                    return self.answer(status, b'{"error":"told to fail"}')
                if ANSWERS:
                    body = ANSWERS.pop(0)
                    record(self, "takes", 200)
                    return self.answer(200, body)
                record(self, "takes", 204)
                return self.answer(204)
        self.answer(404, b'{"error":"no such path"}')

    def do_POST(self):
        path = urlsplit(self.path).path
        raw = self.read_body()
        with LOCK:
            if path == "/_jobs":
                ANSWERS.append(raw)
                return self.answer(200, b"{}")
            if path == "/_fail":
                order = json.loads(raw)
                FAILS[order["what"]].extend([order["status"]] * order.get("count", 1))
                return self.answer(200, b"{}")
            if path.startswith("/job-done/"):
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {"unparsed": raw.decode("utf-8", "replace")}
                if FAILS["post"]:
                    status = FAILS["post"].pop(0)
                    record(self, "posts", status, body)
                    return self.answer(status, b'{"error":"told to fail"}')
                record(self, "posts", 200, body)
                return self.answer(200, b"{}")
        self.answer(404, b'{"error":"no such path"}')


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    server = ThreadingHTTPServer(("127.0.0.1", 0), Peer)
    server.daemon_threads = True
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    # Renamed into place, so that a reader never sees a half-written port.
    os.replace(sys.argv[1] + ".tmp", sys.argv[1])
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
