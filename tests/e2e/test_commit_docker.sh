#!/usr/bin/env bash
# commit, side by side with a private dockerd: the same containers (-e,
# -w, -u, --entrypoint, -l, --expose, a CMD override, an anonymous -v,
# --change) committed under both; the new images' Config fields and the
# history entry's created_by, comment and author must be equal. docker's
# commit takes the container's own Config (Env as created: -e over the
# image's, no runtime PATH/HOSTNAME), not its process environment.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/containers.sh"
. "$(dirname "$0")/dockerd.sh"

# a base with Env, Labels, ExposedPorts, Volumes, WorkingDir and Cmd
kiln import -c 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin' -c 'ENV IMG=1 SHARED=img' \
	-c 'LABEL img=1 shared=img' -c 'EXPOSE 80' -c 'VOLUME /data' -c 'WORKDIR /srv' \
	-c 'CMD ["sh"]' "$BB" cbase:1 >/dev/null || { not_ok "import the base"; exit 1; }
dk_from_kiln cbase:1 ||
	skip_all "docker could not load the image"

fields="Env Cmd Entrypoint WorkingDir User Labels ExposedPorts Volumes Healthcheck"
n=0
# case NAME [-c CHANGE]... -- RUN-ARGS...: run under both, commit, compare
case_() {
	local name=$1; shift
	local changes=()
	while [ "$1" != -- ]; do changes+=("$1"); shift; done
	shift
	n=$((n + 1))
	"$KILN" run --network none --name "k$n" "$@" >/dev/null 2>&1
	dk run --network none --name "d$n" "$@" >/dev/null 2>&1
	if ! "$KILN" commit -m "msg $n" -a "me <m@e>" "${changes[@]}" "k$n" "kimg$n" >/dev/null 2>"$T/err"; then
		not_ok "$name: kiln commit failed: $(cat "$T/err")"; return
	fi
	dk commit -m "msg $n" -a "me <m@e>" "${changes[@]}" "d$n" "dimg$n" >/dev/null ||
		{ not_ok "$name: docker commit failed"; return; }
	local f k d bad=""
	for f in $fields; do
		k=$("$KILN" image inspect -f "{{json .Config.$f}}" "kimg$n" 2>&1)
		d=$(dk image inspect -f "{{json .Config.$f}}" "dimg$n" 2>&1)
		if [ "$f" = Env ]; then # as sets: docker's order varies (below)
			k=$(printf '%s' "$k" | python3 -c 'import json,sys; print(sorted(json.load(sys.stdin) or []))')
			d=$(printf '%s' "$d" | python3 -c 'import json,sys; print(sorted(json.load(sys.stdin) or []))')
		fi
		[ "$k" = "$d" ] || bad="$bad
#   $f: kiln $k, docker $d"
	done
	k=$("$KILN" history --no-trunc --format '{{.CreatedBy}}|{{.Comment}}' "kimg$n" | head -1)
	d=$(dk history --no-trunc --format '{{.CreatedBy}}|{{.Comment}}' "dimg$n" | head -1)
	[ "$k" = "$d" ] || bad="$bad
#   history: kiln $k, docker $d"
	k=$("$KILN" image inspect -f '{{.Author}}' "kimg$n")
	d=$(dk image inspect -f '{{.Author}}' "dimg$n")
	[ "$k" = "$d" ] || bad="$bad
#   Author: kiln $k, docker $d"
	if [ -z "$bad" ]; then ok "$name: the committed image's config is docker's"
	else not_ok "$name differs:$bad"; fi
}

case_ "-e -w -u -l --expose and a CMD override" -- -e A=b -e SHARED=ctr -w /tmp -u 1000:1000 \
	-l ctr=1 -l shared=ctr --expose 8080 --expose 53/udp --expose 9000-9001 cbase:1 sh -c true
# docker 20.10 listed `-e A=b -e SHARED=ctr` (SHARED over the image's) in
# either order from one run to the next (seen in CI), so Env is compared
# with docker as a set and kiln's order checked here: the container's -e
# entries as given, then the image's entries they do not override (docker's
# merge rule, daemon/commit.go)
expect_eq "the committed Env: -e entries as given, then the image's others" \
	"$("$KILN" image inspect -f '{{json .Config.Env}}' kimg1)" \
	'["A=b","SHARED=ctr","PATH=/usr/sbin:/usr/bin:/sbin:/bin","IMG=1"]'
case_ "--entrypoint (clears Cmd)" -- --entrypoint /bin/echo cbase:1
case_ "--entrypoint with args, --change ENV and CMD" -c 'ENV A=b' -c 'CMD ["x"]' -- \
	--entrypoint /bin/echo -e B=c cbase:1 hi
case_ "--change over the image's Env" -c 'CMD ["x"]' -c 'ENV IMG=2' -- cbase:1 true
case_ "an anonymous -v" -- -v /anon -e PATH=/bin cbase:1 true
# the process environment is not the image's: no HOSTNAME, no runtime PATH
OUT=$("$KILN" run --rm kimg3 2>&1)
expect_contains "the committed image runs with its entrypoint and the new CMD" "$OUT" x
expect_eq "the env of the image has no HOSTNAME" \
	"$("$KILN" image inspect -f '{{range .Config.Env}}{{.}} {{end}}' kimg1 | grep -c HOSTNAME)" 0
run_fail "--expose with a host port is docker's error" 125 kiln run --expose 1:2 cbase:1 true
expect_contains "... its message" "$OUT" "invalid port format for --expose: 1:2"
