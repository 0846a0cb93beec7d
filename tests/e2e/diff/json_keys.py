#!/usr/bin/env python3
"""Prints the keys of the JSON object on stdin, sorted, one a line, each
with its value's JSON type (null, array, object, string, number, bool).

  json_keys.py [--drop KEY]... [--untyped KEY]...

--drop leaves KEY out; --untyped prints KEY without its type.
"""
import json
import sys

TYPES = {type(None): "null", list: "array", dict: "object", str: "string", int: "number", float: "number", bool: "bool"}
opts = {"--drop": set(), "--untyped": set()}
args = sys.argv[1:]
while args:
    if len(args) < 2 or args[0] not in opts:
        sys.exit("usage: json_keys.py [--drop KEY]... [--untyped KEY]...")
    opts[args[0]].add(args[1])
    args = args[2:]
obj = json.load(sys.stdin)
for key in sorted(obj):
    if key in opts["--untyped"]:
        print(key)
    elif key not in opts["--drop"]:
        print(key, TYPES[type(obj[key])])
