#!/usr/bin/env python3
"""Lists the entries of an image's layers from a `kiln save` docker archive.

    layer_ls.py ARCHIVE [--skip N]

One line per entry: LAYER TYPE MODE UID:GID SIZE PATH [-> LINK], where TYPE is
d (dir), f (file), l (symlink), h (hardlink), c (char device), w (whiteout
marker .wh.*), LAYER the layer's index (0 = base). --skip N leaves out the
first N layers (the base image's)."""
import io
import json
import sys
import tarfile

path = sys.argv[1]
skip = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[2] == "--skip" else 0
with tarfile.open(path) as t:
    manifest = json.load(t.extractfile("manifest.json"))[0]
    for i, name in enumerate(manifest["Layers"]):
        if i < skip:
            continue
        with tarfile.open(fileobj=io.BytesIO(t.extractfile(name).read())) as lt:
            for e in lt.getmembers():
                base = e.name.rsplit("/", 1)[-1]
                kind = ("w" if base.startswith(".wh.") else "d" if e.isdir() else
                        "l" if e.issym() else "h" if e.islnk() else
                        "c" if e.ischr() else "f")
                link = " -> " + e.linkname if e.linkname else ""
                print(f"{i} {kind} {e.mode:04o} {e.uid}:{e.gid} {e.size} {e.name.rstrip('/')}{link}")
