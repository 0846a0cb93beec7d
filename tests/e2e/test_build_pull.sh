#!/usr/bin/env bash
# kiln build pulls the images it names and the store lacks (FROM, COPY
# --from=IMAGE, RUN --mount=from=IMAGE) from Debian's docker-registry on
# 127.0.0.1, once per build, with BuildKit-style plain progress; --pull
# pulls them again; --platform other than the host's is a clear error.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/registry_lib.sh"
[ "$(id -u)" = 0 ] || skip_all "build containers need root"
need_busybox
start_registry a || { not_ok "registry starts"; exit 1; }
R=$REG_a

# The images, made and pushed from another root.
P="$T/pusher"
kiln --root "$P" import -c 'CMD ["sh"]' "$BB" "$R/base:1" >/dev/null
mkdir -p "$T/x/data"
echo other-image >"$T/x/data/o.txt"
kiln --root "$P" import "$T/x" "$R/other:1" >/dev/null
echo mount-image >"$T/x/data/o.txt"
kiln --root "$P" import "$T/x" "$R/mnt:1" >/dev/null
for i in base:1 other:1 mnt:1; do
	kiln --root "$P" push "$R/$i" >/dev/null || not_ok "push $i"
done

C="$T/ctx"
mkdir -p "$C"
cat >"$C/Dockerfile" <<DF
FROM $R/base:1 AS first
RUN echo first >/f
FROM $R/base:1
COPY --from=first /f /f
COPY --from=$R/other:1 /data/o.txt /o.txt
RUN --mount=from=$R/mnt:1,source=/data,target=/m cat /m/o.txt >/m.txt
CMD ["cat", "/f", "/o.txt", "/m.txt"]
DF
run_ok "a build pulls what the store lacks" kiln build --progress plain --network none -t app "$C"
for i in base:1 other:1 mnt:1; do
	expect_contains "pulls $i" "$OUT" "[internal] load metadata for $R/$i"
done
first_from=$(printf '%s\n' "$OUT" | grep -n '\] FROM ' | head -1 | cut -d: -f1)
last_pull=$(printf '%s\n' "$OUT" | grep -n 'load metadata for' | tail -1 | cut -d: -f1)
[ "${last_pull:-99999}" -lt "${first_from:-0}" ] && ok "pulls come before the first step, as BuildKit's metadata loads" ||
	not_ok "pulls before steps (last pull line $last_pull, first FROM line $first_from)"
expect_eq "each image pulled once" "$(printf '%s\n' "$OUT" | grep -c 'load metadata for')" 3
expect_contains "resolve line" "$OUT" "resolve $R/base:1@sha256:"
expect_contains "a layer's bytes" "$OUT" "done"
expect_contains "extracting line" "$OUT" " extracting sha256:"
run_ok "the image runs" kiln run --rm app
expect_eq "with all three images' files" "$OUT" "first
other-image
mount-image"
expect_eq "the base is stored, tagged" "$(kiln inspect -f '{{.Id}}' "$R/base:1")" \
	"$(kiln --root "$P" inspect -f '{{.Id}}' "$R/base:1")"

run_ok "second build" kiln build --progress plain --network none -t app "$C"
expect_not_contains "no pull when stored" "$OUT" "load metadata"

# A newer base:1 in the registry: used only with --pull.
kiln --root "$P" build -q -t "$R/base:1" - <<DF >/dev/null || not_ok "newer base built"
FROM $R/base:1
RUN echo newer >/newer
DF
kiln --root "$P" push "$R/base:1" >/dev/null || not_ok "newer base pushed"
printf 'FROM %s/base:1\nCMD ["cat", "/newer"]\n' "$R" >"$C/Dockerfile"
run_ok "without --pull: the stored base" kiln build --progress plain --network none -t up "$C"
expect_not_contains "no pull without --pull" "$OUT" "load metadata"
run_fail "the stored base lacks the newer file" nonzero kiln run --rm up
run_ok "--pull" kiln build --pull --progress plain --network none -t up "$C"
expect_contains "--pull pulls the base" "$OUT" "[internal] load metadata for $R/base:1"
run_ok "the newer base" kiln run --rm up
expect_eq "its file" "$OUT" newer

printf 'FROM %s/nosuch:1\n' "$R" >"$C/Dockerfile"
run_fail "a base nowhere" 1 kiln build --progress plain "$C"
expect_contains "names the image" "$OUT" "pulling \`$R/nosuch:1\`"
expect_contains "names the line" "$OUT" "Dockerfile:1"
expect_contains "plain progress shows the error" "$OUT" "ERROR:"

other=arm64; [ "$(uname -m)" = aarch64 ] && other=amd64
printf 'FROM %s/base:1\n' "$R" >"$C/Dockerfile"
run_fail "--platform of another arch" 1 kiln build --pull --platform "linux/$other" "$C"
expect_contains "platform error names both" "$OUT" "linux/$other"
expect_contains "no emulation" "$OUT" "without emulation"
