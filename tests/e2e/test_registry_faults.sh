#!/usr/bin/env bash
# Registry faults through a misbehaving proxy (tests/e2e/faulty_proxy.py):
# a corrupted blob is rejected and never stored, a dropped connection and a
# busy server are retried, an endless body is cut off; then a clean retry
# completes.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/registry_lib.sh"
start_registry a || { not_ok "registry starts"; exit 1; }
start_proxy proxy "$REG_a"
P=$P_proxy

mkctx "$T/c1" one
run_ok "import" kiln import "$T/c1" "$P/img:1"
run_ok "push through the proxy" kiln push "$P/img:1"
LAYER=$(skopeo inspect --raw --tls-verify=false "docker://$REG_a/img:1" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["layers"][0]["digest"])')
R2="$T/root2"

echo corrupt >"$T/proxy.mode"
run_fail "a corrupted blob fails the pull" 1 kiln --root "$R2" pull "$P/img:1"
expect_contains "the error names the verification" "$OUT" "filesystem layer verification failed for digest $LAYER"
[ ! -e "$R2/images/blobs/sha256/${LAYER#sha256:}" ] && ok "the corrupt blob is not stored" || not_ok "corrupt blob stored"
expect_eq "no temp file left" "$(find "$R2/tmp" -type f | wc -l)" 0
run_fail "nothing tagged" 1 kiln --root "$R2" inspect "$P/img:1"

echo endless >"$T/proxy.mode"
run_fail "an endless manifest is cut off" 1 kiln --root "$R2" pull "$P/img:1"
expect_contains "the error names the limit" "$OUT" "registry response body"

echo drop >"$T/proxy.mode"
run_ok "a dropped connection mid-blob is retried" kiln -D --root "$R2" pull "$P/img:1"
expect_contains "the retry resumes where the transfer stopped" "$OUT" "registry: resuming $LAYER at byte"
expect_eq "the image arrived whole" "$(kiln --root "$R2" inspect -f '{{.Id}}' "$P/img:1")" \
	"$(kiln inspect -f '{{.Id}}' "$P/img:1")"
run_ok "store check after the retried pull" kiln --root "$R2" system check

echo busy >"$T/proxy.mode"
run_ok "503 answers are retried" kiln --root "$T/root3" pull "$P/img:1"
echo ok >"$T/proxy.mode"
run_ok "a clean pull after the faults" kiln --root "$T/root4" pull "$P/img:1"

# a refused upload stops the other layers' uploads: no manifest goes up
mkdir -p "$T/c5"
for i in 1 2 3 4 5; do head -c 100000 /dev/urandom >"$T/c5/f$i"; done
printf 'FROM scratch\nCOPY f1 /\nCOPY f2 /\nCOPY f3 /\nCOPY f4 /\nCOPY f5 /\n' >"$T/c5/Dockerfile"
run_ok "build a five-layer image" kiln build -q -t "$P/five:1" "$T/c5"
echo "refuse-put 3" >"$T/proxy.mode" # the config and one layer go up first
run_fail "a refused layer upload fails the push" 1 kiln push "$P/five:1"
expect_contains "... naming the registry's error" "$OUT" "blob upload invalid: refused by the test"
expect_not_contains "... and only that error" "$OUT" "cancelled"
expect_not_contains "... and no digest line" "$OUT" "digest: sha256:"
run_fail "the registry has no manifest" nonzero skopeo inspect --tls-verify=false "docker://$REG_a/five:1"
echo ok >"$T/proxy.mode"
run_ok "the push completes on a retry" kiln push "$P/five:1"
expect_contains "... with its digest line" "$OUT" "1: digest: sha256:"
run_ok "store check after the pushes" kiln system check

# kill -9 during a pull: a second pull downloads only what was missing
python3 "$KILN_SRC/tests/e2e/mklayers.py" "$T/layers" l1 4 200000 >"$T/layers.list"
run_ok "skopeo pushes a 4-layer image" skopeo copy --dest-tls-verify=false "oci:$T/layers:l1" "docker://$REG_a/four:1"
STALL=$(sed -n 3p "$T/layers.list" | cut -d' ' -f1)
echo "stall $STALL" >"$T/proxy.mode"
R5="$T/root5"
"$KILN" --root "$R5" pull "$P/four:1" >"$T/pull5.out" 2>&1 &
KPID=$!
done_blobs() { ls "$R5/images/blobs/sha256" 2>/dev/null | wc -l; }
for i in $(seq 300); do [ "$(done_blobs)" -ge 4 ] && break; sleep 0.1; done
expect_eq "three layers and the config stored while one stalls" "$(done_blobs)" 4
kill -9 $KPID; wait $KPID 2>/dev/null
echo ok >"$T/proxy.mode"
run_ok "pull again after kill -9" kiln --root "$R5" pull "$P/four:1"
expect_eq "only the missing layer is downloaded" "$(printf '%s\n' "$OUT" | grep -c 'Pulling fs layer')" 1
expect_eq "the others already exist" "$(printf '%s\n' "$OUT" | grep -c 'Already exists')" 3
run_ok "store check after the resumed pull" kiln --root "$R5" system check

# kill -9 in the middle of a blob: the next pull asks only for the bytes
# after those kept (Range), and the image arrives whole
python3 "$KILN_SRC/tests/e2e/mklayers.py" "$T/big" b1 1 3000000 >"$T/big.list"
run_ok "skopeo pushes a 3 MB layer" skopeo copy --dest-tls-verify=false "oci:$T/big:b1" "docker://$REG_a/big:1"
BIG=$(cut -d' ' -f1 "$T/big.list")
echo "half $BIG" >"$T/proxy.mode"
R6="$T/root6"
PART="$R6/tmp/partial-${BIG#sha256:}"
"$KILN" --root "$R6" pull "$P/big:1" >"$T/pull6.out" 2>&1 &
KPID=$!
kept() { stat -c %s "$PART" 2>/dev/null || echo 0; }
for i in $(seq 300); do [ "$(kept)" -ge 1048576 ] && break; sleep 0.1; done
kill -9 $KPID
wait $KPID 2>/dev/null
KEPT=$(kept)
[ "$KEPT" -ge 1048576 ] && ok "the bytes before the cut are kept ($KEPT)" || not_ok "bytes kept: $KEPT"
echo ok >"$T/proxy.mode"
: >"$T/proxy.mode.log"
run_ok "pull again after kill -9 mid-blob" kiln --root "$R6" pull "$P/big:1"
expect_eq "only the bytes after those kept are asked for" "$(grep "^$BIG " "$T/proxy.mode.log")" \
	"$BIG bytes=$KEPT-"
CONFIG=$(skopeo inspect --raw --tls-verify=false "docker://$REG_a/big:1" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["config"]["digest"])')
expect_eq "the image arrived whole" "$(kiln --root "$R6" inspect -f '{{.Id}}' "$P/big:1")" "$CONFIG"
[ ! -e "$PART" ] && ok "the partial file is gone" || not_ok "partial file left"
run_ok "store check after the resumed blob" kiln --root "$R6" system check

# kept bytes that are wrong (a crash tore them): the digest check catches
# them and the blob is downloaded whole
R7="$T/root7"
run_ok "an empty store" kiln --root "$R7" images
head -c 1048576 /dev/zero >"$R7/tmp/partial-${BIG#sha256:}"
run_ok "a pull over a torn partial" kiln -D --root "$R7" pull "$P/big:1"
expect_contains "... finds it torn and downloads the blob whole" "$OUT" "downloading it whole"
expect_eq "... and the image is right" "$(kiln --root "$R7" inspect -f '{{.Id}}' "$P/big:1")" "$CONFIG"

# partials of two layers of one image at once, one good and one torn (a
# crash tore it): both are read back a chunk at a time between turns of
# the other transfers; the good one resumes after its kept bytes, the torn
# one fails the digest check and is downloaded whole; the image is whole
R8="$T/root8"
run_ok "an empty store for two partials" kiln --root "$R8" images
L1=$(sed -n 1p "$T/layers.list" | cut -d' ' -f1)
L2=$(sed -n 2p "$T/layers.list" | cut -d' ' -f1)
head -c 150000 "$R5/images/blobs/sha256/${L1#sha256:}" >"$R8/tmp/partial-${L1#sha256:}"
head -c 150000 /dev/zero >"$R8/tmp/partial-${L2#sha256:}"
: >"$T/proxy.mode.log"
run_ok "a pull over a good and a torn partial" kiln -D --root "$R8" pull "$P/four:1"
expect_contains "... reads the good one back" "$OUT" "registry: $L1: 150000 bytes of an earlier pull kept"
expect_eq "... and asks only for the bytes after it" "$(grep "^$L1 " "$T/proxy.mode.log")" "$L1 bytes=150000-"
expect_eq "... finds the torn one and downloads it whole" \
	"$(printf '%s\n' "$OUT" | grep -c "registry: $L2: .*downloading it whole")" 1
expect_eq "... and the image is right" "$(kiln --root "$R8" inspect -f '{{.Id}}' "$P/four:1")" \
	"$(kiln --root "$R5" inspect -f '{{.Id}}' "$P/four:1")"
expect_eq "... no partial is left" "$(find "$R8/tmp" -name 'partial-*' | wc -l)" 0
run_ok "store check after the two partials" kiln --root "$R8" system check
