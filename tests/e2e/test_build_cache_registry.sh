#!/usr/bin/env bash
# The build cache shared through a registry (issue 14, docs/cache-format.md),
# against Debian's docker-registry on 127.0.0.1: a build on root A with
# --cache-to, then the same context on a fresh root B with --cache-from:
# every step CACHED, same image ID; one edited file on B misses just the
# steps that read it, explained with the file's name; mode=min vs max;
# inline cache; mounts=true restores a cache mount A filled; a foreign
# artifact, a tampered config and a tampered layer are ignored with a
# warning while the build still succeeds.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/registry_lib.sh"
[ "$(id -u)" = 0 ] || skip_all "builds need root"
need_busybox
start_registry c || { not_ok "registry starts"; exit 1; }
R=$REG_c
STORE="$T/registry-c/data/docker/registry/v2"

# k ROOT ARGS...: kiln on root $T/ROOT
k() { local r=$1; shift; "$KILN" --root "$T/$r" "$@"; }
# build ROOT ARGS... -> $OUT, $ID
build() {
	local r=$1; shift
	OUT=$(k "$r" build --progress=plain "$@" 2>&1) || { echo "$OUT" | sed 's/^/#   /'; return 1; }
	ID=$(printf '%s\n' "$OUT" | sed -n 's/^kiln: built \(sha256:[0-9a-f]*\) .*/\1/p')
}
misses() { printf '%s\n' "$OUT" | grep -c 'cache miss:' || true; }
cached() { printf '%s\n' "$OUT" | grep -c ' CACHED$' || true; }
blob() { echo "$STORE/blobs/sha256/${1:7:2}/${1:7}/data"; }
cache_config() { # TAG: the config blob of $R/cache:TAG, read from the registry's storage
	local d
	d=$(skopeo inspect --raw --tls-verify=false "docker://$R/cache:$1" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["config"]["digest"])') &&
		cat "$(blob "$d")"
}
fresh() { # ROOT: a new root holding the base image, pulled as CI would
	k "$1" pull -q "$R/bb:1" >/dev/null || not_ok "pull the base into $1"
}

k a import -m busybox -c 'CMD ["sh"]' "$BB" "$R/bb:1" >/dev/null || { not_ok "import busybox"; exit 1; }
k a push -q "$R/bb:1" >/dev/null || { not_ok "push the base"; exit 1; }

C="$T/ctx"
mkdir -p "$C"
echo one >"$C/a.txt"
echo two >"$C/b.txt"
cat >"$C/Dockerfile" <<EOF
FROM $R/bb:1
COPY a.txt /a.txt
RUN cat /a.txt >/from-a.txt
COPY b.txt /b.txt
RUN cat /b.txt >/from-b.txt
EOF

build a -t app:1 --cache-to "type=registry,ref=$R/cache:main" "$C" || not_ok "build on A with --cache-to"
ID_A=$ID
expect_contains "A exports the cache" "$OUT" "exporting cache to registry $R/cache:main"
expect_contains "A writes the cache manifest" "$OUT" "writing cache manifest sha256:"
MT=$(skopeo inspect --raw --tls-verify=false "docker://$R/cache:main" 2>/dev/null)
expect_contains "the cache is an OCI manifest with kiln's config" "$MT" \
	'"mediaType":"application/vnd.kiln.cache.config.v1+json"'
expect_contains "its layers are gzip" "$MT" 'tar+gzip'
expect_contains "the manifest names the cache format" "$MT" '"io.kiln.cache.format":"v2"'
# keys that leave the machine rest on sha256 of the files' bytes, never XXH3:
# COPY a.txt's input is sha256("file PERM SIZE - sha256:<sha256sum a.txt>")
LEAF=$(printf 'file %04o %s - sha256:%s' "0$(stat -c %a "$C/a.txt")" "$(stat -c %s "$C/a.txt")" \
	"$(sha256sum <"$C/a.txt" | cut -d' ' -f1)" | sha256sum | cut -d' ' -f1)
INPUTS=$(cache_config main | python3 -c 'import json,sys
for r in json.load(sys.stdin)["records"]:
    for n, v in r["preimage"]:
        if n == "input": print(r["instr"], v)')
expect_contains "COPY a.txt's exported input is the sha256 leaf of a.txt's bytes" "$INPUTS" \
	"COPY a.txt /a.txt sha256:$LEAF"
expect_eq "no exported input is an XXH3 hash" \
	"$(printf '%s\n' "$INPUTS" | grep -cE ' [0-9a-f]{32}$' || true)" 0

fresh b
build b -t app:1 --cache-from "type=registry,ref=$R/cache:main" "$C" || not_ok "build on B"
expect_eq "B: every step CACHED" "$(cached)" 4
expect_eq "B: nothing runs" "$(misses)" 0
expect_eq "B: same image ID as A" "$ID" "$ID_A"
run_ok "B's image runs (its layers were pulled)" k b run --rm app:1 cat /from-b.txt
expect_eq "B's image has A's output" "$OUT" "two"

fresh b2
echo TWO >"$C/b.txt"
build b2 -t app:1 --cache-from "$R/cache:main" "$C" || not_ok "build on B2 after an edit (short --cache-from)"
expect_eq "one edited file: the two steps after it miss" "$(misses)" 2
expect_eq "one edited file: the two steps before it hit" "$(cached)" 2
expect_contains "the miss names the file, across machines" "$OUT" "b.txt (content)"
expect_contains "the later step's miss names its parent" "$OUT" "parent step missed"
echo two >"$C/b.txt"

# mode=min vs mode=max on a two-stage build
cat >"$C/Dockerfile.multi" <<EOF
FROM $R/bb:1 AS builder
COPY a.txt /a.txt
RUN cp /a.txt /out.txt
FROM $R/bb:1
COPY --from=builder /out.txt /out.txt
COPY b.txt /b.txt
EOF
build a -f "$C/Dockerfile.multi" --cache-to "type=registry,ref=$R/cache:min" \
	--cache-to "type=registry,ref=$R/cache:max,mode=max" "$C" || not_ok "multi-stage build on A"
fresh m1
build m1 -f "$C/Dockerfile.multi" --cache-from "$R/cache:min" "$C" || not_ok "mode=min import"
expect_eq "mode=min: the builder stage runs" "$(misses)" 2
expect_eq "mode=min: the final stage hits" "$(cached)" 2
fresh m2
build m2 -f "$C/Dockerfile.multi" --cache-from "$R/cache:max" "$C" || not_ok "mode=max import"
expect_eq "mode=max: every step hits" "$(cached)" 4
# lazy: the builder stage's first layer was never needed (the COPY --from hit)
LAZY=$(cache_config max | python3 -c 'import json,sys
print([r["layer"]["digest"] for r in json.load(sys.stdin)["records"] if r["instr"] == "COPY a.txt /a.txt" and r["stage"] == 0][0])')
[ ! -e "$T/m2/images/blobs/sha256/${LAZY#sha256:}" ] && ok "a remote hit no later step needs is not pulled" ||
	not_ok "the builder stage's layer $LAZY was pulled"
build m2 -f "$C/Dockerfile.multi" --cache-from "$R/cache:max" --cache-to "type=registry,ref=$R/cache:max,mode=max" "$C" ||
	not_ok "--cache-from and --cache-to the same ref"
expect_contains "the same ref is exported again" "$OUT" "writing cache manifest"
[ ! -e "$T/m2/images/blobs/sha256/${LAZY#sha256:}" ] && ok "exporting a layer the registry holds does not pull it" ||
	not_ok "export pulled $LAZY"

# secrets never leave the machine in clear
cat >"$C/Dockerfile.secret" <<EOF
FROM $R/bb:1
ARG API_TOKEN
RUN echo built >/x
EOF
build a -f "$C/Dockerfile.secret" --build-arg API_TOKEN=hunter2-secret \
	--cache-to "type=registry,ref=$R/cache:secret" "$C" || not_ok "build with a secret build arg"
SC=$(cache_config secret)
expect_not_contains "the exported preimage has no secret value" "$SC" "hunter2-secret"
expect_contains "only its masked form" "$SC" "API_TOKEN=<secret sha256:"

# inline cache: the image carries it
build a -t "$R/app:inline" --cache-to type=inline "$C" || not_ok "build with inline cache"
ID_I=$ID
k a push -q "$R/app:inline" >/dev/null || not_ok "push the image with inline cache"
fresh i
build i -t app:i --cache-from "$R/app:inline" --cache-to type=inline "$C" || not_ok "build from inline cache"
expect_eq "inline: every step CACHED" "$(cached)" 4
expect_eq "inline: same image ID" "$ID" "$ID_I"

# mounts=true: a cache mount A filled is there on B
cat >"$C/Dockerfile.mount" <<EOF
FROM $R/bb:1
ARG N=1
RUN --mount=type=cache,target=/cache,id=pkgs sh -c 'echo \$N >>/cache/filled; cat /cache/filled >/seen'
EOF
build a -f "$C/Dockerfile.mount" --cache-to "type=registry,ref=$R/cache:mounts,mounts=true" "$C" ||
	not_ok "build with mounts=true"
fresh mb
build mb -f "$C/Dockerfile.mount" --build-arg N=2 -t mnt:1 --cache-from "$R/cache:mounts" "$C" ||
	not_ok "build on B with the cache mount"
run_ok "read the RUN's view of the cache mount" k mb run --rm mnt:1 cat /seen
expect_eq "the RUN on B found what A put in the cache mount" "$(printf '%s' "$OUT" | tr '\n' ' ')" "1 2"

# a foreign artifact: a plain image is no kiln cache
fresh f
build f -t app:1 --cache-from "$R/bb:1" "$C" || not_ok "build with a foreign --cache-from"
expect_contains "a plain image is ignored with a warning" "$OUT" "--cache-from \`$R/bb:1\` ignored"
expect_eq "nothing hit from it" "$(cached)" 0
fresh f2
build f2 -t app:1 --cache-from "$R/bb:1" --cache-from "type=registry,ref=$R/cache:main" "$C" ||
	not_ok "build with two --cache-from"
expect_eq "an unusable --cache-from does not stop the next one" "$(cached)" 4

corrupt() { # DIGEST: same size, other bytes
	local f; f=$(blob "$1"); local n; n=$(stat -c %s "$f")
	head -c "$n" /dev/urandom >"$f.new" && mv "$f.new" "$f"
}
MT=$(skopeo inspect --raw --tls-verify=false "docker://$R/cache:main")
CFG=$(printf '%s' "$MT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["config"]["digest"])')
LAYER=$(printf '%s' "$MT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["layers"][-1]["digest"])')

# a tampered layer: found when it is pulled; the build starts over without the cache
corrupt "$LAYER"
fresh t1
build t1 -t app:1 --cache-from "$R/cache:main" "$C" || not_ok "build with a tampered cache layer"
expect_contains "a tampered layer is reported" "$OUT" "the imported build cache was ignored"
run_ok "the image built without it runs" k t1 run --rm app:1 cat /from-b.txt
expect_eq "and has the right content" "$OUT" "two"

# a tampered config: the whole cache is ignored
corrupt "$CFG"
fresh t2
build t2 -t app:1 --cache-from "$R/cache:main" "$C" || not_ok "build with a tampered cache config"
expect_contains "a tampered config is ignored with a warning" "$OUT" "--cache-from \`$R/cache:main\` ignored"
expect_eq "nothing hit from it" "$(cached)" 0

run_fail "an unknown --cache-to type is refused" nonzero k a build --cache-to type=s3,ref=x "$C"
expect_contains "naming the type" "$OUT" "type \`s3\` is not supported"
