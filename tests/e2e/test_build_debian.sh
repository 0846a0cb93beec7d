#!/usr/bin/env bash
# A real-world build, as users run them: a Debian bookworm base made with
# mmdebstrap (testdata/debian-base.sh: made once a day and CACHED OUTSIDE
# THE REPOSITORY in ${XDG_CACHE_HOME:-/var/cache}/kiln-test, imported into
# this test's root), then bench/workloads-local/debian-python: `RUN
# apt-get update && apt-get install -y --no-install-recommends python3`
# through the build container's default network (slirp4netns or pasta), a
# small Python web app COPYed in, run with -p and answered at 127.0.0.1.
# Skips (77) with the reason where the package mirror is unreachable.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "build containers need root"
command -v curl >/dev/null || skip_all "curl not installed"
BASE=$("$KILN_SRC/testdata/debian-base.sh" 2>"$T/base.err") || {
	rc=$?
	[ $rc = 77 ] && skip_all "no Debian base: $(tr '\n' ' ' <"$T/base.err")"
	not_ok "testdata/debian-base.sh failed ($rc)"; sed 's/^/#   /' "$T/base.err"; exit 1
}
ok "Debian base tarball at $BASE"
cleanup() {
	local ids
	ids=$("$KILN" ps -aq --no-trunc 2>/dev/null) && [ -n "$ids" ] && "$KILN" rm -f $ids >/dev/null 2>&1
	return 0
}
at_exit cleanup

run_ok "import the Debian base" kiln import "$BASE" debian:bookworm
C="$T/ctx"
cp -r "$KILN_SRC/bench/workloads-local/debian-python" "$C"
if ! OUT=$(kiln build --progress plain -t pyapp "$C" 2>&1); then
	if printf '%s' "$OUT" | grep -qE "Temporary failure resolving|Could not resolve|Failed to fetch|Unable to connect|Network is unreachable"; then
		printf '%s\n' "$OUT" | grep -E "^#[0-9]+ [0-9.]+ (Err|W:|E:)" | head -5 | sed 's/^/# /'
		skip_all "the package mirror is unreachable from the build container"
	fi
	not_ok "kiln build of the Debian python app"; printf '%s\n' "$OUT" | tail -30 | sed 's/^/#   /'; exit 1
fi
ok "kiln build: apt-get install python3 through the default network"
expect_contains "apt-get fetched from the mirror" "$OUT" "Get:"
expect_contains "python3 got installed" "$OUT" "Setting up python3"
run_ok "python3 is in the image" kiln run --rm pyapp python3 -c 'print("py-ok")'
expect_eq "python3 runs" "$OUT" py-ok

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
run_ok "run -d -p" kiln run -d --name web -p "127.0.0.1:$port:8000" pyapp
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/" >"$T/page" 2>/dev/null && break; sleep 0.1; done
expect_contains "the app answers at 127.0.0.1" "$(cat "$T/page" 2>/dev/null)" "hello from kiln (python 3."
run_ok "the app logged the request" kiln logs web
expect_contains "request in the logs" "$OUT" '"GET / HTTP/1.1" 200'
run_ok "rm -f" kiln rm -f web

# A rebuild with one changed source file: only COPY (and later) runs again.
sed -i 's/hello from kiln/hello again/' "$C/app.py"
run_ok "rebuild after editing app.py" kiln build --progress plain -t pyapp "$C"
expect_not_contains "apt-get does not run again" "$OUT" "Setting up python3"
expect_contains "the RUN step is cached" "$OUT" "CACHED"
