#!/usr/bin/env python3
"""Test fixture: writes hostile or odd image archives for `kiln load`.

usage: evil_archive.py KIND OUT.tar
Each KIND starts from a valid one-layer image (layer: /hello.txt) in the
docker-archive layout (manifest.json + blobs/sha256) or the OCI layout
(index.json) and breaks one thing. `ok-*` kinds are odd but legitimate.
"""
import gzip, hashlib, io, json, sys, tarfile

kind, out = sys.argv[1], sys.argv[2]


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def layer_tar(name="hello.txt", content=b"hello\n"):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = len(content), 0o644, 0
        t.addfile(info, io.BytesIO(content))
    return raw.getvalue()


LAYER = layer_tar()
MT_TAR = "application/vnd.oci.image.layer.v1.tar"


def config(diff_ids):
    c = {"architecture": "amd64", "os": "linux", "created": "2024-01-02T03:04:05Z",
         "config": {"Cmd": ["/bin/sh"]}, "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    return json.dumps(c, separators=(",", ":"), sort_keys=True).encode()


class Archive:
    def __init__(self):
        self.members = []  # (TarInfo, bytes or None)

    def file(self, name, data):
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = len(data), 0o644, 0
        self.members.append((info, data))

    def blob(self, data):
        name = "blobs/sha256/" + hashlib.sha256(data).hexdigest()
        if not any(i.name == name for i, _ in self.members):
            self.file(name, data)
        return sha(data)

    def link(self, name, target, hard=False):
        info = tarfile.TarInfo(name)
        info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
        info.linkname = target
        self.members.append((info, None))

    def bytes(self):
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
            for info, data in self.members:
                t.addfile(info, io.BytesIO(data) if data is not None else None)
        return raw.getvalue()


def docker(a, layers=None, diff_ids=None, tags=("evil:1",), cfg_name=None):
    layers = [LAYER] if layers is None else layers
    names = [a.blob(l)[7:] for l in layers]
    cfg = config(diff_ids if diff_ids is not None else [sha(l) for l in layers])
    cd = a.blob(cfg)
    entry = {"Config": cfg_name or "blobs/sha256/" + cd[7:], "RepoTags": list(tags),
             "Layers": ["blobs/sha256/" + n for n in names]}
    return entry


def oci(a, layer=LAYER, mt=MT_TAR, layer_digest=None, layer_size=None, annotations=None,
        cfg_size=None, man_size=None, diff_id=None):
    ld = layer_digest or a.blob(layer)
    cfg = config([diff_id or sha(LAYER)])
    cd = a.blob(cfg)
    man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd,
                      "size": len(cfg) if cfg_size is None else cfg_size},
           "layers": [{"mediaType": mt, "digest": ld,
                       "size": len(layer) if layer_size is None else layer_size}]}
    mb = json.dumps(man).encode()
    md = a.blob(mb)
    desc = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md,
            "size": len(mb) if man_size is None else man_size}
    if annotations:
        desc["annotations"] = annotations
    a.file("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    a.file("index.json", json.dumps({"schemaVersion": 2, "manifests": [desc]}).encode())


a = Archive()
data = None
if kind == "ok-docker":
    a.file("manifest.json", json.dumps([docker(a)]).encode())
elif kind == "ok-layer-twice":  # the same layer listed twice (docker allows it)
    a.file("manifest.json", json.dumps([docker(a, layers=[LAYER, LAYER])]).encode())
elif kind == "ok-many-small-files":  # 200 x 1 MiB of junk beside a valid image
    for i in range(200):
        a.file("junk/%03d" % i, b"\0" * ((1 << 20) - i))
    a.file("manifest.json", json.dumps([docker(a)]).encode())
    data = gzip.compress(a.bytes(), 1)
elif kind == "config-dotdot":
    e = docker(a, cfg_name="../../../../etc/passwd")
    a.file("manifest.json", json.dumps([e]).encode())
elif kind == "layer-abs-path":
    e = docker(a)
    e["Layers"] = ["/etc/passwd"]
    a.file("manifest.json", json.dumps([e]).encode())
elif kind == "manifest-symlink":  # manifest.json -> /etc/passwd
    docker(a)
    a.link("manifest.json", "/etc/passwd")
elif kind == "layer-symlink-out":  # a layer member that is a symlink out of the archive
    e = docker(a)
    a.link("evil/layer.tar", "../../../../../etc/shadow")
    e["Layers"] = ["evil/layer.tar"]
    a.file("manifest.json", json.dumps([e]).encode())
elif kind == "blob-symlink":  # blobs/sha256/<hex> is a symlink to a host file
    fake = sha(b"not in the archive")
    a.link("blobs/sha256/" + fake[7:], "/etc/shadow")
    oci(a, layer_digest=fake, layer_size=18)
elif kind == "blob-hardlink":
    fake = sha(b"not in the archive either")
    a.link("blobs/sha256/" + fake[7:], "/etc/shadow", hard=True)
    oci(a, layer_digest=fake, layer_size=25)
elif kind == "ok-duplicate-blob":  # the same verified blob twice: same bytes
    a.file("manifest.json", json.dumps([docker(a)]).encode())
    a.file("blobs/sha256/" + sha(LAYER)[7:], LAYER)
elif kind == "duplicate-manifest":
    a.file("manifest.json", json.dumps([docker(a)]).encode())
    a.file("./manifest.json", json.dumps([docker(a, tags=("evil:2",))]).encode())
elif kind == "oci-digest-dotdot":  # a layer digest that is a path
    oci(a, layer_digest="sha256:../../../../../../../../etc/hostname", layer_size=10)
elif kind == "oci-digest-sha512":
    oci(a, layer_digest="sha512:" + hashlib.sha512(LAYER).hexdigest())
elif kind == "oci-digest-upper":
    oci(a, layer_digest="sha256:" + hashlib.sha256(LAYER).hexdigest().upper())
elif kind == "blob-name-upper":
    a.file("blobs/sha256/" + hashlib.sha256(LAYER).hexdigest().upper(), LAYER)
    oci(a)
elif kind == "diffid-mismatch":
    a.file("manifest.json", json.dumps([docker(a, diff_ids=[sha(b"other")])]).encode())
elif kind == "layer-count-mismatch":
    a.file("manifest.json", json.dumps([docker(a, diff_ids=[sha(LAYER)] * 2)]).encode())
elif kind == "mediatype-lies-gzip":  # says gzip, is a plain tar
    oci(a, mt=MT_TAR + "+gzip")
elif kind == "mediatype-lies-none":  # says plain, is gzip
    gz = gzip.compress(LAYER, mtime=0)
    oci(a, layer=gz, mt=MT_TAR)
elif kind == "size-lies-layer":
    oci(a, layer_size=len(LAYER) + 1)
elif kind == "size-lies-config":
    oci(a, cfg_size=3)
elif kind == "size-lies-manifest":
    oci(a, man_size=1 << 40)
elif kind == "tag-invalid-annotation":
    oci(a, annotations={"io.containerd.image.name": "Bad Ref!!",
                        "org.opencontainers.image.ref.name": "../x"})
elif kind == "tag-digest-annotation":
    oci(a, annotations={"io.containerd.image.name": "busybox@" + sha(b"x")})
elif kind == "repotag-digest":
    a.file("manifest.json", json.dumps([docker(a, tags=("busybox@" + sha(b"x"),))]).encode())
elif kind == "repotag-invalid":
    a.file("manifest.json", json.dumps([docker(a, tags=("UPPER/Case:1",))]).encode())
elif kind == "layers-not-strings":  # a non-string would be skipped silently
    e = docker(a)
    e["Layers"].append({"path": "/etc/passwd"})
    a.file("manifest.json", json.dumps([e]).encode())
elif kind == "huge-json":  # manifest.json over the 16 MiB limit
    a.file("manifest.json", b"[" + b" " * (17 << 20) + b"]")
elif kind == "deep-json":
    a.file("manifest.json", b"[" * 100000 + b"]" * 100000)
elif kind == "truncated":
    a.file("manifest.json", json.dumps([docker(a)]).encode())
    data = a.bytes()
    data = data[: len(data) // 2 + 100]
elif kind == "deep-index":  # nested indexes: only index -> manifest is followed
    oci(a)
    (top,) = [json.loads(d)["manifests"][0] for i, d in a.members if i.name == "index.json"]
    a.members = [(i, d) for i, d in a.members if i.name != "index.json"]
    for _ in range(20):
        ix = json.dumps({"schemaVersion": 2, "manifests": [top]}).encode()
        top = {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": a.blob(ix),
               "size": len(ix)}
    a.file("index.json", json.dumps({"schemaVersion": 2, "manifests": [top]}).encode())
elif kind == "gzip-twice":
    a.file("manifest.json", json.dumps([docker(a)]).encode())
    data = gzip.compress(gzip.compress(a.bytes()))
else:
    sys.exit("unknown kind " + kind)
with open(out, "wb") as f:
    f.write(data if data is not None else a.bytes())
