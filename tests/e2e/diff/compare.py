#!/usr/bin/env python3
"""Compares the outputs test_docker_diff.sh collected (OUTD/NAME.{k,d}.{code,out,err})
after normalizing what must differ between kiln and docker, and prints TAP.

  compare.py OUTD KNOWN-DIFFERENCES FIRST-TAP-NUMBER

Normalized (each side on its own):
  - $DOCKER_CONFIG (both sides') reads <docker-config>;
  - the program name: "kiln" in kiln's output reads "docker";
  - "Error response from daemon: " (docker's CLI naming its daemon) reads "Error: ";
  - the side's registry ($DIFF_REG_K, $DIFF_REG_D: host:port) reads <registry>;
  - IDs (64 or 12 hex digits, with or without sha256:) that appear on one
    side only (things created at different times) become id1, id2, ... by
    first appearance, padded to their length; IDs both sides print stay;
  - times within a day of now (RFC 3339 or Go's "2006-01-02 15:04:05 -0700 MST")
    read <now>; ages under an hour ("Less than a second ago", "5 seconds ago",
    "About a minute ago", "1 second ago", "7 minutes ago") read <recent> ago, and then runs
    of spaces in that output read two spaces (the column widths follow).
KILN_DIFF_VERBOSE=1 in the environment shows the known differences too.
A case's STREAMS may add s: its stdout and stderr lines are compared as
sorted lists (docker lists the tags of one image in no stable order).
Exit: 0 all equal or known, 1 some differ, 2 bad input.
"""
import datetime
import difflib
import os
import re
import sys

outd, known_path, first = sys.argv[1], sys.argv[2], int(sys.argv[3])
STREAMS = {"c": "code", "o": "out", "e": "err"}

ID = re.compile(r"(?<![0-9a-f])(?:[0-9a-f]{64}|[0-9a-f]{12})(?![0-9a-f])")
RFC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)")
GOTIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? [+-]\d{4} [A-Z]+")
AGE = re.compile(r"(?:Less than a second|About a minute|\d+ seconds?|\d+ minutes?) ago")
NOW = datetime.datetime.now(datetime.timezone.utc)


def near_now(text):
    try:
        if text[10] == "T":  # RFC 3339 (a zone name may hold a T: "IST")
            t = datetime.datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", text.replace("Z", "+00:00")))
        else:
            d, h, z, _ = text.split(" ")
            t = datetime.datetime.strptime(d + " " + h.split(".")[0] + " " + z, "%Y-%m-%d %H:%M:%S %z")
    except ValueError:
        return False
    return abs((t - NOW).total_seconds()) < 86400


def read(name, side, stream):
    path = os.path.join(outd, "%s.%s.%s" % (name, side, stream))
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "replace")


def normalize(text, side, shared):
    cfg = os.environ.get("DOCKER_CONFIG")
    if cfg:  # login's warning names it; its temp path may say "kiln"
        text = text.replace(cfg, "<docker-config>")
    if side == "k":
        text = re.sub(r"\bkiln\b", "docker", text)
    text = text.replace("Error response from daemon: ", "Error: ")
    reg = os.environ.get("DIFF_REG_K" if side == "k" else "DIFF_REG_D")
    if reg:  # each side has a registry of its own
        text = text.replace(reg, "<registry>")
    ids = {}

    def id_sub(m):
        v = m.group(0)
        if v[:12] in shared:
            return v
        n = ids.setdefault(v[:12], "id%d" % (len(ids) + 1))
        return n + "_" * (len(v) - len(n))

    text = ID.sub(id_sub, text)
    text = RFC.sub(lambda m: "<now>" if near_now(m.group(0)) else m.group(0), text)
    text = GOTIME.sub(lambda m: "<now>" if near_now(m.group(0)) else m.group(0), text)
    if AGE.search(text):
        text = AGE.sub("<recent> ago", text)
        text = re.sub(r" {2,}", "  ", text)
    return text


def side_by_side(k, d):
    kl, dl = k.splitlines(), d.splitlines()
    w = max([len(x) for x in kl] + [20])
    w = min(w, 70)
    rows = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, kl, dl).get_opcodes():
        for n in range(max(i2 - i1, j2 - j1)):
            a = kl[i1 + n] if i1 + n < i2 else ""
            b = dl[j1 + n] if j1 + n < j2 else ""
            mark = " " if op == "equal" else "|"
            rows.append("#   %-*s %s %s" % (w, a, mark, b))
    return "\n".join(["#   %-*s   %s" % (w, "kiln", "docker")] + rows)


def load_known():
    known, bad = {}, []
    with open(known_path) as f:
        for no, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split(None, 2)
            if len(parts) < 3 or not set(parts[1]) <= set("coe"):
                bad.append("%s:%d: want CASE STREAMS REASON" % (known_path, no))
                continue
            for s in parts[1]:
                known[(parts[0], s)] = parts[2]
    return known, bad


def main():
    known, bad = load_known()
    n = first
    failed = False
    for b in bad:
        n += 1
        failed = True
        print("not ok %d - known-differences: %s" % (n, b))
    seen = set()
    with open(os.path.join(outd, "cases")) as f:
        cases = [line.rstrip("\n").split("\t", 2) for line in f if line.strip()]
    for name, streams, cmd in cases:
        n += 1
        if name in seen:
            failed = True
            print("not ok %d - %s: case name used twice" % (n, name))
            continue
        seen.add(name)
        raw = {(side, s): read(name, side, STREAMS[s]) for side in "kd" for s in "coe"}
        shared = set()
        for s in "oe":
            shared |= {m[:12] for m in ID.findall(raw[("k", s)])} & {m[:12] for m in ID.findall(raw[("d", s)])}
        diffs, notes = [], []
        for s in streams.replace("s", ""):
            k, d = normalize(raw[("k", s)], "k", shared), normalize(raw[("d", s)], "d", shared)
            if "s" in streams and s != "c":  # docker's order of an image's tags is not stable
                k, d = "".join(sorted(k.splitlines(True))), "".join(sorted(d.splitlines(True)))
            reason = known.get((name, s))
            if k == d:
                if reason:
                    notes.append("# %s %s matches now: remove it from known-differences" % (name, s))
                continue
            if reason:
                notes.append("# %s %s: known difference: %s" % (name, s, reason))
                if os.environ.get("KILN_DIFF_VERBOSE"):
                    notes.append(side_by_side(k, d))
                continue
            diffs.append("#  %s differs:\n%s" % (STREAMS[s], side_by_side(k, d)))
        for key in list(known):
            if key[0] == name and key[1] not in streams:
                notes.append("# %s %s: listed but not compared" % key)
        if diffs:
            failed = True
            print("not ok %d - %s: %s" % (n, name, cmd))
            print("\n".join(diffs))
        else:
            print("ok %d - %s: %s" % (n, name, cmd))
        if notes:
            print("\n".join(notes))
    for key in known:
        if key[0] not in seen:
            print("# known-differences names %s, which is not a case" % key[0])
    return 1 if failed else 0


sys.exit(main())
