#!/usr/bin/env bash
# What kiln writes (its store, `kiln save` in both formats, images it loaded)
# validates against the OCI image-spec JSON Schemas plus upstream's extra
# checks (tests/e2e/oci_validate.py). The validator itself is first checked
# against the spec's own fixtures and examples.
. "$(dirname "$0")/lib.sh"
SPEC="${KILN_CONFORMANCE:-}/oci/image-spec"
[ -n "${KILN_CONFORMANCE:-}" ] && [ -d "$SPEC/schema" ] ||
	skip_all "no OCI image-spec data (KILN_CONFORMANCE=${KILN_CONFORMANCE:-unset})"
PY=
for p in python3 /usr/bin/python3; do
	if "$p" -c 'import jsonschema' 2>/dev/null; then PY=$p; break; fi
done
if [ -z "$PY" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq --no-install-recommends python3-jsonschema >/dev/null 2>&1
	/usr/bin/python3 -c 'import jsonschema' 2>/dev/null && PY=/usr/bin/python3
fi
[ -n "$PY" ] || skip_all "python3 jsonschema not installed (apt-get install python3-jsonschema)"
need_busybox
V() { "$PY" "$KILN_SRC/tests/e2e/oci_validate.py" "$SPEC/schema" "$@"; }
valid() { # NAME DIR [--docker]
	local name=$1; shift
	if OUT=$(V layout "$@" 2>&1); then ok "$name: $(printf '%s' "$OUT" | tail -1 | sed 's/^layout [^:]*: //')"
	else not_ok "$name"; printf '%s\n' "$OUT" | head -20 | sed 's/^/#   /'; fi
}
untar() { rm -rf "$2" && mkdir -p "$2" && tar -xf "$1" -C "$2"; }

# 1. the validator agrees with upstream on every fixture and example
run_ok "spec fixtures: outcomes match INDEX.tsv" V fixtures "$SPEC/test-fixtures"
echo "# $OUT"
expect_contains "all fixtures matched" "$OUT" "mismatches 0"
n=$(($(wc -l <"$SPEC/test-fixtures/INDEX.tsv") - 1))
expect_contains "every fixture was run" "$OUT" "fixtures: $n documents"
run_ok "spec examples all validate" V examples "$SPEC/examples"
echo "# $OUT"

# 2. kiln's store after imports with every kind of --change
export SOURCE_DATE_EPOCH=1700000000
run_ok "valid empty store" kiln images -q
valid "empty store" "$ROOT/images"
run_ok "import busybox" kiln import -m busybox -c 'CMD ["sh"]' "$BB" busybox:latest
ID=$OUT
changes=(-c 'ENV A=1 B="two words" EMPTY=' -c 'ENV PATH /usr/sbin:/usr/bin:/sbin:/bin'
	-c 'CMD ["sh","-c","echo hi"]' -c 'ENTRYPOINT ["/bin/busybox"]' -c 'EXPOSE 80 53/udp 8080/tcp'
	-c 'LABEL org.opencontainers.image.title="kiln test" multi.word="a b"' -c 'VOLUME ["/data", "/logs"]'
	-c 'USER 65534:65534' -c 'WORKDIR /srv' -c 'STOPSIGNAL SIGQUIT' -c 'ONBUILD RUN true')
hc='HEALTHCHECK --interval=5s --timeout=2s --retries=3 CMD wget -q -O- http://127.0.0.1/ || exit 1'
changes+=(-c "$hc") # docker accepts HEALTHCHECK in `import --change`, and so does kiln
run_ok "import with Env/Cmd/Entrypoint/ExposedPorts/Labels/Volumes/User/..." kiln import "${changes[@]}" "$BB" changes:1
ID2=$OUT
cfg=$(cat "$ROOT/images/blobs/sha256/${ID2#sha256:}" 2>/dev/null)
expect_contains "config has K=V env with an empty value" "$cfg" '"EMPTY="'
for k in Env Cmd Entrypoint ExposedPorts Labels Volumes User WorkingDir StopSignal OnBuild; do
	expect_contains "config has $k" "$cfg" "\"$k\""
done
expect_contains "config has the healthcheck" "$cfg" '"Healthcheck"'
run_ok "import a directory tree" sh -c "mkdir -p '$T/dir/a/b' && echo x >'$T/dir/a/b/f' && '$KILN' import '$T/dir' dir:1"
run_ok "tag" kiln tag changes:1 127.0.0.1:5000/ns/changes:latest
valid "store after imports" "$ROOT/images"

# the validator is not vacuous: a broken copy of the store fails
cp -a "$ROOT/images" "$T/broken"
"$PY" -c 'import re,sys; p=sys.argv[1]; s=open(p).read(); open(p,"w").write(re.sub("sha256:([0-9a-f]{64})", lambda m: "sha256:" + m.group(1).upper(), s, count=1))' "$T/broken/index.json"
run_fail "upper-case digest in index.json is caught" 1 V layout "$T/broken"
expect_contains "names the digest rule" "$OUT" "lower-case hex"
cp -a "$ROOT/images/index.json" "$T/broken/index.json"
printf 'X' | dd of="$T/broken/blobs/sha256/${ID2#sha256:}" bs=1 seek=3 conv=notrunc 2>/dev/null
run_fail "a corrupt config blob is caught" 1 V layout "$T/broken"
expect_contains "content mismatch" "$OUT" "content hashes to"

# 3. kiln save: docker format (which also carries an OCI layout) and OCI format
run_ok "kiln save (docker format), three tags" kiln save -o "$T/d.tar" busybox changes:1 dir:1
untar "$T/d.tar" "$T/d"
valid "docker-format archive (OCI part and manifest.json)" "$T/d" --docker
for c in gzip zstd none; do
	run_ok "kiln save --format oci --compress $c" kiln save --format oci --compress "$c" -o "$T/o-$c.tar" busybox changes:1
	untar "$T/o-$c.tar" "$T/o-$c"
	valid "OCI archive, $c layers" "$T/o-$c"
done
run_ok "kiln save by ID" kiln save --format oci -o "$T/id.tar" "$ID"
untar "$T/id.tar" "$T/id"
valid "untagged OCI archive" "$T/id"

# 4. images kiln loaded: its own archives, and archives skopeo wrote
run_ok "kiln load the docker-format archive" env KILN_ROOT="$T/r2" "$KILN" load -i "$T/d.tar"
run_ok "kiln load the zstd OCI archive" env KILN_ROOT="$T/r2" "$KILN" load -i "$T/o-zstd.tar"
valid "store after loads" "$T/r2/images"
if command -v skopeo >/dev/null; then
	REF=docker.io/library/changes:1
	run_ok "skopeo writes a docker-archive" skopeo copy -q "oci:$ROOT/images:$REF" "docker-archive:$T/sk-d.tar:sk/d:1"
	run_ok "skopeo writes an oci-archive" skopeo copy -q "oci:$ROOT/images:$REF" "oci-archive:$T/sk-o.tar:sk/o:1"
	run_ok "kiln load skopeo's docker-archive" env KILN_ROOT="$T/r3" "$KILN" load -i "$T/sk-d.tar"
	run_ok "kiln load skopeo's oci-archive" env KILN_ROOT="$T/r3" "$KILN" load -i "$T/sk-o.tar"
	valid "store after loading skopeo's archives" "$T/r3/images"
	run_ok "kiln save what it loaded" env KILN_ROOT="$T/r3" "$KILN" save --format oci -o "$T/r3.tar" sk/d:1 sk/o:1
	untar "$T/r3.tar" "$T/r3x"
	valid "OCI archive of loaded images" "$T/r3x"
fi
run_ok "rmi" kiln rmi dir:1
valid "store after rmi" "$ROOT/images"
