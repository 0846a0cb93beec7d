#!/usr/bin/env bash
# Builds a small busybox root filesystem tarball from Debian's busybox-static
# (no network beyond apt, no registry), for README examples, tests and
# benchmarks.
#
#   make-busybox.sh [--import] [OUT.tar]   default OUT: $KILN_TEST_TMP or /tmp, busybox-rootfs.tar
#
# Deterministic: same busybox binary -> byte-identical tarball (names
# sorted, mtime 0, uid/gid 0, numeric owners). With --import, also runs
# `$KILN import` to make busybox:latest with CMD ["sh"] (KILN defaults to
# `kiln` on PATH; --root comes from KILN_ROOT as usual).
set -euo pipefail

import=0
if [ "${1:-}" = --import ]; then import=1; shift; fi
out=${1:-${KILN_TEST_TMP:-/tmp}/busybox-rootfs.tar}
KILN=${KILN:-kiln}

bb=/bin/busybox
is_static() { file -L "$1" 2>/dev/null | grep -q 'statically linked' ||
	{ ! command -v file >/dev/null && ! ldd "$1" >/dev/null 2>&1; }; }
if [ ! -x "$bb" ] || ! is_static "$bb"; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null
	fi
fi
if [ ! -x "$bb" ] || ! is_static "$bb"; then
	echo "make-busybox: need a static $bb (apt-get install busybox-static)" >&2
	exit 77
fi

mkdir -p "$(dirname "$out")"
root=$(mktemp -d "${TMPDIR:-/tmp}/kiln-busybox.XXXXXX")
trap 'rm -rf "$root"' EXIT

mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,root,tmp,var/tmp,proc,sys,dev,home}
cp "$bb" "$root/bin/busybox"
chmod 0755 "$root/bin/busybox"
# One relative symlink per applet at its canonical path.
"$root/bin/busybox" --list-full | LC_ALL=C sort | while read -r app; do
	[ "$app" = bin/busybox ] && continue
	[ -e "$root/$app" ] || [ -L "$root/$app" ] && continue
	mkdir -p "$root/$(dirname "$app")"
	ln -s /bin/busybox "$root/$app"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
chmod 0644 "$root/etc/passwd" "$root/etc/group"
chmod 0755 "$root"
chmod 1777 "$root/tmp" "$root/var/tmp"
chmod 0700 "$root/root"

tar -C "$root" --numeric-owner --owner=0 --group=0 --mtime=@0 --sort=name \
	--format=pax --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
	-cf "$out.tmp.$$" .
mv -f "$out.tmp.$$" "$out"

if [ "$import" = 1 ]; then
	"$KILN" import --change 'CMD ["sh"]' -m "busybox $(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null || echo static)" \
		"$out" busybox:latest
fi
echo "$out"
