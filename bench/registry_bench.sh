#!/usr/bin/env bash
# Push and pull of the w2 image (one ~420 MB layer) to a local
# docker-registry, kiln beside skopeo in the same run and on the same disk.
# usage: bench/registry_bench.sh BUILD_DIR [WORKDIR]
# skopeo pushes an already gzip-compressed OCI layout (no compression
# work) and pulls into an OCI layout (no unpacking); kiln's first push
# includes compressing the uncompressed local layer, its pull verifies and
# unpacks the snapshot.
set -euo pipefail
B=$(cd "${1:?usage: registry_bench.sh BUILD_DIR [WORKDIR]}" && pwd)
W=${2:-$(mktemp -d /tmp/regbench.XXXXXX)}
SRC=$(cd "$(dirname "$0")/.." && pwd)
KILN="$B/kiln"
mkdir -p "$W"
T=$(mktemp -d "$W/run.XXXXXX")
trap 'kill $RPID 2>/dev/null; wait $RPID 2>/dev/null; rm -rf "$T"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$T/reg"
printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' "$T/reg" "$port" >"$T/reg.yml"
docker-registry serve "$T/reg.yml" >/dev/null 2>&1 &
RPID=$!
sleep 1
R=127.0.0.1:$port
[ -d "$W/w2ctx" ] || "$SRC/../shared/bench/workloads/w2-bigctx/gen-context.sh" "$W/w2ctx" >/dev/null
export KILN_ROOT="$T/k1"
"$KILN" import "$W/w2ctx" "$R/w2:k" >/dev/null
skopeo copy -q --dest-compress --dest-compress-format gzip "oci:$KILN_ROOT/images:$R/w2:k" "oci:$T/sk-src:w2" >/dev/null
sync
t() { local s e; s=$(date +%s.%N); "$@" >/dev/null; e=$(date +%s.%N); python3 -c "print('%.2f s' % ($e - $s))"; }
echo "skopeo push (gzip layout):  $(t skopeo copy -q --dest-tls-verify=false "oci:$T/sk-src:w2" "docker://$R/w2:sk")"
echo "kiln push (first, gzip):    $(t "$KILN" push "$R/w2:k")"
echo "kiln push (second):         $(t "$KILN" push "$R/w2:k")"
echo "skopeo pull (to layout):    $(t skopeo copy -q --src-tls-verify=false "docker://$R/w2:sk" "oci:$T/sk-dst:w2")"
echo "kiln pull (verify+unpack):  $(t "$KILN" --root "$T/k2" pull "$R/w2:k")"
Z=$(ls -S "$T/k2/images/blobs/sha256" | head -1)
mkdir -p "$T/untar"
echo "tar -xzf of that layer:     $(t tar -xzf "$T/k2/images/blobs/sha256/$Z" -C "$T/untar")  (unpack floor, no verification)"
