#!/usr/bin/env bash
# RUN --mount details: cache sharing=locked|shared|private between two
# concurrent builds, cache from= and source=, secret env=, an ssh mount
# answered by a real ssh-agent (ssh-add -l inside RUN; also as a non-root
# user through uid/gid/mode), $VAR expansion in
# mount options; a SIGINT/SIGTERM outside a RUN leaves nothing behind.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "build containers need root"
need_busybox
kiln import -c 'CMD ["sh"]' "$BB" busybox:latest >/dev/null || { not_ok "import busybox"; exit 1; }
build() { kiln build --progress plain --network none "$@"; }
pids=()
at_exit 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done'
wait_line() { # FILE ERE: until FILE has a line matching ERE (10 s at most)
	for _ in $(seq 200); do grep -qE -- "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
	return 1
}
nothing_left() { # NAME: no scratch dir of a step or build, no mount of the store
	expect_eq "$1: ROOT/tmp holds no step or build dir" \
		"$(ls "$ROOT/tmp" 2>/dev/null | grep -v '\.lock$' | grep -E '^(run|build)' || true)" ""
	expect_eq "$1: nothing of the store mounted" \
		"$(grep -l "$ROOT" /proc/[0-9]*/mountinfo 2>/dev/null | grep -v "/proc/$$/" | head -3)" ""
}

# --- cache sharing ----------------------------------------------------------------
mk() { mkdir -p "$T/$1" && printf '%s\n' "$2" >"$T/$1/Dockerfile"; }
# while_a_runs A B WHAT: builds A in the background and, once its step
# printed a-started, builds B ($OUT); then waits for A (status in $A_RC)
while_a_runs() {
	build --no-cache "$T/$1" >"$T/a.out" 2>&1 &
	local a=$!
	pids+=($a)
	wait_line "$T/a.out" '^#[0-9]+ [0-9.]+ a-started' || not_ok "$3: build A started"
	run_ok "$3: the second build" build --no-cache "$T/$2"
	wait $a
	A_RC=$?
}
mk lockA 'FROM busybox
RUN --mount=type=cache,id=lk,target=/c,sharing=locked touch /c/a-start && echo a-started && sleep 1 && touch /c/a-end'
mk lockB 'FROM busybox
RUN --mount=type=cache,id=lk,target=/c,sharing=locked echo "B sees: $(ls /c | tr "\n" " ")"'
while_a_runs lockA lockB locked
expect_contains "locked: B waited for A's step to end" "$OUT" "B sees: a-end a-start"
expect_eq "locked: A" "$A_RC" 0

# shared: A waits inside its step for a file B writes into the same cache
mk shA 'FROM busybox
RUN --mount=type=cache,id=sh,target=/c echo a-started; i=0; until [ -e /c/from-b ]; do sleep 0.1; i=$((i+1)); [ $i -gt 200 ] && exit 9; done; echo "A saw B"'
mk shB 'FROM busybox
RUN --mount=type=cache,id=sh,target=/c,sharing=shared touch /c/from-b'
while_a_runs shA shB shared
expect_eq "shared: A's step ends once B wrote" "$A_RC" 0
expect_contains "shared: A saw B's file" "$(cat "$T/a.out")" "A saw B"

# private: B gets an instance of its own while A holds the cache; as in
# BuildKit that instance is kept, and the next build that finds the first
# one busy gets it back with its files. A holds its step until the test
# drops a file into A's instance (after B's build ended).
mk pvA 'FROM busybox
RUN --mount=type=cache,id=pv,target=/c,sharing=private touch /c/a-file && echo a-started; i=0; until [ -e /c/release ]; do sleep 0.1; i=$((i+1)); [ $i -gt 300 ] && exit 9; done; rm /c/release'
mk pvB 'FROM busybox
RUN --mount=type=cache,id=pv,target=/c,sharing=private echo "B sees: [$(ls /c | tr "\n" " ")]"; touch /c/b-file'
private_round() { # NAME: A holds an instance while B builds ($OUT); A's status in A_RC
	build --no-cache "$T/pvA" >"$T/a.out" 2>&1 &
	local a=$! d
	pids+=($a)
	wait_line "$T/a.out" '^#[0-9]+ [0-9.]+ a-started' || not_ok "$1: build A started"
	run_ok "$1: B builds while A holds the cache" build --no-cache "$T/pvB"
	d=$(dirname "$(find "$ROOT/cache/mounts" -name a-file | head -1)")
	touch "$d/release"
	wait $a
	A_RC=$?
}
private_round "private"
expect_contains "private: B got an empty instance" "$OUT" "B sees: []"
expect_eq "private: A" "$A_RC" 0
private_round "private again"
expect_contains "private: B's instance was kept with its file" "$OUT" "B sees: [b-file ]"
expect_eq "private again: A" "$A_RC" 0
run_ok "private: once free, the first instance" build --no-cache "$T/pvB"
expect_contains "private: A's file is there" "$OUT" "B sees: [a-file ]"
pv=$(basename "$(dirname "$(find "$ROOT/cache/mounts" -name a-file | head -1)")")
expect_eq "private: two instances of the cache in the store" \
	"$(find "$ROOT/cache/mounts" -mindepth 1 -maxdepth 1 -type d -name "$pv*" | wc -l | tr -d ' ')" 2

# --- cache from= and source= ------------------------------------------------------
mk from 'FROM busybox AS seed
RUN mkdir -p /seed/sub && echo seeded >/seed/sub/s.txt
FROM busybox
RUN --mount=type=cache,target=/c,from=seed,source=/seed cat /c/sub/s.txt && echo more >>/c/sub/s.txt
RUN --mount=type=cache,target=/c,from=seed,source=/seed echo "again: $(cat /c/sub/s.txt | tr "\n" " ")"
RUN --mount=type=cache,target=/d,id=plain,source=sub echo x >/d/x
RUN --mount=type=cache,target=/e,id=plain echo "root: $(ls /e) sub: $(ls /e/sub)"
RUN --mount=type=cache,target=/f,from=busybox,source=/etc echo "image: $(cat /f/group | wc -l)"'
run_ok "cache from= and source=" build "$T/from"
expect_contains "from=: seeded with the stage's files" "$OUT" " seeded"
expect_contains "from=: kept between steps" "$OUT" "again: seeded more"
expect_contains "source=: a subdir of the cache" "$OUT" "root: sub sub: x"
expect_contains "from= an image" "$OUT" "image: 2"
mk escape 'FROM busybox
RUN --mount=type=cache,target=/c,source=../../x true'
run_fail "a cache source= leaving the cache" 1 build "$T/escape"
expect_contains "named" "$OUT" "leaves the cache"

# --- secret env= ----------------------------------------------------------------------
SECRET="kiln-env-secret-$RANDOM$RANDOM"
mk senv 'FROM busybox
RUN --mount=type=secret,id=tok,env=TOK echo "len ${#TOK}; file: $(ls /run/secrets 2>&1 | head -1)"
RUN --mount=type=secret,id=tok,env=TOK2,target=/s echo "both: ${#TOK2} $(wc -c </s)" && test "$TOK2" = "$(cat /s)"'
export KILN_TEST_SECRET="$SECRET"
run_ok "secret env=" build --secret id=tok,env=KILN_TEST_SECRET -t senv "$T/senv"
expect_contains "env= sets the variable" "$OUT" "len ${#SECRET}; file: ls:"
expect_contains "env= and target=: both" "$OUT" "both: ${#SECRET} ${#SECRET}"
expect_not_contains "the secret is not printed" "$OUT" "$SECRET"
expect_eq "the secret is nowhere in the store" "$(grep -rl "$SECRET" "$ROOT" 2>/dev/null | head -3)" ""
mk senv2 'FROM busybox
RUN --mount=type=bind,env=X,target=/x true'
run_fail "env= on a bind mount" 1 build "$T/senv2"
expect_contains "env= is for secrets" "$OUT" "unexpected key 'env' for mount type 'bind'"

# --- ssh: a real agent, ssh-add -l inside the step ---------------------------------------
if command -v ssh-agent >/dev/null && command -v ssh-keygen >/dev/null && command -v ldd >/dev/null; then
	eval "$(ssh-agent -a "$T/agent.sock")" >/dev/null
	at_exit "kill $SSH_AGENT_PID"
	ssh-keygen -q -t ed25519 -N '' -C kiln-test-key -f "$T/key" && ssh-add -q "$T/key" 2>/dev/null
	want=$(ssh-add -l)
	# the host's ssh-add and its libraries, run through their loader
	mkdir -p "$T/ssh/tools"
	cp "$(command -v ssh-add)" "$T/ssh/tools/"
	loader=
	for lib in $(ldd "$(command -v ssh-add)" | awk '/=>/ {print $3} !/=>/ && /\// {print $1}'); do
		cp -L "$lib" "$T/ssh/tools/"
		case $lib in */ld-linux*) loader=$(basename "$lib") ;; esac
	done
	printf 'FROM busybox\nRUN --mount=type=ssh --mount=type=bind,source=tools,target=/t /t/%s --library-path /t /t/ssh-add -l && echo "sock $SSH_AUTH_SOCK"\n' "$loader" >"$T/ssh/Dockerfile"
	run_ok "ssh mount with a real agent" build --ssh default "$T/ssh"
	expect_contains "ssh-add -l inside RUN lists the agent's key" "$OUT" "$want"
	expect_contains "SSH_AUTH_SOCK set" "$OUT" "sock /run/buildkit/ssh_agent.0"
	run_ok "--ssh default=SOCKET" build --no-cache --ssh "default=$SSH_AUTH_SOCK" "$T/ssh"
	expect_contains "the named socket" "$OUT" "kiln-test-key"
	# uid/gid/mode (BuildKit makes its socket with them): a non-root step
	# reaches the agent through a relay's socket; the relay (its cwd is the
	# agent's dir) is gone with the step
	printf 'FROM busybox\nUSER 1000:1000\nRUN --mount=type=ssh,uid=1000,gid=1000,mode=0660 --mount=type=bind,source=tools,target=/t stat -c "mode %%a %%u %%g" $SSH_AUTH_SOCK && /t/%s --library-path /t /t/ssh-add -l\n' \
		"$loader" >"$T/ssh/Dockerfile.user"
	run_ok "ssh mount with uid, gid, mode for a non-root step" build --ssh default -f "$T/ssh/Dockerfile.user" "$T/ssh"
	expect_contains "the socket has the mount's mode and owner" "$OUT" "mode 660 1000 1000"
	expect_contains "ssh-add -l as uid 1000 lists the agent's key" "$OUT" "$want"
	left=0 rt=$(realpath "$T")
	for p in /proc/[0-9]*; do [ "$(readlink "$p/cwd" 2>/dev/null)" = "$rt" ] && left=$((left + 1)); done
	expect_eq "no ssh relay left" "$left" 0
else
	not_ok "ssh-agent, ssh-keygen or ldd missing (scripts/deps.sh: openssh-client)"
fi

# --- $VAR in mount options ---------------------------------------------------------------
mkdir -p "$T/var/ctxdir" && echo from-ctx >"$T/var/ctxdir/f"
printf '%s\n' 'FROM busybox
ARG CID=vcache
ARG SRC=ctxdir
ENV TGT=/cachedir
RUN --mount=type=cache,id=$CID,target=$TGT echo v >$TGT/f
RUN --mount=type=cache,id=vcache,target=/x echo "literal id sees: $(cat /x/f)"
RUN --mount=type=bind,source=${SRC},target=/m cat /m/f
ARG MT=cache
RUN --mount=type=$MT,target=/t$TGT echo "type from ARG: $(ls -d /t/cachedir)"' >"$T/var/Dockerfile"
run_ok "\$VAR in --mount options" build "$T/var"
expect_contains "id= and target= expanded" "$OUT" "literal id sees: v"
expect_contains "source= expanded" "$OUT" "from-ctx"
expect_contains "type= expanded" "$OUT" "type from ARG: /t/cachedir"
run_ok "a build arg changes the expansion" build --build-arg CID=other "$T/var"
expect_contains "another cache" "$OUT" "literal id sees: v"
printf 'FROM busybox\nARG MT=nosuch\nRUN --mount=type=$MT,target=/x true\n' >"$T/var/Dockerfile"
run_fail "an expanded bad type" 1 build "$T/var"
expect_contains "names the expanded mount" "$OUT" "--mount=type=nosuch,target=/x"
printf 'FROM busybox\nARG S=busybox\nRUN --mount=from=$S,target=/x true\n' >"$T/var/Dockerfile"
run_fail "from= takes no variables" 1 build "$T/var"
expect_contains "BuildKit's message" "$OUT" "doesn't support variable expansion"

# --- SIGINT/SIGTERM outside a RUN --------------------------------------------------------
# during a COPY of a large file
mkdir -p "$T/big"
head -c 400000000 /dev/zero >"$T/big/big.bin"
printf 'FROM busybox\nCOPY big.bin /\nRUN echo never\n' >"$T/big/Dockerfile"
# (a background job of a script ignores SIGINT: the wrapper restores it)
dfl() { exec python3 -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])' "$@"; }
for sig in INT TERM; do
	dfl "$KILN" build --no-cache --progress plain --network none -t big "$T/big" >"$T/big.out" 2>&1 &
	pid=$!
	pids+=($pid)
	wait_line "$T/big.out" "COPY big.bin" || not_ok "the COPY started"
	kill -$sig $pid
	for _ in $(seq 100); do kill -0 $pid 2>/dev/null || break; sleep 0.05; done
	if kill -0 $pid 2>/dev/null; then not_ok "SIG$sig during COPY stops the build"; else ok "SIG$sig during COPY stops the build"; fi
	wait $pid
	rc=$?
	[ $rc -ne 0 ] && ok "SIG$sig: the build fails ($rc)" || not_ok "SIG$sig: the build succeeded"
	run_fail "SIG$sig: nothing tagged" 1 kiln inspect big
	nothing_left "SIG$sig during COPY"
done
# right after a RUN step's scratch dir is made, before its mounts (the
# build stopped there by KILN_TEST_STOP=run-step, the signal delivered as
# it continues): the dir is registered before it exists
mkdir -p "$T/rs"
printf 'FROM busybox\nRUN --mount=type=cache,target=/c --mount=type=tmpfs,target=/t echo never\n' >"$T/rs/Dockerfile"
stopped_at() { # POINT: a build of $T/rs stopped at POINT ($pid)
	KILN_TEST_STOP=$1 dfl "$KILN" build --no-cache --progress plain --network none -t rs "$T/rs" >"$T/rs.out" 2>&1 &
	pid=$!
	pids+=($pid)
	for _ in $(seq 200); do
		[ "$(awk '{print $3}' /proc/$pid/stat 2>/dev/null)" = T ] && return 0
		sleep 0.05
	done
	return 1
}
for sig in INT TERM; do
	stopped_at run-step && ok "SIG$sig: stopped after the scratch dir was made" || not_ok "SIG$sig: stopped after the scratch dir was made"
	expect_eq "SIG$sig: its scratch dir exists" "$(ls "$ROOT/tmp" | grep -c '^run-step-')" 1
	kill -$sig $pid
	kill -CONT $pid
	wait $pid
	expect_eq "SIG$sig before the step's mounts: the build ends by the signal" $? $((128 + $([ $sig = INT ] && echo 2 || echo 15)))
	nothing_left "SIG$sig before the step's mounts"
done
# SIGKILL there leaves the dir: the store-wide sweep under the exclusive
# lock takes it (no build can be using it then)
stopped_at run-step || not_ok "stopped for SIGKILL"
kill -9 $pid
wait $pid 2>/dev/null
expect_eq "SIGKILL leaves the scratch dir" "$(ls "$ROOT/tmp" | grep -c '^run-step-')" 1
run_ok "builder prune" kiln builder prune -f
nothing_left "after SIGKILL and builder prune"
# while the context is read from stdin
mkfifo "$T/ctx.fifo"
"$KILN" build --progress plain -t big - <"$T/ctx.fifo" >"$T/big.out" 2>&1 &
pid=$!
pids+=($pid)
exec 7>"$T/ctx.fifo"
tar -C "$T/big" -cf - Dockerfile >&7 # a partial tar stream: kiln waits for more
sleep 0.5
kill -TERM $pid
for _ in $(seq 100); do kill -0 $pid 2>/dev/null || break; sleep 0.05; done
if kill -0 $pid 2>/dev/null; then not_ok "SIGTERM while reading stdin stops the build"; else ok "SIGTERM while reading stdin stops the build"; fi
exec 7>&-
wait $pid
nothing_left "SIGTERM while reading the context"
rm -f "$T/big/big.bin"
