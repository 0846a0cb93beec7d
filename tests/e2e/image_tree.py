#!/usr/bin/env python3
"""Prints an image archive (docker save or kiln save) in a form two builders
can be compared with: the config fields a Dockerfile sets, the history's
empty_layer flags, and each layer's entries (type, mode, owner, size, link
target, content digest; mtimes left out).

    image_tree.py ARCHIVE [--skip N] [-v] [--stubs P,...]
        N: base layers and history entries to leave out; -v: print created_by;
        --stubs: directories left out of a layer where nothing under them is
        in that layer (BuildKit 0.8's mount-stub leftovers, see the caller)

Whiteout entries print without mode and owner: the OCI image spec gives
them no meaning, and docker's overlay2 differ writes 0600 (or the parent
directory's mode for an opaque one) where others write 0000.
"""
import hashlib
import io
import json
import sys
import tarfile

path = sys.argv[1]
args = sys.argv[2:]
skip = int(args[args.index("--skip") + 1]) if "--skip" in args else 0
stubs = set(args[args.index("--stubs") + 1].split(",")) if "--stubs" in args else set()
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
                name = e.name.rstrip("/")
                meta = f"{e.mode & 0o7777:04o} {e.uid}:{e.gid}"
                if name.rsplit("/", 1)[-1].startswith(".wh."):
                    meta = "- -"
                rows.append((name, kind, f"{i - skip} {kind} {meta} {e.size} "
                                         f"{name} {link} {digest}".rstrip()))
            for _ in range(len(stubs)):  # run/secrets first, then run
                names = [n for n, _, _ in rows]
                rows = [(n, k, r) for n, k, r in rows
                        if not (k == "d" and n in stubs and
                                not any(o.startswith(n + "/") for o in names))]
            for r in sorted(r for _, _, r in rows):
                print(r)
