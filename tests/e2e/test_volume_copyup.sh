#!/usr/bin/env bash
# docker's volume copy-up: a new (empty) named or anonymous volume mounted
# where the image has a directory starts with a copy of it (owner and mode
# of the directory included); nocopy (-v, --mount volume-nocopy) turns it
# off; a volume that already has content, a path the image lacks and a
# bind mount get nothing.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/containers.sh"

kr() { "$KILN" run --rm --network none "$@"; }
run_ok "-v NAME:/etc on a new volume" kr -v cu1:/etc busybox sh -c 'cat /etc/passwd; echo marker >/etc/added'
expect_contains "the image's /etc is in the volume" "$OUT" "root:x:0:0"
VOL=$("$KILN" volume inspect -f '{{.Mountpoint}}' cu1)
[ -f "$VOL/passwd" ] && [ -f "$VOL/group" ] && ok "copied into the volume's _data" || not_ok "nothing copied into $VOL"
expect_eq "with the directory's mode" "$(stat -c %a "$VOL")" "$(kr busybox stat -c %a /etc)"
run_ok "a volume with content is not copied over again" kr -v cu1:/etc busybox cat /etc/added
expect_eq "it keeps what the last container wrote" "$OUT" "marker"
run_ok "-v NAME:/etc:nocopy" kr -v cu2:/etc:nocopy busybox /bin/ls -A /etc
expect_eq "nocopy: the volume stays empty" "$OUT" ""
run_ok "--mount volume-nocopy" kr --mount type=volume,src=cu3,dst=/etc,volume-nocopy busybox /bin/ls -A /etc
expect_eq "--mount volume-nocopy: empty" "$OUT" ""
run_ok "an anonymous volume is copied up too" kr -v /bin busybox /bin/ls /bin/busybox
run_ok "a path the image lacks" kr -v cu4:/nonexistent busybox ls -A /nonexistent
expect_eq "gets an empty volume" "$OUT" ""
mkdir -p "$T/bind"
run_ok "a bind mount" kr -v "$T/bind:/etc" busybox true
expect_eq "is never copied into" "$(ls -A "$T/bind")" ""
expect_eq "no copy-up temp left" "$(ls "$ROOT/tmp" 2>/dev/null | grep -c copyup)" "0"
"$KILN" volume rm cu1 cu2 cu3 cu4 >/dev/null
