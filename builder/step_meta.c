/* Metadata instructions: they change the image config being built and
 * never run anything (ARCHITECTURE.md decision 4). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder.h"
#include "runtime.h"

static size_t strv_count(char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

static char **strv_dup(const struct kiln_strv *sv)
{
	char **v = xcalloc(sv->n + 1, sizeof(char *));
	for (size_t i = 0; i < sv->n; i++)
		v[i] = xstrdup(sv->v[i]);
	return v;
}

/* Adds item to a NULL-terminated list unless present (sets as lists). */
static void list_add(char ***v, const char *item)
{
	size_t n = strv_count(*v);
	for (size_t i = 0; i < n; i++)
		if (!strcmp((*v)[i], item))
			return;
	*v = xreallocarray(*v, n + 2, sizeof(char *));
	(*v)[n] = xstrdup(item);
	(*v)[n + 1] = NULL;
}

/* Env: "K=V" replaces the entry for K or is appended. */
static void env_set(struct img_config *cfg, const char *key, const char *value)
{
	char **env = cfg->config.env;
	size_t n = strv_count(env), kl = strlen(key);
	char *item = xasprintf("%s=%s", key, value);
	for (size_t i = 0; i < n; i++) {
		if (!strncmp(env[i], key, kl) && env[i][kl] == '=') {
			free(env[i]);
			env[i] = item;
			return;
		}
	}
	env = xreallocarray(env, n + 2, sizeof(char *));
	env[n] = item;
	env[n + 1] = NULL;
	cfg->config.env = env;
}

static const char *env_get(const struct img_config *cfg, const char *key, size_t kl)
{
	for (char **e = cfg->config.env; e && *e; e++)
		if (!strncmp(*e, key, kl) && (*e)[kl] == '=')
			return *e + kl + 1;
	return NULL;
}

/* CMD and ENTRYPOINT: exec form as is; shell form through the Shell. */
static char **command_argv(const struct img_config *cfg, const struct df_cmdline *c)
{
	if (c->exec_form || c->argv.n == 0)
		return strv_dup(&c->argv);
	struct kiln_strv sv = KILN_STRV_INIT;
	if (cfg->config.shell && cfg->config.shell[0])
		for (char **s = cfg->config.shell; *s; s++)
			kiln_strv_push(&sv, *s);
	else {
		kiln_strv_push(&sv, "/bin/sh");
		kiln_strv_push(&sv, "-c");
	}
	kiln_strv_push(&sv, c->argv.v[0]);
	return sv.v ? sv.v : xcalloc(1, sizeof(char *));
}

static int apply_expose(struct img_config *cfg, const struct kiln_strv *ports, struct kiln_err *err)
{
	for (size_t i = 0; i < ports->n; i++) {
		unsigned lo, hi;
		const char *proto;
		if (df_port_parse(ports->v[i], &lo, &hi, &proto, err) < 0)
			return -1;
		for (unsigned p = lo; p <= hi; p++) {
			char item[32];
			snprintf(item, sizeof(item), "%u/%s", p, proto && *proto ? proto : "tcp");
			list_add(&cfg->config.exposed_ports, item);
		}
	}
	return 0;
}

static void apply_workdir(struct img_config *cfg, const char *dir)
{
	char *wd;
	if (dir[0] == '/' || !cfg->config.working_dir || !*cfg->config.working_dir)
		wd = dir[0] == '/' ? xstrdup(dir) : xasprintf("/%s", dir);
	else
		wd = kiln_path_join(cfg->config.working_dir, dir);
	free(cfg->config.working_dir);
	cfg->config.working_dir = wd;
}

static void apply_healthcheck(struct img_config *cfg, const struct df_health *h)
{
	struct img_healthcheck *hc = xcalloc(1, sizeof(*hc));
	hc->test = strv_dup(&h->test);
	hc->interval = h->interval;
	hc->timeout = h->timeout;
	hc->start_period = h->start_period;
	hc->start_interval = h->start_interval;
	hc->retries = h->retries;
	if (cfg->config.healthcheck) {
		kiln_strv_free(cfg->config.healthcheck->test);
		free(cfg->config.healthcheck);
	}
	cfg->config.healthcheck = hc;
}

static void set_string(char **field, const char *value)
{
	free(*field);
	*field = xstrdup(value);
}

int bld_config_apply(struct img_config *cfg, const struct df_instr *in, bool *cmd_set,
                     struct kiln_err *err)
{
	cfg->has_config = true;
	switch (in->kind) {
	case DF_I_ENV:
	case DF_I_LABEL:
		for (size_t i = 0; i < in->u.kv.n_kvs; i++) {
			const struct df_kv *kv = &in->u.kv.kvs[i];
			if (in->kind == DF_I_ENV)
				env_set(cfg, kv->key, kv->value ? kv->value : "");
			else
				img_map_set(&cfg->config.labels, kv->key,
				            kv->value ? kv->value : "");
		}
		return 0;
	case DF_I_CMD:
		kiln_strv_free(cfg->config.cmd);
		cfg->config.cmd = command_argv(cfg, &in->u.cmd);
		*cmd_set = true;
		return 0;
	case DF_I_ENTRYPOINT:
		kiln_strv_free(cfg->config.entrypoint);
		cfg->config.entrypoint = command_argv(cfg, &in->u.cmd);
		if (!*cmd_set) {
			kiln_strv_free(cfg->config.cmd);
			cfg->config.cmd = NULL;
		}
		return 0;
	case DF_I_EXPOSE: return apply_expose(cfg, &in->u.words, err);
	case DF_I_VOLUME:
		for (size_t i = 0; i < in->u.words.n; i++)
			list_add(&cfg->config.volumes, in->u.words.v[i]);
		return 0;
	case DF_I_SHELL:
		kiln_strv_free(cfg->config.shell);
		cfg->config.shell = strv_dup(&in->u.words);
		return 0;
	case DF_I_USER: set_string(&cfg->config.user, in->u.word); return 0;
	case DF_I_WORKDIR: apply_workdir(cfg, in->u.word); return 0;
	case DF_I_STOPSIGNAL: {
		int sig; /* BuildKit refuses a name it cannot parse */
		if (rt_signal_parse(in->u.word, &sig, err) < 0)
			return -1;
		set_string(&cfg->config.stop_signal, in->u.word);
		return 0;
	}
	case DF_I_MAINTAINER: set_string(&cfg->author, in->u.word); return 0;
	case DF_I_HEALTHCHECK: apply_healthcheck(cfg, &in->u.health); return 0;
	case DF_I_ONBUILD: list_add(&cfg->config.on_build, in->u.onbuild.expression); return 0;
	default:
		return kiln_err_set(err, KILN_E_INVALID, "%s is not a metadata instruction",
		                    df_instr_name(in->kind));
	}
}

static bool allowed_change(enum df_instr_kind k)
{
	switch (k) {
	case DF_I_CMD:
	case DF_I_ENTRYPOINT:
	case DF_I_ENV:
	case DF_I_EXPOSE:
	case DF_I_HEALTHCHECK:
	case DF_I_LABEL:
	case DF_I_ONBUILD:
	case DF_I_STOPSIGNAL:
	case DF_I_USER:
	case DF_I_VOLUME:
	case DF_I_WORKDIR: return true;
	default: return false;
	}
}

static const char *lookup_env(void *ud, const char *name, size_t len)
{
	return env_get(ud, name, len);
}

static int apply_change(struct img_config *cfg, const char *change, bool *cmd_set,
                        struct kiln_err *err)
{
	struct df_ast ast = {0};
	if (df_parse(change, strlen(change), "--change", &ast, err) < 0)
		return -1;
	int r = 0;
	struct df_instr in = {0}, ex = {0};
	bool have_in = false, have_ex = false;
	if (ast.n_nodes != 1)
		r = kiln_err_set(err, KILN_E_INVALID, "a change must be one instruction");
	if (r == 0)
		r = df_instr_from_node(&ast.nodes[0], "--change", &in, err);
	have_in = r == 0;
	if (r == 0 && !allowed_change(in.kind))
		r = kiln_err_set(err, KILN_E_INVALID, "%s is not a valid change command",
		                 df_instr_name(in.kind));
	if (r == 0)
		r = df_instr_expand(&in, ast.escape, lookup_env, cfg, &ex, err);
	have_ex = r == 0;
	if (r == 0)
		r = bld_config_apply(cfg, &ex, cmd_set, err);
	if (have_ex)
		df_instr_release(&ex);
	if (have_in)
		df_instr_release(&in);
	df_ast_release(&ast);
	return r;
}

int bld_apply_changes(struct img_config *cfg, char *const *changes, struct kiln_err *err)
{
	bool cmd_set = false;
	for (size_t i = 0; changes && changes[i]; i++)
		if (apply_change(cfg, changes[i], &cmd_set, err) < 0)
			return kiln_err_wrap(err, "change `%s`", changes[i]);
	return 0;
}
