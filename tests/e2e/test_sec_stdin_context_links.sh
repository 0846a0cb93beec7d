#!/usr/bin/env bash
# Security: `kiln build -` reads a tar context from stdin, extracted under
# kiln's tmp dir, then read its Dockerfile (and .dockerignore) by path
# (builder/build.c read_dockerfile: kiln_read_file of <ctx>/Dockerfile), so
# a tar whose Dockerfile is a symlink to a host file (here one under $T)
# made kiln read that file as root and print its first line in the parse
# error. docker (daemon-side) and BuildKit resolve the Dockerfile inside
# the context; a symlink to an absolute path names a path in the context.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/ctx" "$T/host"
echo "HOST-SECRET-LINE" >"$T/host/secret"
ln -s "$T/host/secret" "$T/ctx/Dockerfile"
tar -C "$T/ctx" -cf "$T/ctx.tar" Dockerfile
run_fail "a tar context whose Dockerfile links out of it: fails" nonzero \
	kiln build -q - <"$T/ctx.tar"
expect_not_contains "the host file is not read" "$OUT" HOST-SECRET-LINE

# a link inside the context is followed, as docker's
rm "$T/ctx/Dockerfile"
printf 'FROM scratch\nLABEL from=real\n' >"$T/ctx/real.df"
ln -s real.df "$T/ctx/Dockerfile"
tar -C "$T/ctx" -cf "$T/ctx.tar" Dockerfile real.df
run_ok "a Dockerfile linking inside the tar context builds" kiln build -q - <"$T/ctx.tar"

# .dockerignore linking out: the host file is not taken as patterns
rm "$T/ctx/Dockerfile"
printf 'FROM scratch\nCOPY . /\n' >"$T/ctx/Dockerfile"
echo keep >"$T/ctx/keep"
printf 'keep\n' >"$T/host/ignore"
ln -s "$T/host/ignore" "$T/ctx/.dockerignore"
tar -C "$T/ctx" -cf "$T/ctx.tar" Dockerfile keep .dockerignore
rm -rf "$T/out"
kiln build -q -o "type=local,dest=$T/out" - <"$T/ctx.tar" >"$T/log" 2>&1
expect_eq "a .dockerignore linking out of the tar context is not read from the host" \
	"$(cat "$T/out/keep" 2>&1)" keep
