# Sourced by tests/e2e/test_*.sh. Gives each test a private --root under a
# temporary directory, assertion helpers, and cleanup even on failure.
# Environment (set by ctest): KILN, KILN_SRC, KILN_SHARED, KILN_TEST_TMP.
set -u
: "${KILN:?KILN must point at the kiln binary}"
: "${KILN_SRC:?}"
mkdir -p "${KILN_TEST_TMP:-/tmp}"
T=$(mktemp -d "${KILN_TEST_TMP:-/tmp}/e2e.XXXXXX")
ROOT="$T/root"
export KILN_ROOT="$ROOT"
_pass=0 _fail=0
_cleanups=()

at_exit() { _cleanups+=("$*"); }
# Directories whose name in a command line marks a process as this test's
# (own_dir adds one outside $T, as dockerd.sh's short socket dir).
_own_dirs=("$T")
own_dir() { _own_dirs+=("$1"); }
# procs_naming DIR...: the PIDs of processes whose command line names a DIR
# (the patterns go through stdin: grep's own command line names none).
procs_naming() {
	printf '%s\n' "$@" | grep -laF -f - /proc/[0-9]*/cmdline 2>/dev/null | awk -F/ -v me=$$ '$3 != me {print $3}'
}
# descendants PID...: the PIDs of their children, grandchildren, ...
descendants() {
	[ $# -gt 0 ] || return 0
	# cat, not awk, opens the files: awk stops at one that vanished
	cat /proc/[0-9]*/stat 2>/dev/null |
		awk -v roots="$*" '{ pid = $1; sub(/.*\) /, ""); split($0, f, " "); kids[f[2]] = kids[f[2]] " " pid }
		END { n = split(roots, q, " "); for (i = 1; i <= n; i++) { m = split(kids[q[i]], k, " ")
			for (j = 1; j <= m; j++) { print k[j]; q[++n] = k[j] } } }'
}
# live PID...: those of them that still run (neither gone nor a zombie)
live() {
	local p s
	for p; do
		s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		s=${s##*) }
		[ "${s%% *}" = Z ] || echo "$p"
	done
}
# Leftover processes: whatever still names the test's dirs once its
# cleanups ran (a monitor, a helper, a containerd-shim of its dockerd) is
# reported, given a few seconds to end on its own first, then killed by PID.
_check_procs() {
	local left
	for _ in $(seq 100); do
		left=$(procs_naming "${_own_dirs[@]}")
		[ -z "$left" ] && return 0
		sleep 0.1
	done
	echo "not ok - processes left that name ${_own_dirs[*]}"
	for p in $left; do echo "#   $p $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)"; done
	kill -KILL $(descendants $left) $left 2>/dev/null
	_fail=$((_fail + 1))
}
_finish() {
	local rc=$?
	for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do eval "${_cleanups[$i]}" || true; done
	_check_procs
	# Nothing of this test may stay mounted.
	if grep -q " $T" /proc/self/mountinfo 2>/dev/null; then
		echo "not ok - mounts left under $T"; grep " $T" /proc/self/mountinfo
		awk -v t="$T" '$5 ~ "^"t {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l
		_fail=$((_fail + 1))
	fi
	rm -rf "$T"
	echo "$_pass passed, $_fail failed"
	if [ "$_fail" -gt 0 ]; then exit 1; fi
	exit "$rc"
}
trap _finish EXIT

ok() { _pass=$((_pass + 1)); echo "ok $((_pass + _fail)) - $*"; }
not_ok() { _fail=$((_fail + 1)); echo "not ok $((_pass + _fail)) - $*"; }
skip_all() { echo "1..0 # SKIP $*"; trap - EXIT; rm -rf "$T"; exit 77; }

# run_ok NAME CMD...: the command must exit 0; its output is in $OUT.
run_ok() {
	local name=$1; shift
	if OUT=$("$@" 2>&1); then ok "$name"; else not_ok "$name (exit $?)"; printf '%s\n' "$OUT" | sed 's/^/#   /'; fi
}
# run_fail NAME CODE CMD...: the command must exit with CODE ("nonzero" for any).
run_fail() {
	local name=$1 want=$2; shift 2
	OUT=$("$@" 2>&1); local rc=$?
	if { [ "$want" = nonzero ] && [ $rc -ne 0 ]; } || [ "$rc" = "$want" ]; then ok "$name"
	else not_ok "$name (exit $rc, want $want)"; printf '%s\n' "$OUT" | sed 's/^/#   /'; fi
}
# expect_contains NAME HAYSTACK NEEDLE
expect_contains() {
	if printf '%s' "$2" | grep -qF -- "$3"; then ok "$1"
	else not_ok "$1: no \"$3\" in output"; printf '%s\n' "$2" | sed 's/^/#   /' | head -40; fi
}
expect_not_contains() {
	if printf '%s' "$2" | grep -qF -- "$3"; then not_ok "$1: unexpected \"$3\""; printf '%s\n' "$2" | sed 's/^/#   /' | head -40
	else ok "$1"; fi
}
expect_eq() {
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1: got \"$2\", want \"$3\""; fi
}
kiln() { "$KILN" "$@"; }

# need_busybox: $BB is the busybox rootfs tar (testdata/make-busybox.sh);
# the test is skipped where there is no static busybox.
need_busybox() {
	BB="$T/busybox.tar"
	KILN_TEST_TMP="$T" "$KILN_SRC/testdata/make-busybox.sh" "$BB" >/dev/null 2>&1 ||
		skip_all "no static busybox (apt-get install busybox-static)"
}
# busybox_base WHY-ROOT: need_busybox, root (else a skip saying WHY-ROOT),
# and busybox:latest (CMD ["sh"], history comment "busybox") in the test's
# root; the test stops when the import fails.
busybox_base() {
	need_busybox
	[ "$(id -u)" = 0 ] || skip_all "$1"
	kiln import -m busybox -c 'CMD ["sh"]' "$BB" busybox:latest >/dev/null || { not_ok "import busybox"; exit 1; }
}
# layers IMAGE [N]: the entries of IMAGE's layers after its first N (1),
# as tests/e2e/layer_ls.py lists them from a save.
layers() { kiln save "$1" -o "$T/save.tar" && python3 "$KILN_SRC/tests/e2e/layer_ls.py" "$T/save.tar" --skip "${2:-1}"; }
