#!/usr/bin/env bash
# Security: a RUN --mount=type=cache source= is a path inside the cache,
# and the cache is written by the build's own RUN steps. kiln joined
# source= onto the cache dir on the host, ran mkdir -p on it and bound the
# result (run_mounts.c mount_cache: kiln_path_join(path, src)), so a
# symlink a previous step left in the cache (`ln -s /any/host/dir /c/evil`)
# made `source=evil` bind that host directory read-write into the build
# container, and `source=evil/sub` made directories on the host, as root,
# from a Dockerfile. BuildKit resolves a mount's selector inside the
# mount's root (continuity fs.RootPath): the symlink's target is a path
# inside the cache (the test makes that path in the cache, so both
# resolutions find a directory). The host paths aimed at here are under $T.
. "$(dirname "$0")/lib.sh"
busybox_base "RUN needs root"

C="$T/ctx"
mkdir -p "$C" "$T/host"
# source=evil binds what the symlink names; source=evil/sub mkdirs through it
for src in evil evil/sub; do
	id="c-${src%%/*}-${#src}"
	printf '%s\n' 'FROM busybox' \
		"RUN --mount=type=cache,id=$id,target=/c mkdir -p /c$T/host && ln -s $T/host /c/evil" \
		"RUN --mount=type=cache,id=$id,target=/m,source=$src touch /m/planted" \
		"RUN --mount=type=cache,id=$id,target=/c ls /c$T/host/${src#evil} | sed s/^/in-cache:/" >"$C/Dockerfile"
	kiln build --no-cache --progress plain --network none "$C" >"$T/log" 2>&1
	rc=$?
	left=$(cd "$T/host" && find . -mindepth 1 | sort | tr '\n' ' ')
	if [ -n "$left" ]; then
		not_ok "source=$src: a symlink in the cache reached the host: made $left under $T/host"
		rm -rf "${T:?}/host" && mkdir "$T/host"
	else
		ok "source=$src: nothing made on the host through a symlink in the cache"
	fi
	expect_eq "source=$src: resolved inside the cache (as BuildKit), the build succeeds" "$rc" 0
	expect_contains "source=$src: the file landed in the cache" "$(cat "$T/log")" in-cache:planted
done

# The race left after that: the resolved path is bound later, by the
# container's init. A step of a parallel stage (or another build) on the
# same shared cache could swap a component for a symlink in between. The
# build is stopped right after the resolve (KILN_TEST_STOP=cache-resolved),
# the source swapped for a symlink to a host dir, and let go: the init
# opens the source refusing symlinks (rt_mount.exact_source), so the
# mount fails and the host dir is never bound (before: it was bound
# read-write and the step wrote into it).
mkdir -p "$T/host2"
printf '%s\n' 'FROM busybox' \
	'RUN --mount=type=cache,id=race,target=/m,source=sub touch /m/planted' >"$C/Dockerfile"
KILN_TEST_STOP=cache-resolved "$KILN" build --no-cache --network none "$C" >"$T/race.log" 2>&1 &
pid=$!
for _ in $(seq 1 200); do
	[ "$(awk '{print $3}' /proc/$pid/stat 2>/dev/null)" = T ] && break
	sleep 0.05
done
sub=$(find "$ROOT/cache/mounts" -mindepth 2 -maxdepth 2 -name sub -type d | head -1)
if [ -n "$sub" ] && [ "$(awk '{print $3}' /proc/$pid/stat 2>/dev/null)" = T ]; then
	rmdir "$sub" && ln -s "$T/host2" "$sub"
	kill -CONT $pid
	wait $pid
	rc=$?
	expect_eq "a source swapped for a symlink after the resolve fails the step" "$rc" 1
	expect_contains "naming the source" "$(cat "$T/race.log")" "no symlink followed"
	expect_eq "and nothing lands on the host" "$(ls -A "$T/host2")" ""
else
	not_ok "the build stopped after resolving the cache source (sub: '$sub')"
	kill -CONT $pid 2>/dev/null
	wait $pid
fi
