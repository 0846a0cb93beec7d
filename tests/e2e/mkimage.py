#!/usr/bin/env python3
"""Test fixture: adds a small image to a kiln store's OCI layout without kiln.

usage: mkimage.py ROOT REF|- [FILE-CONTENT] [CREATED]
Writes a one-layer gzip image (layer: /hello.txt), an OCI config and
manifest, and an index.json entry tagged REF (full normalized name, or
untagged with "-"). Prints the image ID. Used until `kiln import` exists.
"""
import gzip, hashlib, json, os, sys

from ocilayout import Layout, compact, tar_of

root, ref = sys.argv[1], sys.argv[2]
content = (sys.argv[3] if len(sys.argv) > 3 else "hello").encode()
created = sys.argv[4] if len(sys.argv) > 4 else "2024-01-02T03:04:05Z"
layout = os.path.join(root, "images")
os.makedirs(layout, exist_ok=True)
if not os.path.exists(os.path.join(root, "kiln-store")):  # kiln's store marker
    with open(os.path.join(root, "kiln-store"), "w") as f:
        f.write('{"kilnStoreVersion":1}\n')
lay = Layout(layout)


def put(data):
    b = lay.put(data)
    return b["digest"], b["size"]


tar = tar_of([("hello.txt", content)])
diff_id = "sha256:" + hashlib.sha256(tar).hexdigest()
gz = gzip.compress(tar, mtime=0)
layer_digest, layer_size = put(gz)
config = {"architecture": "amd64", "os": "linux", "created": created,
          "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/bin/sh"],
                     "Labels": {"fixture": "yes"}},
          "rootfs": {"type": "layers", "diff_ids": [diff_id]},
          "history": [{"created": created, "created_by": "/bin/sh -c #(nop) ADD file:hello.txt in / "},
                      {"created": created, "created_by": "/bin/sh -c #(nop)  CMD [\"/bin/sh\"]",
                       "empty_layer": True}]}
cfg_digest, cfg_size = put(compact(config, sort_keys=True))
manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": cfg_digest, "size": cfg_size},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": layer_digest, "size": layer_size}]}
man_digest, man_size = put(compact(manifest))
index_path = os.path.join(layout, "index.json")
index = {"schemaVersion": 2, "manifests": []}
if os.path.exists(index_path):
    with open(index_path) as f:
        index = json.load(f)
entry = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": man_digest,
         "size": man_size}
if ref != "-":
    index["manifests"] = [m for m in index["manifests"]
                          if m.get("annotations", {}).get("org.opencontainers.image.ref.name") != ref]
    entry["annotations"] = {"org.opencontainers.image.ref.name": ref}
index["manifests"].append(entry)
tmp = index_path + ".fixture-tmp"
with open(tmp, "w") as f:
    json.dump(index, f, separators=(",", ":"))
os.rename(tmp, index_path)
print(cfg_digest)
