#!/usr/bin/env bash
# Review 3 (issue 12, "Every bad input"): `STOPSIGNAL SIGFOO` is refused by
# BuildKit ("failed to create LLB definition: Invalid signal: SIGFOO",
# exit 1; DOCKER_BUILDKIT=1 docker build 20.10) and by the classic builder.
# kiln stored the bad name in the image's config (builder/step_meta.c
# bld_config_apply, DF_I_STOPSIGNAL: no check). Good names (SIGUSR1, KILL,
# 9, RTMIN+3) and a $VAR that expands to one stay accepted.
. "$(dirname "$0")/lib.sh"
busybox_base "build steps need root"

C="$T/ctx"
mkdir -p "$C"
printf 'FROM busybox\nSTOPSIGNAL SIGFOO\n' >"$C/Dockerfile.bad"
run_fail "STOPSIGNAL SIGFOO fails the build" 1 kiln build -q -f "$C/Dockerfile.bad" -t bad:1 "$C"
expect_contains "the error names the signal" "$OUT" "SIGFOO"
expect_contains "the error names the Dockerfile line" "$OUT" "Dockerfile.bad:2"
run_fail "nothing is tagged" nonzero kiln image inspect bad:1

for s in SIGUSR1 KILL 9 'RTMIN+3' '$SIG'; do
	printf 'FROM busybox\nARG SIG=SIGTERM\nSTOPSIGNAL %s\n' "$s" >"$C/Dockerfile.good"
	run_ok "STOPSIGNAL $s builds" kiln build -q -f "$C/Dockerfile.good" -t good:1 "$C"
done
expect_eq "the expanded signal is stored" "$(kiln inspect -f '{{.Config.StopSignal}}' good:1)" SIGTERM
