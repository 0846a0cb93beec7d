/* runtime/sys-internal.h: the runtime's host-facing subsystems behind narrow
 * calls: capabilities and the final identity switch (caps.c), the seccomp
 * filter (seccomp.c), cgroups on pure v1, pure v2 and the hybrid layout
 * (cgroup.c and one file per back end). Private to runtime/: the public
 * header is runtime.h. Functions marked "child" run in the container's init
 * after fork, before execve: they allocate nothing they do not free and
 * print nothing. */
#ifndef KILN_RUNTIME_SYS_INTERNAL_H
#define KILN_RUNTIME_SYS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common.h"

/* --- capabilities (caps.c) ------------------------------------------------ */
/* Capability sets are uint64_t masks: bit N is capability number N (CAP_CHOWN = 0). */

/* docker's 14 default capabilities (CapEff 00000000a80425fb for root). */
uint64_t rt_caps_default(void);
/* Every capability the running kernel knows (/proc/sys/kernel/cap_last_cap). */
uint64_t rt_caps_all(void);
/* "NET_ADMIN", "CAP_NET_ADMIN", "net_admin" -> CAP_NET_ADMIN. An unknown
 * name is KILN_E_INVALID naming it, with docker's wording. */
int rt_cap_from_name(const char *name, int *cap, struct kiln_err *err);
/* "CAP_NET_ADMIN" (static string) or NULL. */
const char *rt_cap_name(int cap);
/* --cap-add / --cap-drop applied to base as docker does ("ALL" allowed in
 * both; drops first, then adds). */
int rt_caps_adjust(uint64_t base, char *const *add, size_t n_add, char *const *drop, size_t n_drop,
                   uint64_t *out, struct kiln_err *err);

/* The user a container process runs as (resolved by the caller from the
 * image's /etc/passwd and /etc/group). */
struct rt_identity {
	uid_t uid;
	gid_t gid;
	gid_t *groups; /* supplementary groups */
	size_t n_groups;
};
/* child: the last privilege step before execve. Drops every capability
 * outside caps from the bounding set, sets the supplementary groups, gid and
 * uid (keeping capabilities across the uid change), then sets permitted,
 * effective and inheritable (and ambient) as runc does for docker, so
 * /proc/self/status in the container reads as it does under docker for the
 * same user (root: CapPrm = CapEff = CapBnd = caps; another uid: CapEff 0). */
int rt_identity_apply(const struct rt_identity *id, uint64_t caps, struct kiln_err *err);

/* --- seccomp (seccomp.c), through libseccomp ------------------------------ */
struct rt_seccomp;
/* Compiles a filter in the parent. profile: NULL for kiln's built-in
 * default (docker's default profile in effect: mount, umount2, kexec_load,
 * init_module, delete_module, keyctl, bpf, ptrace, unshare(CLONE_NEWUSER),
 * reboot, swapon... fail with EPERM), or the bytes of a profile in docker's
 * JSON format (defaultAction, architectures/archMap, syscalls[] with names,
 * action, errnoRet, args, includes/excludes caps and arches). caps: the
 * container's capability set (profiles condition rules on it). Errors name
 * the offending syscall, action or field. */
int rt_seccomp_compile(const char *profile, size_t len, uint64_t caps, struct rt_seccomp **out,
                       struct kiln_err *err);
/* child: loads the filter (after PR_SET_NO_NEW_PRIVS, just before execve). */
int rt_seccomp_load(const struct rt_seccomp *sc, struct kiln_err *err);
void rt_seccomp_free(struct rt_seccomp *sc);

/* --- cgroups (cgroup.c + cgroup_v1.c + cgroup_v2.c) ----------------------- */
enum rt_cgroup_layout {
	RT_CGROUP_V1,     /* controllers on their own v1 hierarchies */
	RT_CGROUP_V2,     /* one unified hierarchy at /sys/fs/cgroup */
	RT_CGROUP_HYBRID, /* v1 controllers plus a v2 mount at /sys/fs/cgroup/unified */
};
/* Reads /proc/self/mountinfo (and /proc/self/cgroup) once. */
int rt_cgroup_detect(enum rt_cgroup_layout *out, struct kiln_err *err);
const char *rt_cgroup_layout_name(enum rt_cgroup_layout l); /* "v1", "v2", "hybrid" */

/* Resource limits; 0 means "not set" everywhere. */
struct rt_resources {
	int64_t memory;      /* bytes (--memory) */
	int64_t memory_swap; /* bytes of memory+swap (--memory-swap); -1 unlimited;
	                      * 0 with memory set: docker's default of 2 x memory */
	int64_t cpu_quota;   /* microseconds per cpu_period (--cpus) */
	int64_t cpu_period;  /* microseconds (default 100000 when cpu_quota set) */
	int64_t cpu_shares;  /* --cpu-shares (v1 shares; converted to cpu.weight on v2) */
	int64_t pids_limit;  /* --pids-limit; -1 unlimited */
};

/* A container's cgroup: "kiln/<id>" under every hierarchy the layout uses
 * (each v1 controller kiln needs: memory, cpu/cpuacct, pids, freezer,
 * devices...; or one v2 group with the controllers enabled on the path). */
struct rt_cgroup;
/* Creates the group and applies r (an unsupported or refused limit is an
 * error naming the file, and the group is removed again). */
int rt_cgroup_create(const char *id, const struct rt_resources *r, struct rt_cgroup **out,
                     struct kiln_err *err);
/* Opens the existing group of container id (pause, stats, kill, cleanup);
 * KILN_E_NOTFOUND when there is none. */
int rt_cgroup_open(const char *id, struct rt_cgroup **out, struct kiln_err *err);
/* Moves pid (and its future children) into the group. */
int rt_cgroup_add_pid(struct rt_cgroup *cg, pid_t pid, struct kiln_err *err);
/* Freezes or thaws every process of the group; returns once the state is
 * reached (pause/unpause). */
int rt_cgroup_freeze(struct rt_cgroup *cg, bool frozen, struct kiln_err *err);
/* The group's processes (allocated array, sorted). */
int rt_cgroup_pids(struct rt_cgroup *cg, pid_t **pids, size_t *n, struct kiln_err *err);
struct rt_cgroup_stats {
	uint64_t cpu_usage_ns; /* cumulative CPU time */
	uint64_t memory_usage; /* bytes, without page cache where the kernel says */
	uint64_t memory_limit; /* bytes; UINT64_MAX when unlimited */
	uint64_t pids_current;
	uint64_t pids_limit; /* UINT64_MAX when unlimited */
	bool oom_killed;     /* the kernel OOM-killed a process of the group */
};
int rt_cgroup_stats(struct rt_cgroup *cg, struct rt_cgroup_stats *st, struct kiln_err *err);
/* SIGKILLs every process left (thawing first if frozen), waits until the
 * group is empty (bounded), removes its directories (kiln/<id> only; the
 * kiln parent stays). Safe on a group already partly removed. */
int rt_cgroup_destroy(struct rt_cgroup *cg, struct kiln_err *err);
void rt_cgroup_free(struct rt_cgroup *cg);

#endif
