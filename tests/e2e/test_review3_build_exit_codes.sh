#!/usr/bin/env bash
# Review 3 (issue 12): docker's exit codes for `docker build` flags whose
# value is wrong are 1, not 125: the CLI parses --progress and --output
# after its flag parsing (DOCKER_BUILDKIT=1 docker build 20.10:
#   --progress bogus   -> "invalid value "bogus" passed to --progress", 1
#   -o type=bogus,dest=x -> "exporter "bogus" could not be found", 1
#   -o type=local      -> "dest is required for local output", 1
#   -o type=tar        -> "dest is required for tar output", 1).
# 125 stays for what docker's flag parser refuses (an unknown flag, a bad -t).
# Nothing is built in any of them.
. "$(dirname "$0")/lib.sh"
C="$T/ctx"
mkdir -p "$C"
printf 'FROM scratch\nLABEL a=b\n' >"$C/Dockerfile"
run_fail "--progress bogus: exit 1" 1 kiln build --progress bogus "$C"
expect_contains "--progress bogus: names the value" "$OUT" bogus
run_fail "-o type=bogus: exit 1" 1 kiln build -o "type=bogus,dest=$T/x" "$C"
run_fail "-o type=local without dest: exit 1" 1 kiln build -o type=local "$C"
run_fail "-o type=tar without dest: exit 1" 1 kiln build -o type=tar "$C"
run_fail "an unknown flag: exit 125" 125 kiln build --bogus "$C"
run_fail "a bad -t: exit 125" 125 kiln build -t 'Bad:Tag' "$C"
expect_eq "nothing stored" "$(kiln images -aq | wc -l)" 0
