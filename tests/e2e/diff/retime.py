#!/usr/bin/env python3
"""Rewrites a docker archive (docker save layout) so that every image's
config and history entries carry CREATED, and tags them REF:
  retime.py IN.tar OUT.tar CREATED REF
The config digest changes with it (manifest.json follows). Used by the
differential cases to compare how times far from now print."""
import hashlib
import io
import json
import sys
import tarfile

src, dst, created, ref = sys.argv[1:5]
members = {}
with tarfile.open(src) as t:
    for m in t.getmembers():
        members[m.name] = (m, t.extractfile(m).read() if m.isfile() else None)
manifest = json.loads(members["manifest.json"][1])
out, old = {}, set()
for entry in manifest:
    old.add(entry["Config"])
    cfg = json.loads(members[entry["Config"]][1])
    cfg["created"] = created
    for h in cfg.get("history", []):
        h["created"] = created
    data = json.dumps(cfg, separators=(",", ":")).encode()
    hexd = hashlib.sha256(data).hexdigest()
    name = hexd + ".json"
    out[name] = data
    entry["Config"] = name
    entry["RepoTags"] = [ref]
manifest = manifest[:1]
with tarfile.open(dst, "w") as t:
    for name, (m, data) in members.items():
        if name in ("manifest.json", "repositories", "index.json", "oci-layout") or name in old:
            continue
        t.addfile(m, io.BytesIO(data) if data is not None else None)
    for name, data in list(out.items()) + [("manifest.json", json.dumps(manifest).encode())]:
        i = tarfile.TarInfo(name)
        i.size = len(data)
        t.addfile(i, io.BytesIO(data))
