/* cgroups: layout detection from mountinfo, the group "kiln/<id>" under
 * each hierarchy's mount point (docker's cgroupfs driver does the same with
 * "docker/<id>"), dispatch to the v1 or v2 back end, and the steps both
 * share (validation, killing and waiting on destroy). On the hybrid layout
 * the v1 back end does the work and the group is also made, best effort,
 * in the unified hierarchy (as systemd does), which holds no controller
 * kiln needs there. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cgroup-internal.h"

#define DESTROY_WAIT_MS 10000

/* --- helpers -------------------------------------------------------------- */

const char *const cg_default_devices[] = {
    "c *:* m",   "b *:* m",   "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm",    "c 1:8 rwm",
    "c 1:9 rwm", "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 10:200 rwm", "c 136:* rwm",
};
const size_t cg_n_default_devices = KILN_ARRAY_SIZE(cg_default_devices);

int cg_write(const char *dir, const char *file, const char *s, struct kiln_err *err)
{
	_cleanup_free_ char *path = kiln_path_join(dir, file);
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return kiln_err_set(err, errno, "open `%s`", path);
	if (write(fd, s, strlen(s)) < 0)
		return kiln_err_set(err, errno, "writing `%s` to `%s`", s, path);
	return 0;
}

int cg_writef(const char *dir, const char *file, struct kiln_err *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *s = xvasprintf(fmt, ap);
	va_end(ap);
	return cg_write(dir, file, s, err);
}

int cg_read(const char *dir, const char *file, char **out, struct kiln_err *err)
{
	_cleanup_free_ char *path = kiln_path_join(dir, file);
	size_t len;
	return kiln_read_file(path, 1 << 20, out, &len, err);
}

int cg_read_u64(const char *dir, const char *file, uint64_t *v, struct kiln_err *err)
{
	_cleanup_free_ char *s = NULL;
	if (cg_read(dir, file, &s, err) < 0)
		return -1;
	if (!strncmp(s, "max", 3)) {
		*v = UINT64_MAX;
		return 0;
	}
	char *end;
	errno = 0;
	*v = strtoull(s, &end, 10);
	if (errno || end == s)
		return kiln_err_set(err, KILN_E_CORRUPT, "`%s/%s` is not a number", dir, file);
	return 0;
}

bool cg_keyed(const char *text, const char *key, uint64_t *v)
{
	size_t kl = strlen(key);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (!strncmp(p, key, kl) && p[kl] == ' ') {
			*v = strtoull(p + kl + 1, NULL, 10);
			return true;
		}
	}
	return false;
}

bool cg_file_exists(const char *dir, const char *file)
{
	_cleanup_free_ char *path = kiln_path_join(dir, file);
	return access(path, F_OK) == 0;
}

int cg_mkdir(const char *dir, struct kiln_err *err)
{
	_cleanup_free_ char *parent = xstrdup(dir);
	char *slash = strrchr(parent, '/');
	if (slash) {
		*slash = 0;
		if (mkdir(parent, 0755) < 0 && errno != EEXIST)
			return kiln_err_set(err, errno, "mkdir `%s`", parent);
	}
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return kiln_err_set(err, errno, "mkdir `%s`", dir);
	return 0;
}

void cg_backoff(unsigned attempt)
{
	unsigned ms = attempt < 10 ? 1 + attempt : 20;
	struct timespec ts = {0, (long)ms * 1000000L};
	nanosleep(&ts, NULL);
}

int cg_rmdir(const char *dir, struct kiln_err *err)
{
	for (unsigned i = 0; i < 100; i++) {
		if (rmdir(dir) == 0 || errno == ENOENT)
			return 0;
		if (errno != EBUSY)
			break;
		cg_backoff(i);
	}
	return kiln_err_set(err, errno, "removing cgroup `%s`", dir);
}

int cg_procs_add(const char *dir, pid_t **pids, size_t *n, size_t *cap, struct kiln_err *err)
{
	_cleanup_free_ char *s = NULL;
	struct kiln_err e = KILN_ERR_INIT;
	if (cg_read(dir, "cgroup.procs", &s, &e) < 0) {
		if (e.code == ENOENT) { /* already removed */
			kiln_err_release(&e);
			return 0;
		}
		kiln_err_move(err, &e);
		return -1;
	}
	for (char *p = s; *p;) {
		char *end;
		long v = strtol(p, &end, 10);
		if (end == p)
			break;
		KILN_GROW(*pids, *cap, *n + 1);
		(*pids)[(*n)++] = (pid_t)v;
		p = end;
		while (*p == '\n')
			p++;
	}
	return 0;
}

/* --- detection ------------------------------------------------------------ */

static unsigned ctrl_bits(const char *superopts)
{
	static const struct {
		const char *name;
		unsigned bit;
	} names[] = {
	    {"memory", CG_MEMORY},   {"cpu", CG_CPU},     {"cpuacct", CG_CPUACCT},
	    {"cpuset", CG_CPUSET},   {"pids", CG_PIDS},   {"freezer", CG_FREEZER},
	    {"devices", CG_DEVICES}, {"blkio", CG_BLKIO}, {"name=systemd", CG_SYSTEMD},
	};
	unsigned bits = 0;
	_cleanup_free_ char *s = xstrdup(superopts);
	char *save = NULL;
	for (char *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save))
		for (size_t i = 0; i < KILN_ARRAY_SIZE(names); i++)
			if (!strcmp(t, names[i].name))
				bits |= names[i].bit;
	return bits;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
	char *w = s;
	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = 0;
}

/* One mountinfo line: fields 5 (mount point) and, after " - ", the type
 * and super options. */
static void mounts_add_line(struct cg_mounts *m, char *line)
{
	char *sep = strstr(line, " - ");
	char *f[6] = {0}, *save = NULL;
	if (!sep)
		return;
	*sep = 0;
	char *t = strtok_r(line, " ", &save);
	for (int i = 0; t && i < 6; i++, t = strtok_r(NULL, " ", &save))
		f[i] = t;
	char *fstype = strtok_r(sep + 3, " ", &save);
	strtok_r(NULL, " ", &save); /* source */
	char *super = strtok_r(NULL, " \n", &save);
	if (!f[4] || !fstype)
		return;
	unescape(f[4]);
	if (!strcmp(fstype, "cgroup2")) {
		if (!m->v2)
			m->v2 = xstrdup(f[4]);
		return;
	}
	unsigned bits = strcmp(fstype, "cgroup") || !super ? 0 : ctrl_bits(super);
	if (!bits || m->n_v1 == CG_V1_MAX)
		return;
	for (size_t i = 0; i < m->n_v1; i++)
		if (m->v1[i].ctrls & bits) /* the same hierarchy mounted twice */
			return;
	m->v1[m->n_v1].path = xstrdup(f[4]);
	m->v1[m->n_v1++].ctrls = bits;
}

int cg_mounts_parse(FILE *f, struct cg_mounts *m, struct kiln_err *err)
{
	char *line = NULL;
	size_t cap = 0;
	memset(m, 0, sizeof(*m));
	while (getline(&line, &cap, f) > 0)
		mounts_add_line(m, line);
	free(line);
	if (m->n_v1 && m->v2)
		m->layout = RT_CGROUP_HYBRID;
	else if (m->n_v1)
		m->layout = RT_CGROUP_V1;
	else if (m->v2)
		m->layout = RT_CGROUP_V2;
	else
		return kiln_err_set(err, KILN_E_UNSUPPORTED, "no cgroup hierarchy is mounted");
	return 0;
}

int cg_mounts_detect(struct cg_mounts *m, struct kiln_err *err)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f) {
		memset(m, 0, sizeof(*m));
		return kiln_err_set(err, errno, "open `/proc/self/mountinfo`");
	}
	return cg_mounts_parse(f, m, err);
}

void cg_mounts_release(struct cg_mounts *m)
{
	for (size_t i = 0; i < m->n_v1; i++)
		free(m->v1[i].path);
	free(m->v2);
	memset(m, 0, sizeof(*m));
}

int rt_cgroup_detect(enum rt_cgroup_layout *out, struct kiln_err *err)
{
	struct cg_mounts m;
	if (cg_mounts_detect(&m, err) < 0)
		return -1;
	*out = m.layout;
	cg_mounts_release(&m);
	return 0;
}

const char *rt_cgroup_layout_name(enum rt_cgroup_layout l)
{
	switch (l) {
	case RT_CGROUP_V1: return "v1";
	case RT_CGROUP_V2: return "v2";
	case RT_CGROUP_HYBRID: return "hybrid";
	}
	return "?";
}

/* --- the group object ----------------------------------------------------- */

static int check_id(const char *id, struct kiln_err *err)
{
	size_t n = strlen(id);
	if (n == 0 || n > 128 || !strcmp(id, ".") || !strcmp(id, ".."))
		return kiln_err_set(err, KILN_E_INVALID, "invalid cgroup name `%s`", id);
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-",
		            id[i]))
			return kiln_err_set(err, KILN_E_INVALID, "invalid cgroup name `%s`", id);
	return 0;
}

static struct rt_cgroup *group_new(const struct cg_mounts *m, const char *id)
{
	struct rt_cgroup *cg = xcalloc(1, sizeof(*cg));
	cg->id = xstrdup(id);
	cg->layout = m->layout;
	cg->ops = m->layout == RT_CGROUP_V2 ? &cg_v2_ops : &cg_v1_ops;
	if (m->layout != RT_CGROUP_V2) {
		for (size_t i = 0; i < m->n_v1; i++) {
			cg->v1[i].path = xasprintf("%s/kiln/%s", m->v1[i].path, id);
			cg->v1[i].ctrls = m->v1[i].ctrls;
		}
		cg->n_v1 = m->n_v1;
	}
	if (m->v2)
		cg->v2 = xasprintf("%s/kiln/%s", m->v2, id);
	return cg;
}

bool rt_cgroup_swap_ignored(const struct rt_cgroup *cg)
{
	return cg->swap_ignored;
}

void rt_cgroup_free(struct rt_cgroup *cg)
{
	if (!cg)
		return;
	for (size_t i = 0; i < cg->n_v1; i++)
		free(cg->v1[i].path);
	free(cg->v2);
	free(cg->id);
	free(cg);
}

/* docker's own checks of the limits (daemon/daemon_unix.go), its words. */
static int check_resources(const struct rt_resources *r, struct kiln_err *err)
{
	if (r->memory < 0 || (r->memory > 0 && r->memory < 6 * 1024 * 1024))
		return kiln_err_set(err, KILN_E_INVALID, "Minimum memory limit allowed is 6MB");
	if (r->memory_swap > 0 && !r->memory)
		return kiln_err_set(err, KILN_E_INVALID,
		                    "You should always set the Memory limit when using Memoryswap "
		                    "limit, see usage");
	if (r->memory_swap > 0 && r->memory_swap < r->memory)
		return kiln_err_set(
		    err, KILN_E_INVALID,
		    "Minimum memoryswap limit should be larger than memory limit, see "
		    "usage");
	if (r->cpu_period && (r->cpu_period < 1000 || r->cpu_period > 1000000))
		return kiln_err_set(
		    err, KILN_E_INVALID,
		    "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than "
		    "1s (i.e. 1000000)");
	if (r->cpu_quota && r->cpu_quota < 1000)
		return kiln_err_set(err, KILN_E_INVALID,
		                    "CPU cfs quota can not be less than 1ms (i.e. 1000)");
	if (r->cpu_shares < 0)
		return kiln_err_set(err, KILN_E_INVALID, "invalid CPU shares `%lld`",
		                    (long long)r->cpu_shares);
	return 0;
}

/* Hybrid: the unified group is a convenience; its failure is tolerated. */
static void unified_best_effort(struct rt_cgroup *cg, pid_t pid)
{
	if (cg->layout != RT_CGROUP_HYBRID || !cg->v2)
		return;
	if (pid == 0) {
		if (cg_mkdir(cg->v2, NULL) < 0) {
			free(cg->v2);
			cg->v2 = NULL;
		}
		return;
	}
	cg_writef(cg->v2, "cgroup.procs", NULL, "%d", (int)pid);
}

int rt_cgroup_create_in(const struct cg_mounts *m, const char *id, const struct rt_resources *r,
                        struct rt_cgroup **out, struct kiln_err *err)
{
	static const struct rt_resources none;
	if (!r)
		r = &none;
	if (check_id(id, err) < 0 || check_resources(r, err) < 0)
		return -1;
	struct rt_cgroup *cg = group_new(m, id);
	if (cg->ops->create(cg, r, err) < 0) {
		rt_cgroup_destroy(cg, NULL);
		rt_cgroup_free(cg);
		return kiln_err_wrap(err, "creating cgroup `kiln/%s`", id);
	}
	unified_best_effort(cg, 0);
	*out = cg;
	return 0;
}

int rt_cgroup_create(const char *id, const struct rt_resources *r, struct rt_cgroup **out,
                     struct kiln_err *err)
{
	struct cg_mounts m;
	if (cg_mounts_detect(&m, err) < 0)
		return -1;
	int ret = rt_cgroup_create_in(&m, id, r, out, err);
	cg_mounts_release(&m);
	return ret;
}

int rt_cgroup_open_in(const struct cg_mounts *m, const char *id, struct rt_cgroup **out,
                      struct kiln_err *err)
{
	if (check_id(id, err) < 0)
		return -1;
	struct rt_cgroup *cg = group_new(m, id);
	/* hybrid: the unified part alone still counts, or a destroy whose
	 * unified rmdir failed (a zombie not yet reaped keeps a v2 group busy)
	 * would leave it for good */
	bool unified = cg->layout == RT_CGROUP_HYBRID && cg->v2 && access(cg->v2, F_OK) == 0;
	if (!cg->ops->exists(cg) && !unified) {
		rt_cgroup_free(cg);
		return kiln_err_set(err, KILN_E_NOTFOUND, "no cgroup `kiln/%s`", id);
	}
	if (cg->layout == RT_CGROUP_HYBRID && cg->v2 && !unified) {
		free(cg->v2);
		cg->v2 = NULL;
	}
	*out = cg;
	return 0;
}

int rt_cgroup_open(const char *id, struct rt_cgroup **out, struct kiln_err *err)
{
	struct cg_mounts m;
	if (cg_mounts_detect(&m, err) < 0)
		return -1;
	int ret = rt_cgroup_open_in(&m, id, out, err);
	cg_mounts_release(&m);
	return ret;
}

int rt_cgroup_add_pid(struct rt_cgroup *cg, pid_t pid, struct kiln_err *err)
{
	if (cg->ops->add_pid(cg, pid, err) < 0)
		return kiln_err_wrap(err, "adding process %d to cgroup `kiln/%s`", (int)pid,
		                     cg->id);
	unified_best_effort(cg, pid);
	return 0;
}

int rt_cgroup_freeze(struct rt_cgroup *cg, bool frozen, struct kiln_err *err)
{
	if (cg->ops->freeze(cg, frozen, err) < 0)
		return kiln_err_wrap(err, "%s cgroup `kiln/%s`", frozen ? "freezing" : "thawing",
		                     cg->id);
	return 0;
}

static int pid_cmp(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
	return (x > y) - (x < y);
}

int rt_cgroup_pids(struct rt_cgroup *cg, pid_t **pids, size_t *n, struct kiln_err *err)
{
	pid_t *v = NULL;
	size_t cnt = 0, cap = 0;
	if (cg->layout == RT_CGROUP_V2) {
		if (cg_procs_add(cg->v2, &v, &cnt, &cap, err) < 0)
			goto fail;
	} else {
		for (size_t i = 0; i < cg->n_v1; i++)
			if (cg_procs_add(cg->v1[i].path, &v, &cnt, &cap, err) < 0)
				goto fail;
	}
	if (cnt)
		qsort(v, cnt, sizeof(*v), pid_cmp);
	size_t w = 0; /* v1: the union over the hierarchies */
	for (size_t i = 0; i < cnt; i++)
		if (w == 0 || v[w - 1] != v[i])
			v[w++] = v[i];
	*pids = v;
	*n = w;
	return 0;
fail:
	free(v);
	return -1;
}

int rt_cgroup_stats(struct rt_cgroup *cg, struct rt_cgroup_stats *st, struct kiln_err *err)
{
	memset(st, 0, sizeof(*st));
	st->memory_limit = st->pids_limit = UINT64_MAX;
	if (cg->ops->stats(cg, st, err) < 0)
		return kiln_err_wrap(err, "reading the stats of cgroup `kiln/%s`", cg->id);
	return 0;
}

/* Kills rounds until no process is left (bounded), then removes the
 * directories. Thawed first: a frozen process cannot die. */
int rt_cgroup_destroy(struct rt_cgroup *cg, struct kiln_err *err)
{
	struct kiln_err e = KILN_ERR_INIT;
	if (cg->ops->freeze(cg, false, &e) < 0)
		kiln_err_release(&e); /* a half-removed group may have no freezer */
	for (unsigned i = 0, waited = 0;; i++) {
		pid_t *pids = NULL;
		size_t n = 0;
		if (rt_cgroup_pids(cg, &pids, &n, &e) < 0)
			kiln_err_release(&e);
		free(pids);
		if (n == 0)
			break;
		if (waited >= DESTROY_WAIT_MS)
			return kiln_err_set(
			    err, EBUSY, "cgroup `kiln/%s` still has %zu processes after SIGKILL",
			    cg->id, n);
		if (cg->ops->kill_all(cg, &e) < 0)
			kiln_err_release(&e);
		cg_backoff(i);
		waited += i < 10 ? 1 + i : 20;
	}
	if (cg->ops->remove(cg, err) < 0)
		return kiln_err_wrap(err, "removing cgroup `kiln/%s`", cg->id);
	if (cg->layout == RT_CGROUP_HYBRID && cg->v2 && cg_rmdir(cg->v2, err) < 0)
		return kiln_err_wrap(err, "removing cgroup `kiln/%s`", cg->id);
	return 0;
}
