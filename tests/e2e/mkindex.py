#!/usr/bin/env python3
"""Test fixture: an OCI image layout DIR holding one image index tagged
TAG with two images, linux/amd64 and linux/arm64 (one gzip layer each,
/arch.txt naming the architecture). Prints each config digest as
"ARCH sha256:...". usage: mkindex.py DIR TAG"""
import gzip, hashlib, io, json, os, sys, tarfile

out, tag = sys.argv[1], sys.argv[2]
blobs = os.path.join(out, "blobs", "sha256")
os.makedirs(blobs, exist_ok=True)
with open(os.path.join(out, "oci-layout"), "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')

def put(data):
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, d), "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + d, "size": len(data)}

manifests = []
for arch in ("amd64", "arm64"):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        body = ("built for %s\n" % arch).encode()
        info = tarfile.TarInfo("arch.txt")
        info.size, info.mode, info.mtime = len(body), 0o644, 0
        t.addfile(info, io.BytesIO(body))
    tar = raw.getvalue()
    layer = put(gzip.compress(tar, mtime=0))
    cfg = {"architecture": arch, "os": "linux", "created": "2024-01-02T03:04:05Z",
           "config": {"Cmd": ["/bin/sh"]},
           "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest()]}}
    c = put(json.dumps(cfg, separators=(",", ":")).encode())
    m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
         "config": dict(mediaType="application/vnd.oci.image.config.v1+json", **c),
         "layers": [dict(mediaType="application/vnd.oci.image.layer.v1.tar+gzip", **layer)]}
    md = put(json.dumps(m, separators=(",", ":")).encode())
    manifests.append(dict(mediaType="application/vnd.oci.image.manifest.v1+json",
                          platform={"architecture": arch, "os": "linux"}, **md))
    print(arch, c["digest"])
idx = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
       "manifests": manifests}
i = put(json.dumps(idx, separators=(",", ":")).encode())
top = {"schemaVersion": 2, "manifests": [dict(mediaType="application/vnd.oci.image.index.v1+json",
       annotations={"org.opencontainers.image.ref.name": tag}, **i)]}
with open(os.path.join(out, "index.json"), "w") as f:
    json.dump(top, f)
