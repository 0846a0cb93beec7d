# Sourced (after lib.sh) by the e2e tests that run containers: skips unless
# root, imports the bundled busybox image as busybox:latest (its rootfs
# tarball is $BB), and removes every container of the test's root at exit,
# even when a check fails. Defines wait_for.
[ "$(id -u)" = 0 ] || skip_all "containers need root"
BB="$T/bb.tar"
KILN_TEST_TMP="$T" "$KILN_SRC/testdata/make-busybox.sh" --import "$BB" >/dev/null 2>&1 ||
	skip_all "no static busybox (apt-get install busybox-static)"

# Never leave a container running, even when a check fails.
cleanup_containers() {
	local ids
	ids=$("$KILN" ps -aq --no-trunc 2>/dev/null) || return 0
	[ -n "$ids" ] && "$KILN" rm -f $ids >/dev/null 2>&1
	return 0
}
at_exit cleanup_containers

wait_for() { # wait_for SECONDS CMD...: until CMD succeeds
	local n=$(($1 * 20)); shift
	for _ in $(seq "$n"); do "$@" && return 0; sleep 0.05; done
	return 1
}
