#!/usr/bin/env bash
# The differential harness: every case in tests/e2e/diff/*.cases runs
# against kiln and a private dockerd (docker.io 20.10, tests/e2e/dockerd.sh)
# holding byte-identical images, and their exit codes, stdout and stderr
# must match after tests/e2e/diff/compare.py normalizes what must differ
# (IDs of things made at different times, times near now, relative ages, the
# program name). Deliberate differences are listed, each with its reason,
# in tests/e2e/diff/known-differences; anything else fails with a
# side-by-side diff. Skips (77) where dockerd cannot start.
#
# Case file syntax (one per line; # comments):
#   NAME [STREAMS]: COMMAND   run COMMAND on both sides and compare STREAMS
#                             (c exit code, o stdout, e stderr; default coe;
#                             s: compare lines sorted, for output listing
#                             the tags of one image, whose order docker does
#                             not keep stable).
#                             X in COMMAND is the program (kiln --root ... or
#                             docker); $BB is the busybox rootfs tar, $BASE
#                             the base image archive, $DIFF this directory;
#                             cwd is a private dir.
#   @reset                    both stores back to the base images
#   @ COMMAND                 run on both sides, not compared
# $REG in a case is the side's own registry (host:port on 127.0.0.1).
. "$(dirname "$0")/lib.sh"
# a zone with a half-hour offset (and an LMT one for year 1): docker's CLI,
# its daemon and kiln print local times the same way
[ -e /usr/share/zoneinfo/Asia/Kolkata ] && export TZ=Asia/Kolkata
command -v python3 >/dev/null || skip_all "python3 is needed"
need_busybox
. "$(dirname "$0")/dockerd.sh"
# containers the cases start on kiln's side never outlive the test
at_exit 'ids=$("$KILN" ps -aq --no-trunc 2>/dev/null) && [ -n "$ids" ] && "$KILN" rm -f $ids >/dev/null 2>&1'
# registry.cases: each side pushes to and pulls from a docker-registry of
# its own on 127.0.0.1 ($REG in a case; compare.py reads both as
# <registry>); skipped without docker-registry
REG_k= REG_d=
if command -v docker-registry >/dev/null; then
	. "$(dirname "$0")/registry_lib.sh"
	{ start_registry k && start_registry d; } || not_ok "the registries start"
fi
export DIFF_REG_K=$REG_k DIFF_REG_D=$REG_d
DIFF="$KILN_SRC/tests/e2e/diff"
OUTD="$T/diff-out"
mkdir -p "$OUTD" "$T/wk" "$T/wd"

# The base: busybox imported by kiln at a fixed time, with a label and a
# CMD, tagged twice, saved once; both sides load that same archive.
BASE="$T/base.tar"
SOURCE_DATE_EPOCH=1700000000 kiln import -m "base layer" -c 'LABEL tier=base' -c 'CMD ["sh"]' \
	"$BB" busybox:latest >/dev/null
kiln tag busybox:latest busybox:1.36
kiln tag busybox:latest example.com/team/bb:v1
kiln save -o "$BASE" busybox:latest busybox:1.36 example.com/team/bb:v1
export BB BASE DIFF

xk() { "$KILN" "$@"; }
xd() { dk "$@"; }
reset_side() { # SIDE
	local X=x$1
	$X rmi -f $($X images -aq | sort -u) >/dev/null 2>&1
	$X image prune -a -f >/dev/null 2>&1
	$X load -q -i "$BASE" >/dev/null || not_ok "reset: $1 load"
}
run_side() { # SIDE CASE COMMAND
	local side=$1 name=$2 cmd=$3 reg=$REG_d
	[ "$side" = k ] && reg=$REG_k
	(
		cd "$T/w$side" || exit 125
		REG=$reg
		eval "X() { x$side \"\$@\"; }"
		eval "$cmd"
	) >"$OUTD/$name.$side.out" 2>"$OUTD/$name.$side.err" </dev/null
	echo $? >"$OUTD/$name.$side.code"
}

n=0
: >"$OUTD/cases"
for f in "$DIFF"/*.cases; do
	[ "${f##*/}" = registry.cases ] && [ -z "$REG_k" ] && continue
	while IFS= read -r line || [ -n "$line" ]; do
		case $line in
		'' | '#'*) continue ;;
		@reset) reset_side k && reset_side d; continue ;;
		'@ '*) run_side k setup "${line#@ }"; run_side d setup "${line#@ }"; continue ;;
		esac
		head=${line%%: *} cmd=${line#*: }
		name=${head%% *} streams=coe
		[ "$head" != "$name" ] && streams=${head#* }
		[[ $name =~ ^[A-Za-z0-9_.-]+$ ]] || { not_ok "bad case line in $f: $line"; continue; }
		run_side k "$name" "$cmd"
		run_side d "$name" "$cmd"
		printf '%s\t%s\t%s\n' "$name" "$streams" "$cmd" >>"$OUTD/cases"
		n=$((n + 1))
	done <"$f"
done
ok "ran $n cases on both sides"
python3 "$DIFF/compare.py" "$OUTD" "$DIFF/known-differences" "$((_pass + _fail))" >"$OUTD/tap"
rc=$?
cat "$OUTD/tap"
_pass=$((_pass + $(grep -c '^ok ' "$OUTD/tap")))
_fail=$((_fail + $(grep -c '^not ok ' "$OUTD/tap")))
[ $rc -le 1 ] || not_ok "compare.py failed (exit $rc)"
