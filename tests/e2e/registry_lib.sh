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
