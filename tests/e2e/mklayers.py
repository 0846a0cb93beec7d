#!/usr/bin/env python3
"""Test fixture: an OCI image layout DIR with one linux/amd64 image tagged
TAG made of N gzip layers (layer i: /layer<i>.bin, SIZE random bytes; with
SIZE 0 every layer is the same empty tar).
Prints one line per layer: "<layer blob digest> <diffID>".
usage: mklayers.py DIR TAG N SIZE"""
import gzip, hashlib, os, sys

from ocilayout import Layout, compact, tar_of

out, tag, n, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
lay = Layout(out)
put = lay.put

layers, diffs = [], []
for i in range(n):
    # SIZE 0: empty layers, byte-identical (one blob, listed N times)
    tar = tar_of([("layer%d.bin" % i, os.urandom(size))] if size else [])
    layers.append(dict(mediaType="application/vnd.oci.image.layer.v1.tar+gzip",
                       **put(gzip.compress(tar, compresslevel=1, mtime=0))))
    diffs.append("sha256:" + hashlib.sha256(tar).hexdigest())
    print(layers[-1]["digest"], diffs[-1])
cfg = {"architecture": "amd64", "os": "linux", "created": "2024-01-02T03:04:05Z",
       "config": {"Cmd": ["/bin/sh"]}, "rootfs": {"type": "layers", "diff_ids": diffs}}
c = put(compact(cfg))
m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
     "config": dict(mediaType="application/vnd.oci.image.config.v1+json", **c), "layers": layers}
md = put(compact(m))
lay.write_index("application/vnd.oci.image.manifest.v1+json", md, tag)
