#!/usr/bin/env bash
# kiln commit beside docker 20.10's for what test_commit_docker leaves out:
# an image without any Env, -p, named volumes (-v name:/x, --mount
# type=volume with and without a source), --tmpfs, --env-file.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/containers.sh"
. "$(dirname "$0")/dockerd.sh"

kiln import -c 'CMD ["sh"]' "$BB" noenv:1 >/dev/null || { not_ok "import the base"; exit 1; }
"$KILN" save -o "$T/noenv.tar" noenv:1 && dk load -i "$T/noenv.tar" >/dev/null ||
	skip_all "docker could not load the image"
printf 'F=1\n# c\nG=two words\n' >"$T/envf"

n=0
compare() { # NAME RUN-ARGS...
	local name=$1; shift
	n=$((n + 1))
	"$KILN" run --network none --name "k$n" "$@" >/dev/null 2>&1
	dk run --network none --name "d$n" "$@" >/dev/null 2>&1
	"$KILN" commit "k$n" "kimg$n" >/dev/null 2>"$T/err" || { not_ok "$name: kiln commit: $(cat "$T/err")"; return; }
	dk commit "d$n" "dimg$n" >/dev/null || { not_ok "$name: docker commit failed"; return; }
	local f k d bad=""
	for f in Env Cmd ExposedPorts Volumes; do
		k=$("$KILN" image inspect -f "{{json .Config.$f}}" "kimg$n" 2>&1)
		d=$(dk image inspect -f "{{json .Config.$f}}" "dimg$n" 2>&1)
		[ "$k" = "$d" ] || bad="$bad
#   $f: kiln $k, docker $d"
	done
	if [ -z "$bad" ]; then ok "$name: the committed config is docker's"
	else not_ok "$name differs:$bad"; fi
}
compare "an image without Env, no -e" noenv:1 true
compare "an image without Env, -e" -e A=1 noenv:1 true
compare "--env-file" --env-file "$T/envf" noenv:1 true
compare "-p" -p 127.0.0.1:18080:80 -p 127.0.0.1:18053:53/udp noenv:1 true
compare "named and anonymous volumes" -v rv2named:/n -v /anon --mount type=volume,dst=/m \
	--mount type=volume,src=rv2m,dst=/mm --tmpfs /t noenv:1 true
dk rm -f $(dk ps -aq) >/dev/null 2>&1
dk volume prune -f >/dev/null 2>&1
"$KILN" rm -f $("$KILN" ps -aq) >/dev/null 2>&1
"$KILN" volume prune -f >/dev/null 2>&1
