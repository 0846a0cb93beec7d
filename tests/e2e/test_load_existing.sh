#!/usr/bin/env bash
# load keeps a blob the store already holds (as docker keeps a layer it
# has): reloading writes nothing new; a stored blob of the wrong size, or
# of the right size with other bytes, is written again from the verified
# archive (issue 16's self-healing).
. "$(dirname "$0")/lib.sh"
mkdir -p "$T/src" && head -c 300000 /dev/urandom >"$T/src/f" && tar -C "$T/src" -cf "$T/l.tar" .
run_ok "import" kiln import "$T/l.tar" le:1
run_ok "save" kiln save -o "$T/a.tar" le:1
layer=$(kiln inspect -f '{{index .RootFS.Layers 0}}' le:1)
blob="$ROOT/images/blobs/sha256/${layer#sha256:}"
ino=$(stat -c %i "$blob")
run_ok "load it back" kiln load -i "$T/a.tar"
expect_eq "the stored layer blob is kept" "$(stat -c %i "$blob")" "$ino"
truncate -s 1000 "$blob"
run_ok "load after the blob was cut short" kiln load -i "$T/a.tar"
expect_eq "a damaged copy is written again" "$(sha256sum <"$blob" | cut -d' ' -f1)" "${layer#sha256:}"
run_ok "system check" kiln system check
# damaged in place, its size kept
printf 'XXXXXXXX' | dd of="$blob" bs=1 seek=4096 conv=notrunc status=none
run_fail "system check sees the damage" nonzero kiln system check
run_ok "load after the blob was overwritten in place" kiln load -i "$T/a.tar"
expect_eq "a copy damaged in place is written again" "$(sha256sum <"$blob" | cut -d' ' -f1)" "${layer#sha256:}"
run_ok "system check is clean afterwards" kiln system check
ino=$(stat -c %i "$blob")
run_ok "load once more" kiln load -i "$T/a.tar"
expect_eq "an intact copy is still kept" "$(stat -c %i "$blob")" "$ino"
