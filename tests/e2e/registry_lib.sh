# Sourced by tests/e2e/test_registry*.sh after lib.sh: starts Debian's
# docker-registry (CNCF distribution) on a free 127.0.0.1 port with its
# config and storage under $T, and stops it by PID at exit.
command -v docker-registry >/dev/null || skip_all "docker-registry not installed (scripts/deps.sh)"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_registry NAME [EXTRA-YAML]: sets REG_<NAME> (host:port) and starts it.
start_registry() {
	local name=$1 extra=${2:-} port dir
	port=$(free_port)
	dir="$T/registry-$name"
	mkdir -p "$dir/data"
	cat >"$dir/config.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
  secret: kiln-test
$extra
YAML
	docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
	local pid=$!
	at_exit "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
	eval "REG_$name=127.0.0.1:$port"
	local i
	for i in $(seq 100); do
		python3 - "$port" <<'PY' && return 0
import socket, sys
s = socket.socket()
try:
    s.connect(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
PY
		kill -0 $pid 2>/dev/null || break
		sleep 0.1
	done
	echo "# registry $name did not start:"; sed 's/^/#   /' "$dir/log"
	return 1
}

# mkctx DIR SEED: a small directory tree to import as an image
mkctx() {
	mkdir -p "$1/etc" "$1/bin"
	echo "$2" >"$1/etc/seed"
	head -c 300000 /dev/urandom >"$1/bin/blob"
	echo "hello from $2" >"$1/hello.txt"
}

# start_proxy NAME UPSTREAM: tests/e2e/faulty_proxy.py in front of
# UPSTREAM, its mode in $T/NAME.mode ("ok" to begin with); sets P_<NAME>.
start_proxy() {
	local name=$1 pid
	echo ok >"$T/$name.mode"
	python3 "$KILN_SRC/tests/e2e/faulty_proxy.py" "$T/$name.port" "$2" "$T/$name.mode" &
	pid=$!
	at_exit "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
	for _ in $(seq 100); do [ -s "$T/$name.port" ] && break; sleep 0.1; done
	eval "P_$name=127.0.0.1:$(cat "$T/$name.port")"
}

# start_token_registry NAME TTL USER PASS: a token server
# (tests/e2e/token_server.py; key and certificate $T/token.key, .crt, made
# on first use) issuing TTL-second tokens to USER:PASS, each logged to
# $T/NAME.count, and a registry trusting it (REG_<NAME>).
start_token_registry() {
	local name=$1 pid
	[ -s "$T/token.crt" ] || openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/token.key" \
		-out "$T/token.crt" -days 2 -subj /CN=kiln-token >/dev/null 2>&1
	python3 "$KILN_SRC/tests/e2e/token_server.py" "$T/$name.tport" "$T/token.key" "$T/token.crt" \
		"$3" "$4" "$T/$name.count" "$2" &
	pid=$!
	at_exit "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
	for _ in $(seq 100); do [ -s "$T/$name.tport" ] && break; sleep 0.1; done
	start_registry "$name" "auth:
  token:
    realm: http://127.0.0.1:$(cat "$T/$name.tport")/token
    service: kiln-registry
    issuer: kiln-test-issuer
    rootcertbundle: $T/token.crt"
}
