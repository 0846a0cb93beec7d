#!/usr/bin/env bash
# HEALTHCHECK as docker 20.10 runs it: a check outliving its timeout is
# killed and fails with docker's text, failures in the start period do not
# count, State.Health.Log keeps the last 5 results, the image's Healthcheck
# and the --health-* flags. As root only; the containers run side by side.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/containers.sh"

fmt() { "$KILN" container inspect -f "$2" "$1" 2>/dev/null; }
health_py() { # health_py CTR EXPR: EXPR over h = State.Health (python)
	"$KILN" container inspect "$1" 2>/dev/null |
		python3 -c "import json,re,sys; h=json.load(sys.stdin)[0]['State']['Health']
def secs(t): # RFC 3339 time of day in seconds
    return sum(float(x) * m for x, m in zip(re.match(r'.*T(\d+):(\d+):([\d.]+)', t).groups(), (3600, 60, 1)))
print($2)"
}
is_health() { [ "$(fmt "$1" '{{.State.Health.Status}}')" = "$2" ]; }
logs_at_least() { [ "$(health_py "$1" 'len(h["Log"])')" -ge "$2" ] 2>/dev/null; }
streak_at_least() { [ "$(fmt "$1" '{{.State.Health.FailingStreak}}')" -ge "$2" ] 2>/dev/null; }

run_ok "timeout: run -d" "$KILN" run -d --name to --health-cmd 'sleep 5' --health-interval 1s \
	--health-timeout 1s --health-retries 1 busybox sleep 60
run_ok "start period: run -d" "$KILN" run -d --name sp --health-cmd 'test -f /tmp/ok' \
	--health-interval 1s --health-retries 1 --health-start-period 60s busybox sleep 60
run_ok "log cap: run -d" "$KILN" run -d --name lg --health-cmd 'echo out-$$; exit 3' \
	--health-interval 200ms --health-retries 100000 busybox sleep 60
run_ok "image HEALTHCHECK: import" "$KILN" import \
	-c 'HEALTHCHECK --interval=1s --timeout=1500ms --retries=1 CMD ["/bin/sleep", "5"]' "$BB" hcimg:1
run_ok "image HEALTHCHECK: run -d" "$KILN" run -d --name im hcimg:1 sleep 60
run_ok "--no-healthcheck: run -d" "$KILN" run -d --name nh --no-healthcheck hcimg:1 sleep 60

expect_contains "ps: (health: starting)" "$("$KILN" ps --filter name=sp)" "(health: starting)"

# --- a check running past the timeout --------------------------------------------
wait_for 8 is_health to unhealthy && ok "timeout: turns unhealthy" ||
	not_ok "timeout: not unhealthy: $(fmt to '{{json .State.Health}}')"
expect_eq "timeout: docker's output" "$(health_py to 'h["Log"][0]["Output"]')" \
	"Health check exceeded timeout (1s)"
expect_eq "timeout: ExitCode -1" "$(health_py to 'h["Log"][0]["ExitCode"]')" "-1"
expect_eq "timeout: the check ended at the timeout, not after its 5 s" \
	"$(health_py to '(secs(h["Log"][0]["End"]) - secs(h["Log"][0]["Start"])) % 86400 < 4')" "True"
expect_contains "ps: (unhealthy)" "$("$KILN" ps --filter name=to)" "(unhealthy)"
# checks go on every second, each killed after 1 s: never two at once
wait_for 10 streak_at_least to 3 && ok "timeout: checks go on" || not_ok "timeout: $(fmt to '{{json .State.Health}}')"
n=$("$KILN" exec to ps -o args | grep -c '^sleep 5')
[ "$n" -le 1 ] && ok "timeout: the timed-out checks' processes were killed" ||
	not_ok "timeout: $n checks still running"
expect_eq "Config.Healthcheck from the flags" "$(fmt to '{{json .Config.Healthcheck}}')" \
	'{"Test":["CMD-SHELL","sleep 5"],"Interval":1000000000,"Timeout":1000000000,"Retries":1}'

# --- the image's Healthcheck (Go's duration text in the message) -------------------
wait_for 8 is_health im unhealthy && ok "image healthcheck: timeout 1.5s, retries 1" ||
	not_ok "image healthcheck: $(fmt im '{{json .State.Health}}')"
expect_eq "image healthcheck: the message" "$(health_py im 'h["Log"][0]["Output"]')" \
	"Health check exceeded timeout (1.5s)"
expect_eq "--no-healthcheck: no State.Health" \
	"$("$KILN" container inspect nh | python3 -c "import json,sys; print('Health' in json.load(sys.stdin)[0]['State'])")" "False"

# --- failures in the start period do not count; a success turns healthy ---------------
wait_for 8 logs_at_least sp 2 && ok "start period: checks ran" || not_ok "start period: no checks"
expect_eq "start period: still starting, no streak" \
	"$(health_py sp 'h["Status"], h["FailingStreak"], h["Log"][-1]["ExitCode"]')" "starting 0 1"
"$KILN" exec sp touch /tmp/ok
wait_for 8 is_health sp healthy && ok "start period: a success turns healthy" ||
	not_ok "start period: $(fmt sp '{{json .State.Health}}')"
expect_contains "ps: (healthy)" "$("$KILN" ps --filter name=sp)" "(healthy)"

# --- Log keeps the last 5 ------------------------------------------------------------
wait_for 30 streak_at_least lg 7 && ok "log cap: 7 failures" || not_ok "log cap: $(fmt lg '{{json .State.Health}}')"
expect_eq "log cap: 5 entries" "$(health_py lg 'len(h["Log"])')" "5"
expect_eq "log entry: ExitCode and Output" \
	"$(health_py lg 'h["Log"][-1]["ExitCode"], h["Log"][-1]["Output"].startswith("out-")')" "3 True"
expect_eq "log entry: docker's keys, RFC 3339 times" \
	"$(health_py lg 'sorted(h["Log"][0]), all(e["Start"] <= e["End"] and e["End"][:2] == "20" for e in h["Log"])')" \
	"['End', 'ExitCode', 'Output', 'Start'] True"
expect_eq "State.Health keys" "$(health_py lg 'sorted(h)')" "['FailingStreak', 'Log', 'Status']"
expect_eq "still starting (retries 100000)" "$(fmt lg '{{.State.Health.Status}}')" "starting"

run_fail "bad --health-timeout is refused" 125 "$KILN" run -d --health-timeout 1x busybox true
expect_contains "names the value" "$OUT" '"1x"'

cleanup_containers
expect_eq "no container left" "$("$KILN" ps -aq)" ""
