/* cgroup v1 back end: one directory per hierarchy (memory, cpu, cpuacct,
 * cpuset, pids, freezer, devices, blkio, name=systemd, as runc joins them
 * for docker), limits in each controller's files, the freezer for pause. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cgroup-internal.h"

#define FREEZE_TRIES 2000 /* polls of freezer.state, about 10 s */

static const char *dir_of(const struct rt_cgroup *cg, unsigned ctrl)
{
	for (size_t i = 0; i < cg->n_v1; i++)
		if (cg->v1[i].ctrls & ctrl)
			return cg->v1[i].path;
	return NULL;
}

static int need(const struct rt_cgroup *cg, unsigned ctrl, const char *name, const char **dir,
                struct kiln_err *err)
{
	*dir = dir_of(cg, ctrl);
	if (!*dir)
		return kiln_err_set(err, KILN_E_UNSUPPORTED,
		                    "the `%s` cgroup controller is not mounted", name);
	return 0;
}

/* A new cpuset has no cpus or mems: copy the parent's, for "kiln" first. */
static int cpuset_fill(const char *dir, struct kiln_err *err)
{
	static const char *const files[] = {"cpuset.cpus", "cpuset.mems"};
	_cleanup_free_ char *parent = xstrdup(dir);
	*strrchr(parent, '/') = 0;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(files); i++) {
		_cleanup_free_ char *mine = NULL, *theirs = NULL;
		if (cg_read(dir, files[i], &mine, err) < 0)
			return -1;
		if (mine[0] && mine[0] != '\n')
			continue;
		if (cg_read(parent, files[i], &theirs, err) < 0 ||
		    cg_write(dir, files[i], theirs, err) < 0)
			return -1;
	}
	return 0;
}

static int cpuset_init(const char *dir, struct kiln_err *err)
{
	_cleanup_free_ char *kiln = xstrdup(dir);
	*strrchr(kiln, '/') = 0;
	if (cpuset_fill(kiln, err) < 0)
		return -1;
	return cpuset_fill(dir, err);
}

static int devices_default(const char *dir, struct kiln_err *err)
{
	if (cg_write(dir, "devices.deny", "a", err) < 0)
		return -1;
	for (size_t i = 0; i < cg_n_default_devices; i++)
		if (cg_write(dir, "devices.allow", cg_default_devices[i], err) < 0)
			return -1;
	return 0;
}

/* memory, then memory+swap (2 x memory unless given; docker warns and goes
 * on without it when swap is not accounted). */
static int memory_limits(struct rt_cgroup *cg, const struct rt_resources *r, struct kiln_err *err)
{
	const char *dir;
	if (!r->memory && r->memory_swap <= 0)
		return 0;
	if (need(cg, CG_MEMORY, "memory", &dir, err) < 0)
		return -1;
	if (r->memory &&
	    cg_writef(dir, "memory.limit_in_bytes", err, "%lld", (long long)r->memory) < 0)
		return -1;
	int64_t swap = r->memory_swap ? r->memory_swap : 2 * r->memory;
	if (!cg_file_exists(dir, "memory.memsw.limit_in_bytes")) {
		cg->swap_ignored = swap > 0;
		return 0;
	}
	return cg_writef(dir, "memory.memsw.limit_in_bytes", err, "%lld", (long long)swap);
}

static int cpu_limits(const struct rt_cgroup *cg, const struct rt_resources *r,
                      struct kiln_err *err)
{
	const char *dir;
	if (!r->cpu_quota && !r->cpu_period && !r->cpu_shares)
		return 0;
	if (need(cg, CG_CPU, "cpu", &dir, err) < 0)
		return -1;
	if (r->cpu_quota || r->cpu_period) {
		long long period = r->cpu_period ? r->cpu_period : 100000;
		if (cg_writef(dir, "cpu.cfs_period_us", err, "%lld", period) < 0)
			return -1;
		if (r->cpu_quota &&
		    cg_writef(dir, "cpu.cfs_quota_us", err, "%lld", (long long)r->cpu_quota) < 0)
			return -1;
	}
	if (r->cpu_shares &&
	    cg_writef(dir, "cpu.shares", err, "%lld", (long long)r->cpu_shares) < 0)
		return -1;
	return 0;
}

static int pids_limit(const struct rt_cgroup *cg, const struct rt_resources *r,
                      struct kiln_err *err)
{
	const char *dir;
	if (!r->pids_limit)
		return 0;
	if (need(cg, CG_PIDS, "pids", &dir, err) < 0)
		return -1;
	if (r->pids_limit < 0)
		return cg_write(dir, "pids.max", "max", err);
	return cg_writef(dir, "pids.max", err, "%lld", (long long)r->pids_limit);
}

static int v1_create(struct rt_cgroup *cg, const struct rt_resources *r, struct kiln_err *err)
{
	for (size_t i = 0; i < cg->n_v1; i++) {
		if (cg_mkdir(cg->v1[i].path, err) < 0)
			return -1;
		if ((cg->v1[i].ctrls & CG_CPUSET) && cpuset_init(cg->v1[i].path, err) < 0)
			return -1;
		if ((cg->v1[i].ctrls & CG_DEVICES) && !r->all_devices &&
		    devices_default(cg->v1[i].path, err) < 0)
			return -1;
	}
	if (memory_limits(cg, r, err) < 0 || cpu_limits(cg, r, err) < 0 ||
	    pids_limit(cg, r, err) < 0)
		return -1;
	return 0;
}

static bool v1_exists(const struct rt_cgroup *cg)
{
	for (size_t i = 0; i < cg->n_v1; i++)
		if (access(cg->v1[i].path, F_OK) == 0)
			return true;
	return false;
}

static int v1_add_pid(struct rt_cgroup *cg, pid_t pid, struct kiln_err *err)
{
	for (size_t i = 0; i < cg->n_v1; i++)
		if (cg_writef(cg->v1[i].path, "cgroup.procs", err, "%d", (int)pid) < 0)
			return -1;
	return 0;
}

/* Writes the state and polls until the kernel reports it; FREEZING is
 * retried with a new write, as runc does. */
static int v1_freeze(struct rt_cgroup *cg, bool frozen, struct kiln_err *err)
{
	const char *dir, *want = frozen ? "FROZEN" : "THAWED";
	if (need(cg, CG_FREEZER, "freezer", &dir, err) < 0)
		return -1;
	for (unsigned i = 0; i < FREEZE_TRIES; i++) {
		_cleanup_free_ char *state = NULL;
		if (i % 50 == 0 && cg_write(dir, "freezer.state", want, err) < 0)
			return -1;
		if (cg_read(dir, "freezer.state", &state, err) < 0)
			return -1;
		if (!strncmp(state, want, strlen(want)))
			return 0;
		cg_backoff(i < 5 ? i : 4);
	}
	return kiln_err_set(err, ETIMEDOUT, "`%s/freezer.state` did not become %s", dir, want);
}

static int v1_stats(struct rt_cgroup *cg, struct rt_cgroup_stats *st, struct kiln_err *err)
{
	const char *dir;
	if ((dir = dir_of(cg, CG_CPUACCT)) &&
	    cg_read_u64(dir, "cpuacct.usage", &st->cpu_usage_ns, err) < 0)
		return -1;
	if ((dir = dir_of(cg, CG_MEMORY))) {
		_cleanup_free_ char *stat = NULL, *oom = NULL;
		uint64_t inactive = 0, oom_kill = 0;
		if (cg_read_u64(dir, "memory.usage_in_bytes", &st->memory_usage, err) < 0 ||
		    cg_read_u64(dir, "memory.limit_in_bytes", &st->memory_limit, err) < 0 ||
		    cg_read(dir, "memory.stat", &stat, err) < 0 ||
		    cg_read(dir, "memory.oom_control", &oom, err) < 0)
			return -1;
		/* what docker's CLI shows: usage without the inactive page cache */
		if (cg_keyed(stat, "total_inactive_file", &inactive) && inactive < st->memory_usage)
			st->memory_usage -= inactive;
		if (st->memory_limit >= (UINT64_C(1) << 62)) /* the page-rounded "unlimited" */
			st->memory_limit = UINT64_MAX;
		st->oom_killed = cg_keyed(oom, "oom_kill", &oom_kill) && oom_kill > 0;
	}
	if ((dir = dir_of(cg, CG_PIDS)) &&
	    (cg_read_u64(dir, "pids.current", &st->pids_current, err) < 0 ||
	     cg_read_u64(dir, "pids.max", &st->pids_limit, err) < 0))
		return -1;
	return 0;
}

/* Frozen while killing, so nothing forks between the read and the kill
 * (runc's signalAllProcesses); a missing freezer just kills. */
static int v1_kill_all(struct rt_cgroup *cg, struct kiln_err *err)
{
	struct kiln_err e = KILN_ERR_INIT;
	bool frozen = dir_of(cg, CG_FREEZER) && v1_freeze(cg, true, &e) == 0;
	kiln_err_release(&e);
	pid_t *pids = NULL;
	size_t n = 0;
	int ret = rt_cgroup_pids(cg, &pids, &n, err);
	for (size_t i = 0; ret == 0 && i < n; i++)
		if (kill(pids[i], SIGKILL) < 0 && errno != ESRCH)
			ret = kiln_err_set(err, errno, "kill %d", (int)pids[i]);
	free(pids);
	if (frozen && v1_freeze(cg, false, &e) < 0)
		kiln_err_release(&e);
	return ret;
}

static int v1_remove(struct rt_cgroup *cg, struct kiln_err *err)
{
	int ret = 0;
	for (size_t i = 0; i < cg->n_v1; i++) {
		struct kiln_err e = KILN_ERR_INIT;
		if (cg_rmdir(cg->v1[i].path, &e) < 0) {
			if (ret == 0)
				kiln_err_move(err, &e);
			kiln_err_release(&e);
			ret = -1;
		}
	}
	return ret;
}

const struct cg_ops cg_v1_ops = {
    .create = v1_create,
    .exists = v1_exists,
    .add_pid = v1_add_pid,
    .freeze = v1_freeze,
    .stats = v1_stats,
    .kill_all = v1_kill_all,
    .remove = v1_remove,
};
