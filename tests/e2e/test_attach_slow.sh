#!/usr/bin/env bash
# attach: attachers that do not read never hold up the monitor, the
# container or the other attachers (as conmon: sends never block, a slow
# client's output is queued up to a bound, then the client is cut off).
# An attacher that pauses for a while and then reads gets everything that
# fit the bound; 15 that never read are disconnected, while a reading
# attacher and the log get the whole output.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/containers.sh"
command -v python3 >/dev/null || skip_all "python3 is needed"

# att.py SOCKET N PAUSE OUT: N raw attachers on the monitor's socket
# (SOCK_SEQPACKET; named through an O_PATH fd, store paths overflow
# sun_path); prints "ready", reads nothing for PAUSE seconds (or until
# stdin ends when PAUSE is -1), prints "reading", then reads each to its
# end and writes "BYTES EXIT" per attacher to OUT (EXIT: the status
# message, or "cut" when the monitor hung up without one).
cat >"$T/att.py" <<'EOF'
import os, socket, struct, sys, time
path, n, pause, out = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
d = os.open(os.path.dirname(path), os.O_PATH)
conns = []
for _ in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect("/proc/self/fd/%d/%s" % (d, os.path.basename(path)))
    conns.append(s)
print("ready", flush=True)
if pause < 0:
    sys.stdin.read()
else:
    time.sleep(pause)
print("reading", flush=True)
res = []
for s in conns:
    got, status = 0, "cut"
    s.settimeout(30)
    try:
        while True:
            m = s.recv(65536)
            if not m:
                break
            if m[:1] in (b"1", b"2"):
                got += len(m) - 1
            elif m[:1] == b"x":
                status = str(struct.unpack("i", m[1:5])[0])
    except OSError:
        pass
    res.append("%d %s" % (got, status))
open(out, "w").write("\n".join(res) + "\n")
EOF

# waits for /go, writes SIZE bytes in lines of 1000, 100 KB at a time with
# 10 ms between (a reading attacher starved of CPU on a loaded machine
# then still keeps within the monitor's 1 MiB bound, while a never-reading
# one passes it: what is tested is who reads, not how fast), waits for
# /stop, exits 7
line=$(printf '%0999d' 0)
start() { # NAME SIZE (a multiple of 100000)
	kiln run -d --name "$1" busybox sh -c "while [ ! -e /go ]; do sleep 0.05; done;
		i=0; while [ \$i -lt $(($2 / 100000)) ]; do yes $line | head -c 100000; sleep 0.01; i=\$((i + 1)); done;
		while [ ! -e /stop ]; do sleep 0.05; done; exit 7" >/dev/null
}
logged() { [ "$(kiln logs "$1" 2>/dev/null | wc -c)" -ge "$2" ]; }
sock() { echo "$ROOT/containers/$(kiln inspect -f '{{.Id}}' "$1")/attach"; }
# go NAME SIZE: lets the container write, waits until the log has it all
go() {
	kiln exec "$1" touch /go
	wait_for 120 logged "$1" "$2" || not_ok "the output of $1 is logged"
}

# 1. an attacher that pauses 3 s (longer than the old 2 s send timeout)
#    while 600 KB are written, then reads: nothing is lost
start slow 600000 || not_ok "start slow"
coproc SLOW { python3 "$T/att.py" "$(sock slow)" 1 3 "$T/slow.out"; }
spid=$SLOW_PID
read -r -t 30 r <&"${SLOW[0]}"
expect_eq "the pausing attacher connected" "$r" ready
go slow 600000
read -r -t 30 r <&"${SLOW[0]}"
expect_eq "the pausing attacher reads again" "$r" reading
kiln exec slow touch /stop
expect_eq "the container ends as it should" "$(timeout 60 "$KILN" wait slow)" 7
wait "$spid" 2>/dev/null
expect_eq "the pausing attacher got the whole output and the status" "$(cat "$T/slow.out")" "600000 7"

# 2. 15 attachers that never read, one that does: the never-reading ones
#    are cut off once their queues are full; the reader and the log get
#    all 8 MB; the container ends
start deaf 8000000 || not_ok "start deaf"
coproc DEAF { python3 "$T/att.py" "$(sock deaf)" 15 -1 "$T/deaf.out"; }
dpid=$DEAF_PID
read -r -t 30 r <&"${DEAF[0]}"
expect_eq "15 never-reading attachers connected" "$r" ready
coproc READER { python3 "$T/att.py" "$(sock deaf)" 1 0 "$T/reader.out"; }
rpid=$READER_PID
read -r -t 30 r <&"${READER[0]}"
expect_eq "a reading attacher connected" "$r" ready
go deaf 8000000
kiln exec deaf touch /stop
expect_eq "the container ends while 15 attachers never read" "$(timeout 120 "$KILN" wait deaf)" 7
wait "$rpid" 2>/dev/null
expect_eq "the reading attacher got every byte and the status" "$(cat "$T/reader.out")" "8000000 7"
expect_eq "the log has every byte" "$(kiln logs deaf 2>/dev/null | wc -c)" 8000000
exec {DEAF[1]}>&- # now they read what they got
wait "$dpid" 2>/dev/null
if awk '$2 != "cut" || $1 >= 8000000 { bad = 1 } END { exit bad || NR != 15 }' "$T/deaf.out"; then
	ok "each never-reading attacher was cut off"
else
	not_ok "never-reading attachers: $(tr '\n' ';' <"$T/deaf.out")"
fi
run_ok "the containers are removed" kiln rm -f slow deaf
