#!/usr/bin/env bash
# kiln cp: both directions on a stopped and a running container, docker's
# path rules (dir, file, "/.", "-", trailing slash, file onto a dir),
# symlinks in the container that point at / or climb with ../ resolve
# inside it, a hostile tar cannot write outside, ownership with and without
# -a, volumes (read-only refused), docker's messages and exit codes.
# (tests/e2e/diff/cp.cases compares the same with a private dockerd.)
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/containers.sh"

W="$T/w"
mkdir -p "$W/src/sub" "$W/out"
cd "$W" || exit 1
echo hello >src/sub/a
echo top >src/f
chown 1234:5678 src/f

"$KILN" create --name c1 -v cpvol:/vol busybox sh -c 'sleep 1000' >/dev/null

# --- out of a stopped container ------------------------------------------------
run_ok "cp CONTAINER:FILE DEST" "$KILN" cp c1:/etc/passwd out/pw
PASSWD=$("$KILN" run --rm --network none busybox cat /etc/passwd)
expect_eq "the file's bytes" "$(cat out/pw)" "$PASSWD"
run_ok "cp CONTAINER:DIR into an existing dir" "$KILN" cp c1:/etc out
expect_eq "lands under its own name" "$(ls out/etc/passwd)" "out/etc/passwd"
run_ok "cp CONTAINER:DIR/. copies the contents" "$KILN" cp c1:/etc/. out/etc2
expect_eq "into a new dir named as DEST" "$(ls out/etc2/passwd)" "out/etc2/passwd"
run_fail "a trailing slash on a missing DEST for a file" 1 "$KILN" cp c1:/etc/passwd out/newdir/
expect_contains "docker's message" "$OUT" "no such directory"
run_fail "a DEST whose parent is missing" 1 "$KILN" cp c1:/etc/passwd out/no/x
expect_contains "docker's message" "$OUT" "invalid output path: directory \"$W/out/no\" does not exist"
run_fail "a missing SRC" 1 "$KILN" cp c1:/nosuch out/x
expect_contains "docker's message" "$OUT" "No such container:path: c1:/nosuch"
run_fail "a missing container" 1 "$KILN" cp nosuchc:/etc out/x
expect_contains "docker's message" "$OUT" "No such container:path: nosuchc:/etc"
run_fail "a directory onto an existing file" 1 "$KILN" cp c1:/etc out/pw
expect_contains "docker's message" "$OUT" "cannot copy directory"
expect_eq "cp C:FILE - is a tar of it" "$("$KILN" cp c1:/etc/passwd - | tar -tf -)" "passwd"
expect_eq "cp C:DIR/. - names the entries ./" "$("$KILN" cp c1:/etc/. - | tar -tf - | head -1)" "./"
run_fail "between containers" 1 "$KILN" cp c1:/a c1:/b
expect_contains "docker's message" "$OUT" "copying between containers is not supported"
run_fail "no container at all" 1 "$KILN" cp a b
expect_contains "docker's message" "$OUT" "must specify at least one container source"

# --- into a stopped container --------------------------------------------------------
run_ok "cp FILE CONTAINER:DIR" "$KILN" cp src/f c1:/tmp
run_ok "cp DIR CONTAINER:NEWNAME" "$KILN" cp src c1:/copied
run_ok "cp DIR/. CONTAINER:DIR" "$KILN" cp src/. c1:/tmp
OUT=$("$KILN" cp c1:/ - | tar -tvf - 2>/dev/null)
expect_contains "the file in the dir" "$OUT" "/tmp/f"
expect_contains "the dir under the new name" "$OUT" "/copied/sub/a"
expect_contains "the contents of DIR/." "$OUT" "/tmp/sub/a"
expect_eq "without -a the source's uid/gid are kept (docker 20.10)" \
	"$("$KILN" cp c1:/tmp/f - | tar -tvf - | awk '{print $2}')" "1234/5678"
run_fail "a trailing slash on a missing dir in the container" 1 "$KILN" cp src/f c1:/newdir/
expect_contains "docker's message" "$OUT" "no such directory"
run_fail "a missing parent in the container" 1 "$KILN" cp src/f c1:/nodir/x
expect_contains "docker's message" "$OUT" "No such container:path: c1:/nodir"
tar -C src -cf "$T/in.tar" sub
run_ok "cp - CONTAINER:DIR reads a tar" "$KILN" cp - c1:/var <"$T/in.tar"
expect_eq "its entries land there" "$("$KILN" cp c1:/var/sub/a - | tar -xOf -)" "hello"
run_fail "cp - onto a file" 1 "$KILN" cp - c1:/etc/passwd <"$T/in.tar"
expect_contains "docker's message" "$OUT" 'destination "c1:/etc/passwd" must be a directory'

# --- symlinks never leave the container ------------------------------------------------
mkdir -p "$W/lk"
ln -s / "$W/lk/rt"
ln -s ../../../../.. "$W/lk/up"
ln -s /etc/passwd "$W/lk/pw"
tar -C "$W/lk" -cf "$T/lk.tar" .
run_ok "symlinks into the container" "$KILN" cp - c1:/ <"$T/lk.tar"
expect_eq "a link to / resolves to the container's root" \
	"$("$KILN" cp c1:/rt/etc/hostname - | tar -tf -)" "hostname"
expect_eq "../../.. stops at the container's root" "$("$KILN" cp c1:/up/etc/passwd - | tar -xOf -)" "$PASSWD"
expect_eq "SRC a symlink: the link itself" "$("$KILN" cp c1:/pw - | tar -tvf - | awk '{print $1}' | cut -c1)" "l"
expect_eq "-L follows it" "$("$KILN" cp -L c1:/pw - | tar -tf -)" "passwd"
echo hostile >"$W/evil"
run_ok "cp through a link to / writes in the container" "$KILN" cp "$W/evil" c1:/rt/tmp/evil
run_ok "and through ../../.." "$KILN" cp "$W/evil" c1:/up/tmp/evil2
[ ! -e /tmp/evil ] && [ ! -e /tmp/evil2 ] && ok "nothing written on the host" || not_ok "a file escaped to the host /tmp"
expect_eq "both in the container's /tmp" "$("$KILN" cp c1:/tmp/. - | tar -tf - | grep -c evil)" "2"
# a tar that plants a link to / and then writes through it
python3 - "$T/evil.tar" <<'EOF'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w") as t:
    l = tarfile.TarInfo("esc"); l.type = tarfile.SYMTYPE; l.linkname = "/"; t.addfile(l)
    d = b"pwned\n"; f = tarfile.TarInfo("esc/tmp/kiln-cp-escape"); f.size = len(d)
    t.addfile(f, io.BytesIO(d))
    f = tarfile.TarInfo("../../../tmp/kiln-cp-escape2"); f.size = len(d); t.addfile(f, io.BytesIO(d))
EOF
"$KILN" cp - c1:/tmp <"$T/evil.tar" >/dev/null 2>&1
[ ! -e /tmp/kiln-cp-escape ] && [ ! -e /tmp/kiln-cp-escape2 ] && ok "a hostile tar writes nothing outside" ||
	{ not_ok "a hostile tar escaped"; rm -f /tmp/kiln-cp-escape /tmp/kiln-cp-escape2; }
run_ok "copying it out" "$KILN" cp c1:/tmp/. "$W/out/evil"
[ ! -e /tmp/kiln-cp-escape ] && [ -f "$W/out/evil/tmp/kiln-cp-escape" ] && [ -L "$W/out/evil/esc" ] &&
	ok "stays under DEST (the link is a link, the file under DEST)" || not_ok "copying out escaped DEST"

# --- volumes, ownership with -a, a running container ---------------------------------------
run_ok "cp into a volume of a stopped container" "$KILN" cp src/f c1:/vol/
"$KILN" create --name c2 -u nobody -v cpvol:/vol:ro busybox true >/dev/null
run_fail "a read-only volume is refused" 1 "$KILN" cp src/f c2:/vol/
expect_contains "docker's message" "$OUT" "mounted volume is marked read-only"
run_ok "but read" "$KILN" cp c2:/vol/f out/fromvol
expect_eq "the volume holds the file" "$(cat out/fromvol)" "top"
run_ok "cp -a into a container with a user" "$KILN" cp -a src/f c2:/tmp/owned
expect_eq "-a: owned by the container's user (its own /etc/passwd)" \
	"$("$KILN" cp c2:/tmp/owned - | tar -tvf - | awk '{print $2}')" "65534/65534"
expect_eq "out of the container files belong to the caller" "$(stat -c %u:%g out/fromvol)" "$(id -u):$(id -g)"
"$KILN" create --name ro1 --read-only busybox true >/dev/null
run_fail "a --read-only rootfs is refused" 1 "$KILN" cp src/f ro1:/tmp/
expect_contains "docker's message" "$OUT" "container rootfs is marked read-only"

"$KILN" start c1 >/dev/null
wait_for 10 "$KILN" exec c1 true || not_ok "c1 did not start"
run_ok "cp into a running container" "$KILN" cp src/f c1:/tmp/live
expect_eq "its processes see the file" "$("$KILN" exec c1 cat /tmp/live)" "top"
"$KILN" exec c1 sh -c 'echo fresh >/tmp/made-inside'
expect_eq "cp out of a running container sees its writes" "$("$KILN" cp c1:/tmp/made-inside - | tar -xOf -)" "fresh"
expect_eq "its volume too" "$("$KILN" cp c1:/vol/f - | tar -xOf -)" "top"
# a fifo and a device node of the container are archived, never opened
"$KILN" exec c1 sh -c 'mkdir /sp && mkfifo /sp/ff && mknod /sp/nul c 1 3 && echo x >/sp/reg'
OUT=$(timeout 30 "$KILN" cp c1:/sp - | tar -tvf - 2>&1 | awk '{print substr($1,1,1) $NF}' | sort | tr '\n' ' ')
expect_eq "a fifo and a device: entries, no block" "$OUT" "-sp/reg csp/nul dsp/ psp/ff "
# names that are not ASCII (UTF-8) or not even UTF-8 are copied as their bytes
"$KILN" exec c1 sh -c 'mkdir /nm && echo u >/nm/café.txt && echo l >"/nm/lat$(printf "\351")n"'
expect_eq "a UTF-8 name is copied out" "$("$KILN" cp c1:/nm/café.txt - 2>&1 | tar -xOf - 2>/dev/null)" "u"
expect_eq "a name that is not UTF-8 too" "$("$KILN" cp c1:/nm - 2>/dev/null | tar -tf - 2>/dev/null | wc -l)" 3
OUT=$("$KILN" cp c1:/ - | tar -tf - 2>/dev/null)
expect_not_contains "its /proc is not copied" "$OUT" "/proc/self"
expect_not_contains "nor /sys" "$OUT" "/sys/kernel"
# a 2,000-deep tree both ways under a soft fd limit of 200: the walk holds
# a bounded number of directory fds (64 levels), not one per level
"$KILN" exec c1 sh -c 'mkdir /deep && cd /deep && i=0 && while [ $i -lt 2000 ]; do mkdir d && cd d && i=$((i+1)); done && echo leaf >f'
OUT=$( (ulimit -n 200 && "$KILN" cp c1:/deep - >deep.tar) 2>&1) && ok "cp out of a 2,000-deep tree with 200 fds" ||
	not_ok "cp out of a 2,000-deep tree with 200 fds: $OUT"
expect_eq "every level is in the archive" "$(tar -tf deep.tar | wc -l)" 2002
expect_eq "the leaf too" "$(tar -xOf deep.tar "deep/$(printf 'd/%.0s' $(seq 2000))f")" leaf
OUT=$( (ulimit -n 200 && "$KILN" cp - c1:/tmp <deep.tar) 2>&1) && ok "cp of it back in with 200 fds" ||
	not_ok "cp of it back in with 200 fds: $OUT"
expect_eq "the copy has every level" "$("$KILN" exec c1 sh -c 'find /tmp/deep | wc -l')" 2002
"$KILN" rm -f c1 c2 ro1 >/dev/null
expect_eq "no kiln mounts left on the host" "$(grep -c "$T" /proc/self/mountinfo)" "0"
