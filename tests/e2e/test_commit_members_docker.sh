#!/usr/bin/env bash
# kiln commit beside docker 20.10's: the committed image's Config members
# that describe the container (Hostname, Domainname, Attach*, Tty, OpenStdin,
# StdinOnce, Image), Labels ({} when none), OnBuild (the base image's is
# not kept, --change ONBUILD is), User, WorkingDir, Entrypoint; and the
# container's Config.Volumes (-v's anonymous ones, not --mount's).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/containers.sh"
. "$(dirname "$0")/dockerd.sh"

kiln import -c 'CMD ["sh"]' -c 'ONBUILD RUN true' "$BB" ob:1 >/dev/null ||
	{ not_ok "import the base"; exit 1; }
dk_from_kiln ob:1 || skip_all "docker could not load the image"

fields="Domainname User AttachStdin AttachStdout AttachStderr Tty OpenStdin StdinOnce Image
	Labels WorkingDir Entrypoint OnBuild Cmd Volumes"
n=0
# compare NAME [-c CHANGE]... -- RUN-ARGS...: run under both, commit, compare
compare() {
	local name=$1; shift
	local changes=()
	while [ "$1" != -- ]; do changes+=("$1"); shift; done
	shift
	n=$((n + 1))
	"$KILN" run --network none --name "k$n" "$@" </dev/null >/dev/null 2>&1
	dk run --network none --name "d$n" "$@" </dev/null >/dev/null 2>&1
	"$KILN" commit "${changes[@]}" "k$n" "kimg$n" >/dev/null 2>"$T/err" ||
		{ not_ok "$name: kiln commit: $(cat "$T/err")"; return; }
	dk commit "${changes[@]}" "d$n" "dimg$n" >/dev/null || { not_ok "$name: docker commit failed"; return; }
	local f k d bad=""
	for f in $fields; do
		k=$("$KILN" image inspect -f "{{json .Config.$f}}" "kimg$n" 2>&1)
		d=$(dk image inspect -f "{{json .Config.$f}}" "dimg$n" 2>&1)
		[ "$k" = "$d" ] || bad="$bad
#   $f: kiln $k, docker $d"
	done
	# Hostname: docker's is the container's own (its short id unless -h)
	k=$("$KILN" image inspect -f '{{.Config.Hostname}}' "kimg$n")
	d=$("$KILN" container inspect -f '{{.Config.Hostname}}' "k$n")
	[ -n "$k" ] && [ "$k" = "$d" ] || bad="$bad
#   Hostname: image $k, container $d"
	if [ -z "$bad" ]; then ok "$name: the committed config is docker's"
	else not_ok "$name differs:$bad"; fi
}
compare "foreground run" -- ob:1 true
compare "-d -t -i" -- -d -t -i ob:1 sh
compare "-a stdout" -- -a stdout ob:1 true
compare "-i" -- -i ob:1 true
compare "-h --domainname -u -w -l --entrypoint" -- -h myhost --domainname ex.org -u 1:2 -w /tmp \
	-l a=b --entrypoint /bin/echo ob:1 hi
expect_eq "... -h is the committed Hostname" \
	"$("$KILN" image inspect -f '{{.Config.Hostname}}' kimg5)" myhost
expect_eq "... the container's Domainname is docker's" \
	"$("$KILN" container inspect -f '{{.Config.Domainname}}' k5)" \
	"$(dk container inspect -f '{{.Config.Domainname}}' d5)"
expect_eq "--domainname: the container's UTS domain name is docker's" \
	"$("$KILN" run --rm --network none --domainname ex.org ob:1 cat /proc/sys/kernel/domainname)" \
	"$(dk run --rm --network none --domainname ex.org ob:1 cat /proc/sys/kernel/domainname)"
compare "--change ONBUILD" -c 'ONBUILD RUN echo x' -- ob:1 true
compare "-v and --mount anonymous volumes" -- -v /anon --mount type=volume,dst=/m ob:1 true
expect_eq "the container's Config.Volumes is docker's" \
	"$("$KILN" container inspect -f '{{json .Config.Volumes}}' "k$n")" \
	"$(dk container inspect -f '{{json .Config.Volumes}}' "d$n")"
expect_eq "a container without volumes: Config.Volumes is docker's" \
	"$("$KILN" container inspect -f '{{json .Config.Volumes}}' k1)" \
	"$(dk container inspect -f '{{json .Config.Volumes}}' d1)"
dk rm -f -v $(dk ps -aq) >/dev/null 2>&1
"$KILN" rm -f -v $("$KILN" ps -aq) >/dev/null 2>&1
