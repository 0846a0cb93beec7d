#!/usr/bin/env bash
# kiln build against BuildKit (DOCKER_BUILDKIT=1 with the docker.io 20.10
# CLI, a private dockerd): the same Dockerfiles and context give the same
# config fields, the same history (created_by, empty_layer) and the same layer trees
# (paths, types, modes, owners, sizes, link targets, contents; not mtimes);
# at the end a built image passes skopeo inspect, umoci unpack, and kiln
# save | docker load | docker run.
# Only what the 20.10 built-in frontend supports (no heredocs, --link,
# --exclude, --parents): heredoc RUNs are compared by their file trees with
# the same script given to BuildKit as a shell-form RUN. RUN steps use the
# host network on both sides (dockerd here has no bridge).
#
# BuildKit 0.8 (docker 20.10) leaves the stubs of its mount points in RUN
# layers: an empty /etc (the /etc/hosts and /etc/resolv.conf stubs removed,
# the directory's new mtime kept) and the empty target directories of
# --mount. Later BuildKit removes them and restores the parent's times
# (moby/buildkit#3148, executor/stubs.go), as kiln does; STUBS names these
# directories, which are dropped from BuildKit's layers when nothing under
# them is in the layer.
#
# `--build-arg W` with W unset in the environment: docker 20.10 sends W=""
# to BuildKit; buildx and the classic builder leave W unset, as kiln does.
# The test sets W in the environment, which all of them read.
. "$(dirname "$0")/lib.sh"

need_busybox
. "$KILN_SRC/tests/e2e/dockerd.sh"
ok "private dockerd $(cat "$D/version") is up"
TREE="$KILN_SRC/tests/e2e/image_tree.py"

export SOURCE_DATE_EPOCH=1700000000
kiln import -m busybox -c 'CMD ["sh"]' "$BB" busybox:latest >/dev/null
dk_from_kiln busybox:latest ||
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
printf 'secret.txt\n*.log\nDockerfile.kiln\n' >"$C/.dockerignore"

# compare NAME DOCKERFILE-TEXT [BUILD-FLAGS...]: kiln and BuildKit build the
# same Dockerfile with the same flags. KDF, when set, is the Dockerfile kiln
# builds instead (then only the file trees and config are compared).
compare() {
	local name=$1 df=$2 hist=-v
	shift 2
	printf '%s\n' "$df" >"$C/Dockerfile"
	printf '%s\n' "${KDF:-$df}" >"$C/Dockerfile.kiln"
	[ -n "${KDF:-}" ] && hist=
	if ! kiln build -q --network host -f "$C/Dockerfile.kiln" -t "cmp:$name" "$@" "$C" >"$T/k.out" 2>&1; then
		not_ok "$name: kiln build"; sed 's/^/#   /' "$T/k.out"; return
	fi
	if ! DOCKER_BUILDKIT=1 dk build -q --network host -t "cmp:$name" "$@" "$C" >"$T/d.out" 2>&1; then
		not_ok "$name: docker build"; sed 's/^/#   /' "$T/d.out"; return
	fi
	kiln save -o "$T/k.tar" "cmp:$name" && dk save -o "$T/d.tar" "cmp:$name"
	python3 "$TREE" "$T/k.tar" --skip 1 $hist >"$T/k.txt"
	python3 "$TREE" "$T/d.tar" --skip 1 $hist --stubs "etc,${STUBS:-}" >"$T/d.txt"
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

# A compressed file that holds no tar is copied as it is, an empty tar too
# (BuildKit's isArchivePath); a wildcard that matches nothing copies nothing
# (AllowEmptyWildcard); every COPY is a layer, an empty one too; a declared
# proxy ARG is in the history as any ARG, an undeclared one only in the
# RUN's env. (No later compare copies the whole context.)
mkdir -p "$C/extra/empty"
gzip -c "$C/a.txt" >"$C/extra/a.txt.gz"
head -c 3000 /dev/zero | tr '\0' x | gzip >"$C/extra/junk.tar.gz"
tar -cf "$C/extra/empty.tar" -T /dev/null
compare odd-sources 'FROM busybox
ARG HTTP_PROXY
RUN echo "$HTTP_PROXY $https_proxy" >/proxies
COPY *.nomatch /none/
COPY extra/nomat* a.txt /some/
COPY extra/empty /
COPY extra/empty /made/
ADD extra/a.txt.gz extra/junk.tar.gz extra/empty.tar /gz/
ADD arch.tgz /tgz/' --build-arg HTTP_PROXY=http://p:3128 --build-arg https_proxy=undeclared

# ADD of http URLs (a python http.server on 127.0.0.1, stopped by PID):
# the download's name is path.Base of the parsed URL's path
# (dockerfile2llb): escapes decoded ("%2F" splits components, "%25" is
# "%"), query and fragment dropped, a trailing slash dropped, the root
# "__unnamed__"; without a trailing slash the destination is the file
W="$T/www"
mkdir -p "$W/sub" "$W/dir"
echo data >"$W/a b.txt" && echo slash >"$W/sub/x" && echo q >"$W/q.txt" && echo pct >"$W/100%"
echo idx >"$W/dir/index.html"
python3 - "$W" "$T/http.port" <<'PY' >/dev/null 2>&1 &
import functools, http.server, sys
h = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), h)
open(sys.argv[2] + ".tmp", "w").write(str(s.server_address[1]))
__import__("os").rename(sys.argv[2] + ".tmp", sys.argv[2])
s.serve_forever()
PY
at_exit "kill $!"
for _ in $(seq 100); do [ -s "$T/http.port" ] && break; sleep 0.1; done
U=http://127.0.0.1:$(cat "$T/http.port")
compare add-urls "FROM busybox
ADD $U/a%20b.txt /d1/
ADD $U/sub%2Fx /d2/
ADD $U/q.txt?x=1&y=/2 /d3/
ADD $U/dir/ /d4/
ADD $U/ /d5/
ADD $U/q.txt#frag /d6/
ADD $U/100%25 /d7/
ADD $U/sub%2fx /d8/renamed"

# ARG and ENV of one name: the later wins in the build's env (expansion,
# RUN), the config keeps the ENV; RUN's history lists every declared ARG,
# valued or not, with the value the build's env gives it
compare arg-env-order 'FROM busybox
ARG X=1
ENV X=2
ARG Y
ARG Q
RUN echo "$X $Y $Q" >/x
ENV Z=e
ARG Z=a
RUN echo "$Z" >/z
LABEL z=$Z
ENV Z=again
RUN echo "$Z" >/z2' --build-arg Q=q

# A stage FROM an earlier one keeps that stage's ARG values in its build
# env (BuildKit's state env) and fires its ONBUILD triggers; its RUN
# history lists only the ARGs it declares itself (0.8; later BuildKit lists
# the base stage's too)
df='FROM busybox AS one
ARG V=x
ARG W=w
ENV E=e
ONBUILD RUN echo "fired $V" >/fired
FROM one AS two
ARG V
RUN echo "v=$V w=$W e=$E" >/v
FROM two
RUN echo "v=$V w=$W" >/v2'
compare stage-args "$df" --build-arg V=cli

# --- RUN ----------------------------------------------------------------------
compare run-forms 'FROM busybox
RUN mkdir -p /a/b /a/keep && echo one >/a/b/f && ln -s f /a/b/l && ln /a/b/f /a/b/h && echo k >/a/keep/k
RUN ["/bin/sh", "-c", "echo exec >/exec.txt && rm /a/b/h"]
RUN rm /bin/vi /etc/group && rm -rf /a/b && mkdir /a/b && echo new >/a/b/g
RUN true
RUN ["true"]
RUN touch /a/keep/k
RUN chmod 0600 /a/keep/k && chmod 0751 /a && chown 12:34 /exec.txt && chown -h 5:6 /bin/sh
RUN ln /exec.txt /exec-link && mkdir -p /x/y && rmdir /x/y
RUN rm -rf /a/keep && mkdir /a/keep && echo fresh >/a/keep/n'

compare run-user 'FROM busybox
RUN echo "u:x:1500:1600::/home/u:/bin/sh" >>/etc/passwd && echo "g:x:1600:" >>/etc/group
USER u
WORKDIR /home/u/work
RUN echo "$(id -u):$(id -g) $(pwd)" >mine && mkdir sub
USER root
WORKDIR sub
RUN echo root >r
USER 1700:1800
WORKDIR /numeric/owner
ENV P=/bin
RUN echo "$P" >/tmp/p' --build-arg UNUSED=1

# Supplementary groups of a RUN (BuildKit 0.8 passes runc what its GetUser
# gives): the groups of /etc/group listing a user named without a group,
# never its primary gid; none without USER (root listed in a group too),
# none with an explicit group. (docker run's differ: users.cases.)
compare run-groups 'FROM busybox
RUN echo "v:x:1501:1601::/:/bin/sh" >>/etc/passwd && echo "gv:x:1601:" >>/etc/group && echo "ex:x:1700:v,root" >>/etc/group && echo "ex2:x:1701:v" >>/etc/group && mkdir -m 777 /g
RUN (id; grep Groups /proc/self/status) >/g/none
USER 0
RUN (id; grep Groups /proc/self/status) >/g/0
USER v
RUN (id; grep Groups /proc/self/status) >/g/v
USER 1501
RUN (id; grep Groups /proc/self/status) >/g/1501
USER v:gv
RUN (id; grep Groups /proc/self/status) >/g/v-gv
USER 1501:1601
RUN (id; grep Groups /proc/self/status) >/g/1501-1601
USER 4444
RUN (id; grep Groups /proc/self/status) >/g/4444'

# A RUN's sandbox (BuildKit 0.8's, whatever the network): its own
# hostname "buildkitsandbox" on the host network too, a two-line
# /etc/hosts naming it, no /etc/hostname bound (an image's own is seen, and
# one a RUN writes is in its layer)
compare run-sandbox 'FROM busybox
RUN hostname >/hn && echo "$HOSTNAME" >>/hn && cat /etc/hosts >/hosts && (test -e /etc/hostname && echo yes || echo no) >/has-hostname
RUN echo from-image >/etc/hostname
RUN cat /etc/hostname >/hn-file'

export W=from-env
compare run-args 'ARG BASE=busybox
FROM $BASE AS one
ARG V=default
ARG W
ENV FROM_ENV=e
RUN echo "$V $W $FROM_ENV" >/v.txt && env | grep -c . >/dev/null
LABEL stage=one
FROM one AS two
RUN echo two >/two.txt
FROM busybox AS three
RUN echo three >/three.txt' --build-arg V=given --build-arg W --target two --label from=cli

STUBS=cache,mnt,ctx,scratch,run,run/secrets compare run-mounts 'FROM busybox AS src
RUN mkdir /data && echo from-stage >/data/x
FROM busybox
RUN --mount=type=cache,target=/cache echo c >/cache/f && ls /cache >/cache-list
RUN --mount=type=bind,from=src,source=/data,target=/mnt cp /mnt/x /copied
RUN --mount=type=bind,target=/ctx cat /ctx/a.txt >/from-ctx
RUN --mount=type=bind,source=sub,target=/ctx,rw echo w >/ctx/new && ls /ctx >/ctx-list
RUN --mount=type=tmpfs,target=/scratch touch /scratch/t && ls /scratch >/tmpfs-list
RUN --mount=type=secret,id=tok wc -c </run/secrets/tok >/secret-size
RUN --mount=type=secret,id=tok,target=/etc/tok,mode=0400,uid=1,gid=2 stat -c "%a %u %g" /etc/tok >/secret-stat' \
	--secret "id=tok,src=$C/secret.txt"

script='mkdir -p /hd && echo "heredoc $V" >/hd/one
ln -s one /hd/two'
KDF='FROM busybox
ARG V=x
RUN <<EOT
'"$script"'
EOT
RUN cat >/hd/three <<EOF
three
EOF' compare run-heredoc 'FROM busybox
ARG V=x
RUN '"$(printf '%s' "$script" | sed 's/$/ \&\&/; $s/ &&$//' | tr '\n' ' ')"'
RUN printf "three\n" >/hd/three'

# The rest of what the 20.10 frontend has: platform args, ADD --chown,
# cache mount options, a bind from an image, an ssh mount (RUN --network is
# in its labs channel only), with an ssh-agent of this test, stopped by PID.
# SSH_AUTH_SOCK is the first ssh mount's target even when no agent is
# forwarded for it, the Nth ssh mount (not Nth mount) is ssh_agent.N, and
# an ENV SSH_AUTH_SOCK is kept.
# Not ADD --chown of a tar: BuildKit 0.8 keeps the archive's owners, later
# BuildKit applies --chown to what it extracts (file/unpack.go), as kiln does.
command -v ssh-agent >/dev/null || { echo "# no ssh-agent (scripts/deps.sh: openssh-client)"; exit 1; }
eval "$(ssh-agent -a "$T/agent.sock")" >/dev/null
at_exit "kill $SSH_AGENT_PID"
STUBS=c1,c2,c3,img,run,run/buildkit compare run-flags 'FROM --platform=$BUILDPLATFORM busybox AS b
ARG TARGETPLATFORM
ARG TARGETOS
ARG TARGETARCH
ARG BUILDPLATFORM
RUN echo "$TARGETPLATFORM $TARGETOS $TARGETARCH $BUILDPLATFORM" >/platform
ADD --chown=nobody:nogroup a.txt sub /added/
RUN --mount=type=cache,target=/c1,id=shared-id,sharing=shared,uid=7,gid=8,mode=0710 stat -c "%a %u %g" /c1 >/c1-stat
RUN --mount=type=cache,target=/c2,sharing=private ls -la /c2 | wc -l >/c2-count
RUN --mount=type=cache,target=/c3,sharing=locked,id=shared-id stat -c "%a %u %g" /c3 >/c3-stat
RUN --mount=type=bind,from=busybox,source=/etc,target=/img cat /img/passwd | wc -l >/img-lines
RUN --mount=type=ssh test -S /run/buildkit/ssh_agent.0 && echo sock >/ssh
RUN --mount=type=ssh,id=absent,target=/run/a1 --mount=type=ssh ls /run/buildkit >/ssh-list && echo "$SSH_AUTH_SOCK" >/ssh-sock && test ! -e /run/a1
ENV SSH_AUTH_SOCK=/mine
RUN --mount=type=ssh echo "$SSH_AUTH_SOCK" >/ssh-env' --ssh default

# --- more of the 20.10 frontend ------------------------------------------------
# Metadata across stages: ENV's old form, PATH extended, a LABEL continued
# over lines and overridden, STOPSIGNAL by number, HEALTHCHECK's every
# option (shell form), NONE and exec form, ONBUILD ENV and COPY fired by a
# later stage, ENTRYPOINT resetting an inherited CMD, SHELL used by a RUN
# and by CMD/ENTRYPOINT's shell form, USER/WORKDIR/EXPOSE from variables.
compare more-metadata 'FROM busybox AS base
ENV PATH=$PATH:/opt/bin A=1
ENV OLD form with spaces
LABEL multi="line \
continued" a=b
CMD ["from-base"]
STOPSIGNAL 9
HEALTHCHECK --interval=5s --timeout=3s --start-period=2s --retries=4 CMD wget -q http://localhost/ || exit 1
EXPOSE 80/tcp 80 443/udp
ONBUILD ENV TRIGGERED=yes
ONBUILD COPY a.txt /onbuild.txt
FROM base AS child
ENTRYPOINT ["/bin/echo"]
LABEL a=override
HEALTHCHECK NONE
FROM child AS hcexec
HEALTHCHECK CMD ["/bin/true", "x"]
FROM child
SHELL ["/bin/sh", "-ec"]
RUN echo "via $0" >/shell.txt
CMD echo shell-form cmd
ENTRYPOINT echo shell-form entry
ARG U=nobody
USER $U
WORKDIR ${HOME:-/home}/w
EXPOSE ${PORT:-8080}
VOLUME ["/v1", "/v2"]
STOPSIGNAL SIGQUIT'
compare more-healthcheck "$(printf 'FROM busybox\nHEALTHCHECK CMD ["/bin/true", "x"]')"

# COPY and ADD: through a symlinked destination (absolute and relative),
# a directory merged over one holding a symlink, ? and [] wildcards,
# --chown by name, by name and number mixed, with --chmod, on a directory
# and with --from an image, --chmod=0, uncompressed, bzip2 and xz tars,
# a directory holding a tar (copied, not extracted), a tar into a new deep
# directory, relative destinations under WORKDIR, a UTF-8 file name
# (kiln's tar writers once needed a UTF-8 locale for one). (Not --chmod with
# setuid/setgid/sticky bits: BuildKit 0.8 drops them, a bug fixed later
# (moby/buildkit#3920, tonistiigi/fsutil#168); kiln keeps them as chmod
# does.)
M="$C/more"
mkdir -p "$M/d/e" "$M/tarsrc" "$M/wrap"
echo b >"$M/b.txt" && chmod 0604 "$M/b.txt"
echo x >"$M/d/e/x" && echo y >"$M/d/y" && ln -s e "$M/d/elink" && ln -s /nonexist "$M/d/dangling"
chmod 2755 "$M/d"
for f in c1 c2 ca; do echo "$f" >"$M/$f.txt"; done
echo utf8 >"$M/café €.txt"
echo t >"$M/tarsrc/t"
tar -cf "$M/plain.tar" -C "$M/tarsrc" t && tar -cjf "$M/bz.tar.bz2" -C "$M/tarsrc" t &&
	tar -cJf "$M/xz.tar.xz" -C "$M/tarsrc" t && cp "$M/plain.tar" "$M/wrap/"
compare more-copy 'FROM busybox
RUN mkdir -p /real /over && ln -s /real /linkdir && ln -s real /rel && echo old >/over/x && ln -s /over/x /over/sym && echo "u:x:1500:1600::/home/u:/bin/sh" >>/etc/passwd && echo "g:x:1600:" >>/etc/group
COPY a.txt /linkdir/
COPY more/b.txt /rel/sub/
COPY more/d /over/
COPY more/c?.txt /q/
COPY more/c[12].txt /cls/
COPY more/caf* /utf8/
COPY --chown=u:g --chmod=600 a.txt more/b.txt /both/
COPY --chown=u more/d /own-u/
COPY --chown=1500:g a.txt /mixed1
COPY --chown=u:1777 a.txt /mixed2
COPY --from=busybox --chown=u:g /etc/passwd /from-img/
COPY --chmod=0 a.txt /zero
ADD more/plain.tar more/bz.tar.bz2 more/xz.tar.xz /tars/
ADD more/wrap /wrapped/
ADD more/plain.tar /new/dir/deep/
WORKDIR /wd
COPY a.txt .
COPY a.txt ./sub/
COPY a.txt rel-file'

# RUN: changes under a VOLUME kept (BuildKit, unlike the classic
# builder), nested whiteouts, a hardlink whose source is deleted, a fifo, a
# symlink replaced by a directory (opaque) and a directory by a symlink, a
# file made and removed in one step (and one with a UTF-8 name), exec form, a cache mount seeded from
# a stage, a missing optional secret, a required one, an ssh socket at a
# target, a bind of one context file, a tmpfs over a VOLUME. (The
# missing secret comes before any secret mount: BuildKit 0.8 leaves
# /run/secrets behind as a mount stub; the ssh target is not under /tmp,
# whose mtime 0.8 would leave changed; the ssh-agent is run-flags'.)
STUBS=cm,run,run/secrets,vol,agent compare more-run 'FROM busybox AS seed
RUN mkdir -p /seed && echo seeded >/seed/s
FROM busybox
VOLUME /vol
RUN mkdir -p /vol/sub && echo in-volume >/vol/sub/f && echo x >/outside
RUN mkdir -p /t/a/b/c /t/keep && echo 1 >/t/a/b/c/f && echo 2 >/t/a/b/g && echo k >/t/keep/k && ln /t/a/b/g /t/keep/hl
RUN rm -rf /t/a/b && rm /t/keep/k && mkfifo /t/fifo && ln -s /t/keep /t/a/sl
RUN rm /t/a/sl && mkdir /t/a/sl && echo d >/t/a/sl/d && rm -rf /t/keep && ln -s /etc /t/keep && echo new >/t/keep2
RUN echo gone >/tmp/x && rm /tmp/x && touch /tmp/y && rm /tmp/y && echo n >/t/ö-name
RUN ["sh", "-c", "echo $HOME $0 >/exec-env"]
RUN --mount=type=secret,id=missing ls /run/secrets >/sec-missing 2>&1 || echo none >/sec-missing
RUN --mount=type=cache,target=/cm,from=seed,source=/seed cat /cm/s >/from-cache-seed
RUN --mount=type=secret,id=tok,required=true cat /run/secrets/tok >/dev/null && echo ok >/sec-ok
RUN --mount=type=ssh,target=/agent/sock test -S /agent/sock && echo sock >/ssh-target
RUN --mount=type=bind,source=a.txt,target=/bound.txt cat /bound.txt >/bound-copy
RUN --mount=type=tmpfs,target=/vol ls /vol >/tmpfs-over-volume
RUN echo "$(id -u) $(pwd) $(umask)" >/ctx' --secret "id=tok,src=$C/secret.txt" --ssh default

# --- progress step names -----------------------------------------------------------
# The "[stage i/n] INSTRUCTION" lines of --progress=plain: BuildKit shows
# and numbers only FROM, RUN, COPY, ADD and WORKDIR (config-only
# instructions have no vertex). FROM names the normalized reference, no
# tag added (busybox -> docker.io/library/busybox). A RUN's name has the stage's
# variables expanded, quotes and unset variables kept as written (kiln
# keeps escapes too: the 20.10 frontend drops a backslash there, so none is
# in this Dockerfile); WORKDIR, COPY and ADD are expanded as their
# arguments are (quotes removed, defaults taken).
steps() { sed -n 's/^#[0-9]* \(\[[^]]*\] \(FROM\|RUN\|COPY\|ADD\|WORKDIR\|LABEL\|ENV\|ARG\|USER\|EXPOSE\|CMD\) .*\)/\1/p' "$1" | sort -u; }
printf '%s\n' 'FROM busybox AS base
LABEL a="b c" "d e"=f
ENV X="1 2" Y=z D=/dst
ARG V=1
RUN echo "$X" $V '"'"'$Y'"'"' ${UNSET:-dflt} $UNSET >/x
WORKDIR /w/$V/"q r"
FROM scratch AS s
COPY a.txt /
FROM base
USER nobody
COPY --chown=nobody a.txt ./
ADD sub $D/${UNSET:-sub}/
COPY --from=s /a.txt $D/s.txt
EXPOSE 80
CMD ["sh"]' >"$C/Dockerfile"
# and the "naming to" lines of the tags (no tag added where none is given;
# kiln prints them as timed log lines, BuildKit as untimed statuses; a
# status still running at one of BuildKit's ticks is printed again once
# done, so the finished lines are compared)
names() { sed -n 's/^#[0-9]* \([0-9.]* \)\{0,1\}\(naming to .* done\)$/\2/p' "$1"; }
if kiln build --progress plain --network host --no-cache -t pn -t pn2:2 "$C" >"$T/k.out" 2>&1 &&
	DOCKER_BUILDKIT=1 dk build --progress plain --network host --no-cache -t pn -t pn2:2 "$C" >"$T/d.out" 2>&1; then
	if diff <(steps "$T/d.out") <(steps "$T/k.out") >"$T/diff"; then
		ok "progress: the same step names and numbers as BuildKit ($(steps "$T/k.out" | wc -l) steps)"
	else
		not_ok "progress step names differ (< buildkit, > kiln)"; sed 's/^/#   /' "$T/diff"
	fi
	expect_eq "progress: the same \"naming to\" lines as BuildKit" "$(names "$T/k.out")" "$(names "$T/d.out")"
	expect_contains "... for both tags" "$(names "$T/k.out")" "docker.io/library/pn2:2"
else
	not_ok "progress builds"; tail -5 "$T/k.out" "$T/d.out" | sed 's/^/#   /'
fi

# --- a built image in other tools ---------------------------------------------
# skopeo and umoci read it from the store (an OCI layout); `kiln save` loads
# into docker, which runs it.
printf 'FROM busybox AS b\nRUN echo built-by-kiln >/msg\nFROM busybox\nCOPY --from=b /msg /msg\nRUN rm /bin/vi && ln /msg /msg2\nUSER nobody\nCMD ["cat", "/msg", "/msg2"]\n' >"$C/Dockerfile"
run_ok "build for the other tools" kiln build -q -t interop:1 "$C"
REF="oci:$ROOT/images:docker.io/library/interop:1"
run_ok "skopeo inspect" skopeo inspect "$REF"
expect_eq "skopeo sees three layers" "$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["Layers"]))')" 3
run_ok "skopeo inspect --config" skopeo inspect --config "$REF"
expect_contains "skopeo reads the config" "$OUT" '"User": "nobody"'
run_ok "umoci unpack" umoci unpack --image "$ROOT/images:docker.io/library/interop:1" "$T/bundle"
expect_eq "umoci: the COPYed file" "$(cat "$T/bundle/rootfs/msg2" 2>&1)" built-by-kiln
expect_eq "umoci: the whiteout applied" "$(ls "$T/bundle/rootfs/bin/vi" 2>&1 | grep -c 'No such')" 1
expect_eq "umoci: the hardlink kept" "$(stat -c %h "$T/bundle/rootfs/msg" 2>&1)" 2
rm -rf "$T/bundle"
run_ok "kiln save" kiln save -o "$T/interop.tar" interop:1
run_ok "docker load" dk load -i "$T/interop.tar"
expect_contains "docker names it" "$OUT" "interop:1"
run_ok "docker runs it" dk run --rm --network none interop:1
expect_eq "docker run output" "$OUT" "built-by-kiln
built-by-kiln"
