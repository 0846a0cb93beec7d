/* USER resolution against a container's /etc/passwd and /etc/group, with
 * runc's rules (what docker shows): "name", "uid", "name:group",
 * "uid:gid" (any mix); a user given by name must exist; a numeric uid need
 * not (gid 0, home "/"). Supplementary groups (RT_GROUPS_DOCKER, what
 * docker run and exec show): the primary gid plus, without an explicit
 * group, every group listing the user by name as a member.
 * RT_GROUPS_BUILDKIT (a build's RUN, what BuildKit 0.8's GetUser gives
 * runc): only those member groups, none without a USER or with an
 * explicit group. A pure function: the caller reads the files (inside the
 * container's root). */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "runtime-internal.h"

#define MAX_GROUPS 65536

/* Non-negative decimal that fits uid_t, or -1. */
static long long parse_id(const char *s, size_t len)
{
	if (len == 0 || len > 10)
		return -1;
	long long v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v <= (long long)UINT32_MAX - 1 ? v : -1;
}

/* Splits the line at start (up to '\n' or end) into at most max fields by
 * ':'; returns the number of fields. Fields point into a copy in buf. */
static size_t split_line(const char *start, size_t len, char *buf, char **fields, size_t max)
{
	memcpy(buf, start, len);
	buf[len] = 0;
	size_t n = 0;
	char *p = buf;
	while (n < max) {
		fields[n++] = p;
		char *c = strchr(p, ':');
		if (!c)
			break;
		*c = 0;
		p = c + 1;
	}
	return n;
}

/* Calls fn for each line of text (comments and blank lines skipped) with
 * its fields; stops when fn returns non-zero (returned). */
static int each_line(const char *text, size_t max_fields, int (*fn)(char **f, size_t n, void *ud),
                     void *ud)
{
	if (!text)
		return 0;
	const char *p = text;
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		if (len > 0 && p[0] != '#' && len < 4096) {
			char buf[4096];
			char *fields[8];
			size_t n = split_line(p, len, buf, fields, max_fields);
			int r = fn(fields, n, ud);
			if (r)
				return r;
		}
		p += len + (nl ? 1 : 0);
	}
	return 0;
}

struct pw_match {
	const char *name; /* wanted name, or NULL */
	long long uid;    /* wanted uid when name is NULL */
	char *found_name, *home;
	long long found_uid, found_gid;
};

static int pw_cb(char **f, size_t n, void *ud)
{
	struct pw_match *m = ud;
	if (n < 4)
		return 0;
	long long uid = parse_id(f[2], strlen(f[2])), gid = parse_id(f[3], strlen(f[3]));
	if (uid < 0 || gid < 0)
		return 0;
	if (m->name ? strcmp(f[0], m->name) != 0 : uid != m->uid)
		return 0;
	m->found_name = xstrdup(f[0]);
	m->home = xstrdup(n > 5 && *f[5] ? f[5] : "/");
	m->found_uid = uid;
	m->found_gid = gid;
	return 1;
}

struct gr_match {
	const char *name;   /* explicit group by name, or NULL */
	long long gid;      /* explicit group by gid (name NULL), -1: none */
	const char *member; /* collect groups listing this user */
	long long found_gid;
	gid_t *groups;
	size_t n_groups, cap;
};

static bool list_has(char *list, const char *who)
{
	for (char *tok = list; tok && *tok;) {
		char *comma = strchr(tok, ',');
		size_t len = comma ? (size_t)(comma - tok) : strlen(tok);
		if (strlen(who) == len && !strncmp(tok, who, len))
			return true;
		tok = comma ? comma + 1 : NULL;
	}
	return false;
}

static int gr_cb(char **f, size_t n, void *ud)
{
	struct gr_match *m = ud;
	if (n < 3)
		return 0;
	long long gid = parse_id(f[2], strlen(f[2]));
	if (gid < 0)
		return 0;
	if (m->name || m->gid >= 0) {
		if (m->name ? !strcmp(f[0], m->name) : gid == m->gid) {
			m->found_gid = gid;
			return 1;
		}
		return 0;
	}
	if (m->member && n > 3 && list_has(f[3], m->member) && m->n_groups < MAX_GROUPS) {
		KILN_GROW(m->groups, m->cap, m->n_groups + 1);
		m->groups[m->n_groups++] = (gid_t)gid;
	}
	return 0;
}

static int resolve_group(const char *arg, const char *group, long long *gid, struct kiln_err *err)
{
	struct gr_match g = {.gid = -1, .found_gid = -1};
	long long num = parse_id(arg, strlen(arg));
	if (num >= 0)
		g.gid = num;
	else
		g.name = arg;
	each_line(group, 4, gr_cb, &g);
	if (g.found_gid >= 0)
		*gid = g.found_gid;
	else if (num >= 0)
		*gid = num;
	else
		return kiln_err_set(err, KILN_E_NOTFOUND,
		                    "unable to find group %s: no matching entries in group file",
		                    arg);
	return 0;
}

/* id's supplementary groups by rule: the primary gid first (docker), then
 * the member groups g collected, the primary not twice. */
static void set_groups(struct rt_identity *id, enum rt_groups_rule rule, const struct gr_match *g)
{
	id->groups = xreallocarray(NULL, g->n_groups + 1, sizeof(gid_t));
	id->n_groups = 0;
	if (rule == RT_GROUPS_DOCKER)
		id->groups[id->n_groups++] = id->gid;
	for (size_t i = 0; i < g->n_groups; i++)
		if (rule != RT_GROUPS_DOCKER || g->groups[i] != id->gid)
			id->groups[id->n_groups++] = g->groups[i];
}

int rt_user_resolve(const char *spec, enum rt_groups_rule rule, const char *passwd,
                    const char *group, struct rt_identity *id, char **home, struct kiln_err *err)
{
	const char *s = spec ? spec : "";
	const char *colon = strchr(s, ':');
	_cleanup_free_ char *user_arg = colon ? xstrndup(s, (size_t)(colon - s)) : xstrdup(s);
	const char *group_arg = colon ? colon + 1 : NULL;
	if (!*user_arg) { /* "" or ":gid": root's entry if there is one */
		free(user_arg);
		user_arg = xstrdup("0");
	}

	struct pw_match m = {.uid = -1, .found_uid = -1};
	long long num = parse_id(user_arg, strlen(user_arg));
	if (num >= 0)
		m.uid = num;
	else
		m.name = user_arg;
	each_line(passwd, 7, pw_cb, &m);
	if (m.found_uid < 0 && num < 0)
		return kiln_err_set(err, KILN_E_NOTFOUND,
		                    "unable to find user %s: no matching entries in passwd file",
		                    user_arg);

	memset(id, 0, sizeof(*id));
	id->uid = (uid_t)(m.found_uid >= 0 ? m.found_uid : num);
	id->gid = (gid_t)(m.found_gid >= 0 ? m.found_gid : 0);
	if (group_arg && *group_arg) {
		long long gid = 0;
		if (resolve_group(group_arg, group, &gid, err) < 0) {
			free(m.found_name);
			free(m.home);
			return -1;
		}
		id->gid = (gid_t)gid;
	}
	/* member groups: a user named without a group (BuildKit: and named) */
	struct gr_match g = {.gid = -1, .member = m.found_name};
	if (!(group_arg && *group_arg) && m.found_name && (rule == RT_GROUPS_DOCKER || *s))
		each_line(group, 4, gr_cb, &g);
	set_groups(id, rule, &g);
	free(g.groups);
	*home = m.home ? m.home : xstrdup("/");
	free(m.found_name);
	return 0;
}
