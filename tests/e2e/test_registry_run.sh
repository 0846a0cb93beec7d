#!/usr/bin/env bash
# run and create pull an image that is not stored, as docker does
# (`Unable to find image ... locally`, the pull's lines on stderr, then the
# container), under --pull always|missing|never, against a local
# docker-registry.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/registry_lib.sh"
source "$(dirname "$0")/containers.sh"
start_registry a || { not_ok "registry starts"; exit 1; }
R=$REG_a

run_ok "tag busybox for the registry" kiln tag busybox:latest "$R/bb:1"
run_ok "push busybox" kiln push "$R/bb:1"
ID=$(kiln inspect -f '{{.Id}}' "$R/bb:1")

# a fresh store: the image is not there
export KILN_ROOT="$T/fresh"
kiln run --rm "$R/bb:1" echo hello >"$T/out" 2>"$T/err"
expect_eq "run pulls a missing image, then runs it" "$(cat "$T/out")" hello
expect_eq "docker's first line, on stderr" "$(head -1 "$T/err")" "Unable to find image '$R/bb:1' locally"
expect_contains "the pull's lines follow" "$(cat "$T/err")" "1: Pulling from bb"
expect_contains "then its digest" "$(cat "$T/err")" "Digest: sha256:"
expect_contains "and docker's status line" "$(cat "$T/err")" "Status: Downloaded newer image for $R/bb:1"
expect_eq "the pulled image is the pushed one" "$(kiln inspect -f '{{.Id}}' "$R/bb:1")" "$ID"

kiln run --rm "$R/bb:1" true >"$T/out" 2>"$T/err"
expect_eq "a stored image is not pulled again" "$(cat "$T/err")" ""

kiln run --rm --pull always "$R/bb:1" true >"$T/out" 2>"$T/err"
expect_contains "--pull always pulls a stored image" "$(cat "$T/err")" "Status: Image is up to date for $R/bb:1"
expect_not_contains "... without docker's missing-image line" "$(cat "$T/err")" "Unable to find image"

run_fail "--pull never: a missing image" 125 kiln run --pull never "$R/other:1" true
expect_contains "docker's message" "$OUT" "No such image: $R/other:1"
expect_not_contains "nothing pulled" "$OUT" "Pulling from"
run_fail "--pull never on create (exit 1 as docker 20.10's create)" 1 kiln create --pull never "$R/other:1"
expect_contains "create says the same" "$OUT" "No such image: $R/other:1"
# docker 20.10's CLI: "docker: Error response from daemon: No such image:
# REF.", then "See 'docker run --help'." (kiln says "kiln:"; known-differences)
kiln run --pull never "$R/other:1" true >"$T/out" 2>"$T/err"
expect_eq "run's error in docker's shape" "$(cat "$T/err")" "kiln: Error response from daemon: No such image: $R/other:1.
See 'kiln run --help'."
kiln create --pull never "$R/other:1" >"$T/out" 2>"$T/err"
expect_eq "create's daemon error in docker's shape" "$(cat "$T/err")" "Error response from daemon: No such image: $R/other:1"
run_fail "a bad -p on create" 125 kiln create -p abc "$R/bb:1"
expect_eq "... as docker's CLI error" "$OUT" "kiln: invalid containerPort: abc.
See 'kiln create --help'."
run_fail "a bad -p fails before any pull" 125 kiln run --pull always -p abc "$R/bb:1" true
expect_eq "... as docker's CLI error" "$OUT" "kiln: invalid containerPort: abc.
See 'kiln run --help'."
run_fail "a bad --pull value" 125 kiln run --pull sometimes "$R/bb:1" true
expect_contains "names the value and the choices" "$OUT" "invalid pull option: 'sometimes'"

run_fail "run of an image the registry lacks" 125 kiln run "$R/nosuch:1" true
expect_contains "says it was not stored" "$OUT" "Unable to find image '$R/nosuch:1' locally"
expect_contains "then the registry's answer" "$OUT" "manifest for $R/nosuch:1 not found: manifest unknown"
expect_eq "no container was created" "$(kiln ps -aq | wc -l)" 0

export KILN_ROOT="$T/fresh2"
kiln create --name c1 "$R/bb:1" echo created >"$T/out" 2>"$T/err"
expect_eq "create pulls too and prints only the ID on stdout" "$(wc -l <"$T/out")" 1
expect_contains "create's pull lines are on stderr" "$(cat "$T/err")" "Unable to find image '$R/bb:1' locally"
run_ok "the created container starts" kiln start -a c1
expect_eq "and runs the pulled image" "$OUT" created
