#!/usr/bin/env bash
# Security: a RUN whose only command is a heredoc starting with "#!" runs
# the body as a file at /dev/pipes/<name> (BuildKit's dispatcher). kiln
# wrote that file on the host at <step dir>/pipe-<name> (step_run.c
# make_args: xasprintf("%s/pipe-%s", dir, name), then an atomic write)
# with the heredoc's name as written in the Dockerfile, so a name with
# `/..` wrote a file of the Dockerfile's choosing, mode 0755, anywhere on
# the host, as root. The host path aimed at here is under $T.
. "$(dirname "$0")/lib.sh"
busybox_base "RUN needs root"

mkdir -p "$T/ctx" "$T/host"
up=$(printf '/..%.0s' $(seq 64))
name="x${up}${T}/host/pwn"
printf 'FROM busybox\nRUN <<%s\n#!/bin/sh\necho ran-the-body\n%s\n' "$name" "$name" >"$T/ctx/Dockerfile"
kiln build --no-cache --progress plain --network none "$T/ctx" >"$T/log" 2>&1
rc=$?
left=$(cd "$T/host" && find . -mindepth 1 | tr '\n' ' ')
if [ -n "$left" ]; then
	not_ok "a heredoc name with .. wrote on the host: $left under $T/host"
else
	ok "a heredoc name with .. wrote nothing on the host"
fi
# a plain name still runs its body as a file
printf 'FROM busybox\nRUN <<script\n#!/bin/sh\necho "ran $0"\nscript\n' >"$T/ctx/Dockerfile"
run_ok "a #! heredoc builds" kiln build --no-cache --progress plain --network none "$T/ctx"
expect_contains "its body ran from /dev/pipes/<name>" "$OUT" "ran /dev/pipes/script"
[ -z "${SEC_DEBUG:-}" ] || { echo "# build exit $rc"; sed "s/^/#   /" "$T/log"; }
