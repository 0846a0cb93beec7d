#!/usr/bin/env bash
# docker pulls and runs what kiln pushed to a local docker-registry, and
# kiln pulls what docker pushed: a private dockerd (dockerd.sh: own roots,
# socket and /run, no iptables, no bridge; stopped by PID) and
# docker-registry on 127.0.0.1, which docker treats as insecure (plain
# HTTP) by default.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/registry_lib.sh"
need_busybox
source "$(dirname "$0")/dockerd.sh"

start_registry a || { not_ok "registry starts"; exit 1; }
R=$REG_a
run_ok "import busybox" kiln import "$BB" "$R/bb:1"
run_ok "kiln push" kiln push "$R/bb:1"
DIG=$(printf '%s\n' "$OUT" | sed -n 's/^1: digest: \(sha256:[0-9a-f]*\) size: [0-9]*$/\1/p')
run_ok "docker pulls what kiln pushed" dk pull "$R/bb:1"
expect_contains "docker sees kiln's digest" "$OUT" "Digest: $DIG"
expect_eq "docker has kiln's image ID" "$(dk image inspect -f '{{.Id}}' "$R/bb:1")" \
	"$(kiln inspect -f '{{.Id}}' "$R/bb:1")"
run_ok "docker runs it" dk run --rm --network none "$R/bb:1" echo hi from kiln
expect_eq "the container ran" "$OUT" "hi from kiln"

DIFF=$(kiln inspect -f '{{index .RootFS.Layers 0}}' "$R/bb:1")
run_ok "kiln push again" kiln push "$R/bb:1"
expect_contains "kiln's push lines name the layer by diffID" "$OUT" "${DIFF:7:12}: Layer already exists"
run_ok "docker tag" dk tag "$R/bb:1" "$R/bb:fromdocker"
run_ok "docker push" dk push "$R/bb:fromdocker"
expect_contains "docker's push lines name the layer by diffID too" "$OUT" "${DIFF:7:12}: Layer already exists"
DDIG=$(printf '%s\n' "$OUT" | sed -n 's/^fromdocker: digest: \(sha256:[0-9a-f]*\) size: [0-9]*$/\1/p')
run_ok "kiln pulls what docker pushed" kiln --root "$T/r2" pull "$R/bb:fromdocker"
expect_contains "kiln sees docker's digest" "$OUT" "Digest: $DDIG"
expect_eq "same image ID through docker" "$(kiln --root "$T/r2" inspect -f '{{.Id}}' "$R/bb:fromdocker")" \
	"$(kiln inspect -f '{{.Id}}' "$R/bb:1")"
run_ok "kiln tags docker's image elsewhere" kiln --root "$T/r2" tag "$R/bb:fromdocker" "$R/again:1"
run_ok "kiln pushes docker's image on" kiln --root "$T/r2" push "$R/again:1"
expect_contains "its manifest goes up verbatim: docker's digest" "$OUT" "1: digest: $DDIG"
