#!/usr/bin/env python3
"""Test fixture: a tiny bearer-token server for docker-registry's `token`
auth. usage: token_server.py PORT-FILE KEY.pem CERT.pem USER PASSWORD COUNT-FILE [TTL]
GET /token?service=S&scope=repository:NAME:ACTIONS with basic auth USER:PASSWORD
returns {"token": JWT, "expires_in": TTL (default 300)}, a JWT signed RS256 (openssl) whose
x5c header carries CERT (the registry's rootcertbundle); wrong or no
credentials: 401. Each token issued appends a line to COUNT-FILE."""
import base64, http.server, json, os, socketserver, subprocess, sys, time, urllib.parse

port_file, key, cert, user, password, count_file = sys.argv[1:7]
ttl = int(sys.argv[7]) if len(sys.argv) > 7 else 300
# the registry takes tokens up to 60 s past "exp" (clock skew): a short TTL
# sets "exp" that much earlier, so the token really dies after TTL seconds
leeway = 60 if ttl < 60 else 0
der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"], check=True,
                     capture_output=True).stdout

def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

def sign(payload):
    head = {"alg": "RS256", "typ": "JWT", "x5c": [base64.b64encode(der).decode()]}
    data = b64(json.dumps(head).encode()) + "." + b64(json.dumps(payload).encode())
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=data.encode(),
                         check=True, capture_output=True).stdout
    return data + "." + b64(sig)

class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass
    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(u.query)
        want = "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
        if u.path != "/token" or self.headers.get("Authorization") != want:
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        access = []
        for scope in q.get("scope", []):
            parts = scope.split(":")
            if len(parts) == 3:
                access.append({"type": parts[0], "name": parts[1], "actions": parts[2].split(",")})
        now = int(time.time())
        tok = sign({"iss": "kiln-test-issuer", "sub": user, "aud": q.get("service", [""])[0],
                    "exp": now + ttl - leeway, "nbf": now - 10, "iat": now, "jti": os.urandom(8).hex(),
                    "access": access})
        with open(count_file, "a") as f:
            f.write(" ".join(q.get("scope", [])) + "\n")
        body = json.dumps({"token": tok, "expires_in": ttl}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True

srv = S(("127.0.0.1", 0), H)
with open(port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(port_file + ".tmp", port_file)
srv.serve_forever()
