/* cgroup v2 back end: one group in the unified hierarchy, the controllers
 * enabled through cgroup.subtree_control along the path, cgroup.freeze for
 * pause and cgroup.kill (or a frozen kill round) for destroy. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cgroup-internal.h"

#define FREEZE_TRIES 2000

static char *parent_of(const char *dir)
{
	char *p = xstrdup(dir);
	char *slash = strrchr(p, '/');
	if (slash)
		*slash = 0;
	return p;
}

/* Enables in dir's subtree what dir has of the controllers kiln uses. A
 * controller that cannot be enabled is left out: only a limit that needs
 * it fails, naming its file. */
static void enable_controllers(const char *dir)
{
	static const char *const want[] = {"cpuset", "cpu", "io", "memory", "pids"};
	_cleanup_free_ char *have = NULL, *on = NULL;
	if (cg_read(dir, "cgroup.controllers", &have, NULL) < 0 ||
	    cg_read(dir, "cgroup.subtree_control", &on, NULL) < 0)
		return;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(want); i++) {
		char word[16];
		snprintf(word, sizeof(word), " %s ", want[i]);
		_cleanup_free_ char *h = xasprintf(" %s ", have), *o = xasprintf(" %s ", on);
		for (char *p = h; *p; p++)
			if (*p == '\n')
				*p = ' ';
		for (char *p = o; *p; p++)
			if (*p == '\n')
				*p = ' ';
		if (strstr(h, word) && !strstr(o, word))
			cg_writef(dir, "cgroup.subtree_control", NULL, "+%s", want[i]);
	}
}

static int limit(const char *dir, const char *file, const char *ctrl, const char *value,
                 struct kiln_err *err)
{
	if (!cg_file_exists(dir, file))
		return kiln_err_set(err, KILN_E_UNSUPPORTED,
		                    "cannot set `%s`: the `%s` controller is not available in `%s`",
		                    file, ctrl, dir);
	return cg_write(dir, file, value, err);
}

/* runc's conversion of v1 shares [2, 262144] to a weight [1, 10000]. */
static uint64_t shares_to_weight(int64_t shares)
{
	if (shares < 2)
		shares = 2;
	if (shares > 262144)
		shares = 262144;
	return 1 + ((uint64_t)(shares - 2) * 9999) / 262142;
}

static int memory_limits(struct rt_cgroup *cg, const struct rt_resources *r, struct kiln_err *err)
{
	char v[32];
	if (!r->memory)
		return 0;
	snprintf(v, sizeof(v), "%lld", (long long)r->memory);
	if (limit(cg->v2, "memory.max", "memory", v, err) < 0)
		return -1;
	/* v2 limits swap alone: memory+swap minus memory; 2 x memory by default */
	int64_t total = r->memory_swap ? r->memory_swap : 2 * r->memory;
	if (total < 0)
		snprintf(v, sizeof(v), "max");
	else
		snprintf(v, sizeof(v), "%lld", (long long)(total - r->memory));
	if (!cg_file_exists(cg->v2, "memory.swap.max")) {
		cg->swap_ignored = true;
		return 0;
	}
	return cg_write(cg->v2, "memory.swap.max", v, err);
}

static int cpu_limits(const struct rt_cgroup *cg, const struct rt_resources *r,
                      struct kiln_err *err)
{
	char v[48];
	if (r->cpu_quota || r->cpu_period) {
		long long period = r->cpu_period ? r->cpu_period : 100000;
		if (r->cpu_quota)
			snprintf(v, sizeof(v), "%lld %lld", (long long)r->cpu_quota, period);
		else
			snprintf(v, sizeof(v), "max %lld", period);
		if (limit(cg->v2, "cpu.max", "cpu", v, err) < 0)
			return -1;
	}
	if (r->cpu_shares) {
		snprintf(v, sizeof(v), "%llu", (unsigned long long)shares_to_weight(r->cpu_shares));
		if (limit(cg->v2, "cpu.weight", "cpu", v, err) < 0)
			return -1;
	}
	return 0;
}

static int v2_create(struct rt_cgroup *cg, const struct rt_resources *r, struct kiln_err *err)
{
	_cleanup_free_ char *kiln = parent_of(cg->v2);
	_cleanup_free_ char *root = parent_of(kiln);
	if (cg_mkdir(cg->v2, err) < 0)
		return -1;
	enable_controllers(root);
	enable_controllers(kiln);
	if (memory_limits(cg, r, err) < 0 || cpu_limits(cg, r, err) < 0)
		return -1;
	if (r->pids_limit) {
		char v[32];
		if (r->pids_limit < 0)
			snprintf(v, sizeof(v), "max");
		else
			snprintf(v, sizeof(v), "%lld", (long long)r->pids_limit);
		if (limit(cg->v2, "pids.max", "pids", v, err) < 0)
			return -1;
	}
	return 0;
}

static bool v2_exists(const struct rt_cgroup *cg)
{
	return access(cg->v2, F_OK) == 0;
}

static int v2_add_pid(struct rt_cgroup *cg, pid_t pid, struct kiln_err *err)
{
	return cg_writef(cg->v2, "cgroup.procs", err, "%d", (int)pid);
}

static int v2_freeze(struct rt_cgroup *cg, bool frozen, struct kiln_err *err)
{
	if (!cg_file_exists(cg->v2, "cgroup.freeze"))
		return kiln_err_set(err, KILN_E_UNSUPPORTED,
		                    "`%s/cgroup.freeze` is missing (kernel older than 5.2)",
		                    cg->v2);
	if (cg_write(cg->v2, "cgroup.freeze", frozen ? "1" : "0", err) < 0)
		return -1;
	for (unsigned i = 0; i < FREEZE_TRIES; i++) {
		_cleanup_free_ char *ev = NULL;
		uint64_t v;
		if (cg_read(cg->v2, "cgroup.events", &ev, err) < 0)
			return -1;
		if (cg_keyed(ev, "frozen", &v) && v == (frozen ? 1 : 0))
			return 0;
		cg_backoff(i < 5 ? i : 4);
	}
	return kiln_err_set(err, ETIMEDOUT, "`%s/cgroup.events` did not say frozen %d", cg->v2,
	                    frozen);
}

static int v2_stats(struct rt_cgroup *cg, struct rt_cgroup_stats *st, struct kiln_err *err)
{
	_cleanup_free_ char *cpu = NULL;
	uint64_t v;
	if (cg_read(cg->v2, "cpu.stat", &cpu, err) < 0)
		return -1;
	if (cg_keyed(cpu, "usage_usec", &v))
		st->cpu_usage_ns = v * 1000;
	if (cg_file_exists(cg->v2, "memory.current")) {
		_cleanup_free_ char *stat = NULL, *events = NULL;
		if (cg_read_u64(cg->v2, "memory.current", &st->memory_usage, err) < 0 ||
		    cg_read_u64(cg->v2, "memory.max", &st->memory_limit, err) < 0 ||
		    cg_read(cg->v2, "memory.stat", &stat, err) < 0 ||
		    cg_read(cg->v2, "memory.events", &events, err) < 0)
			return -1;
		if (cg_keyed(stat, "inactive_file", &v) && v < st->memory_usage)
			st->memory_usage -= v;
		st->oom_killed = cg_keyed(events, "oom_kill", &v) && v > 0;
	}
	if (cg_file_exists(cg->v2, "pids.current") &&
	    (cg_read_u64(cg->v2, "pids.current", &st->pids_current, err) < 0 ||
	     cg_read_u64(cg->v2, "pids.max", &st->pids_limit, err) < 0))
		return -1;
	if (!cg_file_exists(cg->v2, "pids.current")) {
		/* no pids controller: count the processes */
		pid_t *pids = NULL;
		size_t n = 0, cap = 0;
		if (cg_procs_add(cg->v2, &pids, &n, &cap, err) < 0)
			return -1;
		free(pids);
		st->pids_current = n;
	}
	return 0;
}

static int v2_kill_all(struct rt_cgroup *cg, struct kiln_err *err)
{
	if (cg_file_exists(cg->v2, "cgroup.kill"))
		return cg_write(cg->v2, "cgroup.kill", "1", err);
	struct kiln_err e = KILN_ERR_INIT;
	bool frozen = v2_freeze(cg, true, &e) == 0;
	kiln_err_release(&e);
	pid_t *pids = NULL;
	size_t n = 0, cap = 0;
	int ret = cg_procs_add(cg->v2, &pids, &n, &cap, err);
	for (size_t i = 0; ret == 0 && i < n; i++)
		if (kill(pids[i], SIGKILL) < 0 && errno != ESRCH)
			ret = kiln_err_set(err, errno, "kill %d", (int)pids[i]);
	free(pids);
	if (frozen && v2_freeze(cg, false, &e) < 0)
		kiln_err_release(&e);
	return ret;
}

static int v2_remove(struct rt_cgroup *cg, struct kiln_err *err)
{
	return cg_rmdir(cg->v2, err);
}

const struct cg_ops cg_v2_ops = {
    .create = v2_create,
    .exists = v2_exists,
    .add_pid = v2_add_pid,
    .freeze = v2_freeze,
    .stats = v2_stats,
    .kill_all = v2_kill_all,
    .remove = v2_remove,
};
