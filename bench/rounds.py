#!/usr/bin/env python3
"""Times commands in interleaved rounds, for benchmarks where the order
matters (a disk still writing back what the previous command wrote).

    rounds.py --runs N --export-json FILE NAME PREPARE COMMAND [NAME PREPARE COMMAND]...

Round r runs every command once, starting with command r mod k and going
round (with k commands, each is timed first in 1/k of the rounds); PREPARE
(a shell command, "" for none) runs untimed right before its COMMAND.
COMMAND is split on blanks and run without a shell, as `hyperfine -N`.
Writes hyperfine's --export-json layout (results: command, mean, stddev,
median, min, max, user, system, times) so the benchmarks' summaries read
either, and prints one line per command.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def timed(cmd):
    """Wall seconds and the user+system seconds of cmd and its children."""
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            fd = os.open(os.devnull, os.O_WRONLY)
            os.dup2(fd, 1)
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    _, status, ru = os.wait4(pid, 0)
    wall = time.monotonic() - t0
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit("rounds: %s exited with %d" % (" ".join(cmd), code))
    return wall, ru.ru_utime, ru.ru_stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, required=True)
    ap.add_argument("--export-json", required=True)
    ap.add_argument("triples", nargs="+")
    a = ap.parse_args()
    if len(a.triples) % 3:
        sys.exit("rounds: NAME PREPARE COMMAND triples expected")
    cmds = [a.triples[i:i + 3] for i in range(0, len(a.triples), 3)]
    res = {name: {"times": [], "user": [], "system": []} for name, _, _ in cmds}
    for r in range(a.runs):
        k = r % len(cmds)
        for name, prep, cmd in cmds[k:] + cmds[:k]:
            if prep:
                subprocess.run(prep, shell=True, check=True)
            wall, u, s = timed(cmd.split())
            res[name]["times"].append(wall)
            res[name]["user"].append(u)
            res[name]["system"].append(s)
    out = []
    for name, _, _ in cmds:
        t = res[name]["times"]
        out.append({"command": name, "mean": statistics.mean(t),
                    "stddev": statistics.stdev(t) if len(t) > 1 else None,
                    "median": statistics.median(t), "min": min(t), "max": max(t),
                    "user": statistics.mean(res[name]["user"]),
                    "system": statistics.mean(res[name]["system"]), "times": t})
        print("%-12s mean %7.3f s  sd %6.3f  median %7.3f  min %7.3f  max %7.3f  (%s)" % (
            name, out[-1]["mean"], out[-1]["stddev"] or 0, out[-1]["median"], min(t), max(t),
            " ".join("%.3f" % x for x in t)))
    with open(a.export_json, "w") as f:
        json.dump({"results": out}, f, indent=1)


if __name__ == "__main__":
    main()
