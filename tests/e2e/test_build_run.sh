#!/usr/bin/env bash
# kiln build: RUN steps in build containers. Shell, exec and heredoc forms;
# ENV/ARG/WORKDIR/USER inside; the upper dir as the layer (whiteouts); a
# failing RUN (exit code, line, output, nothing tagged or left behind);
# SIGTERM during a RUN; --network none; RUN --mount cache/bind/tmpfs/secret;
# the reference examples of issue 12 built and run.
. "$(dirname "$0")/lib.sh"

busybox_base "build containers need root"
build() { kiln build --progress plain --network none "$@"; }
# Nothing of a build container may stay: no scratch dir, no process that
# mounts something of the store.
hygiene() {
	local left
	left=$(ls "$ROOT/tmp" 2>/dev/null | grep -c '^run')
	expect_eq "$1: no scratch dir left" "$left" "0"
	left=$(grep -l "$ROOT" /proc/[0-9]*/mountinfo 2>/dev/null | grep -v "/proc/$$/" | head -3)
	expect_eq "$1: no process mounts the store" "$left" ""
}

# --- forms, environment, the layer --------------------------------------------
C="$T/c1"
mkdir -p "$C"
cat >"$C/Dockerfile" <<'EOF'
FROM busybox
ARG FOO=bar
ENV E1=v1
WORKDIR /w
RUN echo "sh $FOO $E1 $(pwd) $(id -u)"; echo to-stderr >&2; echo data >/w/f; rm /bin/vi; echo gone >/etc/motd
RUN ["/bin/sh", "-c", "echo exec $(cat /w/f)"]
RUN <<EOT
echo heredoc one
echo heredoc $E1
EOT
RUN cat <<A >/w/h && echo cmd-heredoc
from heredoc
A
RUN <<'S'
#!/bin/sh
echo shebang $0
S
RUN echo 'u:x:1234:1234::/home/u:/bin/sh' >>/etc/passwd && rm /etc/motd
USER u
RUN echo "uid=$(id -u)"
RUN true
EOF
run_ok "build with RUN steps" build -t r1 "$C"
for want in "sh bar v1 /w 0" "to-stderr" "exec data" "heredoc one" "heredoc v1" "cmd-heredoc" \
	"shebang /dev/pipes/S" "uid=1234"; do
	expect_contains "RUN output: $want" "$OUT" "$want"
done
expect_contains "output prefixed as BuildKit's plain mode" "$OUT" " exec data"
L=$(layers r1)
expect_contains "RUN layer: the new file" "$L" "f 0644 0:0 5 w/f"
expect_contains "RUN layer: a deletion is a whiteout" "$L" "bin/.wh.vi"
expect_contains "RUN layer: heredoc output file" "$L" "w/h"
expect_contains "RUN layer: a file made then deleted is whited out" "$L" "etc/.wh.motd"
n=$(kiln inspect -f '{{len .RootFS.Layers}}' r1)
# base + WORKDIR + 8 RUN: a RUN that changes nothing still makes a layer (BuildKit)
expect_eq "one layer per RUN, empty ones too" "$n" "10"
run_ok "built image runs" kiln run --rm r1 cat /w/h
expect_contains "built image has the RUN's file" "$OUT" "from heredoc"
hygiene "after a build"

# --- failure --------------------------------------------------------------------
C="$T/c2"
mkdir -p "$C"
printf 'FROM busybox\nRUN echo first-line\nRUN echo last-words; exit 3\nRUN echo never\n' >"$C/Dockerfile"
run_fail "failing RUN fails the build" 1 build -t bad "$C"
expect_contains "BuildKit's message" "$OUT" \
	'process "/bin/sh -c echo last-words; exit 3" did not complete successfully: exit code: 3'
expect_contains "names the Dockerfile line" "$OUT" "Dockerfile:3"
expect_contains "shows the last output" "$OUT" "last-words"
expect_not_contains "stops there" "$OUT" "#5 [4/4]"
run_fail "nothing tagged" 1 kiln inspect bad
hygiene "after a failing RUN"

# --- SIGTERM during a RUN ---------------------------------------------------------
C="$T/c3"
mkdir -p "$C"
# the step sleeps for 1<this shell's PID> seconds: an argument no other
# test's or run's process has, so the check below sees this build's only
SLEEP_MARK="1$$"
printf 'FROM busybox\nRUN trap "" TERM INT; echo started; sleep %s; echo nope\n' "$SLEEP_MARK" >"$C/Dockerfile"
"$KILN" build --progress plain --network none -t int "$C" >"$T/int.out" 2>&1 &
pid=$!
# the step's own output (its name holds "started" too)
for _ in $(seq 100); do grep -qE "^#[0-9]+ [0-9.]+ started" "$T/int.out" && break; sleep 0.1; done
for _ in $(seq 100); do [ -n "$(pgrep -f "^sleep $SLEEP_MARK\$")" ] && break; sleep 0.1; done
expect_eq "the marker finds the step's process" "$(pgrep -f "^sleep $SLEEP_MARK\$" | wc -l)" "1"
kill -TERM "$pid"
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then not_ok "SIGTERM stops the build"; kill -9 "$pid"; else ok "SIGTERM stops the build"; fi
wait "$pid"
expect_eq "interrupted build fails" "$?" "1"
left=$(pgrep -f "^sleep $SLEEP_MARK\$" | head -1)
expect_eq "the step's process is gone" "$left" ""
run_fail "interrupted: nothing tagged" 1 kiln inspect int
hygiene "after SIGTERM"

# --- network --------------------------------------------------------------------------
C="$T/c4"
mkdir -p "$C"
printf 'FROM busybox\nRUN --network=none echo ifaces $(grep -c : /proc/net/dev)\nRUN --network=host echo hostnet $(grep -c : /proc/net/dev)\n' >"$C/Dockerfile"
run_ok "RUN --network" kiln build --progress plain "$C"
expect_contains "--network=none: loopback only" "$OUT" "ifaces 1"
hostn=$(grep -c : /proc/net/dev)
expect_contains "--network=host: the host's interfaces" "$OUT" "hostnet $hostn"
printf 'FROM busybox\nRUN echo ifaces $(grep -c : /proc/net/dev)\n' >"$C/Dockerfile"
run_ok "kiln build --network none" kiln build --progress plain --network none "$C"
expect_contains "build-wide --network none" "$OUT" "ifaces 1"
# BuildKit's sandbox on every network (compared with BuildKit's on the
# host network: test_build_buildkit.sh run-sandbox): hostname
# buildkitsandbox, its two-line /etc/hosts, no /etc/hostname; kiln run
# --network host keeps docker's (the host's name)
printf 'FROM busybox\nRUN echo sandbox $(hostname) $(cat /etc/hosts) $(ls /etc/hostname 2>&1)\n' >"$C/Dockerfile"
want="sandbox buildkitsandbox 127.0.0.1 localhost buildkitsandbox ::1 localhost ip6-localhost ip6-loopback ls: /etc/hostname: No such file or directory"
for n in none host default; do
	run_ok "RUN sandbox, --network $n" kiln build --progress plain --no-cache --network "$n" "$C"
	expect_contains "--network $n: BuildKit's hostname and hosts file" "$OUT" "$want"
done
run_ok "kiln run --network host" kiln run --rm --network host busybox hostname
expect_eq "kiln run --network host: the host's hostname" "$OUT" "$(hostname)"
# The default network of a RUN is made ahead (while the steps before it
# work) and its helper let go without waiting: each RUN still gets a
# configured eth0 of its own (two in a row, two stages at once, a RUN
# after a failing stage's), and no process of the build outlives it.
C="$T/c4n"
mkdir -p "$C"
cat >"$C/Dockerfile" <<'EOF'
FROM busybox AS a
WORKDIR /x
RUN echo a1 $(ip -4 addr show eth0 | grep -o 'inet [0-9./]*') routes $(ip route | grep -c 'default via 10.0.2.2')
RUN echo a2 $(ip -4 addr show eth0 | grep -o 'inet [0-9./]*') $(cat /etc/resolv.conf)
FROM busybox AS b
WORKDIR /y
RUN echo b1 $(ip -4 addr show eth0 | grep -o 'inet [0-9./]*')
FROM busybox
COPY --from=a /x /x
COPY --from=b /y /y
RUN echo c1 $(ip -4 addr show eth0 | grep -o 'inet [0-9./]*')
EOF
export KILN_TEST_MARK="kiln-net-test-$$-$RANDOM" # in the environ of all the build's processes
run_ok "RUN on the default network" kiln build --progress plain --no-cache "$C"
for s in "a1 inet 10.0.2.100/24 routes 1" "a2 inet 10.0.2.100/24 nameserver 10.0.2.3" \
	"b1 inet 10.0.2.100/24" "c1 inet 10.0.2.100/24"; do
	expect_contains "default network: ${s%% *}" "$OUT" "$s"
done
printf 'FROM busybox\nWORKDIR /z\nRUN exit 3\nRUN echo never\n' >"$C/Dockerfile"
run_fail "a failing RUN with a network made ahead for the next" 1 \
	kiln build --progress plain --no-cache "$C"
mark=$KILN_TEST_MARK
unset KILN_TEST_MARK # (the scan's own processes must not carry it)
left=$(grep -l --binary-files=text "KILN_TEST_MARK=$mark" /proc/[0-9]*/environ 2>/dev/null | head -3)
expect_eq "no network helper outlives its build" "$left" ""

# --- mounts -----------------------------------------------------------------------------
C="$T/c5"
mkdir -p "$C/ctxdir"
echo from-context >"$C/ctxdir/c.txt"
SECRET="kiln-secret-$RANDOM$RANDOM"
echo "$SECRET" >"$T/secret.txt"
cat >"$C/Dockerfile" <<'EOF'
FROM busybox AS src
RUN mkdir /data && echo from-stage >/data/x
FROM busybox
ARG N=0
RUN --mount=type=cache,target=/var/cache/app,id=appcache echo "cache has $(cat /var/cache/app/log 2>/dev/null | wc -l) lines" && echo "$N" >>/var/cache/app/log
RUN --mount=type=bind,from=src,source=/data,target=/mnt cat /mnt/x && cp /mnt/x /copied
RUN --mount=type=bind,source=ctxdir,target=/ctx,rw cat /ctx/c.txt && echo w >/ctx/new
RUN --mount=type=tmpfs,target=/scratch touch /scratch/t && echo tmpfs $(ls /scratch)
RUN --mount=type=secret,id=tok echo secret bytes $(wc -c </run/secrets/tok) && cat /run/secrets/tok >/dev/null
RUN --mount=type=secret,id=tok,target=/s2,required sh -c 'cp /s2 /tmp/leak; rm /tmp/leak; echo ok'
EOF
run_ok "build with mounts" build --build-arg N=1 --secret "id=tok,src=$T/secret.txt" -t m1 "$C"
expect_contains "cache mount: empty on the first build" "$OUT" "cache has 0 lines"
expect_contains "bind from a stage" "$OUT" "from-stage"
expect_contains "bind from the context" "$OUT" "from-context"
expect_contains "tmpfs mount" "$OUT" "tmpfs t"
expect_contains "secret mounted" "$OUT" "secret bytes $((${#SECRET} + 1))"
expect_not_contains "the secret is never printed by kiln" "$OUT" "$SECRET"
run_ok "second build" build --no-cache --build-arg N=2 --secret "id=tok,src=$T/secret.txt" -t m2 "$C"
expect_contains "cache mount keeps files between builds" "$OUT" "cache has 1 lines"
L=$(layers m1)
expect_contains "a file copied from a bind mount lands in the layer" "$L" "copied"
expect_not_contains "mount points stay out of the layers" "$L" "scratch"
expect_not_contains "bind rw writes are discarded" "$L" "ctx"
expect_not_contains "secret mount point stays out of the layers" "$L" "run/secrets"
left=$(grep -rl --binary-files=text "$SECRET" "$ROOT" 2>/dev/null | head -3)
expect_eq "the secret is nowhere in the store" "$left" ""
printf 'FROM busybox\nRUN --mount=type=secret,id=tok,required true\n' >"$C/Dockerfile"
run_fail "a required secret missing" 1 build "$C"
expect_contains "missing secret named" "$OUT" "secret tok: not found"
printf 'FROM busybox\nRUN --mount=type=bogus,target=/x true\n' >"$C/Dockerfile"
run_fail "an unknown mount type" 1 build "$C"
expect_contains "unknown mount type named with its line" "$OUT" "Dockerfile:2"
hygiene "after mounts"

# --- the reference examples (issue 12's Proof), adapted to busybox -------------------------
C="$T/node"
mkdir -p "$C"
echo '{"name":"app","dependencies":{"left-pad":"1"}}' >"$C/package.json"
echo 'console.log("hello from node-style")' >"$C/index.js"
cat >"$C/Dockerfile" <<'EOF'
FROM busybox
WORKDIR /app
COPY package.json /app
RUN mkdir node_modules && sed -n 's/.*"dependencies":{"\([a-z-]*\)".*/\1/p' package.json >node_modules/installed
COPY . /app
EXPOSE 80
CMD ["sh", "-c", "echo deps: $(cat node_modules/installed); sed 's/console.log(\"\\(.*\\)\")/\\1/' index.js"]
EOF
run_ok "node-style example builds" build -t ex-node "$C"
run_ok "node-style example runs" kiln run --rm ex-node
expect_eq "node-style output" "$OUT" "deps: left-pad
hello from node-style"

C="$T/python"
mkdir -p "$C"
echo 'echo "hello from python-style in $(pwd)"' >"$C/app.sh"
printf 'FROM busybox\nWORKDIR /app\nCOPY . /app\nCMD ["sh", "app.sh"]\n' >"$C/Dockerfile"
run_ok "python-style example builds" build -t ex-py "$C"
run_ok "python-style example runs" kiln run --rm ex-py
expect_eq "python-style output" "$OUT" "hello from python-style in /app"

C="$T/apache"
mkdir -p "$C"
cat >"$C/Dockerfile" <<'EOF'
FROM busybox
RUN mkdir -p /var/www/html /var/log/apache2 \
 && echo '<h1>apache-style</h1>' >/var/www/html/index.html \
 && chmod 0644 /var/www/html/index.html
RUN echo "ServerName localhost" >/etc/httpd.conf && \
    echo "Listen 80" >>/etc/httpd.conf
WORKDIR /var/www/html
ENV APACHE_RUN_USER=www-data
ENV APACHE_RUN_GROUP=www-data
ENV APACHE_LOG_DIR=/var/log/apache2
EXPOSE 80
CMD echo "$APACHE_RUN_USER:$APACHE_RUN_GROUP logs in $APACHE_LOG_DIR"; cat index.html; head -1 /etc/httpd.conf
EOF
run_ok "apache-style example builds" build -t ex-apache "$C"
run_ok "apache-style example runs" kiln run --rm ex-apache
expect_eq "apache-style output" "$OUT" "www-data:www-data logs in /var/log/apache2
<h1>apache-style</h1>
ServerName localhost"
hygiene "at the end"
