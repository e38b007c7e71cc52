#!/usr/bin/python3
"""A loopback HTTP server for tests/integration/test_fetch.c.

Usage: http_peer.py ROOT PORT_FILE

Serves the files under ROOT at /files/... as a plain static server does,
and these endpoints for the cases a static server cannot make:

  /redirect          302 to /files/small.bin
  /redirect-host     302 to http://localhost:PORT/files/small.bin (another host name)
  /redirect-loop     302 to itself, forever
  /redirect-file     302 to file:///etc/passwd
  /status/CODE       that status, with a 64 KiB error page
  /slow              200 announcing 1 MB, then one byte every 100 ms
  /large?n=N         N bytes with Content-Length
  /large-unsized?n=N N bytes without Content-Length (ends when the connection closes)
  /echo-header/NAME  the request's NAME header as the body (empty when absent)

Listens on 127.0.0.1 on a free port and writes the port to PORT_FILE once
it accepts connections.
"""
import functools
import http.server
import os
import sys
import time
import urllib.parse


class Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass

    def send_body(self, code, body, sized=True):
        self.send_response(code)
        self.send_header("Content-Type", "application/octet-stream")
        if sized:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def redirect(self, location):
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def slow(self):
        self.send_response(200)
        self.send_header("Content-Length", str(1 << 20))
        self.end_headers()
        try:
            for _ in range(1 << 20):
                self.wfile.write(b"s")
                self.wfile.flush()
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        port = self.server.server_address[1]
        if url.path == "/redirect":
            self.redirect("/files/small.bin")
        elif url.path == "/redirect-host":
            self.redirect(f"http://localhost:{port}/files/small.bin")
        elif url.path == "/redirect-loop":
            self.redirect("/redirect-loop")
        elif url.path == "/redirect-file":
            self.redirect("file:///etc/passwd")
        elif url.path.startswith("/status/"):
            self.send_body(int(url.path[len("/status/"):]), b"error page\n" * 6000)
        elif url.path == "/slow":
            self.slow()
        elif url.path in ("/large", "/large-unsized"):
            body = bytes(i % 251 for i in range(int(query["n"][0])))
            self.send_body(200, body, sized=url.path == "/large")
        elif url.path.startswith("/echo-header/"):
            name = url.path[len("/echo-header/"):]
            self.send_body(200, (self.headers.get(name) or "").encode())
        elif url.path.startswith("/files/"):
            self.path = self.path[len("/files"):]
            super().do_GET()
        else:
            self.send_body(404, b"no such endpoint\n")


def main():
    root, port_file = sys.argv[1], sys.argv[2]
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=root))
    server.daemon_threads = True
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(port_file + ".tmp", port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
