#!/usr/bin/env bash
# The default network with each user-mode helper (slirp4netns, pasta;
# KILN_NET_HELPER picks one): -p serving busybox httpd to the host at
# 127.0.0.1, host port ranges, `port`, ps PORTS, a taken port refused with
# nothing left, and the helper and the container's network namespace gone
# after stop and after a kill -9 of the monitor. As root only.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/containers.sh"
command -v curl >/dev/null || skip_all "curl is not installed"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# live helpers serving this test's containers (their log is under $ROOT)
helpers() {
	local p
	for p in $(pgrep -f '^(slirp4netns|pasta) '); do
		[ "$(awk '{print $3}' /proc/$p/stat 2>/dev/null)" = Z ] && continue
		readlink "/proc/$p/fd/1" 2>/dev/null | grep -q -- "$ROOT" && echo "$p"
	done
	return 0
}
no_helpers() { [ -z "$(helpers)" ]; }
# processes in (or holding) network namespace $1 ("net:[N]")
netns_users() {
	local p
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/ns/net" 2>/dev/null)" = "$1" ] && echo "${p#/proc/}"
		ls -l "$p/fd" 2>/dev/null | grep -qF -- "$1" && echo "${p#/proc/}"
	done
	return 0
}
no_netns() { [ -z "$(netns_users "$1")" ]; }
status_of() { "$KILN" container inspect -f '{{.State.Status}}' "$1" 2>/dev/null; }
is_status() { [ "$(status_of "$1")" = "$2" ]; }

mkdir -p "$T/www" && echo hello-net >"$T/www/index.html"
tested=0
for helper in slirp4netns pasta; do
	if ! command -v "$helper" >/dev/null; then
		ok "# SKIP $helper is not installed"
		continue
	fi
	tested=$((tested + 1))
	export KILN_NET_HELPER=$helper
	port=$(free_port)
	run_ok "$helper: run -d -p" "$KILN" run -d --name "web-$helper" -p "127.0.0.1:$port:80" \
		-v "$T/www:/www:ro" busybox httpd -f -p 80 -h /www
	id=$OUT
	wait_for 5 sh -c "curl -sf http://127.0.0.1:$port/index.html >/dev/null"
	expect_eq "$helper: served to the host" "$(curl -s "http://127.0.0.1:$port/index.html")" "hello-net"
	expect_eq "$helper: port" "$("$KILN" port "web-$helper")" "80/tcp -> 127.0.0.1:$port"
	expect_eq "$helper: port 80/tcp" "$("$KILN" port "web-$helper" 80/tcp)" "127.0.0.1:$port"
	expect_contains "$helper: ps PORTS" "$("$KILN" ps)" "127.0.0.1:$port->80/tcp"
	expect_eq "$helper: inspect NetworkSettings" \
		"$("$KILN" container inspect -f '{{json .NetworkSettings.Ports}} {{.NetworkSettings.IPAddress}} {{.NetworkSettings.Gateway}} {{json .HostConfig.PortBindings}}' "web-$helper")" \
		"{\"80/tcp\":[{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"$port\"}]} 10.0.2.100 10.0.2.2 {\"80/tcp\":[{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"$port\"}]}"
	hp=$(helpers)
	expect_eq "$helper: one helper, recorded in net.pid" "$hp" \
		"$(cut -d' ' -f1 "$ROOT/containers/$id/net.pid" 2>/dev/null)"
	cpid=$("$KILN" container inspect -f '{{.State.Pid}}' "web-$helper")
	ns=$(readlink "/proc/$cpid/ns/net")
	expect_eq "$helper: eth0 and a default route inside" \
		"$("$KILN" exec "web-$helper" sh -c 'ip -o -4 addr show eth0 | grep -o "inet [0-9./]*"; ip route | grep -o "^default via [0-9.]*"' | tr '\n' ' ')" \
		"inet 10.0.2.100/24 default via 10.0.2.2 "

	run_fail "$helper: -p of a taken port: 125" 125 "$KILN" run -d --name "taken-$helper" \
		-p "127.0.0.1:$port:80" busybox sleep 10
	expect_contains "$helper: names the port" "$OUT" "Bind for 127.0.0.1:$port failed: port is already allocated"
	expect_eq "$helper: no helper left by the failure" "$(helpers)" "$hp"

	p2=$(free_port) p3=$(free_port)
	run_ok "$helper: a host port range for one container port" "$KILN" run -d --name "range-$helper" \
		-p "127.0.0.1:$p2-$((p2 + 5)):80" -p 127.0.0.1::81/udp \
		-p "127.0.0.1:$p3-$((p3 + 1)):$p3-$((p3 + 1))" busybox sleep 100
	expect_contains "$helper: ps groups a range as docker does" "$("$KILN" ps)" \
		"127.0.0.1:$p3-$((p3 + 1))->$p3-$((p3 + 1))/tcp, 127.0.0.1:"
	expect_contains "$helper: port picks one of the range" "$("$KILN" port "range-$helper" 80)" "127.0.0.1:"
	expect_contains "$helper: udp listed" "$("$KILN" port "range-$helper")" "81/udp -> 127.0.0.1:"
	cpid2=$("$KILN" container inspect -f '{{.State.Pid}}' "range-$helper")
	ns2=$(readlink "/proc/$cpid2/ns/net")
	mon=$(ps -o ppid= -p "$cpid2" | tr -d ' ')
	kill -9 "$mon"
	wait_for 5 is_status "range-$helper" exited && ok "$helper: kill -9 of the monitor: exited" ||
		not_ok "$helper: after kill -9 of the monitor: $(status_of "range-$helper")"
	wait_for 5 no_netns "$ns2" && ok "$helper: and its network namespace is gone" ||
		not_ok "$helper: network namespace $ns2 still used by $(netns_users "$ns2")"
	expect_eq "$helper: only the first container's helper is left" "$(helpers)" "$hp"

	run_ok "$helper: stop" "$KILN" stop -t 1 "web-$helper"
	wait_for 5 no_helpers && ok "$helper: stop leaves no helper" || not_ok "$helper: helpers left: $(helpers)"
	wait_for 5 no_netns "$ns" && ok "$helper: nor the network namespace" ||
		not_ok "$helper: network namespace $ns still used by $(netns_users "$ns")"
	run_fail "$helper: the port is free again" nonzero curl -s "http://127.0.0.1:$port/"
	expect_eq "$helper: port lists nothing once stopped" "$("$KILN" port "web-$helper")" ""
	run_fail "$helper: port 80 of a stopped container" 1 "$KILN" port "web-$helper" 80
	expect_contains "$helper: docker's message" "$OUT" "No public port '80/tcp' published for web-$helper"
	expect_eq "$helper: a stopped container binds no port" \
		"$("$KILN" container inspect -f '{{json .NetworkSettings.Ports}} {{json .HostConfig.PortBindings}}' "web-$helper")" \
		"{} {\"80/tcp\":[{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"$port\"}]}"
	run_ok "$helper: rm" "$KILN" rm -f "web-$helper" "taken-$helper" "range-$helper"
done
unset KILN_NET_HELPER
[ "$tested" -gt 0 ] || skip_all "neither slirp4netns nor pasta is installed"

"$KILN" import -c 'EXPOSE 80' -c 'EXPOSE 53/udp' "$T/bb.tar" bbexp >/dev/null
run_ok "-P" "$KILN" run -d --name all -P -p 127.0.0.1::80 bbexp sleep 100
OUT=$("$KILN" port all)
expect_eq "-P: every exposed port, -p's own binding kept" \
	"$(echo "$OUT" | sed 's/:[0-9]*$/:N/' | sort | tr '\n' ' ')" "53/udp -> 0.0.0.0:N 80/tcp -> 127.0.0.1:N "
run_ok "rm -f" "$KILN" rm -f all

run_fail "a malformed -p: 125" 125 "$KILN" run --rm -p 80/xyz busybox true
expect_contains "docker's message" "$OUT" "invalid proto: xyz"
expect_eq "and no container" "$("$KILN" ps -aq)" ""
