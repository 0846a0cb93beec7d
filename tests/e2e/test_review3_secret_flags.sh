#!/usr/bin/env bash
# Review 3 (issue 12, "Every bad input"): docker checks --secret and --ssh
# before it builds: `--secret id=x,src=/missing` ("could not parse secrets:
# ... failed to stat"), `--secret bogus` ("invalid field 'bogus' must be a
# key=value pair"), `--ssh default=/missing` ("could not parse ssh: ...
# stat ... no such file or directory"), `--ssh default` with SSH_AUTH_SOCK
# unset ("invalid empty ssh agent socket, make sure SSH_AUTH_SOCK is set"),
# each exit 1 (DOCKER_BUILDKIT=1
# docker build 20.10). kiln reads them only when a RUN mounts them
# (builder/run_mounts.c), so a build whose RUN steps are cached or mount
# no secret succeeds with a typo in a secret's path, silently.
. "$(dirname "$0")/lib.sh"
busybox_base "build steps need root"

C="$T/ctx"
mkdir -p "$C"
printf 'FROM busybox\nLABEL a=b\n' >"$C/Dockerfile"
run_fail "--secret id=x,src=MISSING is refused" 1 kiln build -q --secret "id=x,src=$T/missing" "$C"
expect_contains "the error names the file" "$OUT" "$T/missing"
run_fail "--secret bogus is refused" 1 kiln build -q --secret bogus "$C"
run_fail "--secret src=F without id is refused" 1 kiln build -q --secret "src=$C/Dockerfile,typo=1" "$C"
run_fail "--ssh default=MISSING is refused" 1 kiln build -q --ssh "default=$T/missing.sock" "$C"
run_fail "--ssh default without SSH_AUTH_SOCK is refused" 1 env -u SSH_AUTH_SOCK "$KILN" build -q --ssh default "$C"
run_ok "a good --secret is accepted" kiln build -q --secret "id=x,src=$C/Dockerfile" "$C"
