#!/usr/bin/env bash
# kill -9 at random moments of save, load, rmi, prune and gc (issue 16): each
# operation is timed once, then started again and again and killed after a
# random delay spread over that duration, until 20 kills landed while the
# process was still running (wait says 137). Afterwards `system check` is
# clean, every tagged image inspects and saves, and no snapshot tree is left
# half deleted under its own name.
. "$(dirname "$0")/lib.sh"
export SOURCE_DATE_EPOCH=1700000000
# the store on a tmpfs when possible: this is about processes dying, not
# power loss, and fsync on a busy disk would make the loop slow
if [ "$(id -u)" = 0 ] && mkdir -p "$T/mnt" && mount -t tmpfs -o size=512m tmpfs "$T/mnt" 2>/dev/null; then
	at_exit umount -l "$T/mnt"
	ROOT="$T/mnt/root"
	export KILN_ROOT="$ROOT"
fi
KILLS=${KILN_KILL9_KILLS:-20}
MAX_TRIES=$((KILLS * 6))
B="$ROOT/images/blobs/sha256"
mkdir -p "$T/a" "$T/c" "$T/dang"
head -c 3000000 /dev/urandom >"$T/a/big" && echo a >"$T/a/f"
head -c 2000000 /dev/urandom >"$T/c/big" && echo c >"$T/c/f"
for i in $(seq 1 40); do echo "$i" >"$T/a/f$i"; done
run_ok "import a:1" kiln import "$T/a" a:1
run_ok "import c:1" kiln import "$T/c" c:1
run_ok "save c:1 (oci, gzip)" kiln save --format oci -o "$T/c.tar" c:1
run_ok "save a:1 (docker)" kiln save -o "$T/a.tar" a:1
run_ok "rmi c:1" kiln rmi c:1

now_ms() { echo $(($(date +%s%N) / 1000000)); }
# fake dead snapshots (what `run` will unpack): many files, so that gc's
# removal takes long enough to be killed in the middle
fake_snapshots() {
	local h
	h=$(printf 'dead-%s' "$RANDOM" | sha256sum | cut -d' ' -f1)
	mkdir -p "$ROOT/snapshots/$h/d" && (cd "$ROOT/snapshots/$h/d" && touch $(seq 1 400)) &&
		: >"$ROOT/snapshots/$h.complete"
}
# prep_OP: what each operation needs first (never killed)
prep_save() { :; }
prep_load() { "$KILN" rmi c:1 >/dev/null 2>&1; true; }
prep_rmi() { "$KILN" load -i "$T/c.tar" >/dev/null; }
prep_prune() { "$KILN" import "$T/dang" >/dev/null; }
prep_gc() { # garbage: a few unreferenced blobs and a dead snapshot
	local i h
	for i in 1 2 3; do
		head -c 300000 /dev/urandom >"$T/stray" && h=$(sha256sum <"$T/stray" | cut -d' ' -f1) &&
			mv "$T/stray" "$B/$h"
	done
	fake_snapshots
}
op_save() { exec "$KILN" save -o "$T/out.tar" a:1; }
op_load() { exec "$KILN" load -i "$T/c.tar"; }
op_rmi() { exec "$KILN" rmi c:1; }
op_prune() { exec "$KILN" image prune -f; }
op_gc() { exec "$KILN" system prune -f; }

for op in save load rmi prune gc; do
	t_op=$(now_ms)
	"prep_$op" || not_ok "prep $op"
	t0=$(now_ms)
	("op_$op") >/dev/null 2>&1
	dur=$(($(now_ms) - t0))
	[ "$dur" -lt 2 ] && dur=2
	kills=0 tries=0
	while [ "$kills" -lt "$KILLS" ] && [ "$tries" -lt "$MAX_TRIES" ]; do
		tries=$((tries + 1))
		"prep_$op" || { not_ok "prep $op after $kills kills"; break; }
		delay=$((RANDOM % dur))
		("op_$op") >/dev/null 2>&1 &
		pid=$!
		sleep "$(printf '0.%03d' "$delay")"
		kill -9 "$pid" 2>/dev/null
		wait "$pid"
		[ $? -eq 137 ] && kills=$((kills + 1))
	done
	echo "# $op: $(($(now_ms) - t_op)) ms in all"
	if [ "$kills" -ge "$KILLS" ]; then ok "$op: $kills real kills in $tries tries (run takes ${dur} ms)"
	else not_ok "$op: only $kills real kills in $tries tries (run takes ${dur} ms)"; fi
	run_ok "system check after killing $op" kiln system check
done

run_ok "system check at the end" kiln system check
expect_eq "no temp file of a live writer left behind" "$(ls -A "$ROOT/tmp" | grep -v '^blob-\|^extract-' | wc -l)" 0
run_ok "images" kiln images --format '{{.Repository}}:{{.Tag}}'
bad=0
for ref in $OUT; do
	[ "$ref" = "<none>:<none>" ] && continue
	"$KILN" inspect "$ref" >/dev/null 2>&1 && "$KILN" save -o "$T/check.tar" "$ref" >/dev/null 2>&1 ||
		{ bad=$((bad + 1)); echo "# $ref does not inspect or save"; }
done
expect_eq "every tagged image inspects and saves" "$bad" 0
expect_contains "a:1 is among them" "$OUT" "a:1"
half=0
for d in "$ROOT"/snapshots/*; do
	case $d in *.complete | *.unsynced | */.trash-*) continue ;; esac
	[ -d "$d" ] || continue
	if { [ ! -e "$d.complete" ] && [ ! -e "$d.unsynced" ]; } || [ "$(ls "$d/d" | wc -l)" != 400 ]; then half=$((half + 1)); fi
done
expect_eq "no half-deleted snapshot under its own name" "$half" 0
run_ok "a last gc" kiln system prune -f
expect_eq "it leaves no trash" "$(ls -A "$ROOT/snapshots" | grep -c '^\.trash-')" 0
