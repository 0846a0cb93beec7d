/* TEMPORARY: stand-ins for sys-internal.h until branch runtime-sys is
 * merged (its caps.c, seccomp.c, cgroup*.c replace this file, which is then
 * deleted). Identity switch without capability handling, no seccomp, no
 * cgroups. */
#include <errno.h>
#include <grp.h>
#include <stdlib.h>
#include <unistd.h>

#include "sys-internal.h"

uint64_t rt_caps_default(void)
{
	return 0xa80425fbULL;
}
uint64_t rt_caps_all(void)
{
	return ~0ULL;
}
int rt_caps_adjust(uint64_t base, char *const *add, size_t n_add, char *const *drop, size_t n_drop,
                   uint64_t *out, struct kiln_err *err)
{
	(void)add, (void)n_add, (void)drop, (void)n_drop, (void)err;
	*out = base;
	return 0;
}
int rt_identity_apply(const struct rt_identity *id, uint64_t caps, struct kiln_err *err)
{
	(void)caps;
	if (setgroups(id->n_groups, id->groups) < 0 || setresgid(id->gid, id->gid, id->gid) < 0 ||
	    setresuid(id->uid, id->uid, id->uid) < 0)
		return kiln_err_set(err, errno, "switching to user %u", (unsigned)id->uid);
	return 0;
}
struct rt_seccomp {
	int unused;
};
int rt_seccomp_compile(const char *profile, size_t len, uint64_t caps, struct rt_seccomp **out,
                       struct kiln_err *err)
{
	(void)profile, (void)len, (void)caps, (void)err;
	*out = calloc(1, sizeof(**out));
	return 0;
}
int rt_seccomp_load(const struct rt_seccomp *sc, struct kiln_err *err)
{
	(void)sc, (void)err;
	return 0;
}
void rt_seccomp_free(struct rt_seccomp *sc)
{
	free(sc);
}
int rt_cgroup_create(const char *id, const struct rt_resources *r, struct rt_cgroup **out,
                     struct kiln_err *err)
{
	(void)id, (void)r, (void)err;
	*out = NULL;
	return 0;
}
int rt_cgroup_open(const char *id, struct rt_cgroup **out, struct kiln_err *err)
{
	(void)out;
	return kiln_err_set(err, KILN_E_NOTFOUND, "no cgroup for `%s`", id);
}
int rt_cgroup_add_pid(struct rt_cgroup *cg, pid_t pid, struct kiln_err *err)
{
	(void)cg, (void)pid, (void)err;
	return 0;
}
int rt_cgroup_freeze(struct rt_cgroup *cg, bool frozen, struct kiln_err *err)
{
	(void)cg, (void)frozen;
	return kiln_err_set(err, KILN_E_UNSUPPORTED, "cgroups not available yet");
}
int rt_cgroup_stats(struct rt_cgroup *cg, struct rt_cgroup_stats *st, struct kiln_err *err)
{
	(void)cg, (void)st;
	return kiln_err_set(err, KILN_E_UNSUPPORTED, "cgroups not available yet");
}
int rt_cgroup_pids(struct rt_cgroup *cg, pid_t **pids, size_t *n, struct kiln_err *err)
{
	(void)cg, (void)pids, (void)n;
	return kiln_err_set(err, KILN_E_UNSUPPORTED, "cgroups not available yet");
}
int rt_cgroup_destroy(struct rt_cgroup *cg, struct kiln_err *err)
{
	(void)cg, (void)err;
	return 0;
}
void rt_cgroup_free(struct rt_cgroup *cg)
{
	(void)cg;
}
