#!/usr/bin/env bash
# kiln run in the foreground on the bundled busybox image: isolation probes,
# options, exit codes 125/126/127, and the lifecycle commands over the
# persisted state (create, start -a, ps, inspect, wait, rm). As root only.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/containers.sh"

# Hygiene: no process of this test's containers, no cgroup of them.
check_hygiene() {
	local left
	left=$(grep -l "$ROOT/containers" /proc/[0-9]*/mountinfo 2>/dev/null | head -3)
	if [ -n "$left" ]; then not_ok "$1: a process still mounts a container rootfs ($left)"; else ok "$1: no container process left"; fi
	left=$(find /sys/fs/cgroup -maxdepth 3 -path '*/kiln/*' -type d 2>/dev/null | while read -r d; do
		for id in $(ls "$ROOT/containers" 2>/dev/null); do case "$d" in *"$id"*) echo "$d" ;; esac; done
	done)
	if [ -n "$left" ]; then not_ok "$1: cgroups left: $left"; else ok "$1: no cgroup left"; fi
}
kr() { "$KILN" run --rm "$@"; }

# --- isolation probes --------------------------------------------------------
run_ok "run --rm echo" kr busybox echo hello
expect_eq "output reaches stdout" "$OUT" "hello"
expect_eq "the command is PID 1" "$(kr busybox sh -c 'echo $$')" "1"
expect_eq "host processes invisible" "$(kr busybox ps -o pid | tr -s ' \n' ' ')" "PID 1 "
OUT=$(kr busybox hostname)
if [ "$OUT" != "$(hostname)" ] && [ ${#OUT} = 12 ]; then ok "hostname is the short ID ($OUT)"; else not_ok "hostname: $OUT"; fi
expect_eq "--hostname" "$(kr --hostname box1 busybox hostname)" "box1"
OUT=$(kr busybox cat /proc/self/mountinfo)
expect_not_contains "host mounts invisible" "$OUT" "$T/bb.tar"
OUT=$(echo "$OUT" | awk '{print $5}' | grep -vE '^/$|^/(proc|dev|sys)(/|$)|^/etc/(hosts|hostname|resolv.conf)$')
expect_eq "only the container's own mounts" "$OUT" ""
OUT=$(kr --network none busybox ip -o link)
expect_eq "--network none: loopback only" "$(echo "$OUT" | wc -l)" "1"
expect_contains "loopback is up" "$OUT" "UP"
if command -v slirp4netns >/dev/null; then
	OUT=$(kr busybox sh -c 'ip -o -4 addr show eth0; ip route; cat /etc/resolv.conf')
	expect_contains "default network: eth0 10.0.2.100" "$OUT" "inet 10.0.2.100/24"
	expect_contains "default network: a default route" "$OUT" "default via 10.0.2.2"
	expect_contains "default network: slirp's DNS" "$OUT" "nameserver 10.0.2.3"
	HOSTIP=$(ip -o -4 route get 192.0.2.123 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')
	[ -n "$HOSTIP" ] || HOSTIP=$(hostname -I | awk '{print $1}')
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("", 0)); print(s.getsockname()[1])') # free a moment ago
	(echo reached-host | timeout 10 busybox nc -l -p "$port" >/dev/null 2>&1) &
	ncpid=$!
	# until nc listens (a fixed 0.3 s was not always enough under load)
	hexport=$(printf '%04X' "$port")
	listening() { awk -v p=":$hexport" '$4 == "0A" && substr($2, length($2) - 4) == p' /proc/net/tcp /proc/net/tcp6 2>/dev/null | grep -q .; }
	wait_for 10 listening || not_ok "nc listens on $port"
	expect_eq "default network reaches the host's address" "$(kr busybox nc -w 5 "$HOSTIP" "$port" 2>&1)" "reached-host"
	kill "$ncpid" 2>/dev/null; wait "$ncpid" 2>/dev/null
	left=$(for p in $(pgrep -f '^(slirp4netns|pasta) '); do readlink "/proc/$p/fd/1"; done | grep -c "$ROOT")
	expect_eq "no slirp4netns or pasta left" "$left" "0"
else
	ok "# SKIP default network: slirp4netns not installed"
fi
OUT=$(kr --network host busybox ip -o link | wc -l)
expect_eq "--network host sees the host's interfaces" "$OUT" "$(ip -o link | wc -l)"
OUT=$(kr busybox sh -c 'cat /etc/hosts; cat /etc/hostname; cat /etc/resolv.conf >/dev/null && echo resolv')
expect_contains "/etc/hosts has localhost" "$OUT" "127.0.0.1	localhost"
expect_contains "/etc/resolv.conf exists" "$OUT" "resolv"
run_fail "mount fails" nonzero kr busybox mount -t tmpfs none /mnt
run_fail "writing /proc/sysrq-trigger fails" nonzero kr busybox sh -c 'echo h > /proc/sysrq-trigger'
OUT=$(kr busybox sh -c 'cat /proc/kcore | wc -c; ls /sys/firmware | wc -l')
expect_eq "/proc/kcore and /sys/firmware masked" "$(echo "$OUT" | tr '\n' ' ')" "0 0 "
run_fail "unshare -U fails" nonzero kr busybox unshare -U true
run_fail "reboot(2) fails" nonzero kr busybox reboot -f
OUT=$(kr busybox grep -E '^(CapEff|CapBnd|CapPrm|NoNewPrivs|Seccomp):' /proc/self/status | tr -s '\t' ' ')
expect_contains "CapEff is docker's default" "$OUT" "CapEff: 00000000a80425fb"
expect_contains "CapBnd is docker's default" "$OUT" "CapBnd: 00000000a80425fb"
expect_contains "CapPrm is docker's default" "$OUT" "CapPrm: 00000000a80425fb"
expect_contains "NoNewPrivs: 1" "$OUT" "NoNewPrivs: 1"
expect_contains "Seccomp: 2" "$OUT" "Seccomp: 2"
OUT=$(kr -u nobody busybox grep -E '^Cap(Eff|Bnd)' /proc/self/status | tr -s '\t' ' ' | tr '\n' ' ')
expect_eq "a non-root user has no effective caps" "$OUT" "CapEff: 0000000000000000 CapBnd: 00000000a80425fb "
expect_contains "--cap-drop ALL --cap-add NET_ADMIN" "$(kr --cap-drop ALL --cap-add NET_ADMIN busybox grep CapEff /proc/self/status)" "0000000000001000"
run_fail "--cap-add unknown: 125" 125 kr --cap-add BOGUS busybox true
expect_contains "--security-opt seccomp=unconfined" "$(kr --security-opt seccomp=unconfined busybox grep Seccomp: /proc/self/status)" "0"
cat >"$T/profile.json" <<'EOF2'
{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}
EOF2
run_fail "--security-opt seccomp=PROFILE.json applies it" 1 kr --security-opt "seccomp=$T/profile.json" busybox mkdir /newdir
run_ok "--privileged can mount" kr --privileged busybox mount -t tmpfs none /tmp
run_fail "--memory: exceeding it is killed" 137 kr --memory 16m --memory-swap 16m busybox sh -c 'x=$(head -c 64000000 /dev/zero | tr "\0" a); echo ${#x}'
OUT=$(kr --pids-limit 20 busybox sh -c 'for i in $(seq 40); do sleep 5 & done; echo done' 2>&1)
expect_contains "--pids-limit stops a fork bomb" "$OUT" "can't fork"
run_fail "/sys is read-only" nonzero kr busybox sh -c 'echo 1 > /sys/kernel/profiling'
OUT=$(kr busybox grep NoNewPrivs /proc/self/status)
expect_contains "no_new_privs set" "$OUT" "1"
OUT=$(kr busybox ls -la /dev)
for n in null zero full random urandom tty pts shm mqueue; do expect_contains "/dev/$n" "$OUT" " $n"; done
run_ok "/dev/null writable" kr busybox sh -c 'echo x > /dev/null && head -c 4 /dev/urandom | wc -c'
run_fail "--read-only refuses writes" 1 kr --read-only busybox touch /x
run_ok "--read-only with --tmpfs /tmp" kr --read-only --tmpfs /tmp busybox touch /tmp/x
check_hygiene "after isolation probes"

# --- options -------------------------------------------------------------------
printf 'A=from_file\n# comment\nB=two\n' >"$T/env"
OUT=$(FOO=host kr -e X=1 -e FOO --env-file "$T/env" -e A=override busybox env)
expect_contains "-e K=V" "$OUT" "X=1"
expect_contains "-e K takes the caller's value" "$OUT" "FOO=host"
expect_contains "--env-file" "$OUT" "B=two"
expect_contains "-e beats --env-file" "$OUT" "A=override"
expect_contains "PATH defaulted" "$OUT" "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
expect_contains "HOME set" "$OUT" "HOME=/root"
run_fail "missing --env-file: 125" 125 kr --env-file "$T/nosuch" busybox true
expect_eq "-w creates and enters the dir" "$(kr -w /work/dir busybox pwd)" "/work/dir"
expect_eq "-u nobody" "$(kr -u nobody busybox id)" "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)"
expect_eq "-u 1234:5" "$(kr -u 1234:5 busybox id -u):$(kr -u 1234:5 busybox id -g)" "1234:5"
run_fail "-u unknown user: 125" 125 kr -u nosuch busybox true
expect_contains "unknown user message" "$OUT" "unable to find user nosuch: no matching entries in passwd file"
expect_eq "--entrypoint" "$(kr --entrypoint echo busybox a b)" "a b"
expect_eq "trailing args replace CMD" "$(kr busybox echo replaced)" "replaced"
mkdir -p "$T/vol"
echo data >"$T/vol/f"
expect_eq "-v bind read" "$(kr -v "$T/vol:/v" busybox cat /v/f)" "data"
run_ok "-v bind write" kr -v "$T/vol:/v" busybox sh -c 'echo w > /v/g'
expect_eq "bind write reaches the host" "$(cat "$T/vol/g")" "w"
run_fail "-v :ro refuses writes" 1 kr -v "$T/vol:/v:ro" busybox touch /v/h
run_ok "-v creates a missing host dir" kr -v "$T/newdir:/n" busybox true
[ -d "$T/newdir" ] && ok "host dir created" || not_ok "host dir not created"
run_fail "-v relative path: 125" 125 kr -v ./x:/x busybox true
expect_contains "relative -v message" "$OUT" "use absolute path"
OUT=$(kr --ulimit nofile=100:200 busybox sh -c 'ulimit -n; ulimit -Hn')
expect_eq "--ulimit nofile" "$(echo "$OUT" | tr '\n' ' ')" "100 200 "
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ]; then
	run_fail "--ulimit above the caller's hard limit: 125" 125 kr --ulimit nofile=$((hard + 1)) busybox true
fi
expect_eq "rlimits default to the caller's" "$(kr busybox sh -c 'ulimit -Hn')" "$hard"
OUT=$(kr --init busybox sh -c 'echo $$; cat /proc/1/status | grep -c PPid')
expect_eq "--init: the command is not PID 1" "$(echo "$OUT" | head -1)" "2"
run_fail "--network bogus: 125" 125 kr --network bogus busybox true
expect_contains "unknown network message" "$OUT" "network bogus not found"
run_fail "--security-opt bogus: 125" 125 kr --security-opt bogus busybox true

# --- exit codes ----------------------------------------------------------------
run_fail "exit status propagated" 7 kr busybox sh -c 'exit 7'
run_fail "killed by a signal: 128+N" 137 kr --init busybox sh -c 'kill -9 $$'
run_fail "command not found: 127" 127 kr busybox nosuch
expect_contains "docker's not-found message" "$OUT" 'exec: "nosuch": executable file not found in $PATH'
run_fail "absolute path not found: 127" 127 kr busybox /nosuch
run_fail "not executable: 126" 126 kr busybox /etc/passwd
expect_contains "docker's permission message" "$OUT" 'exec: "/etc/passwd": permission denied'
run_fail "unknown image: 125" 125 kr nosuchimage
expect_contains "docker's pull message" "$OUT" "Unable to find image 'nosuchimage:latest' locally"
run_fail "bad flag: 125" 125 "$KILN" run --bogus busybox
n=$(ls "$ROOT/containers" 2>/dev/null | grep -vc names)
expect_eq "--rm runs left no container" "$n" "0"
# an --rm container's upper dir is thrown away: its overlay is volatile (no
# sync of the host's filesystem when it goes); a mark such a mount leaves
# in the work dir (after a crash, a retry) does not stop the next mount
expect_eq "--rm: volatile overlay rootfs" "$(kr busybox grep -c volatile /proc/self/mountinfo)" "1"
run_fail "without --rm: no volatile overlay" 1 "$KILN" run --name durable busybox grep -c volatile /proc/self/mountinfo
"$KILN" rm durable >/dev/null
run_ok "create --rm" "$KILN" create --rm busybox echo marked
mkdir -p "$ROOT/containers/$OUT/work/work/incompat/volatile"
: >"$ROOT/containers/$OUT/work/work/incompat/volatile/dirty"
run_ok "start -a over a stale volatile mark" "$KILN" start -a "$OUT"
expect_eq "it ran" "$OUT" "marked"

# --- signals ------------------------------------------------------------------------
"$KILN" run --rm --init busybox sh -c 'trap "exit 42" TERM; echo trapped; while :; do sleep 0.1; done' >"$T/sig.out" &
pid=$!
# once the trap is set (a fixed 0.3 s after ps showed it could be before)
wait_for 30 grep -q trapped "$T/sig.out" || not_ok "the container sets its trap"
kill -TERM $pid
wait $pid
expect_eq "SIGTERM to kiln run reaches the container" "$?" "42"

# --- lifecycle ----------------------------------------------------------------------
run_ok "create --name" "$KILN" create --name one -l k=v busybox echo created-output
ID=$OUT
expect_eq "create prints a 64-hex ID" "$(printf '%s' "$ID" | grep -cE '^[0-9a-f]{64}$')" "1"
run_fail "rmi of an image a container uses: 1" 1 "$KILN" rmi busybox
expect_contains "docker's conflict message" "$OUT" "container ${ID:0:12} is using its referenced image"
run_ok "image prune -a skips it" "$KILN" image prune -a -f
run_ok "the image is still there" "$KILN" image inspect busybox
[ -f "$ROOT/gc-roots/container-$ID" ] && ok "the container holds a GC root" || not_ok "no GC root for the container"
OUT=$("$KILN" ps -a)
expect_contains "ps header" "$OUT" "CONTAINER ID   IMAGE     COMMAND"
expect_contains "ps -a shows created" "$OUT" "Created"
expect_contains "ps shows the quoted command" "$OUT" '"echo created-output"'
expect_eq "ps without -a hides it" "$("$KILN" ps -q)" ""
# docker 20.10's create exits 1 on its daemon's errors (diff case create-name-in-use)
run_fail "name in use: 1" 1 "$KILN" create --name one busybox true
expect_contains "docker's conflict message" "$OUT" 'The container name "/one" is already in use'
run_ok "start -a" "$KILN" start -a one
expect_eq "start -a output" "$OUT" "created-output"
expect_eq "inspect by prefix" "$("$KILN" container inspect -f '{{.State.Status}} {{.State.ExitCode}} {{.Name}}' "${ID:0:8}")" "exited 0 /one"
expect_eq "ps --filter label" "$("$KILN" ps -a --filter label=k=v --format '{{.Names}}')" "one"
expect_eq "ps --filter status=exited" "$("$KILN" ps --filter status=exited --format '{{.Names}}')" "one"
expect_eq "ps --filter ancestor" "$("$KILN" ps -a --filter ancestor=busybox -q)" "${ID:0:12}"
run_fail "wait on exited" 0 "$KILN" wait one
expect_eq "wait prints the exit code" "$OUT" "0"
"$KILN" run --name two busybox sh -c 'exit 3'
expect_eq "exited container keeps its code" "$("$KILN" container inspect -f '{{.State.ExitCode}}' two)" "3"
expect_contains "ps -s: docker's SIZE column" "$("$KILN" ps -a -s --filter name=two)" "(virtual "
expect_eq "ps -l is the latest" "$("$KILN" ps -l --format '{{.Names}}')" "two"
expect_eq "ps -n 2" "$("$KILN" ps -n 2 -q | wc -l)" "2"
expect_contains "ps Exited (3)" "$("$KILN" ps -a)" "Exited (3)"
run_fail "rm of an unknown container: 1" 1 "$KILN" rm two nosuch
expect_contains "rm names the removed" "$OUT" "two"
expect_contains "No such container" "$OUT" "No such container: nosuch"
run_ok "rm by ID" "$KILN" rm "$ID"
[ -f "$ROOT/gc-roots/container-$ID" ] && not_ok "GC root left after rm" || ok "rm drops the GC root"
expect_eq "nothing left" "$("$KILN" ps -aq)" ""
check_hygiene "after lifecycle"

# --- terminals ----------------------------------------------------------------------
OUT=$("$KILN" run -t --rm busybox sh -c 'test -t 0 && test -t 1 && echo tty; echo $TERM' | tr -d '\r')
expect_eq "-t: stdio is a terminal, TERM=xterm" "$(echo "$OUT" | tr '\n' ' ')" "tty xterm "
if command -v script >/dev/null; then
	printf 'echo typed-$((6*7))\nstty size\nexit 3\n' |
		script -qec "stty cols 100 rows 40; '$KILN' run -it --rm busybox sh" /dev/null >"$T/pty.out"
	rc=$?
	OUT=$(tr -d '\r' <"$T/pty.out")
	expect_contains "-it: keys reach the shell" "$OUT" "typed-42"
	expect_contains "-it: the window size" "$OUT" "40 100"
	expect_eq "-it: the shell's exit status" "$rc" "3"
	"$KILN" create -it --name sai busybox sh >/dev/null
	printf 'echo first-$((1+1))\nexit 4\n' | script -qec "'$KILN' start -ai sai" /dev/null >"$T/sai.out"
	rc=$?
	expect_contains "start -ai of a created -it container" "$(tr -d '\r' <"$T/sai.out")" "first-2"
	expect_eq "start -ai: its exit status" "$rc" "4"
	printf 'echo again\nexit 0\n' | script -qec "'$KILN' start -ai sai" /dev/null >"$T/sai.out"
	expect_contains "start -ai of the exited container" "$(tr -d '\r' <"$T/sai.out")" "again"
	"$KILN" rm sai >/dev/null
else
	ok "# SKIP -it checks: no script(1)"
fi
