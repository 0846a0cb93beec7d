/* A container's spec from an image config and docker's run options:
 * environment merge, entrypoint and command, working dir, user. */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "image.h"
#include "net-internal.h"
#include "runtime-internal.h"

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

size_t rt_strv_len(char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

char **rt_strv_dup(char *const *v)
{
	if (!v)
		return NULL;
	size_t n = rt_strv_len(v);
	char **out = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		out[i] = xstrdup(v[i]);
	return out;
}

void rt_spec_release(struct rt_spec *s)
{
	kiln_strv_free(s->args);
	kiln_strv_free(s->env);
	kiln_strv_free(s->config_env);
	free(s->cwd);
	free(s->user);
	free(s->hostname);
	free(s->domainname);
	kiln_strv_free(s->lower_dirs);
	free(s->upper_dir);
	free(s->work_dir);
	for (size_t i = 0; i < s->n_mounts; i++)
		rt_mount_release(&s->mounts[i]);
	free(s->mounts);
	for (size_t i = 0; i < s->n_ports; i++)
		free(s->ports[i].host_ip);
	free(s->ports);
	free(s->rlimits);
	kiln_strv_free(s->cap_add);
	kiln_strv_free(s->cap_drop);
	free(s->seccomp_profile);
	free(s->stop_signal);
	memset(s, 0, sizeof(*s));
}

/* docker's ReplaceOrAppendEnvValues for one "K=V". */
static void env_set(struct kiln_strv *env, const char *kv)
{
	const char *eq = strchr(kv, '=');
	size_t klen = eq ? (size_t)(eq - kv) : strlen(kv);
	for (size_t i = 0; i < env->n; i++)
		if (!strncmp(env->v[i], kv, klen) && env->v[i][klen] == '=') {
			free(env->v[i]);
			env->v[i] = xstrdup(kv);
			return;
		}
	kiln_strv_push(env, kv);
}

/* "K=V" as it is; "K" takes the caller's value, or stays a bare "K"
 * (docker's Config.Env keeps it; the process never gets it). */
static void env_opt(struct kiln_strv *env, const char *item)
{
	if (strchr(item, '=')) {
		env_set(env, item);
		return;
	}
	const char *v = getenv(item);
	if (!v) {
		env_set(env, item);
		return;
	}
	_cleanup_free_ char *kv = xasprintf("%s=%s", item, v);
	env_set(env, kv);
}

/* docker's opts.ParseEnvFile. */
static int env_file(struct kiln_strv *env, const char *path, struct kiln_err *err)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	if (kiln_read_file(path, 16u << 20, &data, &len, err) < 0)
		return kiln_err_wrap(err, "--env-file");
	size_t lineno = 0;
	char *save = NULL;
	for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		while (*line == ' ' || *line == '\t')
			line++;
		size_t l = strlen(line);
		if (l && line[l - 1] == '\r')
			line[--l] = 0;
		if (!*line || *line == '#')
			continue;
		char *eq = strchr(line, '=');
		size_t klen = eq ? (size_t)(eq - line) : l;
		if (klen == 0)
			return kiln_err_set(err, KILN_E_INVALID,
			                    "invalid environment variable: %s (%s line %zu)", line,
			                    path, lineno);
		for (size_t i = 0; i < klen; i++)
			if (isspace((unsigned char)line[i]))
				return kiln_err_set(err, KILN_E_INVALID,
				                    "variable '%.*s' contains whitespaces",
				                    (int)klen, line);
		env_opt(env, line);
	}
	return 0;
}

static bool env_has_key(const struct kiln_strv *env, const char *kv)
{
	const char *eq = strchr(kv, '=');
	size_t klen = eq ? (size_t)(eq - kv) : strlen(kv);
	for (size_t i = 0; i < env->n; i++)
		if (!strncmp(env->v[i], kv, klen) && env->v[i][klen] == '=')
			return true;
	return false;
}

/* The process's env (the runtime's PATH, HOSTNAME and TERM, the image's,
 * then the user's) and docker's Config.Env (the user's --env-file and -e,
 * then the image's entries they do not override). */
static int build_env(const struct img_config *cfg, const struct rt_create_opts *o,
                     const char *hostname, struct rt_spec *spec, struct kiln_err *err)
{
	struct kiln_strv user = KILN_STRV_INIT;
	for (size_t i = 0; o->env_file && o->env_file[i]; i++)
		if (env_file(&user, o->env_file[i], err) < 0) {
			kiln_strv_release(&user);
			return -1;
		}
	for (size_t i = 0; o->env && o->env[i]; i++)
		env_opt(&user, o->env[i]);
	struct kiln_strv env = KILN_STRV_INIT;
	kiln_strv_push(&env, DEFAULT_PATH);
	kiln_strv_pushf(&env, "HOSTNAME=%s", hostname);
	if (o->tty)
		kiln_strv_push(&env, "TERM=xterm");
	char *const *image = cfg ? cfg->config.env : NULL;
	for (size_t i = 0; image && image[i]; i++)
		env_set(&env, image[i]);
	for (size_t i = 0; i < user.n; i++)
		if (strchr(user.v[i], '='))
			env_set(&env, user.v[i]);
	for (size_t i = 0; image && image[i]; i++)
		if (!env_has_key(&user, image[i]))
			kiln_strv_push(&user, image[i]);
	spec->env = env.v; /* never NULL: PATH is in it */
	spec->config_env = user.v ? user.v : xcalloc(1, sizeof(char *));
	return 0;
}

/* -p as given, -P for every ExposedPorts entry ("80/tcp") -p left out. */
static int ports(const struct img_config *cfg, const struct rt_create_opts *o, struct rt_spec *spec,
                 struct kiln_err *err)
{
	for (size_t i = 0; o->publish && o->publish[i]; i++)
		if (rt_publish_add(spec, o->publish[i], err) < 0)
			return -1;
	char *const *exposed = cfg ? cfg->config.exposed_ports : NULL;
	for (size_t i = 0; o->publish_all && exposed && exposed[i]; i++)
		if (rt_publish_exposed(spec, exposed[i], err) < 0)
			return -1;
	return 0;
}

static char **concat(char *const *a, char *const *b)
{
	size_t na = rt_strv_len(a), nb = rt_strv_len(b);
	char **v = xcalloc(na + nb + 1, sizeof(char *));
	for (size_t i = 0; i < na; i++)
		v[i] = xstrdup(a[i]);
	for (size_t i = 0; i < nb; i++)
		v[na + i] = xstrdup(b[i]);
	return v;
}

int rt_spec_from_config(const struct img_config *cfg, const struct rt_create_opts *o,
                        const char *hostname, struct rt_spec *spec, struct kiln_err *err)
{
	memset(spec, 0, sizeof(*spec));
	const char *host = o->hostname && *o->hostname ? o->hostname : hostname;
	if (o->workdir && *o->workdir && o->workdir[0] != '/')
		return kiln_err_set(err, KILN_E_INVALID,
		                    "the working directory '%s' is invalid, it needs to be an "
		                    "absolute path",
		                    o->workdir);
	if (build_env(cfg, o, host, spec, err) < 0)
		return -1;

	char *const *ep = cfg ? cfg->config.entrypoint : NULL;
	char *const *cmd = cfg ? cfg->config.cmd : NULL;
	if (o->entrypoint_set) {
		ep = o->entrypoint;
		cmd = NULL;
	}
	if (o->args && o->args[0])
		cmd = o->args;
	spec->args = concat(ep, cmd);
	if (!spec->args[0]) {
		rt_spec_release(spec);
		return kiln_err_set(err, KILN_E_INVALID, "No command specified");
	}
	const char *wd = o->workdir && *o->workdir ? o->workdir
	                 : cfg                     ? cfg->config.working_dir
	                                           : NULL;
	spec->cwd = xstrdup(wd && *wd ? wd : "/");
	const char *user = o->user ? o->user : cfg ? cfg->config.user : NULL;
	spec->user = user && *user ? xstrdup(user) : NULL;
	spec->hostname = xstrdup(host);
	spec->domainname = o->domainname && *o->domainname ? xstrdup(o->domainname) : NULL;
	spec->tty = o->tty;
	spec->interactive = o->interactive;
	spec->init = o->init;
	spec->readonly_rootfs = o->readonly_rootfs;
	spec->network = o->network;
	if (ports(cfg, o, spec, err) < 0) {
		rt_spec_release(spec);
		return -1;
	}
	spec->limits = o->limits;
	spec->privileged = o->privileged;
	spec->no_new_privs = !o->privileged;
	spec->cap_add = rt_strv_dup(o->cap_add);
	spec->cap_drop = rt_strv_dup(o->cap_drop);
	spec->stop_signal =
	    xstrdup(cfg && cfg->config.stop_signal ? cfg->config.stop_signal : "SIGTERM");
	if (o->n_rlimits) {
		spec->rlimits = xmemdup(o->rlimits, o->n_rlimits * sizeof(*o->rlimits));
		spec->n_rlimits = o->n_rlimits;
	}
	if (o->n_mounts) {
		spec->mounts = xcalloc(o->n_mounts, sizeof(*spec->mounts));
		spec->n_mounts = o->n_mounts;
		for (size_t i = 0; i < o->n_mounts; i++) {
			const struct rt_mount *m = &o->mounts[i];
			spec->mounts[i] = (struct rt_mount){
			    .type = m->type,
			    .source = m->source ? xstrdup(m->source) : NULL,
			    .target = xstrdup(m->target),
			    .options = m->options ? xstrdup(m->options) : NULL,
			    .volume = m->volume ? xstrdup(m->volume) : NULL,
			    .readonly = m->readonly,
			    .nocopy = m->nocopy,
			};
		}
	}
	for (size_t i = 0; o->security_opt && o->security_opt[i]; i++) {
		const char *so = o->security_opt[i];
		if (!strcmp(so, "seccomp=unconfined") || !strcmp(so, "seccomp:unconfined")) {
			spec->seccomp_unconfined = true;
		} else if (!strncmp(so, "seccomp=", 8) || !strncmp(so, "seccomp:", 8)) {
			size_t len;
			free(spec->seccomp_profile);
			spec->seccomp_profile = NULL;
			if (kiln_read_file(so + 8, 4u << 20, &spec->seccomp_profile, &len, err) <
			    0) {
				rt_spec_release(spec);
				return kiln_err_wrap(err, "opening seccomp profile (%s) failed",
				                     so + 8);
			}
		} else if (!strcmp(so, "no-new-privileges") ||
		           !strcmp(so, "no-new-privileges:true") ||
		           !strcmp(so, "no-new-privileges=true")) {
			spec->no_new_privs = true;
		} else if (!strcmp(so, "no-new-privileges:false") ||
		           !strcmp(so, "no-new-privileges=false")) {
			spec->no_new_privs = false;
		} else {
			rt_spec_release(spec);
			return kiln_err_set(err, KILN_E_INVALID, "invalid --security-opt: %s", so);
		}
	}
	return 0;
}
