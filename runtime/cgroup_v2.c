/* cgroup v2 back end: one group in the unified hierarchy, the controllers
 * enabled through cgroup.subtree_control along the path, cgroup.freeze for
 * pause and cgroup.kill (or a frozen kill round) for destroy. */
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cgroup-internal.h"

_Static_assert(sizeof(uintptr_t) <= sizeof(uint64_t), "bpf pointers");

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
uint64_t cg_weight_from_shares(int64_t shares)
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
		snprintf(v, sizeof(v), "%llu",
		         (unsigned long long)cg_weight_from_shares(r->cpu_shares));
		if (limit(cg->v2, "cpu.weight", "cpu", v, err) < 0)
			return -1;
	}
	return 0;
}

/* --- the device filter: v2's devices.allow is a BPF program ----------------- */

#define DEV_MAX_INSNS 256

struct dev_rule {
	int type;             /* BPF_DEVCG_DEV_*, 0 for any */
	unsigned access;      /* BPF_DEVCG_ACC_* bits */
	int64_t major, minor; /* -1 for "*" */
};

/* "c 1:3 rwm" -> rule (the rules are kiln's own table: well formed). */
static void dev_rule_parse(const char *s, struct dev_rule *r)
{
	char type, maj[16], min[16], acc[8];
	sscanf(s, "%c %15[^:]:%15s %7s", &type, maj, min, acc);
	r->type = type == 'c' ? BPF_DEVCG_DEV_CHAR : type == 'b' ? BPF_DEVCG_DEV_BLOCK : 0;
	r->major = maj[0] == '*' ? -1 : atoll(maj);
	r->minor = min[0] == '*' ? -1 : atoll(min);
	r->access = 0;
	for (const char *p = acc; *p; p++)
		r->access |= *p == 'r'   ? BPF_DEVCG_ACC_READ
		             : *p == 'w' ? BPF_DEVCG_ACC_WRITE
		                         : BPF_DEVCG_ACC_MKNOD;
}

#define INSN(c, d, s_, o, i)                                                                       \
	((struct bpf_insn){.code = (c), .dst_reg = (d), .src_reg = (s_), .off = (o), .imm = (i)})

/* One rule: jumps past the block on any mismatch, else returns 1 (allow). */
static size_t dev_rule_block(const struct dev_rule *r, struct bpf_insn *out)
{
	struct bpf_insn b[8];
	size_t n = 0;
	if (r->type)
		b[n++] = INSN(BPF_JMP | BPF_JNE | BPF_K, 2, 0, 0, r->type);
	if (r->access != (BPF_DEVCG_ACC_MKNOD | BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE)) {
		b[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_X, 0, 3, 0, 0);
		b[n++] = INSN(BPF_ALU64 | BPF_AND | BPF_K, 0, 0, 0, (int32_t)~r->access);
		b[n++] = INSN(BPF_JMP | BPF_JNE | BPF_K, 0, 0, 0, 0);
	}
	if (r->major >= 0)
		b[n++] = INSN(BPF_JMP | BPF_JNE | BPF_K, 4, 0, 0, (int32_t)r->major);
	if (r->minor >= 0)
		b[n++] = INSN(BPF_JMP | BPF_JNE | BPF_K, 5, 0, 0, (int32_t)r->minor);
	b[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 1);
	b[n++] = INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
	for (size_t i = 0; i < n; i++) {
		if (BPF_CLASS(b[i].code) == BPF_JMP && BPF_OP(b[i].code) == BPF_JNE)
			b[i].off = (int16_t)(n - i - 1);
		out[i] = b[i];
	}
	return n;
}

/* r2 = device type, r3 = access, r4 = major, r5 = minor; then the allow
 * rules; anything else is denied. */
static size_t dev_program(struct bpf_insn *p)
{
	size_t n = 0;
	p[n++] = INSN(BPF_LDX | BPF_W | BPF_MEM, 2, 1, 0, 0);
	p[n++] = INSN(BPF_ALU64 | BPF_AND | BPF_K, 2, 0, 0, 0xffff);
	p[n++] = INSN(BPF_LDX | BPF_W | BPF_MEM, 3, 1, 0, 0);
	p[n++] = INSN(BPF_ALU64 | BPF_RSH | BPF_K, 3, 0, 0, 16);
	p[n++] = INSN(BPF_LDX | BPF_W | BPF_MEM, 4, 1, 4, 0);
	p[n++] = INSN(BPF_LDX | BPF_W | BPF_MEM, 5, 1, 8, 0);
	for (size_t i = 0; i < cg_n_default_devices; i++) {
		struct dev_rule r;
		dev_rule_parse(cg_default_devices[i], &r);
		n += dev_rule_block(&r, p + n);
	}
	p[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0);
	p[n++] = INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
	return n;
}

/* Loads the program and attaches it to the group (the cgroup keeps it). */
static int devices_attach(const char *dir, struct kiln_err *err)
{
	struct bpf_insn insns[DEV_MAX_INSNS];
	size_t n = dev_program(insns);
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
	a.insns = (uint64_t)(uintptr_t)insns;
	a.insn_cnt = (uint32_t)n;
	a.license = (uint64_t)(uintptr_t) "GPL";
	_cleanup_close_ int prog = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &a, sizeof(a));
	if (prog < 0)
		return kiln_err_set(err, errno, "loading the device filter for `%s`", dir);
	_cleanup_close_ int cgfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgfd < 0)
		return kiln_err_set(err, errno, "open `%s`", dir);
	memset(&a, 0, sizeof(a));
	a.target_fd = (uint32_t)cgfd;
	a.attach_bpf_fd = (uint32_t)prog;
	a.attach_type = BPF_CGROUP_DEVICE;
	a.attach_flags = BPF_F_ALLOW_MULTI;
	if (syscall(SYS_bpf, BPF_PROG_ATTACH, &a, sizeof(a)) < 0)
		return kiln_err_set(err, errno, "attaching the device filter to `%s`", dir);
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
	if (!r->all_devices && devices_attach(cg->v2, err) < 0)
		return -1;
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
