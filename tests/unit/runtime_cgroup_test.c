/* cgroups on the host's layout (v1, v2 or hybrid, detected): limits as
 * docker sets them, a memory hog OOM-killed and counted, a fork loop
 * stopped at the pids limit, freeze stopping a spinner's CPU time, destroy
 * leaving nothing under any hierarchy. The v2 back end also runs on the
 * hybrid "unified" mount (create, add, freeze, destroy need no controller
 * there). Every group is removed at exit, even after a failure. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgroup-internal.h"
#include "tap.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

static char ids[8][64];
static size_t n_ids;
static pid_t kids[64];
static size_t n_kids;
static struct cg_mounts unified; /* the v2 back end on a hybrid host */

static const char *new_id(const char *tag)
{
	snprintf(ids[n_ids], sizeof(ids[0]), "systest-%d-%s", (int)getpid(), tag);
	return ids[n_ids++];
}

/* Removes every group a test made, whatever state it was left in. */
static void cleanup(void)
{
	for (size_t i = 0; i < n_kids; i++)
		kill(kids[i], SIGKILL);
	for (size_t i = 0; i < n_ids; i++) {
		struct rt_cgroup *cg = NULL;
		if (rt_cgroup_open(ids[i], &cg, NULL) == 0) {
			rt_cgroup_destroy(cg, NULL);
			rt_cgroup_free(cg);
		}
		cg = NULL;
		if (unified.v2 && rt_cgroup_open_in(&unified, ids[i], &cg, NULL) == 0) {
			rt_cgroup_destroy(cg, NULL);
			rt_cgroup_free(cg);
		}
	}
	for (size_t i = 0; i < n_kids; i++)
		waitpid(kids[i], NULL, WNOHANG);
	n_ids = n_kids = 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Forks fn into cg: the child waits until it was added, then runs fn and
 * _exits with its result. */
static pid_t spawn_in(struct rt_cgroup *cg, int (*fn)(int), int arg)
{
	int go[2];
	if (pipe2(go, O_CLOEXEC) < 0)
		return -1;
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		char c;
		close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(99);
		_exit(fn(arg));
	}
	close(go[0]);
	if (pid > 0)
		kids[n_kids++] = pid;
	struct kiln_err err = KILN_ERR_INIT;
	if (pid > 0 && rt_cgroup_add_pid(cg, pid, &err) < 0) {
		tap_diag("add_pid: %s", err.msg);
		kiln_err_release(&err);
		kill(pid, SIGKILL);
	}
	if (write(go[1], "g", 1) < 0)
		tap_diag("go pipe: %s", strerror(errno));
	close(go[1]);
	return pid;
}

static int hog(int mb)
{
	size_t len = (size_t)mb << 20;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 2;
	for (size_t i = 0; i < len; i += 4096)
		p[i] = 1;
	return 0; /* not reached under the limit */
}

static int spin(int unused)
{
	(void)unused;
	for (volatile unsigned long x = 0;; x++)
		;
	return 0;
}

/* Forks pausing children until fork fails; reports "count errno" on fd. */
static int fork_loop(int fd)
{
	int n = 0;
	for (; n < 1000; n++) {
		pid_t p = fork();
		if (p == 0) {
			pause();
			_exit(0);
		}
		if (p < 0)
			break;
	}
	dprintf(fd, "%d %d\n", n, errno);
	pause();
	return 0;
}

/* /dev/kmsg (c 1:11) is outside docker's device rules, /dev/null inside. */
static int dev_probe(int unused)
{
	(void)unused;
	int fd = open("/dev/kmsg", O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		return 1;
	if (errno != EPERM)
		return 2;
	return open("/dev/null", O_RDWR | O_CLOEXEC) >= 0 ? 0 : 3;
}

/* privileged: /dev/kmsg opens */
static int dev_probe_all(int unused)
{
	(void)unused;
	return open("/dev/kmsg", O_RDONLY | O_CLOEXEC) >= 0 ? 0 : 1;
}

static void check_devices(struct rt_cgroup *cg, const char *what, bool all)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		tap_diag("%s: /dev/kmsg does not open here: device rules not probed", what);
		return;
	}
	close(fd);
	int st = 0;
	pid_t pid = spawn_in(cg, all ? dev_probe_all : dev_probe, 0);
	waitpid(pid, &st, 0);
	T_OK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: %s (probe %d)", what,
	     all ? "every device allowed: /dev/kmsg opens"
	         : "device rules: /dev/kmsg EPERM, /dev/null opens",
	     WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

static long cpu_ticks(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	long utime = 0, stime = 0;
	/* after ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime
	 * stime */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &utime,
	                 &stime) != 2)
		return -1;
	return utime + stime;
}

/* Waits (bounded) until pid has used some CPU beyond from. */
static bool cpu_moves(pid_t pid, long from)
{
	for (int i = 0; i < 500; i++) {
		if (cpu_ticks(pid) > from)
			return true;
		sleep_ms(10);
	}
	return false;
}

static void check_freeze(struct rt_cgroup *cg, const char *what)
{
	struct kiln_err err = KILN_ERR_INIT;
	pid_t pid = spawn_in(cg, spin, 0);
	T_OK(cpu_moves(pid, 0), "%s: the spinner runs", what);
	T_OK(rt_cgroup_freeze(cg, true, &err) == 0, "%s: freeze %s", what, err.msg ? err.msg : "");
	long t1 = cpu_ticks(pid);
	struct rt_cgroup_stats s1, s2;
	rt_cgroup_stats(cg, &s1, &err);
	sleep_ms(300);
	long t2 = cpu_ticks(pid);
	rt_cgroup_stats(cg, &s2, &err);
	T_OK(t1 >= 0 && t1 == t2, "%s: frozen, its CPU time stays (%ld -> %ld ticks)", what, t1,
	     t2);
	T_OK(s1.cpu_usage_ns > 0 && s1.cpu_usage_ns == s2.cpu_usage_ns,
	     "%s: the group's CPU usage stays while frozen", what);
	pid_t *pids = NULL;
	size_t n = 0;
	bool found = false;
	T_OK(rt_cgroup_pids(cg, &pids, &n, &err) == 0, "%s: pids", what);
	for (size_t i = 0; i < n; i++)
		found |= pids[i] == pid;
	free(pids);
	T_OK(found, "%s: the spinner is listed among %zu pids", what, n);
	T_OK(rt_cgroup_freeze(cg, false, &err) == 0, "%s: thaw", what);
	T_OK(cpu_moves(pid, t2), "%s: thawed, its CPU time moves again", what);
	kiln_err_release(&err);
}

/* No "kiln/<id>" under any cgroup mount of mountinfo. */
static bool gone_everywhere(const char *id)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[1024];
	bool gone = true;
	while (f && fgets(line, sizeof(line), f)) {
		char mnt[512], type[64];
		char *sep = strstr(line, " - ");
		if (!sep || sscanf(line, "%*s %*s %*s %*s %511s", mnt) != 1 ||
		    sscanf(sep + 3, "%63s", type) != 1)
			continue;
		if (strcmp(type, "cgroup") && strcmp(type, "cgroup2"))
			continue;
		char path[700];
		snprintf(path, sizeof(path), "%s/kiln/%s", mnt, id);
		if (access(path, F_OK) == 0) {
			tap_diag("left behind: %s", path);
			gone = false;
		}
	}
	if (f)
		fclose(f);
	return gone;
}

static enum rt_cgroup_layout expected_layout(void)
{
	struct statfs s;
	if (statfs("/sys/fs/cgroup", &s) == 0 && s.f_type == CGROUP2_SUPER_MAGIC)
		return RT_CGROUP_V2;
	if (statfs("/sys/fs/cgroup/unified", &s) == 0 && s.f_type == CGROUP2_SUPER_MAGIC)
		return RT_CGROUP_HYBRID;
	return RT_CGROUP_V1;
}

static void test_limits_and_oom(struct rt_cgroup *cg, const char *what)
{
	struct kiln_err err = KILN_ERR_INIT;
	struct rt_cgroup_stats st;
	T_OK(rt_cgroup_stats(cg, &st, &err) == 0, "%s: stats", what);
	T_INTEQ(st.memory_limit, 64 << 20, "%s: memory limit 64M", what);
	T_INTEQ(st.pids_limit, 32, "%s: pids limit 32", what);
	T_OK(!st.oom_killed, "%s: no OOM kill yet", what);
	int status = 0;
	pid_t pid = spawn_in(cg, hog, 256);
	waitpid(pid, &status, 0);
	T_OK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
	     "%s: a child touching 256M is killed (status %#x)", what, status);
	T_OK(rt_cgroup_stats(cg, &st, &err) == 0 && st.oom_killed, "%s: stats say oom_killed",
	     what);
	kiln_err_release(&err);
}

static void test_pids_limit(struct rt_cgroup *cg, const char *what)
{
	int p[2];
	char buf[64] = "";
	if (pipe(p) < 0)
		return;
	spawn_in(cg, fork_loop, p[1]);
	close(p[1]);
	ssize_t n = read(p[0], buf, sizeof(buf) - 1);
	close(p[0]);
	int forks = -1, e = 0;
	if (n > 0)
		sscanf(buf, "%d %d", &forks, &e);
	T_OK(forks >= 0 && forks < 32 && e == EAGAIN,
	     "%s: the fork loop stops at the limit (%d forks, then errno %d)", what, forks, e);
	struct rt_cgroup_stats st;
	T_OK(rt_cgroup_stats(cg, &st, NULL) == 0 && st.pids_current > 0 && st.pids_current <= 32,
	     "%s: pids.current %llu <= 32", what, (unsigned long long)st.pids_current);
}

static void test_host_layout(void)
{
	struct kiln_err err = KILN_ERR_INIT;
	enum rt_cgroup_layout l;
	T_OK(rt_cgroup_detect(&l, &err) == 0, "detect");
	T_STREQ(rt_cgroup_layout_name(l), rt_cgroup_layout_name(expected_layout()),
	        "layout as statfs says");
	tap_diag("host cgroup layout: %s", rt_cgroup_layout_name(l));

	const char *id = new_id("a"), *what = "host layout";
	struct rt_resources r = {.memory = 64 << 20, .pids_limit = 32};
	struct rt_cgroup *cg = NULL;
	if (!T_OK(rt_cgroup_create(id, &r, &cg, &err) == 0, "create kiln/%s: %s", id,
	          err.msg ? err.msg : ""))
		return kiln_err_release(&err);
	check_devices(cg, what, false);
	test_limits_and_oom(cg, what);
	test_pids_limit(cg, what);
	check_freeze(cg, what);

	struct rt_cgroup *again = NULL;
	T_OK(rt_cgroup_open(id, &again, &err) == 0, "open the existing group");
	rt_cgroup_free(again);
	T_OK(rt_cgroup_open("systest-none-such", &again, &err) < 0 && err.code == KILN_E_NOTFOUND,
	     "open of a missing group is NOTFOUND");
	kiln_err_release(&err);

	T_OK(rt_cgroup_destroy(cg, &err) == 0, "destroy: %s", err.msg ? err.msg : "ok");
	T_OK(gone_everywhere(id), "no kiln/%s under any hierarchy", id);
	T_OK(rt_cgroup_destroy(cg, &err) == 0, "destroy again is fine");
	rt_cgroup_free(cg);
	int reaped = 0;
	for (size_t i = 0; i < n_kids; i++) {
		int st = 0;
		if (waitpid(kids[i], &st, 0) == kids[i])
			reaped++;
	}
	T_OK(reaped > 0, "children reaped after destroy (%d)", reaped);
	n_kids = 0;
	kiln_err_release(&err);
}

static void test_refusals(void)
{
	struct kiln_err err = KILN_ERR_INIT;
	struct rt_cgroup *cg = NULL;
	struct rt_resources small = {.memory = 1 << 20};
	const char *id = new_id("small");
	T_OK(rt_cgroup_create(id, &small, &cg, &err) < 0 && err.msg &&
	         strstr(err.msg, "Minimum memory limit allowed is 6MB"),
	     "1M memory: docker's message");
	T_OK(gone_everywhere(id), "nothing made for a refused limit");
	kiln_err_release(&err);
	T_OK(rt_cgroup_create("../escape", NULL, &cg, &err) < 0 && err.code == KILN_E_INVALID,
	     "an id with a slash is refused");
	kiln_err_release(&err);
}

static void test_v2_on_unified(void)
{
	struct kiln_err err = KILN_ERR_INIT;
	struct rt_cgroup *cg = NULL;
	const char *what = "v2 back end on unified";
	if (!unified.v2) {
		tap_diag("no hybrid unified mount: the v2 back end ran as the host layout or not");
		return;
	}
	const char *bad = new_id("v2pids");
	struct rt_resources r = {.pids_limit = 10};
	T_OK(rt_cgroup_create_in(&unified, bad, &r, &cg, &err) < 0 && err.msg &&
	         strstr(err.msg, "pids.max"),
	     "%s: a pids limit without the controller names pids.max", what);
	T_OK(gone_everywhere(bad), "%s: and the group is removed again", what);
	kiln_err_release(&err);

	const char *id = new_id("v2");
	if (!T_OK(rt_cgroup_create_in(&unified, id, NULL, &cg, &err) == 0, "%s: create %s", what,
	          err.msg ? err.msg : ""))
		return kiln_err_release(&err);
	check_devices(cg, what, false);
	n_kids = 0;
	check_freeze(cg, what);
	struct rt_cgroup_stats st;
	T_OK(rt_cgroup_stats(cg, &st, &err) == 0 && st.pids_current == 1 && st.cpu_usage_ns > 0,
	     "%s: stats count 1 process and its CPU time", what);
	T_OK(rt_cgroup_destroy(cg, &err) == 0, "%s: destroy %s", what, err.msg ? err.msg : "");
	rt_cgroup_free(cg);
	T_OK(gone_everywhere(id), "%s: no kiln/%s left", what, id);
	int st2 = 0;
	T_OK(n_kids == 1 && waitpid(kids[0], &st2, 0) == kids[0] && WIFSIGNALED(st2),
	     "%s: the spinner was killed", what);
	n_kids = 0;
	kiln_err_release(&err);
}

/* Groups of an earlier run that died without its atexit (a sanitizer
 * abort): "systest-<pid>-*" whose pid is gone. */
static void sweep_stale(void)
{
	static const char *const roots[] = {"/sys/fs/cgroup/freezer/kiln",
	                                    "/sys/fs/cgroup/memory/kiln",
	                                    "/sys/fs/cgroup/unified/kiln", "/sys/fs/cgroup/kiln"};
	for (size_t r = 0; r < KILN_ARRAY_SIZE(roots); r++) {
		DIR *d = opendir(roots[r]);
		struct dirent *de;
		while (d && (de = readdir(d))) {
			int pid;
			if (sscanf(de->d_name, "systest-%d-", &pid) != 1 || kill(pid, 0) == 0 ||
			    errno != ESRCH || n_ids == KILN_ARRAY_SIZE(ids))
				continue;
			snprintf(ids[n_ids++], sizeof(ids[0]), "%.60s", de->d_name);
		}
		if (d)
			closedir(d);
		cleanup();
	}
}

/* Other hosts' mountinfo: pure v2 (systemd today), pure v1 with cpu and
 * cpuacct co-mounted, hybrid; a space in a mount point is escaped. */
static const char mi_v2[] = "35 24 0:30 / /sys/fs/cgroup rw,nosuid shared:9 - cgroup2 cgroup2 "
                            "rw,nsdelegate,memory_recursiveprot\n"
                            "36 24 0:31 / /sys/fs/bpf rw shared:10 - bpf bpf rw,mode=700\n";
static const char mi_v1[] =
    "25 18 0:22 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755\n"
    "26 25 0:23 / /sys/fs/cgroup/systemd rw shared:10 - cgroup cgroup rw,xattr,name=systemd\n"
    "29 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw shared:14 - cgroup cgroup rw,cpu,cpuacct\n"
    "30 25 0:27 / /sys/fs/cgroup/memory rw shared:15 - cgroup cgroup rw,memory\n"
    "31 25 0:28 / /sys/fs/cgroup/my\\040pids rw shared:16 - cgroup cgroup rw,pids\n"
    "32 25 0:29 / /sys/fs/cgroup/net_cls rw shared:17 - cgroup cgroup rw,net_cls\n"
    "33 25 0:27 / /mnt/memory-again rw shared:15 - cgroup cgroup rw,memory\n";
static const char mi_none[] = "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n";

static int parse_text(const char *text, struct cg_mounts *m)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	int r = f ? cg_mounts_parse(f, m, NULL) : -1;
	if (f)
		fclose(f);
	return r;
}

static void test_parse(void)
{
	struct cg_mounts m;
	T_OK(parse_text(mi_v2, &m) == 0 && m.layout == RT_CGROUP_V2 && m.n_v1 == 0 && m.v2 &&
	         !strcmp(m.v2, "/sys/fs/cgroup"),
	     "pure v2 mountinfo: v2 at /sys/fs/cgroup");
	cg_mounts_release(&m);
	int r = parse_text(mi_v1, &m);
	T_OK(r == 0 && m.layout == RT_CGROUP_V1 && !m.v2 && m.n_v1 == 4,
	     "pure v1 mountinfo: v1, the 4 hierarchies kiln joins (net_cls and a second memory "
	     "mount skipped), got %zu",
	     m.n_v1);
	bool cpu = false, pids = false;
	for (size_t i = 0; i < m.n_v1; i++) {
		cpu |= m.v1[i].ctrls == (CG_CPU | CG_CPUACCT) &&
		       !strcmp(m.v1[i].path, "/sys/fs/cgroup/cpu,cpuacct");
		pids |= m.v1[i].ctrls == CG_PIDS && !strcmp(m.v1[i].path, "/sys/fs/cgroup/my pids");
	}
	T_OK(cpu, "cpu,cpuacct co-mounted is one hierarchy with both controllers");
	T_OK(pids, "an escaped space in a mount point is unescaped");
	cg_mounts_release(&m);
	char hybrid[sizeof(mi_v1) + 128];
	snprintf(hybrid, sizeof(hybrid), "%s%s", mi_v1,
	         "40 25 0:38 / /sys/fs/cgroup/unified rw shared:11 - cgroup2 cgroup2 rw\n");
	T_OK(parse_text(hybrid, &m) == 0 && m.layout == RT_CGROUP_HYBRID && m.v2 &&
	         !strcmp(m.v2, "/sys/fs/cgroup/unified"),
	     "v1 plus a cgroup2 mount is hybrid");
	cg_mounts_release(&m);
	T_OK(parse_text(mi_none, &m) < 0, "no cgroup mount is an error");
	cg_mounts_release(&m);
}

static void test_weight(void)
{
	T_INTEQ(cg_weight_from_shares(2), 1, "shares 2 -> weight 1");
	T_INTEQ(cg_weight_from_shares(1024), 39, "shares 1024 (docker's default) -> weight 39");
	T_INTEQ(cg_weight_from_shares(512), 20, "shares 512 -> weight 20");
	T_INTEQ(cg_weight_from_shares(262144), 10000, "shares 262144 -> weight 10000");
	T_INTEQ(cg_weight_from_shares(1), 1, "below the range: clamped");
}

/* The files docker 20.10 writes for -m 64m --cpus 0.5 --cpu-shares 512
 * --pids-limit 32 (read from a docker container's cgroup on this host). */
static void test_files(void)
{
	struct kiln_err err = KILN_ERR_INIT;
	struct rt_cgroup *cg = NULL;
	const char *id = new_id("files");
	struct rt_resources r = {
	    .memory = 64 << 20, .cpu_quota = 50000, .cpu_shares = 512, .pids_limit = 32};
	if (!T_OK(rt_cgroup_create(id, &r, &cg, &err) == 0, "create with cpu limits: %s",
	          err.msg ? err.msg : ""))
		return kiln_err_release(&err);
	static const char *const want[][2] = {
	    {"memory.limit_in_bytes", "67108864"},
	    {"memory.memsw.limit_in_bytes", "134217728"},
	    {"cpu.cfs_quota_us", "50000"},
	    {"cpu.cfs_period_us", "100000"},
	    {"cpu.shares", "512"},
	    {"pids.max", "32"},
	    {"memory.max", "67108864"},
	    {"memory.swap.max", "67108864"},
	    {"cpu.max", "50000 100000"},
	    {"cpu.weight", "20"},
	};
	size_t checked = 0;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(want); i++) {
		const char *dir = NULL;
		for (size_t j = 0; j < cg->n_v1 && !dir; j++)
			if (cg_file_exists(cg->v1[j].path, want[i][0]))
				dir = cg->v1[j].path;
		if (!dir && cg->layout == RT_CGROUP_V2 && cg_file_exists(cg->v2, want[i][0]))
			dir = cg->v2;
		if (!dir)
			continue; /* the other version's file, or swap not accounted */
		char *got = NULL;
		if (cg_read(dir, want[i][0], &got, &err) == 0)
			got[strcspn(got, "\n")] = 0;
		T_STREQ(got, want[i][1], "%s", want[i][0]);
		free(got);
		checked++;
	}
	T_OK(checked >= 5, "%zu limit files checked", checked);
	bool accounted = cg->layout == RT_CGROUP_V2 && cg_file_exists(cg->v2, "memory.swap.max");
	for (size_t j = 0; j < cg->n_v1; j++)
		accounted |= cg_file_exists(cg->v1[j].path, "memory.memsw.limit_in_bytes");
	T_OK(rt_cgroup_swap_ignored(cg) == !accounted, "swap ignored only where not accounted");
	T_OK(rt_cgroup_destroy(cg, &err) == 0 && gone_everywhere(id), "destroyed");
	rt_cgroup_free(cg);
	n_kids = 0;

	id = new_id("priv");
	struct rt_resources priv = {.all_devices = true};
	cg = NULL;
	if (T_OK(rt_cgroup_create(id, &priv, &cg, &err) == 0, "create privileged")) {
		check_devices(cg, "host layout, privileged", true);
		T_OK(rt_cgroup_destroy(cg, &err) == 0 && gone_everywhere(id), "destroyed");
		rt_cgroup_free(cg);
	}
	n_kids = 0;
	kiln_err_release(&err);
}

static void on_signal(int sig)
{
	cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

int main(void)
{
	test_parse();
	test_weight();
	if (geteuid() != 0) {
		printf("# the other cgroup tests need root; skipped\n");
		tap_done();
		return 77;
	}
	struct statfs s;
	if (statfs("/sys/fs/cgroup", &s) < 0)
		tap_skip_all("no /sys/fs/cgroup");
	if (expected_layout() == RT_CGROUP_HYBRID &&
	    access("/sys/fs/cgroup/unified/cgroup.controllers", F_OK) == 0) {
		unified.layout = RT_CGROUP_V2;
		unified.v2 = "/sys/fs/cgroup/unified";
	}
	sweep_stale();
	atexit(cleanup);
	struct rt_cgroup *probe = NULL;
	struct kiln_err perr = KILN_ERR_INIT;
	if (rt_cgroup_create(new_id("probe"), NULL, &probe, &perr) < 0) {
		bool ro = perr.code == EROFS || perr.code == EACCES || perr.code == EPERM;
		printf("# cannot make cgroups here: %s\n", perr.msg);
		kiln_err_release(&perr);
		if (ro) {
			tap_done();
			return 77;
		}
	} else {
		rt_cgroup_destroy(probe, NULL);
		rt_cgroup_free(probe);
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	test_refusals();
	test_host_layout();
	test_files();
	test_v2_on_unified();
	cleanup();
	return tap_done();
}
