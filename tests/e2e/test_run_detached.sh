#!/usr/bin/env bash
# Detached containers under their monitor: run -d, json-file logs (-f,
# --tail, -t, --since/--until), stop, start, restart, kill, wait, --rm,
# restart policies, and a monitor killed with kill -9. As root only.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/containers.sh"

# live (not zombie) monitors of this test's root
monitors() {
	local p
	for p in $(pgrep -x kiln-monitor); do
		[ "$(awk '{print $3}' /proc/$p/stat 2>/dev/null)" = Z ] && continue
		tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q -- "$ROOT" && echo "$p"
	done
	return 0
}
status_of() { "$KILN" container inspect -f '{{.State.Status}}' "$1" 2>/dev/null; }
is_status() { [ "$(status_of "$1")" = "$2" ]; }

run_ok "run -d prints the ID" "$KILN" --root "$ROOT" run -d --name d1 busybox sh -c \
	'echo out; echo err >&2; i=0; while :; do echo tick $i; i=$((i+1)); sleep 0.1; done'
ID=$OUT
expect_eq "a 64-hex ID" "$(printf '%s' "$ID" | grep -cE '^[0-9a-f]{64}$')" "1"
expect_eq "running" "$(status_of d1)" "running"
expect_contains "ps shows Up" "$("$KILN" ps)" "Up "
[ -n "$(monitors)" ] && ok "a monitor supervises it" || not_ok "no monitor process"
wait_for 5 sh -c "'$KILN' logs d1 | grep -q 'tick 3'"
OUT=$("$KILN" logs d1 2>/dev/null)
expect_eq "logs: stdout lines in order" "$(echo "$OUT" | head -2 | tr '\n' ' ')" "out tick 0 "
expect_eq "logs: stderr goes to stderr" "$("$KILN" logs d1 2>&1 >/dev/null)" "err"
expect_eq "logs --tail 1" "$("$KILN" logs --tail 1 d1 2>/dev/null | wc -l)" "1"
expect_eq "logs -t: RFC 3339 nano timestamps" \
	"$("$KILN" logs -t d1 2>/dev/null | head -1 | grep -cE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{9}Z out$')" "1"
LOG="$ROOT/containers/$ID/$ID-json.log"
expect_eq "json-file format" "$(head -1 "$LOG" | grep -cE '^\{"log":"out\\n","stream":"stdout","time":"[^"]+"\}$')" "1"
expect_eq "logs --until in the past shows nothing" "$("$KILN" logs --until 2000-01-01T00:00:00Z d1 2>&1)" ""
expect_eq "logs --since 1h shows everything" "$("$KILN" logs --since 1h d1 2>/dev/null | head -1)" "out"
run_ok "stop -t 1" "$KILN" stop -t 1 d1
expect_eq "stop prints the name" "$OUT" "d1"
expect_eq "sh as PID 1 ignores TERM: killed after the timeout" "$("$KILN" container inspect -f '{{.State.Status}} {{.State.ExitCode}}' d1)" "exited 137"
expect_eq "no monitor after stop" "$(monitors)" ""
run_ok "start" "$KILN" start d1
expect_eq "running again" "$(status_of d1)" "running"
pid1=$("$KILN" container inspect -f '{{.State.Pid}}' d1)
run_ok "restart -t 0" "$KILN" restart -t 0 d1
pid2=$("$KILN" container inspect -f '{{.State.Pid}}' d1)
if [ "$(status_of d1)" = running ] && [ "$pid1" != "$pid2" ]; then ok "restart: a new process"; else not_ok "restart: $pid1 -> $pid2"; fi
run_ok "kill" "$KILN" kill d1
wait_for 5 is_status d1 exited && ok "kill: exited" || not_ok "kill: $(status_of d1)"
run_fail "kill of a stopped container: 1" 1 "$KILN" kill d1
expect_contains "kill message" "$OUT" "is not running"

run_ok "trap TERM" "$KILN" run -d --name d2 busybox sh -c 'trap "exit 0" TERM; while :; do sleep 0.1; done'
run_ok "stop with a handler" "$KILN" stop d2
expect_eq "exited 0 via its handler" "$("$KILN" container inspect -f '{{.State.ExitCode}}' d2)" "0"

"$KILN" run -d --name d3 busybox sh -c 'sleep 0.5; exit 4' >/dev/null
run_fail "wait blocks until it exits" 0 "$KILN" wait d3
expect_eq "wait prints its code" "$OUT" "4"

"$KILN" run -d --name d4 busybox sh -c 'for i in 1 2 3; do echo line$i; sleep 0.2; done' >/dev/null
expect_eq "logs -f follows until the end" "$("$KILN" logs -f d4 | tr '\n' ' ')" "line1 line2 line3 "

"$KILN" run -d --rm --name d5 busybox true >/dev/null
wait_for 5 sh -c "! '$KILN' container inspect d5 >/dev/null 2>&1" && ok "run -d --rm: gone after exit" || not_ok "--rm container still there"
run_fail "run -d of a missing command: 127" 127 "$KILN" run -d --rm busybox nosuch
expect_contains "its message" "$OUT" 'executable file not found in $PATH'
expect_eq "and --rm removed it" "$("$KILN" ps -aq --filter name=nosuch)" ""

"$KILN" run -d --name rp --restart on-failure:2 busybox sh -c 'echo run; exit 5' >/dev/null
wait_for 10 sh -c "[ \"\$('$KILN' container inspect -f '{{.State.Status}} {{.RestartCount}}' rp)\" = 'exited 2' ]" &&
	ok "--restart on-failure:2 restarts twice" || not_ok "restart policy: $("$KILN" container inspect -f '{{.State.Status}} {{.RestartCount}}' rp)"
expect_eq "three runs logged" "$("$KILN" logs rp | wc -l)" "3"
run_fail "--restart with --rm: 125" 125 "$KILN" run --rm --restart always busybox true
run_fail "--restart bogus: 125" 125 "$KILN" run --restart bogus busybox true

"$KILN" run -d --name ra --restart always busybox sh -c 'sleep 0.1' >/dev/null
wait_for 10 sh -c "[ \"\$('$KILN' container inspect -f '{{.RestartCount}}' ra)\" -ge 2 ]" &&
	ok "--restart always keeps restarting" || not_ok "always: no restarts"
run_ok "stop ends an always policy" "$KILN" stop ra
sleep 0.5
expect_eq "stays exited" "$(status_of ra)" "exited"

"$KILN" run -d --name mk busybox sleep 100 >/dev/null
cpid=$("$KILN" container inspect -f '{{.State.Pid}}' mk)
mon=$(ps -o ppid= -p "$cpid" | tr -d ' ')
kill -9 "$mon"
wait_for 5 is_status mk exited && ok "kill -9 of the monitor: the container reads exited" || not_ok "after kill -9 of the monitor: $(status_of mk)"

# --- HEALTHCHECK --------------------------------------------------------------------------
health() { "$KILN" container inspect -f '{{.State.Health.Status}}' hc 2>/dev/null; }
is_health() { [ "$(health)" = "$1" ]; }
# a start period: its failing checks leave it "starting" (docker's rule)
# until the first success, however slowly the next command comes (without
# one, 2 failures 200 ms apart made it unhealthy before ps looked, under load)
run_ok "run -d --health-cmd" "$KILN" run -d --name hc --health-cmd 'test -f /tmp/ok' \
	--health-interval 200ms --health-retries 2 --health-start-period 60s busybox sleep 60
expect_contains "starts as starting" "$(health) $("$KILN" ps --format '{{.Status}}' --filter name=hc)" "starting"
"$KILN" exec hc touch /tmp/ok
wait_for 10 is_health healthy && ok "turns healthy" || not_ok "not healthy: $(health)"
expect_contains "ps shows (healthy)" "$("$KILN" ps --filter name=hc)" "(healthy)"
"$KILN" exec hc rm /tmp/ok
wait_for 10 is_health unhealthy && ok "turns unhealthy after 2 failures" || not_ok "not unhealthy: $(health)"
expect_contains "ps shows (unhealthy)" "$("$KILN" ps --filter name=hc)" "(unhealthy)"
run_ok "rm -f hc" "$KILN" rm -f hc

# --- -p: busybox httpd reachable from the host at 127.0.0.1 ---------------------------
if command -v slirp4netns >/dev/null && command -v curl >/dev/null; then
	mkdir -p "$T/www" && echo hello-httpd >"$T/www/index.html"
	# a port free when picked can be taken by a parallel test before the
	# run binds it: then (docker's "already allocated") pick another
	for _ in 1 2 3 4 5; do
		port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
		OUT=$("$KILN" run -d --name web -p "127.0.0.1:$port:80" -v "$T/www:/www:ro" busybox httpd -f -p 80 -h /www 2>&1) && break
		case $OUT in *"port is already allocated"*) "$KILN" rm -f web >/dev/null 2>&1 ;; *) break ;; esac
	done
	if [ "$(status_of web)" = running ]; then ok "run -d -p"; else not_ok "run -d -p: $OUT"; fi
	wait_for 5 sh -c "curl -sf http://127.0.0.1:$port/index.html >/dev/null"
	expect_eq "-p: served to the host" "$(curl -s "http://127.0.0.1:$port/index.html")" "hello-httpd"
	expect_contains "ps PORTS" "$("$KILN" ps)" "127.0.0.1:$port->80/tcp"
	expect_eq "port" "$("$KILN" port web)" "80/tcp -> 127.0.0.1:$port"
	expect_eq "inspect Ports" "$("$KILN" container inspect -f '{{json .NetworkSettings.Ports}}' web)" \
		"{\"80/tcp\":[{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"$port\"}]}"
	run_fail "-p of a taken port: 125" 125 "$KILN" run -d --name web2 -p "127.0.0.1:$port:80" busybox sleep 10
	expect_contains "names the port" "$OUT" "Bind for 127.0.0.1:$port failed: port is already allocated"
	expect_eq "and leaves it not running" "$(status_of web2)" "exited"
	run_ok "-p with a free host port" "$KILN" run -d --name web3 -p 127.0.0.1::80 busybox sleep 10
	expect_contains "port names it" "$("$KILN" port web3 80)" "127.0.0.1:"
	run_ok "rm -f" "$KILN" rm -f web web2 web3
	run_fail "the port is free again" nonzero curl -s "http://127.0.0.1:$port/"
else
	ok "# SKIP -p: slirp4netns or curl missing"
fi

# A foreground run (no -d, no -t) is logged as docker logs it; its output
# still reaches the caller, stdout and stderr apart, and a reader that goes
# away early loses nothing of the log.
OUT=$("$KILN" run --name f1 --network none busybox sh -c 'echo fg-out; echo fg-err >&2; printf tail' 2>"$T/f1.err")
expect_eq "foreground run: stdout reaches the caller" "$OUT" "$(printf 'fg-out\ntail')"
expect_eq "foreground run: stderr reaches the caller's stderr" "$(cat "$T/f1.err")" "fg-err"
expect_eq "foreground run: logs has its stdout" "$("$KILN" logs f1 2>/dev/null)" "$(printf 'fg-out\ntail')"
expect_eq "foreground run: logs has its stderr on stderr" "$("$KILN" logs f1 2>&1 >/dev/null)" "fg-err"
"$KILN" run --name f2 --network none busybox seq 1 20000 | head -1 >/dev/null
expect_eq "foreground run read by head -1: all 20000 lines logged" "$("$KILN" logs f2 2>/dev/null | wc -l)" "20000"
expect_eq "foreground run: its exit code in inspect" \
	"$("$KILN" run --name f3 --network none busybox sh -c 'echo x; exit 5' >/dev/null; echo $?) $("$KILN" container inspect -f '{{.State.ExitCode}}' f3)" "5 5"
before=$(ls "$ROOT"/containers/*/*-json.log | wc -l)
"$KILN" run --rm --name f4 --network none busybox echo gone
expect_eq "an --rm foreground run leaves no log behind" "$(ls "$ROOT"/containers/*/*-json.log | wc -l)" "$before"
cleanup_containers
expect_eq "no monitor left" "$(monitors)" ""
expect_eq "no container left" "$("$KILN" ps -aq)" ""
left=$(find /sys/fs/cgroup -maxdepth 3 -path '*/kiln/*' -name "$ID*" 2>/dev/null)
expect_eq "no cgroup left" "$left" ""
