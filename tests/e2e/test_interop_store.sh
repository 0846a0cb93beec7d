#!/usr/bin/env bash
# kiln's store is an OCI layout that skopeo and umoci read.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip_all "python3 is needed for the image fixture"
command -v skopeo >/dev/null || skip_all "skopeo is not installed"
command -v umoci >/dev/null || skip_all "umoci is not installed"
ID=$(python3 "$KILN_SRC/tests/e2e/mkimage.py" "$ROOT" docker.io/library/busybox:latest interop)
run_ok "kiln tag" kiln tag busybox myreg:5000/x/y:1
run_ok "skopeo inspect" skopeo inspect "oci:$ROOT/images:docker.io/library/busybox:latest"
expect_contains "skopeo sees the layer" "$OUT" "\"Layers\""
run_ok "skopeo inspect --config" skopeo inspect --config "oci:$ROOT/images:myreg:5000/x/y:1"
expect_contains "skopeo reads the config" "$OUT" "PATH=/usr/bin:/bin"
run_ok "umoci ls" umoci ls --layout "$ROOT/images"
expect_contains "umoci lists the tag" "$OUT" "docker.io/library/busybox:latest"
run_ok "umoci unpack" umoci unpack --rootless --image "$ROOT/images:docker.io/library/busybox:latest" "$T/bundle"
expect_eq "unpacked file" "$(cat "$T/bundle/rootfs/hello.txt" 2>/dev/null)" "interop"
run_ok "store check after tools" kiln system check
