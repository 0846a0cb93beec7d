#!/usr/bin/env bash
# The isolation probes of test_run.sh run under kiln and under a private
# dockerd (docker.io 20.10 + runc) on the same busybox image, and their
# answers must be equal. docker gets --network none (no bridge here) and
# --security-opt no-new-privileges (kiln's default, see design notes).
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/containers.sh"
. "$(dirname "$0")/dockerd.sh"

dk_from_kiln busybox:latest ||
	skip_all "docker could not load the image"

# probe NAME ARGS... : the same command line under both; stdout and the
# exit status must match
probe() {
	local name=$1; shift
	local k d kr dr
	k=$("$KILN" run --rm --network none "$@" 2>/dev/null); kr=$?
	d=$(dk run --rm --network none --security-opt no-new-privileges "$@" 2>/dev/null); dr=$?
	if [ "$k" = "$d" ] && [ "$kr" = "$dr" ]; then ok "$name (both: exit $kr)"
	else
		not_ok "$name differs"
		printf '#   kiln   (exit %s): %s\n#   docker (exit %s): %s\n' "$kr" "$(echo "$k" | head -5 | tr '\n' '|')" \
			"$dr" "$(echo "$d" | head -5 | tr '\n' '|')"
	fi
}

probe "PID 1 is the command" busybox sh -c 'echo $$'
probe "only the container's processes" busybox ps -o pid,comm
probe "capabilities" busybox grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb)' /proc/self/status
probe "no_new_privs and seccomp" busybox grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status
probe "capabilities of a non-root user" -u nobody busybox grep -E '^Cap' /proc/self/status
probe "user nobody" -u nobody busybox id
probe "uid:gid" -u 1234:5 busybox id
probe "mount fails" busybox sh -c 'mount -t tmpfs none /tmp 2>/dev/null; echo $?'
probe "unshare -U fails" busybox sh -c 'unshare -U true 2>/dev/null; echo $?'
probe "reboot fails" busybox sh -c 'reboot -f 2>/dev/null; echo $?'
probe "sysrq-trigger is read-only" busybox sh -c 'echo h 2>/dev/null >/proc/sysrq-trigger; echo $?'
probe "/sys is read-only" busybox sh -c 'touch /sys/x 2>/dev/null; echo $?'
probe "masked /proc files are empty" busybox sh -c 'for f in kcore keys timer_list sched_debug; do [ -e /proc/$f ] && wc -c </proc/$f; done'
probe "masked dirs are empty" busybox sh -c 'ls /proc/acpi /proc/scsi /sys/firmware 2>/dev/null | wc -l'
probe "read-only /proc paths" busybox sh -c 'for p in /proc/bus /proc/fs /proc/irq /proc/sys; do touch $p/x 2>/dev/null; echo $?; done'
probe "/dev entries" busybox sh -c 'ls /dev | grep -v "^console$" | sort | tr "\n" " "'
probe "/dev/shm and /dev/mqueue writable" busybox sh -c 'touch /dev/shm/a /dev/mqueue/b 2>/dev/null; echo $?'
probe "only loopback" busybox sh -c 'ip -o link | cut -d: -f2'
probe "hostname is 12 characters" busybox sh -c 'hostname | wc -c'
probe "environment" busybox sh -c 'env | grep -v ^HOSTNAME= | sort'
probe "working dir" -w /srv/x busybox pwd
probe "--read-only" --read-only busybox sh -c 'touch /x 2>/dev/null; echo $?'
probe "--cap-drop ALL --cap-add NET_ADMIN" --cap-drop ALL --cap-add NET_ADMIN busybox grep CapEff /proc/self/status
probe "--ulimit" --ulimit nofile=100:200 busybox sh -c 'ulimit -n; ulimit -Hn'
probe "--pids-limit stops a fork bomb" --pids-limit 20 busybox sh -c 'for i in $(seq 40); do sleep 5 & done 2>/dev/null; echo done' 
probe "--memory kills what exceeds it" --memory 16m --memory-swap 16m busybox sh -c 'x=$(head -c 64000000 /dev/zero | tr "\0" a); echo ${#x}'
probe "/sys/fs/cgroup: the host's v1 hierarchies, read-only, on a tmpfs" busybox sh -c \
	'ls /sys/fs/cgroup; grep " /sys/fs/cgroup" /proc/self/mountinfo | cut -d" " -f5,6,8-; touch /sys/fs/cgroup/pids/x'
probe "exit status" busybox sh -c 'exit 7'
probe "command not found: 127" busybox nosuch
probe "not executable: 126" busybox /etc/passwd
