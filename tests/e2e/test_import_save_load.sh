#!/usr/bin/env bash
# kiln import / save / load: round trips, determinism, --change, formats,
# verification of hostile or corrupt archives, and a crash mid-import.
. "$(dirname "$0")/lib.sh"

need_busybox
export SOURCE_DATE_EPOCH=1700000000
cfg_of() { # ROOT IMAGE_ID -> config JSON
	cat "$1/images/blobs/sha256/${2#sha256:}"
}
jq_py() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

run_ok "import a rootfs tarball" kiln import -m busybox --change 'CMD ["sh"]' "$BB" busybox:latest
ID=$OUT
expect_contains "prints the image ID" "$ID" "sha256:"
run_ok "import again" kiln import -m busybox --change 'CMD ["sh"]' "$BB" busybox:latest
expect_eq "same input + SOURCE_DATE_EPOCH => same image ID" "$OUT" "$ID"
run_ok "import gzip from stdin" sh -c "gzip -c '$BB' | '$KILN' import -m busybox -c 'CMD [\"sh\"]' - gz:1"
expect_eq "gzip stdin import gives the same image" "$OUT" "$ID"
zstd -q -c "$BB" >"$T/bb.tar.zst" 2>/dev/null && {
	run_ok "import zstd file" kiln import -m busybox -c 'CMD ["sh"]' "$T/bb.tar.zst" zs:1
	expect_eq "zstd import gives the same image" "$OUT" "$ID"
}
xz -c "$BB" >"$T/bb.tar.xz" 2>/dev/null && {
	run_ok "import xz file" kiln import -m busybox -c 'CMD ["sh"]' "$T/bb.tar.xz" xz:1
	expect_eq "xz import gives the same image" "$OUT" "$ID"
}
cfg=$(cfg_of "$ROOT" "$ID")
expect_eq "config Cmd" "$(printf '%s' "$cfg" | jq_py 'd["config"]["Cmd"]')" "['sh']"
expect_eq "history entry as docker import writes it" "$(printf '%s' "$cfg" | jq_py '[d["history"][0].get("created_by"), d["history"][0]["comment"]]')" "[None, 'busybox']"

mkdir -p "$T/dir" && tar -xf "$BB" -C "$T/dir"
run_ok "import a directory with changes" kiln import \
	-c 'ENV A=1 B="two words"' -c 'ENV C 3 4' -c 'EXPOSE 80 53/udp' -c 'WORKDIR /srv' \
	-c 'USER nobody' -c 'LABEL org.x=y' -c 'VOLUME ["/data"]' -c 'ENTRYPOINT echo hi' \
	-c 'STOPSIGNAL SIGTERM' -c 'ONBUILD RUN true' "$T/dir" dirimg
cfg=$(cfg_of "$ROOT" "$OUT")
expect_eq "changes applied" "$(printf '%s' "$cfg" | jq_py '[d["config"][k] for k in ("Env","ExposedPorts","WorkingDir","User","Labels","Volumes","Entrypoint","StopSignal","OnBuild")]')" \
	"[['A=1', 'B=two words', 'C=3 4'], {'53/udp': {}, '80/tcp': {}}, '/srv', 'nobody', {'org.x': 'y'}, {'/data': {}}, ['/bin/sh', '-c', 'echo hi'], 'SIGTERM', ['RUN true']]"
# --change lines are Dockerfile instructions: parsed and expanded as in a build.
run_ok "import with HEALTHCHECK, expansion and ranges" kiln import \
	-c 'ENV BASE=/opt/app' -c 'WORKDIR $BASE' -c 'WORKDIR sub' -c 'ENV P=${BASE}/bin:$PATH' \
	-c 'EXPOSE 8000-8002/udp' -c 'CMD ["run"]' -c 'ENTRYPOINT ["/bin/busybox"]' \
	-c 'HEALTHCHECK --interval=5s --timeout=2s --retries=3 CMD wget -q -O- http://127.0.0.1/ || exit 1' \
	"$BB" changes2
cfg=$(cfg_of "$ROOT" "$OUT")
expect_eq "healthcheck stored as docker does" "$(printf '%s' "$cfg" | jq_py 'd["config"]["Healthcheck"]')" \
	"{'Test': ['CMD-SHELL', 'wget -q -O- http://127.0.0.1/ || exit 1'], 'Interval': 5000000000, 'Timeout': 2000000000, 'Retries': 3}"
expect_eq "words expanded with the config's Env" "$(printf '%s' "$cfg" | jq_py '[d["config"]["WorkingDir"], d["config"]["Env"]]')" \
	"['/opt/app/sub', ['BASE=/opt/app', 'P=/opt/app/bin:']]"
expect_eq "port ranges expanded" "$(printf '%s' "$cfg" | jq_py 'sorted(d["config"]["ExposedPorts"])')" \
	"['8000/udp', '8001/udp', '8002/udp']"
expect_eq "CMD given in the same list survives ENTRYPOINT" "$(printf '%s' "$cfg" | jq_py 'd["config"]["Cmd"]')" "['run']"
run_fail "a change with a Dockerfile error names it" 1 kiln import -c 'ENV PATH' "$BB" bad
expect_contains "parser message" "$OUT" "ENV must have two arguments"
run_fail "a change docker does not allow is refused" 1 kiln import -c 'RUN true' "$BB" bad
expect_contains "names the instruction" "$OUT" "RUN is not a valid change command"
run_fail "import of a non-tar is refused" 1 kiln import /etc/hostname junk
expect_contains "says why" "$OUT" "not a tar archive"

# save -> load into a fresh root -> save again: same ID, same bytes
run_ok "save" kiln save -o "$T/s1.tar" busybox
run_ok "save to a pipe" sh -c "'$KILN' save busybox | tar -t >'$T/list'"
expect_contains "docker archive has manifest.json" "$(cat "$T/list")" "manifest.json"
expect_contains "and an OCI index" "$(cat "$T/list")" "index.json"
R2="$T/root2"
run_ok "load into a fresh root" env KILN_ROOT="$R2" "$KILN" load -i "$T/s1.tar"
expect_eq "load prints the tag" "$OUT" "Loaded image: busybox:latest"
expect_contains "the loaded image has the same ID" "$(ls "$R2/images/blobs/sha256")" "${ID#sha256:}"
run_ok "save from the new root" env KILN_ROOT="$R2" "$KILN" save -o "$T/s2.tar" busybox:latest
if cmp -s "$T/s1.tar" "$T/s2.tar"; then ok "save output is byte-identical across roots"; else not_ok "save outputs differ"; fi
run_ok "load from stdin, quiet" sh -c "KILN_ROOT='$R2' '$KILN' load -q <'$T/s1.tar'"
expect_eq "quiet still names the image (docker's -q quiets progress only)" "$OUT" "Loaded image: busybox:latest"
run_ok "save by ID" kiln save -o "$T/byid.tar" "${ID:7:12}"
# one image named several times, as docker writes it: one manifest.json
# entry listing each tag once, one index.json entry per name (none
# unnamed for the ID, as the image has names here)
kiln tag busybox busybox:other
run_ok "save one image under several names" kiln save -o "$T/multi.tar" busybox busybox:other "${ID:7:12}" busybox:latest
expect_eq "one manifest.json entry, each tag once" \
	"$(tar -xOf "$T/multi.tar" manifest.json | jq_py '[(len(d), e["RepoTags"]) for e in d]')" \
	"[(1, ['busybox:latest', 'busybox:other'])]"
expect_eq "index.json: one entry per name" \
	"$(tar -xOf "$T/multi.tar" index.json | jq_py 'sorted(m.get("annotations", {}).get("io.containerd.image.name", "-") for m in d["manifests"])')" \
	"['docker.io/library/busybox:latest', 'docker.io/library/busybox:other']"
kiln rmi busybox:other >/dev/null
run_ok "load an untagged archive" env KILN_ROOT="$T/root-id" "$KILN" load -i "$T/byid.tar"
expect_eq "prints the ID" "$OUT" "Loaded image ID: $ID"

for c in gzip zstd none; do
	run_ok "save --format oci --compress $c" kiln save --format oci --compress "$c" -o "$T/o-$c.tar" busybox
	run_ok "load the $c OCI archive" env KILN_ROOT="$T/root-$c" "$KILN" load -i "$T/o-$c.tar"
	expect_contains "$c: same image ID" "$(ls "$T/root-$c/images/blobs/sha256")" "${ID#sha256:}"
done
mkdir -p "$T/ox" && tar -xf "$T/o-zstd.tar" -C "$T/ox"
expect_contains "zstd layers in the manifest" "$(cat "$T"/ox/blobs/sha256/* 2>/dev/null | tr -d '\0' | grep -a mediaType)" "tar+zstd"

# corrupt archives: a flipped byte in the layer is caught, nothing is tagged
mkdir -p "$T/bad" && tar -xf "$T/s1.tar" -C "$T/bad"
layer=$(cd "$T/bad" && python3 -c "import json;print(json.load(open('manifest.json'))[0]['Layers'][0])")
printf 'X' | dd of="$T/bad/$layer" bs=1 seek=5000 conv=notrunc 2>/dev/null
(cd "$T/bad" && tar -cf "$T/bad.tar" blobs index.json manifest.json oci-layout repositories)
run_fail "a corrupt layer is refused" 1 env KILN_ROOT="$T/root-bad" "$KILN" load -i "$T/bad.tar"
expect_contains "names the digest" "$OUT" "digest mismatch"
expect_not_contains "nothing tagged" "$(cat "$T/root-bad/images/index.json")" "busybox"
run_fail "garbage is refused" 1 sh -c "head -c 4096 /dev/urandom | KILN_ROOT='$T/root-bad' '$KILN' load"

# crash: kill -9 in the middle of a large import
big="$T/big"; mkdir -p "$big"
head -c 600M /dev/zero >"$big/zeros" 2>/dev/null
before=$(cat "$ROOT/images/index.json")
"$KILN" import "$big" big:1 >/dev/null 2>&1 &
pid=$!
for _ in $(seq 100); do ls "$ROOT/tmp" 2>/dev/null | grep -q . && break; sleep 0.05; done
sleep 0.3
kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
bad=0
for f in "$ROOT"/images/blobs/sha256/*; do
	[ "$(sha256sum "$f" | cut -d' ' -f1)" = "$(basename "$f")" ] || bad=$((bad + 1))
done
expect_eq "after kill -9 every blob matches its name" "$bad" 0
expect_eq "index.json unchanged (no tag for the killed import)" "$(cat "$ROOT/images/index.json")" "$before"
leftover=$(ls "$ROOT/tmp")
expect_contains "the partial blob is only a temp file in ROOT/tmp" "$leftover" "blob-"
if "$KILN" system --help >/dev/null 2>&1; then
	run_ok "system check sweeps leftovers" kiln system check --repair
	expect_eq "tmp is empty" "$(ls "$ROOT/tmp")" ""
fi
rm -rf "$big"
