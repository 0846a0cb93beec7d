/* runtime/cgroup-internal.h: the cgroup back ends (cgroup_v1.c,
 * cgroup_v2.c) behind a small ops struct, crun-style, and the helpers they
 * share with cgroup.c. Private to the cgroup files (and their test). */
#ifndef KILN_RUNTIME_CGROUP_INTERNAL_H
#define KILN_RUNTIME_CGROUP_INTERNAL_H

#include <stdio.h>

#include "sys-internal.h"

/* v1 controllers kiln uses (bits). */
enum cg_ctrl {
	CG_MEMORY = 1 << 0,
	CG_CPU = 1 << 1,
	CG_CPUACCT = 1 << 2,
	CG_CPUSET = 1 << 3,
	CG_PIDS = 1 << 4,
	CG_FREEZER = 1 << 5,
	CG_DEVICES = 1 << 6,
	CG_BLKIO = 1 << 7,
	CG_SYSTEMD = 1 << 8, /* name=systemd: no controller, joined as runc does */
};

#define CG_V1_MAX 16

/* The hierarchies of a layout: detected from mountinfo, or given by a test
 * (the v2 back end on this host's hybrid "unified" mount). */
struct cg_mounts {
	enum rt_cgroup_layout layout;
	size_t n_v1;
	struct cg_mount {
		char *path;     /* mount point, e.g. /sys/fs/cgroup/memory */
		unsigned ctrls; /* enum cg_ctrl bits */
	} v1[CG_V1_MAX];
	char *v2; /* the cgroup2 mount point, NULL when none */
};

int cg_mounts_detect(struct cg_mounts *m, struct kiln_err *err);
/* The same from mountinfo text (tests give other hosts' layouts). */
int cg_mounts_parse(FILE *f, struct cg_mounts *m, struct kiln_err *err);
void cg_mounts_release(struct cg_mounts *m);

struct rt_cgroup {
	char *id;
	enum rt_cgroup_layout layout;
	const struct cg_ops *ops;
	size_t n_v1;
	struct cg_mount v1[CG_V1_MAX]; /* v1: "<mount>/kiln/<id>" per hierarchy */
	char *v2;                      /* v2: the group; hybrid: the unified group or NULL */
	bool swap_ignored; /* memory+swap asked for but not accountable: docker warns, ignores */
};

struct cg_ops {
	/* Makes the directories and applies r; on error the caller destroys. */
	int (*create)(struct rt_cgroup *cg, const struct rt_resources *r, struct kiln_err *err);
	/* Whether any directory of the group exists. */
	bool (*exists)(const struct rt_cgroup *cg);
	int (*add_pid)(struct rt_cgroup *cg, pid_t pid, struct kiln_err *err);
	int (*freeze)(struct rt_cgroup *cg, bool frozen, struct kiln_err *err);
	int (*stats)(struct rt_cgroup *cg, struct rt_cgroup_stats *st, struct kiln_err *err);
	/* One round of SIGKILL to every process (the group may be frozen). */
	int (*kill_all)(struct rt_cgroup *cg, struct kiln_err *err);
	/* rmdir of every directory; a missing one is fine. */
	int (*remove)(struct rt_cgroup *cg, struct kiln_err *err);
};

extern const struct cg_ops cg_v1_ops, cg_v2_ops;

/* Creates the group in the given hierarchies (tests pick them). */
int rt_cgroup_create_in(const struct cg_mounts *m, const char *id, const struct rt_resources *r,
                        struct rt_cgroup **out, struct kiln_err *err);
int rt_cgroup_open_in(const struct cg_mounts *m, const char *id, struct rt_cgroup **out,
                      struct kiln_err *err);

/* --- helpers (cgroup.c) --------------------------------------------------- */
/* docker's default device rules (runc's allowed devices) in devices.allow
 * syntax: mknod of anything; use of null, zero, full, random, urandom,
 * tty, console, ptmx, ptys and tun only. */
extern const char *const cg_default_devices[];
extern const size_t cg_n_default_devices;
/* Writes s to dir/file; the error names the file. */
int cg_write(const char *dir, const char *file, const char *s, struct kiln_err *err);
__attribute__((format(printf, 4, 5))) int cg_writef(const char *dir, const char *file,
                                                    struct kiln_err *err, const char *fmt, ...);
/* Reads dir/file (small), NUL-terminated, trailing newline kept. */
int cg_read(const char *dir, const char *file, char **out, struct kiln_err *err);
/* A number, or UINT64_MAX for "max". */
int cg_read_u64(const char *dir, const char *file, uint64_t *v, struct kiln_err *err);
/* The value of "key N" in a flat keyed file (memory.stat, cpu.stat...). */
bool cg_keyed(const char *text, const char *key, uint64_t *v);
bool cg_file_exists(const char *dir, const char *file);
/* mkdir dir (and "kiln" above it); EEXIST is fine. */
int cg_mkdir(const char *dir, struct kiln_err *err);
/* rmdir with a short retry on EBUSY; ENOENT is success. */
int cg_rmdir(const char *dir, struct kiln_err *err);
/* Appends the pids of dir/cgroup.procs to *pids. */
int cg_procs_add(const char *dir, pid_t **pids, size_t *n, size_t *cap, struct kiln_err *err);
/* v1 cpu.shares -> v2 cpu.weight as runc converts them. */
uint64_t cg_weight_from_shares(int64_t shares);
/* Sleeps a few milliseconds growing with the attempt number. */
void cg_backoff(unsigned attempt);

#endif
