#!/usr/bin/env bash
# Review 5 (security): a RUN --mount target with ".." must stay in the
# build container. kiln made the mount point of a target the rootfs lacks
# by joining the target as written to the step's stub dir on the host
# (run_mounts.c stub(): kiln_path_join(m->stubs, target), then mkdir -p or
# open(O_CREAT)), so `--mount=type=tmpfs,target=/../../../../<host path>`
# made directories, and type=secret/ssh empty files, anywhere on the host,
# as root, from a Dockerfile. BuildKit 20.10 cleans the target (".." at
# the root stays at the root, a relative one is under the WORKDIR): with
# WORKDIR /w, target=/../../../x/d is /x/d and target=../../y/s is /y/s
# (DOCKER_BUILDKIT=1 docker build on a private dockerd). The host paths
# aimed at here are under this test's own temp dir.
. "$(dirname "$0")/lib.sh"
busybox_base "RUN needs root"

C="$T/ctx"
mkdir -p "$C"
echo s3cret >"$T/secret.txt"
up=$(printf '../%.0s' $(seq 64)) # more than any depth: at the host's /
for m in "type=tmpfs,target=/${up}${T#/}/escape/tmpfs" \
	"type=secret,id=s,target=/${up}${T#/}/escape/secret" \
	"type=cache,target=/${up}${T#/}/escape/cache"; do
	what=${m%%,*}
	printf 'FROM busybox\nWORKDIR /w\nRUN --mount=%s ls -d %s/escape/%s >/out\n' "$m" "$T" "${what#type=}" >"$C/Dockerfile"
	kiln build --no-cache -q --network none --secret "id=s,src=$T/secret.txt" \
		-o "type=local,dest=$T/out" "$C" >"$T/log" 2>&1
	if [ -e "$T/escape" ]; then
		not_ok "$what: a target with .. made \`$(ls -d "$T/escape/"*)\` on the host"
		rm -rf "$T/escape"
	else
		ok "$what: nothing made on the host outside kiln's root"
	fi
	expect_eq "$what: mounted at the cleaned target in the container (as BuildKit 20.10)" \
		"$(cat "$T/out/out" 2>&1)" "$T/escape/${what#type=}"
	rm -rf "$T/out"
done
