#!/usr/bin/env bash
# Security: a registry's answer to a blob upload names where the bytes go
# (Location), which may be another host (a storage service). kiln added
# the registry's credentials to every request (registry/client.c
# reg_client_send: reg_auth_apply whatever the URL's host), so the user's
# basic-auth password went to whatever host a Location named. docker
# sends credentials only to the hosts that challenged for them (its
# challenge manager is keyed by scheme and host:port). Both servers
# here listen on 127.0.0.1 (two ports: two hosts to an HTTP client).
. "$(dirname "$0")/lib.sh"
need_busybox

export DOCKER_CONFIG="$T/docker" HOME="$T/home"
mkdir -p "$DOCKER_CONFIG" "$HOME"
python3 "$KILN_SRC/tests/e2e/sec_registry.py" "$T/ports" "$T/seen" sec-user sec-pass &
reg_pid=$!
at_exit "kill $reg_pid 2>/dev/null; wait $reg_pid 2>/dev/null"
for _ in $(seq 100); do [ -s "$T/ports" ] && break; sleep 0.1; done
read -r port other <"$T/ports" || { not_ok "the fake registry did not start"; exit 1; }

kiln import "$BB" "127.0.0.1:$port/sec/bb:1" >/dev/null
run_ok "login to the registry" kiln login -u sec-user -p sec-pass "127.0.0.1:$port"
kiln push "127.0.0.1:$port/sec/bb:1" >"$T/push.log" 2>&1
if [ ! -s "$T/seen" ]; then
	not_ok "the push never reached the upload Location (test setup): $(cat "$T/push.log")"
else
	ok "the push followed the upload Location to another host"
fi
expect_not_contains "the registry's password is not sent to another host" \
	"$(cat "$T/seen" 2>/dev/null)" Basic
