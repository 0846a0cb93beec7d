#!/usr/bin/env bash
# Review 3 (issue 12, .dockerignore): the common allow-list idiom
#   *
#   !src
#   !package*.json
# with `COPY . /app/` copies src/ and package.json only, in BuildKit
# (DOCKER_BUILDKIT=1 docker build 20.10 on this very context, checked by hand;
# its second case too). kiln also copies
# every excluded directory below the context as an empty directory tree
# (node_modules/, node_modules/m/, logs/, ...): an exception with a
# wildcard makes the walker descend into excluded directories
# (df_ignore_may_reinclude_under, as fsutil does), and builder/context.c
# bld_context_visible then counts the directory itself as visible, where
# fsutil emits such a directory only once something under it is included.
# The same with `.git`, `node_modules`, `!*.md`: empty .git/ and
# node_modules/ trees in the image.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "build containers need root"
busybox_base "build containers need root"

C="$T/ctx"
mkdir -p "$C/src" "$C/node_modules/m/deep" "$C/logs" "$C/.git/objects"
echo s >"$C/src/s.js"
echo p >"$C/package.json"
echo l >"$C/package-lock.json"
echo i >"$C/node_modules/m/deep/i.js"
echo l >"$C/logs/1.log"
echo h >"$C/.git/HEAD"
echo r >"$C/README.md"
printf 'FROM busybox\nCOPY . /app/\n' >"$C/Dockerfile"

printf '*\n!src\n!package*.json\n' >"$C/.dockerignore"
run_ok "build with an allow-list .dockerignore" kiln build -q -t ign:1 "$C"
got=$(layers ign:1 | awk '{print $2, $NF}' | sort | tr '\n' ' ')
expect_eq "only src/ and package*.json are copied, no empty excluded dirs" "$got" \
	"d app d app/src f app/package-lock.json f app/package.json f app/src/s.js "

printf '.git\nnode_modules\n*.md\n!*.md\n' >"$C/.dockerignore"
run_ok "build with .git, node_modules excluded and !*.md" kiln build -q -t ign:2 "$C"
got=$(layers ign:2 | awk '{print $NF}' | grep -E '^app/(\.git|node_modules)' | tr '\n' ' ')
expect_eq "no empty .git/ or node_modules/ tree" "$got" ""
