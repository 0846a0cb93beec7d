#!/usr/bin/env bash
# Review 5: a relative RUN --mount target is under the WORKDIR, as BuildKit
# 20.10 mounts it (DOCKER_BUILDKIT=1 docker build on a private dockerd,
# WORKDIR /w, each of these alone: `ls -d /w/rel* /rel*` lists /w/<target>
# and not /<target>, for type=bind, cache, tmpfs, secret and ssh).
# kiln refused bind, cache and tmpfs ("target must be absolute") and
# mounted secret and ssh at /<target>, so with an ssh mount at a relative
# target SSH_AUTH_SOCK (the target as written, as BuildKit's) named no
# socket from the WORKDIR: ssh in the RUN found no agent. A secret at a
# relative target without a '/' and no id (the id is the target's base
# name, BuildKit's path.Base) crashed kiln: strrchr(target, '/') + 1 on
# NULL (run_mounts.c mount_secret).
. "$(dirname "$0")/lib.sh"
busybox_base "RUN needs root"
command -v ssh-agent >/dev/null || { echo "# no ssh-agent (scripts/deps.sh: openssh-client)"; exit 1; }
eval "$(ssh-agent -a "$T/agent.sock")" >/dev/null
at_exit "kill $SSH_AGENT_PID"

C="$T/ctx"
mkdir -p "$C"
echo s3cret >"$T/secret.txt"
for m in type=bind,target=relm type=cache,target=relm type=tmpfs,target=relm \
	type=secret,id=s,target=relm type=secret,target=relm type=ssh,target=relm; do
	printf 'FROM busybox\nWORKDIR /w\nRUN --mount=%s ls -d /w/relm /relm 2>&1 | sort >/out; { test -e "${SSH_AUTH_SOCK:-/w/relm}" && echo sock-ok || echo no-sock; } >>/out\n' \
		"$m" >"$C/Dockerfile"
	run_ok "$m: builds" kiln build --no-cache -q --network none --ssh default \
		--secret "id=s,src=$T/secret.txt" --secret "id=relm,src=$T/secret.txt" -o "type=local,dest=$T/out" "$C"
	expect_eq "$m: mounted under the WORKDIR (as BuildKit 20.10)" \
		"$(cat "$T/out/out" 2>&1)" \
		"$(printf '/w/relm\nls: /relm: No such file or directory\nsock-ok')"
	rm -rf "$T/out"
done

# An empty target= of an ssh or secret mount is its default target in
# BuildKit 20.10 (/run/buildkit/ssh_agent.0, /run/secrets/<id>); kiln
# failed: "creating `` in the container".
for m in type=ssh,target= type=secret,id=s,target=; do
	printf 'FROM busybox\nRUN --mount=%s ls /run/buildkit /run/secrets 2>/dev/null >/out; echo "[$SSH_AUTH_SOCK]" >>/out\n' "$m" >"$C/Dockerfile"
	run_ok "$m: builds" kiln build --no-cache -q --network none --ssh default \
		--secret "id=s,src=$T/secret.txt" -o "type=local,dest=$T/out" "$C"
	case $m in
	type=ssh*) want=$(printf '/run/buildkit:\nssh_agent.0\n[/run/buildkit/ssh_agent.0]') ;;
	*) want=$(printf '/run/secrets:\ns\n[]') ;;
	esac
	expect_eq "$m: at the default target (as BuildKit 20.10)" "$(cat "$T/out/out" 2>&1)" "$want"
	rm -rf "$T/out"
done
