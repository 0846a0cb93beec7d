#!/usr/bin/env python3
"""Test fixture: an HTTP proxy in front of a registry that misbehaves on
demand. usage: faulty_proxy.py PORT-FILE UPSTREAM(host:port) MODE-FILE
MODE-FILE holds one word, read per request:
  ok       forward everything
  corrupt  flip one byte in every layer-sized blob body (GET .../blobs/, > 4 KiB)
  drop     send half of each blob body, then close the connection (once per blob)
  endless  answer manifest GETs with a body that never ends
  busy     answer every request with 503 once, then forward (per path)
  stall D  hold GETs of blob D (a digest) until the mode changes
  delay D S  hold the first GET of blob D for S seconds (a token expires meanwhile)
  refuse-put N  answer the Nth PUT completing a blob upload with 400 BLOB_UPLOAD_INVALID
  half D   send the first half of blob D's body, then hold the connection
           until the mode changes (the client is killed meanwhile)
Every blob GET is logged to MODE-FILE.log: "<digest> <Range header or ->".
Writes the port it listens on (127.0.0.1) to PORT-FILE."""
import http.client, http.server, socketserver, sys, threading

port_file, upstream, mode_file = sys.argv[1:4]
seen = set()
counts = {}
lock = threading.Lock()

def mode():
    try:
        with open(mode_file) as f:
            return f.read().strip()
    except OSError:
        return "ok"

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def first_time(self, key):
        with lock:
            if key in seen:
                return False
            seen.add(key)
            return True
    def count(self, key):
        with lock:
            counts[key] = counts.get(key, 0) + 1
            return counts[key]
    def read_chunked(self):
        parts = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip(), 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline()
    def handle_any(self):
        m = mode()
        if self.command == "GET" and "/blobs/sha256:" in self.path:
            with lock, open(mode_file + ".log", "a") as f:
                f.write("%s %s\n" % (self.path.rsplit("/", 1)[1], self.headers.get("Range", "-")))
        while m.startswith("stall ") and self.command == "GET" and self.path.endswith("/blobs/" + m[6:]):
            import time
            time.sleep(0.1)
            m = mode()
        if m.startswith("delay ") and self.command == "GET":
            d, secs = m.split()[1:3]
            if self.path.endswith("/blobs/" + d) and self.first_time("delay" + self.path):
                import time
                time.sleep(float(secs))
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = self.read_chunked()  # forwarded with a Content-Length
        if m == "busy" and self.first_time(self.command + self.path):
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if m.startswith("refuse-put ") and self.command == "PUT" and "/blobs/uploads/" in self.path \
                and self.count("put") == int(m.split()[1]):
            err = b'{"errors":[{"code":"BLOB_UPLOAD_INVALID","message":"refused by the test"}]}'
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(err)))
            self.end_headers()
            self.wfile.write(err)
            return
        if m == "endless" and "/manifests/" in self.path and self.command == "GET":
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            self.end_headers()
            try:
                while True:
                    self.wfile.write(b" " * 65536)
            except OSError:
                return
        c = http.client.HTTPConnection(upstream, timeout=30)
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("host", "connection", "transfer-encoding")}
        c.request(self.command, self.path, body=body, headers=headers)
        r = c.getresponse()
        data = r.read()
        blob = self.command == "GET" and "/blobs/sha256:" in self.path and r.status == 200
        if blob and m == "corrupt" and len(data) > 4096:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() == "location":  # uploads go on through the proxy
                v = v.replace("//" + upstream + "/", "//127.0.0.1:%d/" % srv.server_address[1])
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        if blob and m.startswith("half ") and self.path.endswith("/blobs/" + m[5:]):
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            import time
            while mode() == m:
                time.sleep(0.1)
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if blob and m == "drop" and self.first_time(self.path):
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    def handle_error(self, request, client_address):
        pass  # clients hanging up on purpose

srv = S(("127.0.0.1", 0), H)
with open(port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(port_file + ".tmp", port_file)
srv.serve_forever()
