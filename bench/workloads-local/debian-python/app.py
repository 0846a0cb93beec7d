# A small web app: answers every GET with a greeting and the Python version.
import http.server
import sys

GREETING = "hello from kiln"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"{GREETING} (python {sys.version_info.major}.{sys.version_info.minor})\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        print(fmt % args, flush=True)


http.server.HTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
