#!/usr/bin/env python3
"""Test fixture: an OCI image layout DIR holding one image index tagged
TAG with two images, linux/amd64 and linux/arm64 (one gzip layer each,
/arch.txt naming the architecture). Prints each config digest as
"ARCH sha256:...". usage: mkindex.py DIR TAG"""
import gzip, hashlib, sys

from ocilayout import Layout, compact, tar_of

out, tag = sys.argv[1], sys.argv[2]
lay = Layout(out)
put = lay.put

manifests = []
for arch in ("amd64", "arm64"):
    tar = tar_of([("arch.txt", ("built for %s\n" % arch).encode())])
    layer = put(gzip.compress(tar, mtime=0))
    cfg = {"architecture": arch, "os": "linux", "created": "2024-01-02T03:04:05Z",
           "config": {"Cmd": ["/bin/sh"]},
           "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest()]}}
    c = put(compact(cfg))
    m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
         "config": dict(mediaType="application/vnd.oci.image.config.v1+json", **c),
         "layers": [dict(mediaType="application/vnd.oci.image.layer.v1.tar+gzip", **layer)]}
    md = put(compact(m))
    manifests.append(dict(mediaType="application/vnd.oci.image.manifest.v1+json",
                          platform={"architecture": arch, "os": "linux"}, **md))
    print(arch, c["digest"])
idx = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
       "manifests": manifests}
i = put(compact(idx))
lay.write_index("application/vnd.oci.image.index.v1+json", i, tag)
