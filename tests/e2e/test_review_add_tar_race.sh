#!/usr/bin/env bash
# Review finding: the COPY change (copy uses the stats its cache key's walk
# hashed and fails a file changed between key and copy) does not cover ADD
# of a local archive: add_archive (builder/step_copy.c) opens the context's
# tar again and extracts whatever it holds then, with no check against the
# hashed stat. An archive replaced between the key and the step lands new
# content under the old content's key; a later build of the old archive
# hits that record and gets the new content.
. "$(dirname "$0")/lib.sh"

C="$T/ctx"
mkdir -p "$C" "$T/a" "$T/b"
echo old >"$T/a/f"
echo new >"$T/b/f"
tar -C "$T/a" -cf "$T/old.tar" f
tar -C "$T/b" -cf "$T/new.tar" f
cp "$T/old.tar" "$C/arch.tar"
printf 'FROM scratch\nADD arch.tar /x/\n' >"$C/Dockerfile"

pid=
at_exit '[ -n "$pid" ] && kill -9 $pid 2>/dev/null'
KILN_TEST_STOP=copy-keyed "$KILN" build -q -t r1 "$C" >"$T/out" 2>&1 &
pid=$!
stopped=
for _ in $(seq 1 200); do
	[ "$(awk '{print $3}' /proc/$pid/stat 2>/dev/null)" = T ] && { stopped=1; break; }
	sleep 0.05
done
[ -n "$stopped" ] && ok "the build stopped after the ADD's key" || not_ok "the build did not stop after the ADD's key"
sleep 0.02
cp "$T/new.tar" "$C/arch.tar.tmp" && mv "$C/arch.tar.tmp" "$C/arch.tar" # replaced
kill -CONT $pid; wait $pid; rc=$?; pid=
echo "# build exit $rc: $(grep -m1 Error "$T/out")"

image_f() { # TAG: x/f in the image
	rm -rf "$T/x" && mkdir -p "$T/x" && kiln save -o "$T/x/img.tar" "$1" && tar -xf "$T/x/img.tar" -C "$T/x" &&
		for l in $(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))[0]["Layers"]))' "$T/x/manifest.json"); do
			tar -xf "$T/x/$l" -C "$T/x" x/f 2>/dev/null
		done
	cat "$T/x/x/f"
}
got=
[ "$rc" = 0 ] && got=$(image_f r1)
if [ "$rc" != 0 ] || [ "$got" = old ]; then
	ok "an archive replaced after the key: the ADD fails or lands what the key hashed"
else
	not_ok "the ADD landed '$got' under the key of the old archive (build exit $rc)"
fi
# the harm: the old archive's build gets the new content from the cache
cp "$T/old.tar" "$C/arch.tar"
run_ok "build the old archive again" kiln build -q -t r2 "$C"
expect_eq "the image of the old archive has the old content" "$(image_f r2)" old
