#!/usr/bin/env python3
"""Test fixture: an OCI image layout DIR with one linux/amd64 image tagged
TAG made of N gzip layers (layer i: /layer<i>.bin, SIZE random bytes; with
SIZE 0 every layer is the same empty tar).
Prints one line per layer: "<layer blob digest> <diffID>".
usage: mklayers.py DIR TAG N SIZE"""
import gzip, hashlib, io, json, os, sys, tarfile

out, tag, n, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
blobs = os.path.join(out, "blobs", "sha256")
os.makedirs(blobs, exist_ok=True)
with open(os.path.join(out, "oci-layout"), "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')

def put(data):
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, d), "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + d, "size": len(data)}

layers, diffs = [], []
for i in range(n):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        if size:  # SIZE 0: empty layers, byte-identical (one blob, listed N times)
            body = os.urandom(size)
            info = tarfile.TarInfo("layer%d.bin" % i)
            info.size, info.mode, info.mtime = len(body), 0o644, 0
            t.addfile(info, io.BytesIO(body))
    tar = raw.getvalue()
    layers.append(dict(mediaType="application/vnd.oci.image.layer.v1.tar+gzip",
                       **put(gzip.compress(tar, compresslevel=1, mtime=0))))
    diffs.append("sha256:" + hashlib.sha256(tar).hexdigest())
    print(layers[-1]["digest"], diffs[-1])
cfg = {"architecture": "amd64", "os": "linux", "created": "2024-01-02T03:04:05Z",
       "config": {"Cmd": ["/bin/sh"]}, "rootfs": {"type": "layers", "diff_ids": diffs}}
c = put(json.dumps(cfg, separators=(",", ":")).encode())
m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
     "config": dict(mediaType="application/vnd.oci.image.config.v1+json", **c), "layers": layers}
md = put(json.dumps(m, separators=(",", ":")).encode())
top = {"schemaVersion": 2, "manifests": [dict(mediaType="application/vnd.oci.image.manifest.v1+json",
       annotations={"org.opencontainers.image.ref.name": tag}, **md)]}
with open(os.path.join(out, "index.json"), "w") as f:
    json.dump(top, f)
