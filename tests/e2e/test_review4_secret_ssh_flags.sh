#!/usr/bin/env bash
# Review 4 of c3a1e6f (--secret/--ssh checked up front "as docker does"):
# docker 20.10 (DOCKER_BUILDKIT=1 docker build, checked beside it on a
# private dockerd with a FROM scratch Dockerfile that mounts nothing)
# refuses these before building, exit 1, where kiln builds:
#   --ssh ID / --ssh '' / --ssh ID= (the agent socket) with SSH_AUTH_SOCK
#     unset: "invalid empty ssh agent socket, make sure SSH_AUTH_SOCK is set"
#     (builder/run_mounts.c ssh_spec_check: only `default` is checked)
#   --ssh default with SSH_AUTH_SOCK naming nothing: "stat /...: no such file"
#   --secret id=,src=F: "secret missing ID" (an empty id passes `!sp.id`)
# and docker accepts --secret ID=x,SRC=F (keys are case-insensitive) that
# kiln refuses as "unknown field `ID`".
. "$(dirname "$0")/lib.sh"
C="$T/ctx"
mkdir -p "$C"
echo s >"$C/sec"
printf 'FROM scratch\nCOPY sec /s\n' >"$C/Dockerfile"
nosock() { env -u SSH_AUTH_SOCK "$KILN" build -q "$@" "$C"; }
run_fail "--ssh ID without SSH_AUTH_SOCK" 1 nosock --ssh mykey
run_fail "--ssh '' without SSH_AUTH_SOCK" 1 nosock --ssh ''
run_fail "--ssh ID= without SSH_AUTH_SOCK" 1 nosock --ssh mykey=
run_fail "--ssh default with SSH_AUTH_SOCK naming nothing" 1 \
	env SSH_AUTH_SOCK="$T/no-such-agent.sock" "$KILN" build -q --ssh default "$C"
run_fail "--secret with an empty id" 1 kiln build -q --secret "id=,src=$C/sec" "$C"
run_ok "--secret keys in upper case" kiln build -q --secret "ID=x,SRC=$C/sec" "$C"
echo "1..$((_pass + _fail))"
