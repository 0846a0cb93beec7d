#!/usr/bin/env python3
"""OCI image-spec validation for kiln's e2e tests (never touches the network).

  oci_validate.py SCHEMA_DIR fixtures FIXTURE_DIR   spec fixtures vs INDEX.tsv
  oci_validate.py SCHEMA_DIR examples EXAMPLE_DIR   spec examples (all must pass)
  oci_validate.py SCHEMA_DIR layout DIR [--docker]  an OCI layout: oci-layout,
        index.json and every manifest, index and config reachable from it;
        blobs must exist with the right size and sha256; with --docker also a
        docker-archive manifest.json next to it

Schemas are draft-04 with `$ref`s by file name; we inline every `$ref`
against the local files (by last path segment) and drop `id`s, so no
resolver or network is involved and any jsonschema version works. On top of
the schemas, the extra checks of upstream's Go validator: sha256/sha384/
sha512 digests are lower-case hex of the right length, urls are absolute
URIs, `data` is padded standard base64, config Env entries are K=V,
`created` is RFC 3339. Exit status 0 when everything matched.
"""
import base64
import binascii
import copy
import hashlib
import json
import os
import re
import sys

import jsonschema

MT_DESC = "application/vnd.oci.descriptor.v1+json"
MT_LAYOUT = "application/vnd.oci.layout.header.v1+json"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
ENTRY = {
    MT_DESC: "content-descriptor.json",
    MT_LAYOUT: "image-layout-schema.json",
    MT_MANIFEST: "image-manifest-schema.json",
    MT_INDEX: "image-index-schema.json",
    MT_CONFIG: "config-schema.json",
}
DOCKER_TO_OCI = {
    "application/vnd.docker.distribution.manifest.list.v2+json": MT_INDEX,
    "application/vnd.docker.distribution.manifest.v2+json": MT_MANIFEST,
    "application/vnd.docker.image.rootfs.diff.tar.gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.docker.container.image.v1+json": MT_CONFIG,
}
LAYER_TYPES = {
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
}
HEXLEN = {"sha256": 64, "sha384": 96, "sha512": 128}
URI_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s\"<>\\^`{|}]*$")
RFC3339_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
MAX_DOC = 4 << 20  # bytes; manifests and configs are small


class Schemas:
    def __init__(self, d):
        self.files = {}
        for name in os.listdir(d):
            if name.endswith(".json"):
                with open(os.path.join(d, name), encoding="utf-8") as f:
                    self.files[name] = json.load(f)
        self.validators = {}
        for mt, name in ENTRY.items():
            s = self._inline(self.files[name], name, 0)
            jsonschema.Draft4Validator.check_schema(s)
            self.validators[mt] = jsonschema.Draft4Validator(s)

    def _pointer(self, doc, frag):
        for part in [p for p in frag.split("/") if p]:
            doc = doc[part.replace("~1", "/").replace("~0", "~")]
        return doc

    def _inline(self, node, cur, depth):
        if depth > 50:
            raise ValueError("schema $ref nesting too deep")
        if isinstance(node, list):
            return [self._inline(x, cur, depth) for x in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            ref = node["$ref"]
            path, _, frag = ref.partition("#")
            fname = path.rsplit("/", 1)[-1] if path else cur
            target = self._pointer(self.files[fname], frag)
            out = self._inline(copy.deepcopy(target), fname, depth + 1)
            rest = {k: v for k, v in node.items() if k not in ("$ref", "id")}
            if rest:  # draft-04 ignores siblings of $ref; keep only descriptions
                rest = {k: v for k, v in rest.items() if k == "description"}
            return out
        return {k: self._inline(v, cur, depth) for k, v in node.items()
                if k != "id" and not (k == "$schema" and depth > 0)}

    def check(self, mt, doc):
        """Returns a list of error strings (empty = valid)."""
        errs = ["%s: %s" % ("/".join(str(p) for p in e.absolute_path) or "(root)", e.message)
                for e in self.validators[mt].iter_errors(doc)]
        if not errs:
            errs += extra_checks(mt, doc)
        return errs


def check_digest(d):
    alg, _, enc = d.partition(":")
    if alg in HEXLEN and not re.fullmatch("[0-9a-f]{%d}" % HEXLEN[alg], enc):
        return ["digest `%s`: %s needs %d lower-case hex digits" % (d, alg, HEXLEN[alg])]
    return []


def check_descriptor(desc, where):
    errs = []
    if not isinstance(desc, dict):
        return errs
    if isinstance(desc.get("digest"), str):
        errs += ["%s: %s" % (where, e) for e in check_digest(desc["digest"])]
    for u in desc.get("urls") or []:
        if not isinstance(u, str) or not URI_RE.match(u):
            errs.append("%s: url `%s` is not an absolute URI" % (where, u))
    if "data" in desc:
        try:
            base64.b64decode(desc["data"], validate=True)
        except (binascii.Error, ValueError, TypeError):
            errs.append("%s: data is not padded standard base64" % where)
    return errs


def extra_checks(mt, doc):
    errs = []
    if mt == MT_DESC:
        errs += check_descriptor(doc, "descriptor")
    elif mt == MT_MANIFEST:
        errs += check_descriptor(doc.get("config"), "config")
        for i, l in enumerate(doc.get("layers") or []):
            errs += check_descriptor(l, "layers/%d" % i)
        if "subject" in doc:
            errs += check_descriptor(doc["subject"], "subject")
    elif mt == MT_INDEX:
        for i, m in enumerate(doc.get("manifests") or []):
            errs += check_descriptor(m, "manifests/%d" % i)
        if "subject" in doc:
            errs += check_descriptor(doc["subject"], "subject")
    elif mt == MT_CONFIG:
        cfg = doc.get("config") or {}
        for e in cfg.get("Env") or []:
            if not re.fullmatch(r"[^=]+=.*", e, re.S):
                errs.append("config.Env entry `%s` is not K=V" % e)
        times = [doc.get("created")] + [h.get("created") for h in doc.get("history") or []]
        for t in times:
            if t is not None and not RFC3339_RE.match(t):
                errs.append("created `%s` is not RFC 3339" % t)
    return errs


def load_json(data):
    """Parses bytes as JSON; None if it is not (duplicate keys count as invalid)."""
    def no_dups(pairs):
        keys = [k for k, _ in pairs]
        if len(keys) != len(set(keys)):
            raise ValueError("duplicate key")
        return dict(pairs)
    try:
        return json.loads(data.decode("utf-8"), object_pairs_hook=no_dups)
    except (ValueError, UnicodeDecodeError):
        return None


def docker_to_oci(data):
    s = data.decode("utf-8", "replace")
    for k, v in DOCKER_TO_OCI.items():
        s = s.replace(k, v)
    return s.encode()


def run_index(sch, d, fixtures):
    counts = {"pass": [0, 0], "fail": [0, 0]}  # expected -> [matched, mismatched]
    with open(os.path.join(d, "INDEX.tsv"), encoding="utf-8") as f:
        rows = [l.rstrip("\n").split("\t") for l in f][1:]
    for row in rows:
        name, mt = row[0], row[3] if fixtures else row[2]
        expect = row[4] if fixtures else "pass"
        with open(os.path.join(d, name), "rb") as f:
            data = f.read()
        if name.startswith("backwards_compatibility"):
            data = docker_to_oci(data)
        doc = load_json(data)
        errs = ["not valid JSON"] if doc is None else sch.check(mt, doc)
        got = "fail" if errs else "pass"
        counts[expect][0 if got == expect else 1] += 1
        if got != expect:
            print("MISMATCH %s: expected %s, got %s %s" % (name, expect, got, errs[:2]))
    total_bad = counts["pass"][1] + counts["fail"][1]
    print("%s: %d documents, expected pass %d matched %d, expected fail %d matched %d, mismatches %d"
          % ("fixtures" if fixtures else "examples", len(rows), sum(counts["pass"]), counts["pass"][0],
             sum(counts["fail"]), counts["fail"][0], total_bad))
    return 1 if total_bad else 0


class Layout:
    def __init__(self, sch, root):
        self.sch, self.root, self.errs, self.seen = sch, root, [], {}
        self.stats = {"index": 0, "manifest": 0, "config": 0, "layer": 0}

    def err(self, msg):
        self.errs.append(msg)

    def blob(self, desc, where, keep=True):
        dg = desc.get("digest", "")
        alg, _, enc = dg.partition(":")
        p = os.path.join(self.root, "blobs", alg, enc)
        if alg != "sha256" or not os.path.isfile(p):
            self.err("%s: blob `%s` missing" % (where, dg))
            return None
        size = os.path.getsize(p)
        if size != desc.get("size"):
            self.err("%s: blob `%s` size %d, descriptor says %s" % (where, dg, size, desc.get("size")))
        h, data = hashlib.sha256(), bytearray()
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
                if keep and len(data) <= MAX_DOC:
                    data += chunk
        if h.hexdigest() != enc:
            self.err("%s: blob `%s` content hashes to sha256:%s" % (where, dg, h.hexdigest()))
        return bytes(data) if keep else None

    def doc(self, mt, data, where):
        if data is None:
            return None
        if len(data) > MAX_DOC:
            self.err("%s: document larger than %d bytes" % (where, MAX_DOC))
            return None
        d = load_json(data)
        if d is None:
            self.err("%s: not valid JSON" % where)
            return None
        for e in self.sch.check(mt, d):
            self.err("%s: %s" % (where, e))
        return d

    def walk_desc(self, desc, where):
        mt = DOCKER_TO_OCI.get(desc.get("mediaType"), desc.get("mediaType"))
        dg = desc.get("digest")
        if dg in self.seen:
            return
        self.seen[dg] = mt
        if mt == MT_INDEX:
            self.walk_index(self.doc(MT_INDEX, self.blob(desc, where), where), where)
        elif mt == MT_MANIFEST:
            self.walk_manifest(self.doc(MT_MANIFEST, self.blob(desc, where), where), where)
        else:
            self.err("%s: unexpected media type `%s` in an index" % (where, desc.get("mediaType")))

    def walk_index(self, idx, where):
        if idx is None:
            return
        self.stats["index"] += 1
        if idx.get("mediaType") not in (None, MT_INDEX):
            self.err("%s: index mediaType `%s`" % (where, idx.get("mediaType")))
        for i, m in enumerate(idx.get("manifests", [])):
            self.walk_desc(m, "%s/manifests/%d" % (where, i))

    def walk_manifest(self, man, where):
        if man is None:
            return
        self.stats["manifest"] += 1
        if man.get("mediaType") != MT_MANIFEST:
            self.err("%s: manifest mediaType `%s`" % (where, man.get("mediaType")))
        c = man["config"]
        if c.get("mediaType") != MT_CONFIG:
            self.err("%s: config mediaType `%s`" % (where, c.get("mediaType")))
        cfg = self.doc(MT_CONFIG, self.blob(c, where + "/config"), where + "/config")
        if c["digest"] not in self.seen:
            self.seen[c["digest"]] = MT_CONFIG
            self.stats["config"] += 1
        for i, l in enumerate(man["layers"]):
            if l.get("mediaType") not in LAYER_TYPES:
                self.err("%s/layers/%d: media type `%s`" % (where, i, l.get("mediaType")))
            if l["digest"] not in self.seen:
                self.seen[l["digest"]] = l.get("mediaType")
                self.stats["layer"] += 1
                self.blob(l, "%s/layers/%d" % (where, i), keep=False)
        if cfg is not None:
            ids = (cfg.get("rootfs") or {}).get("diff_ids") or []
            if len(ids) != len(man["layers"]):
                self.err("%s: %d layers but %d diff_ids" % (where, len(man["layers"]), len(ids)))
            for d in ids:
                for e in check_digest(d):
                    self.err("%s/config: diff_id %s" % (where, e))
            if (cfg.get("rootfs") or {}).get("type") != "layers":
                self.err("%s/config: rootfs.type must be `layers`" % where)

    def run(self, docker):
        for name in ("oci-layout", "index.json"):
            if not os.path.isfile(os.path.join(self.root, name)):
                self.err("%s missing" % name)
                return
        with open(os.path.join(self.root, "oci-layout"), "rb") as f:
            self.doc(MT_LAYOUT, f.read(), "oci-layout")
        with open(os.path.join(self.root, "index.json"), "rb") as f:
            self.walk_index(self.doc(MT_INDEX, f.read(), "index.json"), "index.json")
        if docker:
            self.docker_manifest()

    def docker_manifest(self):
        p = os.path.join(self.root, "manifest.json")
        if not os.path.isfile(p):
            self.err("manifest.json missing")
            return
        with open(p, "rb") as f:
            m = load_json(f.read())
        if not isinstance(m, list) or not m:
            self.err("manifest.json is not a non-empty array")
            return
        for i, e in enumerate(m):
            cfgp = os.path.join(self.root, e.get("Config", ""))
            if not os.path.isfile(cfgp):
                self.err("manifest.json/%d: Config `%s` missing" % (i, e.get("Config")))
                continue
            with open(cfgp, "rb") as f:
                data = f.read()
            self.doc(MT_CONFIG, data, "manifest.json/%d/Config" % i)
            for l in e.get("Layers", []):
                if not os.path.isfile(os.path.join(self.root, l)):
                    self.err("manifest.json/%d: layer `%s` missing" % (i, l))
            for t in e.get("RepoTags") or []:
                if ":" not in t.rsplit("/", 1)[-1]:
                    self.err("manifest.json/%d: RepoTag `%s` has no tag" % (i, t))


def main(argv):
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    sch = Schemas(argv[1])
    if argv[2] in ("fixtures", "examples"):
        return run_index(sch, argv[3], argv[2] == "fixtures")
    if argv[2] == "layout":
        lay = Layout(sch, argv[3])
        lay.run("--docker" in argv[4:])
        for e in lay.errs:
            print("ERROR " + e)
        s = lay.stats
        print("layout %s: %d index, %d manifest, %d config, %d layer; %d errors"
              % (argv[3], s["index"], s["manifest"], s["config"], s["layer"], len(lay.errs)))
        return 1 if lay.errs else 0
    print("unknown mode `%s`" % argv[2], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
