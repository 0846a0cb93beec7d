/* docker's syntaxes for run options: sizes, --cpus, --ulimit, -v, --tmpfs,
 * --network. Pure functions. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <unistd.h>

#include "runtime-internal.h"

int rt_parse_bytes(const char *s, int64_t *out, struct kiln_err *err)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || errno || v < 0 || !isfinite(v))
		return kiln_err_set(err, KILN_E_INVALID, "invalid size: '%s'", s);
	static const char units[] = "bkmgtp";
	double mult = 1;
	if (*end) {
		const char *u = strchr(units, tolower((unsigned char)*end));
		if (!u)
			return kiln_err_set(err, KILN_E_INVALID, "invalid size: '%s'", s);
		for (const char *p = units; p < u; p++)
			mult *= 1024;
		end++;
		if (*end == 'b' || *end == 'B')
			end++;
		if (*end)
			return kiln_err_set(err, KILN_E_INVALID, "invalid size: '%s'", s);
	}
	double bytes = v * mult;
	if (bytes > 9.2e18)
		return kiln_err_set(err, KILN_E_INVALID, "invalid size: '%s'", s);
	*out = (int64_t)bytes;
	return 0;
}

int rt_parse_cpus(const char *s, struct rt_limits *l, struct kiln_err *err)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || *end || errno || v < 0 || !isfinite(v))
		return kiln_err_set(
		    err, KILN_E_INVALID,
		    "invalid argument \"%s\" for \"--cpus\" flag: failed to parse %s as "
		    "a rational number",
		    s, s);
	l->cpu_period = 100000;
	l->cpu_quota = (int64_t)(v * 100000 + 0.5);
	if (l->cpu_quota == 0)
		l->cpu_period = 0;
	return 0;
}

static const struct {
	const char *name;
	int res;
} ulimits[] = {
    {"core", RLIMIT_CORE},         {"cpu", RLIMIT_CPU},
    {"data", RLIMIT_DATA},         {"fsize", RLIMIT_FSIZE},
    {"locks", RLIMIT_LOCKS},       {"memlock", RLIMIT_MEMLOCK},
    {"msgqueue", RLIMIT_MSGQUEUE}, {"nice", RLIMIT_NICE},
    {"nofile", RLIMIT_NOFILE},     {"nproc", RLIMIT_NPROC},
    {"rss", RLIMIT_RSS},           {"rtprio", RLIMIT_RTPRIO},
    {"rttime", RLIMIT_RTTIME},     {"sigpending", RLIMIT_SIGPENDING},
    {"stack", RLIMIT_STACK},
};

const char *rt_ulimit_name(int resource)
{
	for (size_t i = 0; i < KILN_ARRAY_SIZE(ulimits); i++)
		if (ulimits[i].res == resource)
			return ulimits[i].name;
	return "";
}

static int parse_limit_value(const char *s, size_t len, uint64_t *out)
{
	if (len == 0 || len > 20)
		return -1;
	char buf[24];
	memcpy(buf, s, len);
	buf[len] = 0;
	if (!strcmp(buf, "-1") || !strcmp(buf, "unlimited")) {
		*out = RLIM_INFINITY;
		return 0;
	}
	char *end;
	errno = 0;
	unsigned long long v = strtoull(buf, &end, 10);
	if (*end || errno || buf[0] == '-')
		return -1;
	*out = v;
	return 0;
}

int rt_parse_ulimit(const char *s, struct rt_rlimit *out, struct kiln_err *err)
{
	const char *eq = strchr(s, '=');
	if (!eq)
		return kiln_err_set(err, KILN_E_INVALID, "invalid ulimit argument: %s", s);
	size_t nlen = (size_t)(eq - s);
	int res = -1;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(ulimits); i++)
		if (strlen(ulimits[i].name) == nlen && !strncmp(ulimits[i].name, s, nlen))
			res = ulimits[i].res;
	if (res < 0)
		return kiln_err_set(err, KILN_E_INVALID, "invalid ulimit type: %.*s", (int)nlen, s);
	const char *v = eq + 1, *colon = strchr(v, ':');
	uint64_t soft, hard;
	if (parse_limit_value(v, colon ? (size_t)(colon - v) : strlen(v), &soft) < 0 ||
	    parse_limit_value(colon ? colon + 1 : v, strlen(colon ? colon + 1 : v), &hard) < 0)
		return kiln_err_set(err, KILN_E_INVALID, "invalid ulimit argument: %s", s);
	if (soft > hard)
		return kiln_err_set(err, KILN_E_INVALID,
		                    "ulimit soft limit must be less than or equal to hard limit: "
		                    "%llu > %llu",
		                    (unsigned long long)soft, (unsigned long long)hard);
	out->resource = res;
	out->soft = soft;
	out->hard = hard;
	return 0;
}

void rt_mount_release(struct rt_mount *m)
{
	if (m->type == RT_MOUNT_SECRET && m->data_fd >= 0)
		close(m->data_fd);
	free(m->source);
	free(m->target);
	free(m->options);
	free(m->volume);
	memset(m, 0, sizeof(*m));
}

static bool clean_abs(const char *p)
{
	return p[0] == '/';
}

int rt_parse_volume(const char *s, struct rt_mount *out, struct kiln_err *err)
{
	memset(out, 0, sizeof(*out));
	_cleanup_free_ char *copy = xstrdup(s);
	char *parts[4] = {0};
	size_t n = 0;
	for (char *p = copy; p && n < 4;) {
		parts[n++] = p;
		p = strchr(p, ':');
		if (p)
			*p++ = 0;
	}
	if (n > 3 || !*parts[0])
		return kiln_err_set(err, KILN_E_INVALID, "invalid volume specification: '%s'", s);
	if (n == 1) {
		if (!clean_abs(parts[0]))
			return kiln_err_set(
			    err, KILN_E_INVALID,
			    "invalid volume specification: '%s': invalid mount config for "
			    "type \"volume\": invalid mount path: '%s' mount path must be "
			    "absolute",
			    s, parts[0]);
		out->type = RT_MOUNT_BIND;
		out->volume = xstrdup("");
		out->target = xstrdup(parts[0]);
		out->listed = true;
		return 0;
	}
	bool named = !clean_abs(parts[0]);
	if (named && !rt_name_valid(parts[0]))
		return kiln_err_set(err, KILN_E_INVALID,
		                    "create %s: \"%s\" includes invalid characters for a local "
		                    "volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. "
		                    "If you intended to pass a host directory, use absolute path",
		                    parts[0], parts[0]);
	if (!clean_abs(parts[1]))
		return kiln_err_set(err, KILN_E_INVALID,
		                    "invalid volume specification: '%s': invalid mount config for "
		                    "type \"bind\": invalid mount path: '%s' mount path must be "
		                    "absolute",
		                    s, parts[1]);
	bool ro = false, nocopy = false;
	if (n == 3) {
		_cleanup_free_ char *mode = xstrdup(parts[2]);
		char *save = NULL;
		for (char *m = strtok_r(mode, ",", &save); m; m = strtok_r(NULL, ",", &save)) {
			if (!strcmp(m, "ro"))
				ro = true;
			else if (!strcmp(m, "rw"))
				ro = false;
			else if (!strcmp(m, "nocopy"))
				nocopy = true;
			else if (strcmp(m, "z") && strcmp(m, "Z") && strcmp(m, "rprivate") &&
			         strcmp(m, "private") && strcmp(m, "rslave") &&
			         strcmp(m, "slave") && strcmp(m, "nocopy"))
				return kiln_err_set(err, KILN_E_INVALID, "invalid mode: %s",
				                    parts[2]);
		}
	}
	out->type = RT_MOUNT_BIND;
	if (named)
		out->volume = xstrdup(parts[0]);
	else
		out->source = xstrdup(parts[0]);
	out->target = xstrdup(parts[1]);
	out->readonly = ro;
	out->nocopy = nocopy;
	return 0;
}

int rt_parse_mount(const char *s, struct rt_mount *out, struct kiln_err *err)
{
	memset(out, 0, sizeof(*out));
	_cleanup_free_ char *copy = xstrdup(s);
	const char *type = "volume", *src = NULL, *dst = NULL;
	bool ro = false, nocopy = false;
	struct kiln_buf topts;
	kiln_buf_init(&topts, KILN_BUF_NOLIMIT, NULL);
	char *save = NULL;
	int r = 0;
	for (char *kv = strtok_r(copy, ",", &save); kv && r == 0; kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');
		const char *v = eq ? eq + 1 : NULL;
		if (eq)
			*eq = 0;
		if (!strcmp(kv, "type") && v)
			type = v;
		else if ((!strcmp(kv, "source") || !strcmp(kv, "src")) && v)
			src = v;
		else if ((!strcmp(kv, "target") || !strcmp(kv, "destination") ||
		          !strcmp(kv, "dst")) &&
		         v)
			dst = v;
		else if (!strcmp(kv, "readonly") || !strcmp(kv, "ro"))
			ro = !v || !strcmp(v, "true") || !strcmp(v, "1");
		else if (!strcmp(kv, "volume-nocopy"))
			nocopy = !v || !strcmp(v, "true") || !strcmp(v, "1");
		else if (!strcmp(kv, "tmpfs-size") && v)
			kiln_buf_addf(&topts, NULL, "%ssize=%s", topts.len ? "," : "", v);
		else if (!strcmp(kv, "tmpfs-mode") && v)
			kiln_buf_addf(&topts, NULL, "%smode=%s", topts.len ? "," : "", v);
		else if (strcmp(kv, "bind-propagation") && strcmp(kv, "consistency"))
			r = kiln_err_set(err, KILN_E_INVALID,
			                 "invalid field '%s' must be a key=value pair", kv);
	}
	if (r == 0 && !dst)
		r = kiln_err_set(err, KILN_E_INVALID,
		                 "invalid argument \"%s\" for \"--mount\" flag: "
		                 "target is required",
		                 s);
	if (r == 0 && dst[0] != '/')
		r = kiln_err_set(
		    err, KILN_E_INVALID,
		    "invalid mount config for type \"%s\": invalid mount path: '%s' mount "
		    "path must be absolute",
		    type, dst);
	if (r == 0 && !strcmp(type, "bind")) {
		if (!src || src[0] != '/' || !kiln_path_exists(src))
			r = kiln_err_set(
			    err, KILN_E_INVALID,
			    "invalid mount config for type \"bind\": bind source path does "
			    "not exist: %s",
			    src ? src : "");
		else
			out->source = xstrdup(src);
	} else if (r == 0 && !strcmp(type, "volume")) {
		if (src && !rt_name_valid(src))
			r = kiln_err_set(err, KILN_E_INVALID, "invalid volume name: %s", src);
		else
			out->volume = xstrdup(src ? src : "");
	} else if (r == 0 && !strcmp(type, "tmpfs")) {
		out->type = RT_MOUNT_TMPFS;
		out->options = topts.len ? xstrdup(kiln_buf_str(&topts)) : NULL;
	} else if (r == 0) {
		r = kiln_err_set(err, KILN_E_INVALID, "invalid mount type: %s", type);
	}
	kiln_buf_release(&topts);
	if (r < 0) {
		rt_mount_release(out);
		return -1;
	}
	out->target = xstrdup(dst);
	out->readonly = ro;
	out->nocopy = nocopy;
	return 0;
}

int rt_parse_tmpfs(const char *s, struct rt_mount *out, struct kiln_err *err)
{
	memset(out, 0, sizeof(*out));
	const char *colon = strchr(s, ':');
	_cleanup_free_ char *target = colon ? xstrndup(s, (size_t)(colon - s)) : xstrdup(s);
	if (!clean_abs(target))
		return kiln_err_set(err, KILN_E_INVALID,
		                    "invalid mount config for type \"tmpfs\": invalid mount path: "
		                    "'%s' mount path must be absolute",
		                    target);
	out->type = RT_MOUNT_TMPFS;
	out->target = TAKE_PTR(target);
	out->options = colon && colon[1] ? xstrdup(colon + 1) : NULL;
	return 0;
}

int rt_parse_network(const char *s, enum rt_network_mode *out, struct kiln_err *err)
{
	if (!strcmp(s, "none"))
		*out = RT_NET_NONE;
	else if (!strcmp(s, "host"))
		*out = RT_NET_HOST;
	else if (!strcmp(s, "default") || !strcmp(s, "bridge"))
		*out = RT_NET_DEFAULT;
	else
		return kiln_err_set(err, KILN_E_NOTFOUND, "network %s not found", s);
	return 0;
}
