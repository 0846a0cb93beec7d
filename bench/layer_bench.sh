#!/usr/bin/env bash
# Layer create/extract throughput: kiln (one pass: tar + diffID + compress +
# blob digest) against `tar -c | gzip`, `tar -c | zstd` and `tar -x` on the
# same deterministic tree (400 MB in 20,000 files by default).
#
#   bench/layer_bench.sh [BUILD_DIR]     (BUILD_DIR default: ./build, needs layer_bench)
#   env: BENCH_DIR (default /tmp/kiln-layer-bench), MB=400, FILES=20000, RUNS=3
# Uses hyperfine when installed, else bash `time`.
set -euo pipefail
build=${1:-build}
LB=$(realpath "$build/layer_bench")
[ -x "$LB" ] || { echo "layer_bench not built in $build" >&2; exit 1; }
B=${BENCH_DIR:-/tmp/kiln-layer-bench}; MB=${MB:-400}; FILES=${FILES:-20000}; RUNS=${RUNS:-3}
mkdir -p "$B"; tree="$B/tree"; store="$B/store"
if [ ! -f "$tree/.done-$MB-$FILES" ]; then
	rm -rf "$tree"; mkdir -p "$tree"
	python3 - "$tree" "$MB" "$FILES" <<'PY'
import os, random, sys
root, mb, files = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(42)
# half-compressible content: random words from a small vocabulary + random bytes
vocab = [bytes(rnd.getrandbits(8) for _ in range(rnd.randint(3, 12))) for _ in range(4096)]
total = mb << 20; avg = total // files
for i in range(files):
    d = os.path.join(root, "d%03d" % (i % 200), "s%02d" % (i % 7))
    os.makedirs(d, exist_ok=True)
    size = max(1, int(avg * (0.25 + 1.5 * rnd.random())))
    chunk = b"".join(rnd.choice(vocab) for _ in range(512))
    noise = rnd.randbytes(1024)
    data = (chunk + noise) * (size // (len(chunk) + 1024) + 1)
    with open(os.path.join(d, "f%05d" % i), "wb") as f:
        f.write(data[:size])
    os.utime(os.path.join(d, "f%05d" % i), (1700000000, 1700000000))
PY
	touch "$tree/.done-$MB-$FILES"
fi
rm -f "$tree/.done-"*; touch "$tree/.done-$MB-$FILES"  # keep a marker (also part of the tree)
size=$(du -sb --exclude='.done-*' "$tree" | cut -f1); n=$(find "$tree" -type f | wc -l)
echo "tree: $tree  $((size >> 20)) MB in $n files"
rm -rf "$store"
dnone=$("$LB" create "$store" "$tree" none | cut -d' ' -f1)
tar -C "$tree" -cf "$B/tree.tar" .
export LB store tree B dnone
cmds=(
	"kiln create none::$LB create $store $tree none"
	"tar -c::tar -C $tree -cf - . >$B/out.tar"
	"kiln create gzip::$LB create $store $tree gzip"
	"tar -c | gzip::tar -C $tree -cf - . | gzip -6 >$B/out.tar.gz"
	"kiln create zstd::$LB create $store $tree zstd"
	"tar -c | zstd::tar -C $tree -cf - . | zstd -q -3 >$B/out.tar.zst"
	"kiln extract::rm -rf $B/x && $LB extract $store $dnone $B/x"
	"tar -x::rm -rf $B/x && mkdir $B/x && tar -C $B/x -xf $B/tree.tar"
)
declare -A mean
for c in "${cmds[@]}"; do
	name=${c%%::*}; cmd=${c#*::}
	if command -v hyperfine >/dev/null; then
		hyperfine -N --runs "$RUNS" --export-json "$B/h.json" --style none -s "bash -c 'sync'" "bash -c '$cmd'" >/dev/null 2>&1 ||
			hyperfine --runs "$RUNS" --export-json "$B/h.json" --style none "$cmd" >/dev/null
		mean[$name]=$(python3 -c "import json;print('%.2f'%json.load(open('$B/h.json'))['results'][0]['mean'])")
	else
		s=$(date +%s.%N); bash -c "$cmd" >/dev/null; e=$(date +%s.%N)
		mean[$name]=$(python3 -c "print('%.2f'%($e-$s))")
	fi
	echo "  $name: ${mean[$name]} s" >&2
done
ratio() { python3 -c "print('%.2f' % (${mean[$1]} / ${mean[$2]}))"; }
gz=$(ls -l "$store"/images/blobs/sha256 >/dev/null; "$LB" create "$store" "$tree" gzip | cut -d' ' -f2)
zs=$("$LB" create "$store" "$tree" zstd | cut -d' ' -f2)
printf '\n%-16s %8s   %-14s %8s   %s\n' "kiln" "s" "baseline" "s" "kiln/baseline"
printf '%-16s %8s   %-14s %8s   %s\n' "create none" "${mean[kiln create none]}" "tar -c" "${mean[tar -c]}" "$(ratio 'kiln create none' 'tar -c')"
printf '%-16s %8s   %-14s %8s   %s\n' "create gzip" "${mean[kiln create gzip]}" "tar -c | gzip" "${mean[tar -c | gzip]}" "$(ratio 'kiln create gzip' 'tar -c | gzip')"
printf '%-16s %8s   %-14s %8s   %s\n' "create zstd" "${mean[kiln create zstd]}" "tar -c | zstd" "${mean[tar -c | zstd]}" "$(ratio 'kiln create zstd' 'tar -c | zstd')"
printf '%-16s %8s   %-14s %8s   %s\n' "extract" "${mean[kiln extract]}" "tar -x" "${mean[tar -x]}" "$(ratio 'kiln extract' 'tar -x')"
printf '\nsizes: gzip kiln %s / gzip -6 %s bytes; zstd kiln %s / zstd -3 %s bytes\n' "$gz" \
	"$(stat -c %s "$B/out.tar.gz")" "$zs" "$(stat -c %s "$B/out.tar.zst")"
echo "(kiln create also hashes the diffID and the blob digest and fsyncs the blob)"
