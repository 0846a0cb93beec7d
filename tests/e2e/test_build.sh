#!/usr/bin/env bash
# kiln build: metadata instructions, COPY rules (destinations, owners,
# modes, links, .dockerignore, --exclude, --parents, --chown, --chmod),
# WORKDIR layers, errors with Dockerfile:LINE, nothing tagged on failure.
. "$(dirname "$0")/lib.sh"

busybox_base "layer snapshots need root"
cfg_json() { # IMAGE -> config JSON
	local id; id=$(kiln inspect -f '{{.Id}}' "$1") && cat "$ROOT/images/blobs/sha256/${id#sha256:}"
}
py() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

C="$T/ctx"
mkdir -p "$C/sub/deep" "$C/dir2" "$C/ign/keep"
echo hello >"$C/a.txt"
echo bee >"$C/sub/b.sh"
chmod 0750 "$C/sub/b.sh"
echo deep >"$C/sub/deep/c.txt"
ln -s a.txt "$C/alink"
ln -s ../../etc/passwd "$C/sub/outlink"
ln "$C/a.txt" "$C/hard.txt"
echo x >"$C/dir2/x.log"
echo y >"$C/dir2/y.txt"
echo secret >"$C/secret.txt"
echo gone >"$C/ign/drop.txt"
echo kept >"$C/ign/keep/k.txt"
chown 1234:4321 "$C/a.txt" "$C/sub/deep/c.txt"
printf 'secret.txt\nign\n!ign/keep\n' >"$C/.dockerignore"

# --- metadata ----------------------------------------------------------------
cat >"$C/Dockerfile" <<'EOF2'
FROM busybox
ARG VERSION=1.0
ARG HTTP_PROXY
ENV APP_HOME=/srv/app NAME="my app" VERSION=$VERSION
LABEL org.example.name="$NAME" version=$VERSION
EXPOSE 80 443/udp 8000-8001
USER nobody
VOLUME ["/data", "/logs"]
WORKDIR $APP_HOME
CMD ["run"]
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["serve", "--port=80"]
SHELL ["/bin/sh", "-ec"]
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=3s --retries=2 CMD wget -q -O- localhost || exit 1
ONBUILD COPY . /app/src
MAINTAINER someone@example.com
EOF2
run_ok "build metadata image" kiln build -q --build-arg VERSION=2.5 --build-arg HTTP_PROXY=http://proxy:3128 \
	--build-arg HTTPS_PROXY=http://hidden:3128 --label extra=yes -t meta:1 "$C"
ID=$OUT
expect_contains "-q prints the image ID" "$ID" "sha256:"
expect_eq "the tag points at it" "$(kiln inspect -f '{{.Id}}' meta:1)" "$ID"
cfg=$(cfg_json meta:1)
expect_eq "ENV from a build arg" "$(echo "$cfg" | py 'd["config"]["Env"]')" \
	"['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'APP_HOME=/srv/app', 'NAME=my app', 'VERSION=2.5']"
expect_eq "LABEL expanded, --label added" "$(echo "$cfg" | py 'sorted(d["config"]["Labels"].items())')" \
	"[('extra', 'yes'), ('org.example.name', 'my app'), ('version', '2.5')]"
expect_eq "EXPOSE ports" "$(echo "$cfg" | py 'sorted(d["config"]["ExposedPorts"])')" \
	"['443/udp', '80/tcp', '8000/tcp', '8001/tcp']"
expect_eq "USER" "$(echo "$cfg" | py 'd["config"]["User"]')" "nobody"
expect_eq "VOLUME" "$(echo "$cfg" | py 'sorted(d["config"]["Volumes"])')" "['/data', '/logs']"
expect_eq "WORKDIR expanded" "$(echo "$cfg" | py 'd["config"]["WorkingDir"]')" "/srv/app"
expect_eq "ENTRYPOINT" "$(echo "$cfg" | py 'd["config"]["Entrypoint"]')" "['/bin/sh', '-c']"
expect_eq "CMD after ENTRYPOINT kept" "$(echo "$cfg" | py 'd["config"]["Cmd"]')" "['serve', '--port=80']"
expect_eq "SHELL" "$(echo "$cfg" | py 'd["config"]["Shell"]')" "['/bin/sh', '-ec']"
expect_eq "STOPSIGNAL" "$(echo "$cfg" | py 'd["config"]["StopSignal"]')" "SIGTERM"
expect_eq "HEALTHCHECK" "$(echo "$cfg" | py 'd["config"]["Healthcheck"]')" \
	"{'Test': ['CMD-SHELL', 'wget -q -O- localhost || exit 1'], 'Interval': 30000000000, 'Timeout': 3000000000, 'Retries': 2}"
expect_eq "ONBUILD stored" "$(echo "$cfg" | py 'd["config"]["OnBuild"]')" "['COPY . /app/src']"
expect_eq "MAINTAINER is the author" "$(echo "$cfg" | py 'd["author"]')" "someone@example.com"
expect_eq "metadata steps are empty_layer history entries (ONBUILD adds none, as BuildKit)" \
	"$(echo "$cfg" | py '[h.get("empty_layer", False) for h in d["history"][1:]]')" \
	"[True, True, True, True, True, True, True, False, True, True, True, True, True, True, True]"
expect_eq "one layer more than busybox (WORKDIR made /srv/app)" "$(echo "$cfg" | py 'len(d["rootfs"]["diff_ids"])')" "2"
hist=$(echo "$cfg" | py '"|".join(h.get("created_by", "") for h in d["history"])')
expect_contains "history names ARG" "$hist" "ARG VERSION=1.0"
# docker: a proxy arg the Dockerfile declares is "preserved in the history";
# the undeclared ones never reach it
expect_contains "a declared proxy ARG is in the history, as docker's" "$hist" "|ARG HTTP_PROXY|"
expect_not_contains "undeclared proxy args stay out of history" "$hist" "HTTPS_PROXY"
expect_not_contains "proxy values stay out of history" "$hist" "proxy:3128"
expect_not_contains "undeclared proxy values stay out of history" "$hist" "hidden:3128"
expect_eq "history created is the config's" "$(echo "$cfg" | py 'd["history"][-1]["created"] == d["created"]')" "True"
expect_contains "WORKDIR layer owned by the stage user" "$(layers meta:1)" "1 d 0755 65534:65534 0 srv/app"

# --- COPY ----------------------------------------------------------------------
cat >"$C/Dockerfile" <<'EOF2'
FROM busybox
ENV WHO=world
WORKDIR /w
COPY a.txt rel.txt
COPY a.txt alink /dst/
COPY sub /tree/
COPY sub/deep /tree2
COPY --chown=nobody:nogroup --chmod=640 a.txt /own/named
COPY --chown=123:456 --chmod=u+x,go-r sub/deep/c.txt /own/num
COPY dir2/*.txt /glob/
COPY --exclude=*.log dir2 /excl/
COPY --parents sub/deep/c.txt /par/
COPY a.txt hard.txt /links/
COPY . /all/
COPY <<EOT /here.txt
hello $WHO
EOT
EOF2
run_ok "build COPY image" kiln build -q -t copy:1 "$C"
L=$(layers copy:1)
expect_contains "WORKDIR /w is a layer" "$L" "1 d 0755 0:0 0 w"
expect_contains "relative dest under WORKDIR, owner 0:0 not the context's" "$L" "2 f 0644 0:0 6 w/rel.txt"
expect_contains "file into dir/" "$L" "3 f 0644 0:0 6 dst/a.txt"
expect_contains "a symlink source is followed (copied as its target)" "$L" "3 f 0644 0:0 6 dst/alink"
expect_contains "hardlinks between sources are not kept" "$L" "11 f 0644 0:0 6 links/hard.txt"
expect_contains "dir contents, not the dir" "$L" "4 f 0750 0:0 4 tree/b.sh"
expect_not_contains "no sub/ level" "$L" "tree/sub"
expect_contains "nested dir kept" "$L" "4 f 0644 0:0 5 tree/deep/c.txt"
expect_contains "link inside a dir copied as a link" "$L" "4 l 0777 0:0 0 tree/outlink -> ../../etc/passwd"
expect_contains "dir to a new name without slash" "$L" "5 f 0644 0:0 5 tree2/c.txt"
expect_contains "--chown by name, --chmod octal" "$L" "6 f 0640 65534:65534 6 own/named"
expect_contains "created parent owned by --chown user" "$L" "6 d 0755 65534:65534 0 own"
expect_contains "--chown by id, --chmod symbolic" "$L" "7 f 0700 123:456 5 own/num"
expect_contains "wildcard" "$L" "8 f 0644 0:0 2 glob/y.txt"
expect_not_contains "wildcard selects only matches" "$L" "glob/x.log"
expect_contains "--exclude keeps others" "$L" "9 f 0644 0:0 2 excl/y.txt"
expect_not_contains "--exclude drops matches" "$L" "excl/x.log"
expect_contains "--parents keeps the source path" "$L" "10 f 0644 0:0 5 par/sub/deep/c.txt"
expect_contains "hardlinks inside a copied dir kept" "$L" "12 h 0644 0:0 0 all/hard.txt -> all/a.txt"
expect_contains "COPY . takes the context" "$L" "12 f 0644 0:0 6 all/a.txt"
expect_not_contains ".dockerignore hides a file" "$L" "all/secret.txt"
expect_not_contains ".dockerignore hides a dir" "$L" "all/ign/drop.txt"
expect_contains ".dockerignore exception re-includes" "$L" "12 f 0644 0:0 5 all/ign/keep/k.txt"
expect_contains "heredoc file, variables expanded" "$L" "13 f 0644 0:0 12 here.txt"

# --chmod symbolic as BuildKit applies it (BSD setmode through
# dchapes-mode, umask 0): several operations in one clause, a class copied
# (go=u), X with + only (a=rX gives 0444 to files and dirs alike), t; s
# ignored for o alone
printf 'FROM busybox\nCOPY --chmod=u+x-w sub/b.sh /s/1\nCOPY --chmod=go=u-w sub/b.sh /s/2\nCOPY --chmod=a=rX sub/deep /s/3/\nCOPY --chmod=a+X sub /s/4/\nCOPY --chmod=+t,o+s a.txt /s/5\nCOPY --chown=:nogroup a.txt /s/6\n' >"$T/chmod.Dockerfile"
run_ok "build --chmod symbolic image" kiln build -q -f "$T/chmod.Dockerfile" -t chmod:1 "$C"
L=$(layers chmod:1)
expect_contains "--chmod=u+x-w: two operations in a clause" "$L" "1 f 0550 0:0 4 s/1"
expect_contains "--chmod=go=u-w: a class copied" "$L" "2 f 0755 0:0 4 s/2"
expect_contains "--chmod=a=rX: X counts with + only" "$L" "3 f 0444 0:0 5 s/3/c.txt"
expect_contains "--chmod=a+X: x for a file with an x bit" "$L" "4 f 0751 0:0 4 s/4/b.sh"
expect_contains "--chmod=a+X: not for one without" "$L" "4 f 0644 0:0 5 s/4/deep/c.txt"
expect_contains "--chmod=+t,o+s: sticky, no set-id for o" "$L" "5 f 1644 0:0 6 s/5"
expect_contains "--chown=:group: root's user with that group (BuildKit)" "$L" "6 f 0644 0:65534 6 s/6"

# a destination through a symlink of the rootfs resolves inside it
mkdir -p "$T/c2/l"
ln -s usr/local "$T/c2/l/loc"
cat >"$T/c2/Dockerfile" <<'EOF2'
FROM busybox
COPY l /
COPY Dockerfile /loc/bin/
EOF2
run_ok "build through a symlink in the rootfs" kiln build -q -t link:1 "$T/c2"
L=$(layers link:1)
expect_contains "the symlink itself was copied" "$L" "1 l 0777 0:0 0 loc -> usr/local"
expect_contains "dest followed the link inside the rootfs" "$L" "2 f 0644 0:0"
expect_contains "... to usr/local/bin" "$L" "usr/local/bin/Dockerfile"
expect_eq "lookups into layers this build wrote unpack nothing (only the base has a snapshot)" \
	"$(find "$ROOT/snapshots" -mindepth 1 -maxdepth 1 -type d | wc -l)" "1" # trees (a .complete marker sits beside each)

# <Dockerfile>.dockerignore wins over .dockerignore
printf 'FROM busybox\nCOPY . /all/\n' >"$C/alt.Dockerfile"
printf 'a.txt\n' >"$C/alt.Dockerfile.dockerignore"
run_ok "build with -f and its own ignore file" kiln build -q -f "$C/alt.Dockerfile" -t alt:1 "$C"
L=$(layers alt:1)
expect_not_contains "<Dockerfile>.dockerignore applies" "$L" "all/a.txt"
expect_contains "... instead of .dockerignore" "$L" "all/secret.txt"

# --- errors ----------------------------------------------------------------------
printf 'FROM busybox\nENV A=1\nCOPY nope.txt /x\n' >"$C/Dockerfile"
run_fail "missing COPY source fails" 1 kiln build -t bad:1 "$C"
expect_contains "error names Dockerfile:LINE" "$OUT" "Dockerfile:3"
expect_contains "error names the source" "$OUT" "nope.txt"
expect_contains "excerpt marks the line" "$OUT" ">>> COPY nope.txt /x"
expect_contains "progress shows the error" "$OUT" "ERROR:"
run_fail "nothing tagged on failure" 1 kiln inspect bad:1
expect_eq "no temp left" "$(ls -A "$ROOT/tmp" | grep -v '\.lock$' || true)" ""

printf 'FROM busybox\nCOPY a.txt /\nRUN exit 7\n' >"$C/Dockerfile"
run_fail "a failing RUN fails clearly" 1 kiln build --network none "$C"
expect_contains "RUN error names its line" "$OUT" "Dockerfile:3"
expect_contains "RUN error says what failed" "$OUT" "did not complete successfully: exit code: 7"
printf 'FROM busybox\nRUN echo last-words; exit 7\n' >"$C/Dockerfile"
printf 'FROM busybox\nRUN echo fine\n' >"$C/ok.Dockerfile"
run_fail "a failing RUN with output" 1 kiln build --progress=plain --network none "$C"
expect_eq "its last lines are shown once (as docker)" "$(grep -c '^ > \[2/2\] RUN echo last-words' <<<"$OUT")" 1
case "$OUT" in
*"$(printf ' > [2/2] RUN echo last-words; exit 7:\nlast-words\n------')"*) ok "the last lines are its output" ;;
*) not_ok "the last lines are its output" ;;
esac
run_fail "the same with -q" 1 kiln build -q --network none "$C"
expect_eq "shows the log it held back, as docker's -q" "$(grep -cE '^#[0-9]+ \[2/2\] RUN echo last-words; exit 7$' <<<"$OUT")" 1
expect_eq "with the step's output" "$(grep -cE '^#[0-9]+ [0-9.]+ last-words$' <<<"$OUT")" 1
expect_contains "and the error" "$OUT" "did not complete successfully: exit code: 7"
run_ok "a -q build that works" kiln build -q --network none -f "$C/ok.Dockerfile" "$C"
expect_eq "prints the image ID alone" "$(grep -c . <<<"$OUT")" 1

run_fail "a context directory that is not there" 1 kiln build --progress=plain "$T/no-such-dir"
expect_contains "says so" "$OUT" "unable to prepare context: path \`$T/no-such-dir\` not found"
expect_not_contains "before any progress, as docker" "$OUT" "#1 "
run_fail "a remote context" 1 kiln build https://127.0.0.1:9/repo.git
expect_contains "is refused clearly" "$OUT" "\`https://127.0.0.1:9/repo.git\` is a remote context, which kiln does not fetch"

printf 'FROM nosuch/image:1\n' >"$C/Dockerfile"
run_fail "missing base image" 1 kiln build "$C"
expect_contains "missing base named" "$OUT" "nosuch/image:1"
expect_contains "missing base at its line" "$OUT" "Dockerfile:1"

other=arm64; [ "$(uname -m)" = aarch64 ] && other=amd64
printf 'FROM --platform=linux/%s busybox\n' "$other" >"$C/Dockerfile"
run_fail "FROM --platform of another arch" 1 kiln build "$C"
expect_contains "platform error" "$OUT" "linux/$other"
printf 'FROM busybox\n' >"$C/Dockerfile"
run_fail "--platform of another arch" 1 kiln build --platform "linux/$other" "$C"

mkfifo "$C/fifo"
printf 'FROM busybox\nCOPY . /all/\n' >"$C/Dockerfile"
run_ok "a fifo in the context is left out, as BuildKit does" kiln build -q "$C"
printf 'FROM busybox\nCOPY fifo /all/\n' >"$C/Dockerfile"
run_ok "a fifo named as a COPY source is left out too (BuildKit 20.10 builds)" kiln build -q -t fifo:1 "$C"
run_ok "the image" kiln run --rm --network none fifo:1 sh -c 'test -d /all && ls -A /all'
expect_eq "has /all made, and no fifo in it" "$OUT" ""
rm -f "$C/fifo"

printf 'FROM busybox\nCOPY a.txt sub/b.sh /x\n' >"$C/Dockerfile"
run_fail "several sources need a dir dest" 1 kiln build "$C"
expect_contains "docker's message" "$OUT" "must be a directory and end with a /"

printf 'FROM busybox\nCOPY --chown=nosuchuser a.txt /x\n' >"$C/Dockerfile"
run_fail "unknown --chown user" 1 kiln build "$C"
expect_contains "user named" "$OUT" "nosuchuser"

run_fail "bad progress mode: exit 1, as docker" 1 kiln build --progress=fancy "$C"
run_fail "missing context" 1 kiln build "$T/nope"
run_fail "an invalid -t is a usage error before any build, as docker's" 125 kiln build -t ok:1 -t UPPER:x "$C"
expect_contains "-t error as docker words it" "$OUT" 'invalid argument "UPPER:x" for "-t, --tag" flag: invalid reference format'
run_fail "a missing -f Dockerfile" 1 kiln build -f "$T/none.Dockerfile" "$C"
expect_not_contains "the error names no errno twice" "$OUT" "no such file or directory: No such file"

# --- progress modes ------------------------------------------------------------------
printf 'FROM busybox\nCOPY a.txt /a\nLABEL x=1\n' >"$C/Dockerfile"
run_ok "--progress=json" kiln build --progress=json -t prog:1 "$C"
expect_contains "json start events" "$OUT" '{"event":"start","vertex":3,"name":"[2/2] COPY a.txt /a"}'
expect_contains "json done events" "$OUT" '{"event":"done","vertex":3,'
n_bad=$(printf '%s\n' "$OUT" | grep '^{' | python3 -c 'import json,sys; print(sum(1 for l in sys.stdin if not isinstance(json.loads(l), dict)))')
expect_eq "every event line is a JSON object" "$n_bad" "0"
# byte counts of large COPY and ADD steps: "progress" events with the
# bytes of the layer's tar so far, growing, the last one (the whole tar, as
# the stored layer's size) before the step's done; none for a small COPY
mkdir "$T/bigctx" && echo small >"$T/bigctx/a.txt" && head -c 3000000 /dev/urandom >"$T/bigctx/big.bin"
printf 'FROM busybox\nCOPY a.txt /a\nCOPY big.bin /big\nADD big.bin /added/\n' >"$T/bigctx/Dockerfile"
run_ok "--progress=json with large COPY and ADD" kiln build --progress=json -t prog:big "$T/bigctx"
printf '%s\n' "$OUT" >"$T/events.json"
kiln save -o "$T/big.tar" prog:big
expect_eq "json: byte progress of the large steps only, growing, the whole layer last" "$(python3 - "$T/events.json" "$T/big.tar" <<'PY'
import json, sys, tarfile
ev = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
names = {e["vertex"]: e["name"] for e in ev if e["event"] == "start"}
sizes = {m.size for m in tarfile.open(sys.argv[2]) if m.name.endswith("layer.tar") or "/sha256/" in m.name}
out = []
for v, name in sorted(names.items()):
    mine = [e for e in ev if e.get("vertex") == v]
    prog = [e["current"] for e in mine if e["event"] == "progress"]
    if not prog:
        out.append("%s: none" % name)
        continue
    grows = all(a < b for a, b in zip(prog, prog[1:]))
    last_before_done = mine[-1]["event"] == "done" and mine[-2]["event"] == "progress"
    out.append("%s: grows=%s last=%s layer=%s" % (name, grows, last_before_done, prog[-1] in sizes and prog[-1] > 3000000))
print("\n".join(out))
PY
)" "[internal] load build definition from Dockerfile: none
[1/4] FROM docker.io/library/busybox: none
[2/4] COPY a.txt /a: none
[3/4] COPY big.bin /big: grows=True last=True layer=True
[4/4] ADD big.bin /added/: grows=True last=True layer=True
exporting to image: none"
# --no-cache: the same steps just ran, and a step that runs prints DONE
run_ok "--progress=plain" kiln build --progress=plain --no-cache -t prog:1 "$C"
expect_contains "plain: BuildKit's step line" "$OUT" "#3 [2/2] COPY a.txt /a"
expect_contains "plain: DONE line" "$OUT" "#3 DONE "
expect_not_contains "plain: no vertex for LABEL, numbered over FROM/RUN/COPY/ADD/WORKDIR as BuildKit" "$OUT" "] LABEL"
expect_contains "plain: summary with the tag" "$OUT" "tagged docker.io/library/prog:1"
run_ok "auto progress on a pipe is plain" kiln build -t prog:1 "$C"
expect_contains "plain layout" "$OUT" "#3 [2/2] COPY a.txt /a"
run_ok "--progress=tty on a pipe" kiln build --progress=tty -t prog:1 "$C"
expect_contains "is plain, as docker 20.10's" "$OUT" "#3 [2/2] COPY a.txt /a"
expect_not_contains "without terminal escapes" "$OUT" "$(printf '\033')"
if command -v script >/dev/null; then
	run_ok "--progress=tty on a terminal" script -qec "'$KILN' build --progress=tty -t prog:1 '$C'" /dev/null
	expect_contains "tty header" "$OUT" "[+] Building"
	expect_contains "tty step line" "$OUT" "=> [2/2] COPY a.txt /a"
	expect_contains "tty: the last frame says FINISHED, as BuildKit's" "$OUT" ") FINISHED"
	run_ok "auto progress on a terminal is tty" script -qec "'$KILN' build -t prog:1 '$C'" /dev/null
	expect_contains "auto chose tty" "$OUT" "[+] Building"
	printf 'FROM busybox\nCOPY nope /a\n' >"$C/bad.Dockerfile"
	run_fail "tty shows a failing step" 1 script -qec "'$KILN' build --progress=tty -f '$C/bad.Dockerfile' '$C'" /dev/null
	expect_contains "tty error line" "$OUT" "ERROR: \`nope\`"
	expect_not_contains "tty: a failed build is not FINISHED" "$OUT" "FINISHED"
	mkdir -p "$T/big" && head -c 3000000 /dev/zero >"$T/big/big.bin"
	printf 'FROM busybox\nCOPY big.bin /\n' >"$T/big/Dockerfile"
	run_ok "tty: a large COPY" script -qec "'$KILN' build --progress=tty '$T/big'" /dev/null
	expect_contains "tty: the COPY shows its byte count" "$OUT" "MB"
fi
run_ok "--progress=quiet" kiln build --progress=quiet -t prog:1 "$C"
expect_eq "quiet prints nothing" "$OUT" ""
run_ok "--no-cache is accepted" kiln build -q --no-cache "$C"
run_ok "an unused build arg" kiln build --build-arg NOPE=1 --build-arg HTTPS_PROXY=x "$C"
expect_contains "is warned about" "$OUT" "[Warning] One or more build-args [NOPE] were not consumed"
run_ok "build --help" kiln build --help
expect_contains "help lists --target" "$OUT" "--target"
