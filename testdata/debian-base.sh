#!/usr/bin/env bash
# Prints the path of a Debian bookworm minbase rootfs tarball made by
# `mmdebstrap --variant=minbase bookworm` (the host's apt mirror, about
# 30 s to 2 min, 170 MB), made once a day and cached OUTSIDE the repository
# in ${XDG_CACHE_HOME:-/var/cache}/kiln-test/debian-bookworm-minbase-DATE.tar
# (older days' tarballs are removed when a new one is made). Used by
# tests/e2e/test_build_debian.sh and bench/build_debian_bench.sh.
#
# Exit 77 (with the reason on stderr) when mmdebstrap is missing or fails,
# e.g. where the package mirror is unreachable.
set -euo pipefail
command -v mmdebstrap >/dev/null || { echo "mmdebstrap not installed (scripts/deps.sh)" >&2; exit 77; }
cache="${XDG_CACHE_HOME:-/var/cache}/kiln-test"
out="$cache/debian-bookworm-minbase-$(date -u +%Y%m%d).tar"
mkdir -p "$cache"
exec 9>"$cache/.debian-base.lock"
flock 9 # one mmdebstrap at a time; the others wait and reuse its tarball
if [ ! -s "$out" ]; then
	log=$(mktemp "${TMPDIR:-/tmp}/kiln-mmdebstrap.XXXXXX")
	tmp="$cache/.new-$$.tar"
	trap 'rm -f "$log" "$tmp"' EXIT
	if ! mmdebstrap --variant=minbase --format=tar bookworm "$tmp" >"$log" 2>&1; then
		echo "mmdebstrap failed (package mirror unreachable?):" >&2
		tail -5 "$log" >&2
		exit 77
	fi
	find "$cache" -maxdepth 1 -name 'debian-bookworm-minbase-*.tar' ! -name "$(basename "$out")" -delete
	mv -f "$tmp" "$out"
fi
echo "$out"
