#!/usr/bin/env bash
# Review 3 (issue 12): `kiln build -t app:1 -o type=docker,dest=F` writes a
# docker archive whose image carries the build's tags, as BuildKit's docker
# exporter names it after -t (its `name` attribute): `docker load -i F`
# then prints "Loaded image: app:1", not a bare image ID. The OCI archive
# names the image the same way (io.containerd.image.name, as `kiln save
# --format oci` does). Without -t the archive stays unnamed.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "build containers need root"
busybox_base "build containers need root"

C="$T/ctx"
mkdir -p "$C"
echo hello >"$C/a"
printf 'FROM busybox\nCOPY a /a\n' >"$C/Dockerfile"

run_ok "build -t app:1 -t app:2 -o type=docker" \
	kiln build -q -t app:1 -t app:2 -o "type=docker,dest=$T/d.tar" "$C"
tags=$(tar -xOf "$T/d.tar" manifest.json | python3 -c 'import json,sys; print(" ".join(sorted(t for m in json.load(sys.stdin) for t in (m.get("RepoTags") or []))))')
expect_eq "the docker archive's RepoTags are the -t tags" "$tags" "app:1 app:2"
n=$(tar -xOf "$T/d.tar" manifest.json | python3 -c 'import json,sys; print(len({m["Config"] for m in json.load(sys.stdin)}))')
expect_eq "one image (config) in the docker archive" "$n" 1

run_ok "build -t app:1 -o type=oci" kiln build -q -t app:1 -o "type=oci,dest=$T/o.tar" "$C"
names=$(tar -xOf "$T/o.tar" index.json | python3 -c 'import json,sys; print(" ".join(m.get("annotations", {}).get("io.containerd.image.name", "-") for m in json.load(sys.stdin)["manifests"]))')
expect_eq "the OCI archive names the image after -t" "$names" "docker.io/library/app:1"

run_ok "build without -t -o type=docker" kiln build -q -o "type=docker,dest=$T/u.tar" "$C"
tags=$(tar -xOf "$T/u.tar" manifest.json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0].get("RepoTags"))')
expect_eq "without -t the archive is unnamed" "$tags" None
