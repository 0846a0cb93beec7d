#!/usr/bin/env bash
# Joining running containers: exec (namespaces, user, env, workdir, caps,
# seccomp, exit codes), pause/unpause through the freezer (the CPU time of a
# busy process stops moving), top, stats --no-stream, rename, container
# prune. As root only.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/containers.sh"


run_ok "run -d a busy loop" "$KILN" run -d --name busy --memory 64m busybox sh -c 'while :; do :; done'
ID=$OUT
PID=$("$KILN" container inspect -f '{{.State.Pid}}' busy)

# --- exec -----------------------------------------------------------------------
run_ok "exec" "$KILN" exec busy sh -c 'echo $$; hostname'
expect_eq "exec runs in the container's PID namespace" "$(echo "$OUT" | head -1 | grep -cE '^[0-9]+$')" "1"
expect_eq "and its UTS namespace" "$(echo "$OUT" | tail -1)" "${ID:0:12}"
expect_contains "sees the container's PID 1" "$("$KILN" exec busy ps -o pid,args)" "1 sh -c while"
OUT=$("$KILN" exec busy grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status | tr -s '\t' ' ' | tr '\n' ' ')
expect_eq "same caps, no_new_privs, seccomp" "$OUT" "CapEff: 00000000a80425fb NoNewPrivs: 1 Seccomp: 2 "
expect_eq "exec -u -w -e" "$("$KILN" exec -u nobody -w /tmp -e X=1 busy sh -c 'id -u; pwd; echo $X' | tr '\n' ' ')" "65534 /tmp 1 "
run_fail "exec exit status" 9 "$KILN" exec busy sh -c 'exit 9'
run_fail "exec of a missing command: 127" 127 "$KILN" exec busy nosuch
expect_contains "its message" "$OUT" 'exec: "nosuch": executable file not found in $PATH'
run_ok "exec -d" "$KILN" exec -d busy sleep 1.5
expect_eq "exec -d returns at once, the process runs" "$("$KILN" exec busy ps -o args | grep -c 'sleep 1.5')" "1"
for _ in $(seq 100); do
	[ "$("$KILN" exec busy ps -o args | grep -c 'sleep 1.5')" = 0 ] && break
	sleep 0.1
done
expect_eq "and is reaped, no zombie" "$("$KILN" exec busy ps -o stat | grep -c Z)" "0"
echo piped | "$KILN" exec -i busy cat >"$T/cat.out"
expect_eq "exec -i passes stdin" "$(cat "$T/cat.out")" "piped"

# --- top, stats ---------------------------------------------------------------------
OUT=$("$KILN" top busy)
expect_contains "top: ps columns" "$OUT" "UID"
expect_contains "top: the container's process by host pid" "$OUT" "$PID"
OUT=$("$KILN" stats --no-stream busy)
expect_contains "stats header" "$OUT" "CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT"
expect_contains "stats: the memory limit" "$OUT" "/ 64MiB"
for _ in $(seq 50); do # exec helpers of the checks above are gone
	OUT=$("$KILN" stats --no-stream busy)
	[ "$(echo "$OUT" | awk 'NR==2{print $NF}')" = 1 ] && break
done
expect_eq "stats: PIDS" "$(echo "$OUT" | awk 'NR==2{print $NF}')" "1"

# --- pause / unpause ------------------------------------------------------------------
cputime() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
run_ok "pause" "$KILN" pause busy
expect_eq "state paused" "$("$KILN" container inspect -f '{{.State.Status}} {{.State.Paused}}' busy)" "paused true"
expect_contains "ps shows (Paused)" "$("$KILN" ps)" "(Paused)"
t1=$(cputime); sleep 0.5; t2=$(cputime)
expect_eq "a paused process gets no CPU time" "$t2" "$t1"
run_fail "exec into a paused container: 1" 1 "$KILN" exec busy true
run_fail "pause twice: 1" 1 "$KILN" pause busy
run_ok "unpause" "$KILN" unpause busy
t1=$(cputime); sleep 0.5; t2=$(cputime)
[ "$t2" -gt "$t1" ] && ok "running again after unpause" || not_ok "no CPU time after unpause ($t1 -> $t2)"

# --- rename, prune ----------------------------------------------------------------------
run_ok "rename" "$KILN" rename busy busier
expect_eq "ps shows the new name" "$("$KILN" ps --format '{{.Names}}')" "busier"
run_fail "the old name is gone" 1 "$KILN" container inspect busy
run_ok "the old name is free again" "$KILN" create --name busy busybox true
run_fail "rename to a taken name" 1 "$KILN" rename busier busy
expect_contains "conflict message" "$OUT" 'The container name "/busy" is already in use'
run_ok "stop" "$KILN" stop -t 0 busier
run_fail "exec into a stopped container: 1" 1 "$KILN" exec busier true
expect_contains "not running message" "$OUT" "is not running"
"$KILN" run -d --name keep busybox sleep 60 >/dev/null
run_ok "container prune -f" "$KILN" container prune -f
expect_contains "prune lists what it deleted" "$OUT" "Deleted Containers:"
expect_contains "prune's total" "$OUT" "Total reclaimed space:"
expect_eq "only the running container is left" "$("$KILN" ps -a --format '{{.Names}}')" "keep"

# --- diff, commit -------------------------------------------------------------------------
"$KILN" run --name dc busybox sh -c 'echo new > /newfile; echo x >> /etc/passwd; rm /bin/vi; mkdir -p /tmp/d' 
OUT=$("$KILN" diff dc)
expect_eq "diff: docker's A/C/D, sorted, no runtime mount points" "$(echo "$OUT" | tr '\n' ' ')" \
	"C /bin D /bin/vi C /etc C /etc/passwd A /newfile C /tmp A /tmp/d "
run_ok "commit -c -m" "$KILN" commit -c 'CMD ["cat", "/newfile"]' -m note dc committed:1
expect_eq "commit prints the image ID" "$(printf '%s' "$OUT" | grep -cE '^sha256:[0-9a-f]{64}$')" "1"
expect_eq "run of the new image sees the change and the new CMD" "$("$KILN" run --rm committed:1)" "new"
run_fail "a deleted file stays deleted" 1 "$KILN" run --rm committed:1 ls /bin/vi
expect_eq "history: one layer more, with the message" "$("$KILN" history --format '{{.Comment}}' committed:1 | head -1)" "note"
run_fail "rmi of the base image is refused while dc exists" 1 "$KILN" rmi busybox
run_ok "rm dc" "$KILN" rm dc
run_ok "rmi committed:1" "$KILN" rmi committed:1

# --- volumes ---------------------------------------------------------------------------------
run_ok "volume create" "$KILN" volume create v1
expect_eq "prints the name" "$OUT" "v1"
run_ok "a named volume is written" "$KILN" run --rm -v v1:/data busybox sh -c 'echo persisted > /data/f'
expect_eq "and outlives the container" "$("$KILN" run --rm -v v1:/data:ro busybox cat /data/f)" "persisted"
run_fail "read-only volume" 1 "$KILN" run --rm -v v1:/data:ro busybox touch /data/g
expect_contains "volume ls" "$("$KILN" volume ls)" "local     v1"
expect_eq "volume inspect" "$("$KILN" volume inspect -f '{{.Name}} {{.Driver}}' v1)" "v1 local"
"$KILN" run --name av -v /anon busybox touch /anon/x
anon=$("$KILN" container inspect -f '{{range .Mounts}}{{.Name}}{{end}}' av)
expect_eq "-v /path: an anonymous volume" "$(printf '%s' "$anon" | grep -cE '^[0-9a-f]{64}$')" "1"
"$KILN" run -d --name vu -v v1:/d busybox sleep 30 >/dev/null
run_fail "volume rm of a volume in use: 1" 1 "$KILN" volume rm v1
expect_contains "docker's in-use message" "$OUT" "remove v1: volume is in use"
run_ok "rm -v removes the anonymous volume" "$KILN" rm -v av
expect_eq "gone" "$("$KILN" volume ls -q | grep -c "$anon")" "0"
"$KILN" rm -f vu >/dev/null
run_ok "volume prune -f" "$KILN" volume prune -f
expect_contains "prune deletes unused volumes" "$OUT" "v1"
expect_eq "none left" "$("$KILN" volume ls -q)" ""
"$KILN" run --rm -v /anon2 busybox true
expect_eq "--rm removes anonymous volumes" "$("$KILN" volume ls -q)" ""

# --- --mount, top-level inspect -------------------------------------------------------------
mkdir -p "$T/m" && echo mounted >"$T/m/f"
expect_eq "--mount type=bind,readonly" "$("$KILN" run --rm --mount "type=bind,source=$T/m,target=/m,readonly" busybox sh -c 'cat /m/f; touch /m/g 2>/dev/null || echo ro')" "mounted
ro"
expect_contains "--mount type=tmpfs,tmpfs-size" "$("$KILN" run --rm --mount type=tmpfs,target=/t,tmpfs-size=1m busybox df -k /t)" " 1024 "
run_ok "--mount type=volume" "$KILN" run --rm --mount type=volume,src=mv,dst=/v busybox touch /v/a
run_ok "its volume" "$KILN" volume rm mv
run_fail "--mount of a missing bind source: 125" 125 "$KILN" run --rm --mount type=bind,source=/nonexistent-kiln,target=/x busybox true
expect_contains "docker's message" "$OUT" 'bind source path does not exist: /nonexistent-kiln'
expect_eq "inspect finds containers first" "$("$KILN" inspect -f '{{.Name}}' keep)" "/keep"
expect_eq "inspect --type image" "$("$KILN" inspect --type image -f '{{.Id}}' busybox | cut -c1-7)" "sha256:"
