#!/usr/bin/env bash
# kiln build against BuildKit (DOCKER_BUILDKIT=1 with the docker.io 20.10
# CLI, a private dockerd): the same Dockerfiles and context give the same
# config fields, the same history (created_by, empty_layer) and the same layer trees
# (paths, types, modes, owners, sizes, link targets, contents; not mtimes).
# Only what the 20.10 built-in frontend supports (no heredocs, --link,
# --exclude, --parents) and no RUN (the runtime is another issue).
. "$(dirname "$0")/lib.sh"

BB="$T/busybox.tar"
KILN_TEST_TMP="$T" "$KILN_SRC/testdata/make-busybox.sh" "$BB" >/dev/null 2>&1 ||
	skip_all "no static busybox (apt-get install busybox-static)"
. "$KILN_SRC/tests/e2e/dockerd.sh"
ok "private dockerd $(cat "$D/version") is up"
TREE="$KILN_SRC/tests/e2e/image_tree.py"

export SOURCE_DATE_EPOCH=1700000000
kiln import -m busybox -c 'CMD ["sh"]' "$BB" busybox:latest >/dev/null
kiln save -o "$T/bb.tar" busybox:latest && dk load -i "$T/bb.tar" >/dev/null ||
	{ not_ok "busybox into docker"; exit 1; }

C="$T/ctx"
mkdir -p "$C/sub/deep" "$C/dir2" "$C/x"
echo hello >"$C/a.txt"
echo bee >"$C/sub/b.sh" && chmod 0750 "$C/sub/b.sh"
echo deep >"$C/sub/deep/c.txt"
ln -s a.txt "$C/alink"
ln -s ../a.txt "$C/sub/up"
ln "$C/a.txt" "$C/hard.txt"
echo x >"$C/dir2/x.log" && echo y >"$C/dir2/y.txt"
echo s >"$C/secret.txt"
chown 1234:4321 "$C/a.txt"
chmod 0700 "$C/x"
tar -C "$C/sub" --owner=7 --group=8 -czf "$C/arch.tgz" deep
printf 'secret.txt\n*.log\n' >"$C/.dockerignore"

compare() { # NAME DOCKERFILE-TEXT
	local name=$1
	printf '%s\n' "$2" >"$C/Dockerfile"
	if ! kiln build -q -t "cmp:$name" "$C" >"$T/k.out" 2>&1; then
		not_ok "$name: kiln build"; sed 's/^/#   /' "$T/k.out"; return
	fi
	if ! DOCKER_BUILDKIT=1 dk build -q -t "cmp:$name" "$C" >"$T/d.out" 2>&1; then
		not_ok "$name: docker build"; sed 's/^/#   /' "$T/d.out"; return
	fi
	kiln save -o "$T/k.tar" "cmp:$name" && dk save -o "$T/d.tar" "cmp:$name"
	python3 "$TREE" "$T/k.tar" --skip 1 -v >"$T/k.txt"
	python3 "$TREE" "$T/d.tar" --skip 1 -v >"$T/d.txt"
	if diff "$T/d.txt" "$T/k.txt" >"$T/diff"; then ok "$name: same config, history and layers as BuildKit"
	else
		not_ok "$name: differs from BuildKit (< buildkit, > kiln)"; sed 's/^/#   /' "$T/diff" | head -40
	fi
}

compare metadata 'FROM busybox
ARG X=1
ENV A=1 B="two words" C=$X
LABEL l1=v1 "l 2"="v 2"
EXPOSE 80 53/udp 8000-8001
USER 1000:1000
VOLUME /data /logs
ENTRYPOINT ["/bin/sh"]
CMD ["-c", "echo"]
STOPSIGNAL SIGINT
HEALTHCHECK --interval=10s --retries=3 CMD true
SHELL ["/bin/sh", "-ec"]
ONBUILD LABEL child=1
MAINTAINER someone'

compare workdir 'FROM busybox
WORKDIR /srv/app
WORKDIR sub
WORKDIR /bin
USER nobody
WORKDIR /owned/by/user'

compare copy 'FROM busybox
WORKDIR /app
COPY a.txt ./
COPY a.txt alink /dst/
COPY a.txt /renamed.txt
COPY sub /tree/
COPY sub/deep /tree2
COPY dir2/*.txt /glob/
COPY x /x/
COPY . /all/'

compare owners 'FROM busybox
COPY --chown=nobody:nogroup a.txt /own/named
COPY --chown=123:456 sub /own/num/
COPY --chown=nobody sub/deep/c.txt /own/user-only
COPY --chmod=640 a.txt /mode/a
COPY --chmod=755 sub /mode/sub/'

compare add-and-stages 'FROM busybox AS first
ADD arch.tgz /x/
ADD a.txt /plain/
COPY sub/up /up
FROM busybox
COPY --from=first /x /y
COPY --from=busybox /bin/busybox /bb
COPY --from=0 /plain/a.txt /p.txt'
