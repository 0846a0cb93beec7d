"""What the OCI layout fixtures (mkimage.py, mkindex.py, mklayers.py) share:
a layout directory that stores blobs, small tars, compact JSON."""
import hashlib
import io
import json
import os
import tarfile


def compact(obj, **kw):
    """obj as compact JSON bytes (json.dumps keywords pass through)."""
    return json.dumps(obj, separators=(",", ":"), **kw).encode()


def tar_of(files):
    """A PAX tar of regular files given as (name, bytes), mode 0644, mtime 0."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, body in files:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(body), 0o644, 0
            t.addfile(info, io.BytesIO(body))
    return raw.getvalue()


class Layout:
    """An OCI image layout at path: blobs/sha256 and oci-layout made when missing."""

    def __init__(self, path):
        self.path = path
        self.blobs = os.path.join(path, "blobs", "sha256")
        os.makedirs(self.blobs, exist_ok=True)
        marker = os.path.join(path, "oci-layout")
        if not os.path.exists(marker):
            with open(marker, "w") as f:
                f.write('{"imageLayoutVersion":"1.0.0"}')

    def put(self, data):
        """Stores data as a blob; returns {"digest": "sha256:...", "size": N}."""
        d = hashlib.sha256(data).hexdigest()
        with open(os.path.join(self.blobs, d), "wb") as f:
            f.write(data)
        return {"digest": "sha256:" + d, "size": len(data)}

    def write_index(self, media_type, desc, tag):
        """index.json naming one manifest or index (desc) tagged tag."""
        top = {"schemaVersion": 2, "manifests": [dict(mediaType=media_type,
               annotations={"org.opencontainers.image.ref.name": tag}, **desc)]}
        with open(os.path.join(self.path, "index.json"), "w") as f:
            json.dump(top, f)
