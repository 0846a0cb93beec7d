#!/usr/bin/env python3
"""Test fixture: a registry that asks for basic auth and answers a blob
upload with a Location on another server (another port: another host to
an HTTP client), which records the Authorization headers it is sent.

usage: sec_registry.py PORTS-FILE SEEN-FILE USER PASSWORD
Writes "REGISTRY-PORT OTHER-PORT" to PORTS-FILE once both listen; every
request the other server gets appends its Authorization header (or "none")
to SEEN-FILE; it then fails the upload (500), which ends the push."""
import base64, http.server, socketserver, sys, threading

ports_file, seen_file, user, password = sys.argv[1:5]
want = "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


class Other(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def answer(self):
        with open(seen_file, "a") as f:
            f.write("%s %s\n" % (self.command, self.headers.get("Authorization", "none")))
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_PUT = do_PATCH = do_POST = do_HEAD = answer


other = Server(("127.0.0.1", 0), Other)


class Registry(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def reply(self, code, headers=()):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Docker-Distribution-API-Version", "registry/2.0")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def answer(self):
        if self.headers.get("Authorization") != want:
            return self.reply(401, [("WWW-Authenticate", 'Basic realm="sec"')])
        if self.path == "/v2/" or self.path == "/v2":
            return self.reply(200)
        if self.command == "POST" and "/blobs/uploads/" in self.path:
            return self.reply(202, [("Location", "http://127.0.0.1:%d/upload/1" % other.server_port),
                                    ("Range", "0-0")])
        return self.reply(404)

    do_GET = do_PUT = do_PATCH = do_POST = do_HEAD = answer


reg = Server(("127.0.0.1", 0), Registry)
for s in (reg, other):
    threading.Thread(target=s.serve_forever, daemon=True).start()
with open(ports_file + ".tmp", "w") as f:
    f.write("%d %d\n" % (reg.server_port, other.server_port))
import os
os.rename(ports_file + ".tmp", ports_file)
threading.Event().wait()
