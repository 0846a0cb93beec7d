#!/usr/bin/env python3
"""Prints an image archive (docker save or kiln save) in a form two builders
can be compared with: the config fields a Dockerfile sets, the history's
empty_layer flags, and each layer's entries (type, mode, owner, size, link
target, content digest; mtimes left out).

    image_tree.py ARCHIVE [--skip N]     N: base layers and history entries to leave out
"""
import hashlib
import io
import json
import sys
import tarfile

path = sys.argv[1]
skip = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[2] == "--skip" else 0
with tarfile.open(path) as t:
    m = json.load(t.extractfile("manifest.json"))[0]
    cfg = json.load(t.extractfile(m["Config"]))
    c = cfg.get("config") or {}
    for k in ("Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Volumes",
              "Labels", "StopSignal", "Shell", "Healthcheck", "OnBuild"):
        v = c.get(k)
        if v in (None, [], {}, ""):
            continue
        print(f"config {k} {json.dumps(v, sort_keys=True)}")
    hist = cfg.get("history", [])[skip:]
    print("history", [bool(h.get("empty_layer")) for h in hist])
    if "-v" in sys.argv:
        for h in hist:
            print("#", h.get("created_by"))
    print("layers", len(m["Layers"]) - skip)
    for i, name in enumerate(m["Layers"]):
        if i < skip:
            continue
        with tarfile.open(fileobj=io.BytesIO(t.extractfile(name).read())) as lt:
            rows = []
            for e in lt.getmembers():
                kind = ("d" if e.isdir() else "l" if e.issym() else "h" if e.islnk() else
                        "c" if e.ischr() else "f")
                digest = ""
                if e.isfile():
                    digest = hashlib.sha256(lt.extractfile(e).read()).hexdigest()[:12]
                link = e.linkname if e.issym() or e.islnk() else ""
                rows.append(f"{i - skip} {kind} {e.mode & 0o7777:04o} {e.uid}:{e.gid} {e.size} "
                            f"{e.name.rstrip('/')} {link} {digest}".rstrip())
            for r in sorted(rows):
                print(r)
