#!/usr/bin/env python3
"""Test fixture: writes a docker-archive (for `kiln load`) of one image
whose layers are given as JSON on the command line.

usage: sec_layers.py OUT.tar TAG LAYERS-JSON|@FILE
LAYERS-JSON is a list of layers, each a list of entries
{"name": N, "type": "file"|"dir"|"symlink"|"hardlink", "data": S, "target": T}.
"""
import hashlib, io, json, sys, tarfile

out, tag, spec = sys.argv[1], sys.argv[2], sys.argv[3]
layers = json.load(open(spec[1:])) if spec.startswith("@") else json.loads(spec)


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def tar(entries):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        for e in entries:
            info = tarfile.TarInfo(e["name"])
            info.mtime, info.mode = 0, 0o755 if e["type"] == "dir" else 0o644
            data = e.get("data", "").encode()
            if e["type"] == "dir":
                info.type = tarfile.DIRTYPE
            elif e["type"] == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, e["target"]
            elif e["type"] == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, e["target"]
            else:
                info.size = len(data)
            t.addfile(info, io.BytesIO(data) if info.type == tarfile.REGTYPE else None)
    return raw.getvalue()


blobs = {}
tars = [tar(l) for l in layers]
for b in tars:
    blobs[sha(b)[7:]] = b
cfg = json.dumps({"architecture": "amd64", "os": "linux", "created": "2024-01-02T03:04:05Z",
                  "config": {"Cmd": ["/bin/sh"]},
                  "rootfs": {"type": "layers", "diff_ids": [sha(b) for b in tars]}}).encode()
blobs[sha(cfg)[7:]] = cfg
manifest = [{"Config": "blobs/sha256/" + sha(cfg)[7:], "RepoTags": [tag],
             "Layers": ["blobs/sha256/" + sha(b)[7:] for b in tars]}]
with tarfile.open(out, mode="w", format=tarfile.PAX_FORMAT) as t:
    for name, data in list(blobs.items()) + [("manifest.json", json.dumps(manifest).encode())]:
        info = tarfile.TarInfo(name if name == "manifest.json" else "blobs/sha256/" + name)
        info.size, info.mode, info.mtime = len(data), 0o644, 0
        t.addfile(info, io.BytesIO(data))
