#!/usr/bin/env bash
# Security: a volume's files are written by its containers, whose root
# can leave a setuid-root program there. kiln made ROOT/volumes,
# ROOT/volumes/<name> and _data 0755 under a 0755 store root, so any
# local user could run such a program from the host (local privilege
# escalation; docker keeps its volumes out of reach: /var/lib/docker is
# 0710 since 20.10.9, CVE-2021-41091). Checked as user nobody from the
# store root (an fd opened as root, so $T's own modes do not matter).
. "$(dirname "$0")/lib.sh"
busybox_base "containers need root"
command -v setpriv >/dev/null || skip_all "no setpriv (util-linux)"

run_ok "a container leaves a setuid-root program in a named volume" \
	kiln run --rm -v vol1:/v busybox sh -c 'cp /bin/busybox /v/suid && chmod 4755 /v/suid'
run_ok "and in an anonymous one" \
	kiln run --name anon -v /w busybox sh -c 'cp /bin/busybox /w/suid && chmod 4755 /w/suid'
at_exit "kiln rm -f anon >/dev/null 2>&1"
for f in $(cd "$ROOT" && find volumes -name suid); do
	if (exec 3<"$ROOT" && setpriv --reuid=65534 --regid=65534 --clear-groups -- \
		test -x "/proc/self/fd/3/$f") 2>/dev/null; then
		not_ok "another user reaches /$f of the store: $(cd "$ROOT" && stat -c '%a %n' volumes "$(dirname "$(dirname "$f")")" "$(dirname "$f")" | tr '\n' ' ')"
	else
		ok "another user cannot reach /$f of the store"
	fi
done
[ -n "$(cd "$ROOT" && find volumes -name suid)" ] || not_ok "no setuid program found in the volumes"
run_ok "a container of another user still uses the volume" \
	kiln run --rm -u 1000:1000 -v vol1:/v busybox sh -c 'ls /v/suid && touch /v 2>/dev/null; true'
expect_contains "it lists the volume" "$OUT" /v/suid
