/* One stage: FROM (a stored image, scratch, an earlier stage), the base
 * image's ONBUILD triggers, then each instruction with its words expanded
 * against the stage environment (ARCHITECTURE.md decision 1) through the
 * step loop: metadata steps change the config and add an empty_layer
 * history entry (decision 4); filesystem steps go key -> lookup ->
 * execute -> record (decisions 2 and 3). */
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "build-internal.h"
#include "cache_remote-internal.h"
#include "step_cache-internal.h"

#define HISTORY_COMMENT "buildkit.dockerfile.v0"
#define DEFAULT_PATH    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static bool has_name(const struct kiln_strv *v, const char *name, size_t len)
{
	for (size_t i = 0; i < v->n; i++)
		if (strlen(v->v[i]) == len && !strncmp(v->v[i], name, len))
			return true;
	return false;
}

static void drop_name(struct kiln_strv *v, const char *name)
{
	for (size_t i = 0; i < v->n; i++)
		if (!strcmp(v->v[i], name)) {
			free(v->v[i]);
			memmove(&v->v[i], &v->v[i + 1],
			        (v->n - i) * sizeof(*v->v)); /* and the NULL */
			v->n--;
			return;
		}
}

bool bld_stage_arg_wins(const struct bld_stage *st, const char *name, size_t len)
{
	return has_name(&st->arg_over, name, len);
}

static const char *arg_value(const struct bld_stage *st, const char *name, size_t len)
{
	for (size_t i = 0; i < st->args.n; i++)
		if (!strncmp(st->args.v[i], name, len) && st->args.v[i][len] == '=')
			return st->args.v[i] + len + 1;
	return NULL;
}

const char *bld_stage_lookup(void *ud, const char *name, size_t len)
{
	struct bld_stage *st = ud;
	if (bld_stage_arg_wins(st, name, len))
		return arg_value(st, name, len);
	for (char **e = st->cfg->config.env; e && *e; e++)
		if (!strncmp(*e, name, len) && (*e)[len] == '=')
			return *e + len + 1;
	return arg_value(st, name, len);
}

char *bld_stage_path(const struct bld_stage *st, const char *path)
{
	const char *wd = st->cfg->config.working_dir;
	_cleanup_free_ char *abs =
	    path[0] == '/' ? xstrdup(path) : kiln_path_join(wd && *wd ? wd : "/", path);
	/* clean: drop empty and "." components, fold ".." */
	struct kiln_strv parts = KILN_STRV_INIT;
	for (char *save = NULL, *tok = strtok_r(abs, "/", &save); tok;
	     tok = strtok_r(NULL, "/", &save)) {
		if (!strcmp(tok, "."))
			continue;
		if (!strcmp(tok, "..")) {
			if (parts.n)
				free(parts.v[--parts.n]), parts.v[parts.n] = NULL;
			continue;
		}
		kiln_strv_push(&parts, tok);
	}
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	for (size_t i = 0; i < parts.n; i++) {
		if (i)
			kiln_buf_addch(&b, '/', NULL);
		kiln_buf_addstr(&b, parts.v[i], NULL);
	}
	kiln_strv_release(&parts);
	char *s = kiln_buf_detach(&b, NULL);
	return s ? s : xstrdup("");
}

static double elapsed(const struct timespec *t0)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Dates the history entries waiting for the stage's time with it. */
static void date_undated(struct bld_stage *st)
{
	struct img_config *c = st->cfg;
	for (size_t i = c->n_history - st->n_undated; i < c->n_history; i++)
		c->history[i].created = xstrdup(bld_stage_created(st));
	st->n_undated = 0;
}

/* A metadata entry before the stage's first RUN, COPY, ADD or WORKDIR
 * waits for that step's time (a cache hit's is its record's), as
 * BuildKit dates it by the first new layer: dating it now would give a
 * FROM scratch image a new ID on every no-op rebuild. */
static void add_history(struct bld_stage *st, const char *created_by, bool empty, bool op)
{
	struct img_config *c = st->cfg;
	if (op) {
		st->dated = true;
		date_undated(st);
	}
	c->history = xreallocarray(c->history, c->n_history + 1, sizeof(*c->history));
	struct img_history *h = &c->history[c->n_history++];
	memset(h, 0, sizeof(*h));
	if (st->dated)
		h->created = xstrdup(bld_stage_created(st));
	else
		st->n_undated++;
	h->created_by = xstrdup(created_by);
	h->comment = xstrdup(HISTORY_COMMENT);
	h->empty_layer = empty;
}

static void add_layer(struct bld_stage *st, const struct img_layer *l, struct bld_vindex *x)
{
	struct img_config *c = st->cfg;
	c->diff_ids = xreallocarray(c->diff_ids, c->n_diff_ids + 2, sizeof(char *));
	c->diff_ids[c->n_diff_ids++] = xstrdup(l->diff_id);
	c->diff_ids[c->n_diff_ids] = NULL;
	bld_rootfs_add_indexed(&st->fs, l, x);
}

/* ARG: a build arg wins, then the default, then the global scope. */
static void apply_arg(struct bld_stage *st, const struct df_instr *x, struct kiln_buf *hist)
{
	const struct df_graph *g = &st->b->g;
	kiln_buf_addstr(hist, "ARG", NULL);
	for (size_t i = 0; i < x->u.kv.n_kvs; i++) {
		const struct df_kv *kv = &x->u.kv.kvs[i];
		size_t kl = strlen(kv->key);
		const char *v = NULL;
		for (size_t k = 0; k < g->build_args.n && !v; k++)
			if (!strncmp(g->build_args.v[k], kv->key, kl) &&
			    g->build_args.v[k][kl] == '=')
				v = g->build_args.v[k] + kl + 1;
		if (v)
			kiln_strv_push(&st->used_args, kv->key);
		if (!v)
			v = kv->value;
		for (size_t k = 0; k < g->meta_env.n && !v; k++)
			if (!strncmp(g->meta_env.v[k], kv->key, kl) && g->meta_env.v[k][kl] == '=')
				v = g->meta_env.v[k] + kl + 1;
		/* a declared proxy arg is shown as any other (docker's history) */
		kiln_buf_addf(hist, NULL, kv->value ? " %s=%s" : " %s", kv->key, kv->value);
		if (!has_name(&st->arg_decl, kv->key, kl))
			kiln_strv_push(&st->arg_decl, kv->key);
		if (!v)
			continue;
		if (!has_name(&st->arg_over, kv->key, kl))
			kiln_strv_push(&st->arg_over, kv->key);
		for (size_t k = 0; k < st->args.n; k++)
			if (!strncmp(st->args.v[k], kv->key, kl) && st->args.v[k][kl] == '=') {
				free(st->args.v[k]);
				st->args.v[k] = xasprintf("%s=%s", kv->key, v);
				v = NULL;
				break;
			}
		if (v)
			kiln_strv_pushf(&st->args, "%s=%s", kv->key, v);
	}
}

static void go_list(struct kiln_buf *b, char *const *v, bool quoted)
{
	kiln_buf_addch(b, '[', NULL);
	for (size_t i = 0; v && v[i]; i++)
		kiln_buf_addf(b, NULL, quoted ? "%s\"%s\"" : "%s%s", i ? " " : "", v[i]);
	kiln_buf_addch(b, ']', NULL);
}

static void trim_zeros(char *s)
{
	size_t n = strlen(s);
	while (n > 1 && s[n - 1] == '0')
		s[--n] = '\0';
}

/* Go's time.Duration.String() for whole-unit values and common fractions. */
static void go_duration(struct kiln_buf *b, long long ns)
{
	if (ns == 0) {
		kiln_buf_addstr(b, "0s", NULL);
		return;
	}
	if (ns < 1000000000LL) {
		const char *unit = ns < 1000 ? "ns" : ns < 1000000 ? "µs" : "ms";
		long long div = ns < 1000 ? 1 : ns < 1000000 ? 1000 : 1000000;
		char frac[16] = "";
		if (ns % div) {
			snprintf(frac, sizeof(frac), ".%0*lld", div == 1000 ? 3 : 6, ns % div);
			trim_zeros(frac);
		}
		kiln_buf_addf(b, NULL, "%lld%s%s", ns / div, frac, unit);
		return;
	}
	long long s = ns / 1000000000LL, h = s / 3600, m = s / 60 % 60;
	if (h)
		kiln_buf_addf(b, NULL, "%lldh", h);
	if (h || m)
		kiln_buf_addf(b, NULL, "%lldm", m);
	char frac[16] = "";
	if (ns % 1000000000LL) {
		snprintf(frac, sizeof(frac), ".%09lld", ns % 1000000000LL);
		trim_zeros(frac);
	}
	kiln_buf_addf(b, NULL, "%lld%ss", s % 60, frac);
}

/* BuildKit prints the Healthcheck struct with %v: &{[test...] "interval"
 * "timeout" "start-period" 'retries'} (retries as a Go rune literal). */
static void health_created_by(struct kiln_buf *b, const struct df_health *h)
{
	kiln_buf_addstr(b, "&{[", NULL);
	for (size_t i = 0; i < h->test.n; i++)
		kiln_buf_addf(b, NULL, "%s\"%s\"", i ? " " : "", h->test.v[i]);
	kiln_buf_addstr(b, "]", NULL);
	long long d[3] = {h->interval, h->timeout, h->start_period};
	for (size_t i = 0; i < 3; i++) {
		kiln_buf_addstr(b, " \"", NULL);
		go_duration(b, d[i]);
		kiln_buf_addch(b, '"', NULL);
	}
	int r = h->retries;
	if (r >= 32 && r < 127 && r != '\'' && r != '\\')
		kiln_buf_addf(b, NULL, " '%c'}", r);
	else if (r == '\'' || r == '\\')
		kiln_buf_addf(b, NULL, " '\\%c'}", r);
	else if (r < 128)
		kiln_buf_addf(b, NULL, " '\\x%02x'}", r);
	else
		kiln_buf_addf(b, NULL, " '\\u%04x'}", r);
}

/* BuildKit prints the port set as a Go map: map[53/udp:{} 80/tcp:{}]. */
static void expose_created_by(struct kiln_buf *b, const struct df_instr *x)
{
	struct kiln_strv ports = KILN_STRV_INIT;
	for (size_t i = 0; i < x->u.words.n; i++) {
		unsigned lo, hi;
		const char *proto;
		if (df_port_parse(x->u.words.v[i], &lo, &hi, &proto, NULL) < 0)
			continue;
		for (unsigned p = lo; p <= hi; p++) {
			char item[40];
			snprintf(item, sizeof(item), "%u/%s", p, proto && *proto ? proto : "tcp");
			if (!kiln_strv_contains(&ports, item))
				kiln_strv_push(&ports, item);
		}
	}
	kiln_strv_sort(&ports);
	kiln_buf_addstr(b, "map[", NULL);
	for (size_t i = 0; i < ports.n; i++)
		kiln_buf_addf(b, NULL, "%s%s:{}", i ? " " : "", ports.v[i]);
	kiln_buf_addch(b, ']', NULL);
	kiln_strv_release(&ports);
}

/* created_by of a metadata step, worded as BuildKit's dispatchers write it. */
static char *meta_created_by(const struct bld_stage *st, const struct df_instr *x)
{
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	const struct img_config *c = st->cfg;
	kiln_buf_addf(&b, NULL, "%s ", df_instr_name(x->kind));
	switch (x->kind) {
	case DF_I_ENV:
	case DF_I_LABEL:
		for (size_t i = 0; i < x->u.kv.n_kvs; i++)
			kiln_buf_addf(&b, NULL, "%s%s=%s", i ? " " : "", x->u.kv.kvs[i].key,
			              x->u.kv.kvs[i].value ? x->u.kv.kvs[i].value : "");
		break;
	case DF_I_CMD: go_list(&b, c->config.cmd, true); break;
	case DF_I_ENTRYPOINT: go_list(&b, c->config.entrypoint, true); break;
	case DF_I_VOLUME:
	case DF_I_SHELL: go_list(&b, x->u.words.v, false); break;
	case DF_I_EXPOSE: expose_created_by(&b, x); break;
	case DF_I_HEALTHCHECK: health_created_by(&b, &x->u.health); break;
	case DF_I_ONBUILD: kiln_buf_addstr(&b, x->u.onbuild.expression, NULL); break;
	case DF_I_USER:
	case DF_I_WORKDIR:
	case DF_I_STOPSIGNAL:
	case DF_I_MAINTAINER: kiln_buf_addstr(&b, x->u.word, NULL); break;
	default: {
		_cleanup_free_ char *f = df_instr_format(x);
		kiln_buf_reset(&b);
		kiln_buf_addstr(&b, f, NULL);
	}
	}
	return kiln_buf_detach(&b, NULL);
}

/* BuildKit: "COPY src... dest # buildkit", flags left out. */
static char *copy_created_by(const struct df_instr *x)
{
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	kiln_buf_addstr(&b, df_instr_name(x->kind), NULL);
	for (size_t i = 0; i < x->u.copy.srcs.n; i++)
		kiln_buf_addf(&b, NULL, " %s", x->u.copy.srcs.v[i]);
	for (size_t i = 0; i < x->u.copy.n_contents; i++)
		kiln_buf_addf(&b, NULL, " <<%s", x->u.copy.contents[i].name);
	kiln_buf_addf(&b, NULL, " %s # buildkit", x->u.copy.dest);
	return kiln_buf_detach(&b, NULL);
}

/* The lookup of a step whose key waited for its copy: it misses but where
 * a record outlived its parent's; then the recorded layer is the step's
 * (the one just made stays unnamed in the store for gc). */
static int deferred_lookup(struct bld_stage *st, struct bld_step *step, char key[65], bool *cached,
                           struct kiln_err *err)
{
	if (bld_cache_deferred_key(st, step, key, err) < 0)
		return -1;
	struct img_layer made = step->layer;
	memset(&step->layer, 0, sizeof(step->layer));
	*cached = bld_cache_lookup(st, key, step);
	if (!*cached) {
		step->layer = made;
		return 0;
	}
	img_layer_release(&made);
	bld_vindex_unref(step->vindex);
	step->vindex = NULL;
	return 0;
}

/* A step that may make a layer: key -> lookup -> execute -> record (a
 * COPY sure to miss: key and execute together, then lookup). */
static int fs_step(struct bld_stage *st, struct bld_step *step, bool *cached, struct kiln_err *err)
{
	char key[65];
	/* a COPY that cannot hit reads its files once: key after the copy */
	bool defer = bld_step_key_deferrable(st, step);
	if (bld_step_key(st, step, defer, key, err) < 0)
		return -1;
	/* --no-cache: a miss with its reason */
	*cached = !defer && bld_cache_lookup(st, key, step);
	int r = 0;
	if (!*cached) /* every later step runs: its next RUN's network starts now */
		bld_run_net_ahead(st, step->in);
	if (!*cached) /* remote-hit layers it runs on are pulled now (cache_remote.c) */
		r = bld_remote_need_step(st, step, err);
	if (!*cached && r == 0) {
		switch (step->x.kind) {
		case DF_I_COPY:
		case DF_I_ADD: r = bld_step_copy(st, step, err); break;
		case DF_I_WORKDIR: r = bld_step_workdir(st, step, err); break;
		default: r = bld_step_run(st, step, err); break;
		}
	}
	if (r == 0 && defer)
		r = deferred_lookup(st, step, key, cached, err);
	if (r < 0)
		return -1;
	if (!*cached)
		bld_cache_record(st, key, step);
	memcpy(st->key, key, sizeof(key));
	if (step->x.kind == DF_I_WORKDIR)
		step->created_by = xasprintf("WORKDIR %s", st->cfg->config.working_dir);
	else if (step->x.kind == DF_I_RUN)
		step->created_by = bld_run_created_by(st, step);
	else
		step->created_by = copy_created_by(&step->x);
	step->empty_layer = !step->layer.diff_id[0];
	if (!step->empty_layer)
		add_layer(st, &step->layer, step->vindex);
	return 0;
}

static int dispatch(struct bld_stage *st, struct bld_step *step, bool *cached, struct kiln_err *err)
{
	const struct df_instr *x = &step->x;
	switch (x->kind) {
	case DF_I_COPY:
	case DF_I_ADD:
	case DF_I_RUN: return fs_step(st, step, cached, err);
	case DF_I_WORKDIR:
		if (bld_config_apply(st->cfg, x, &st->cmd_set, err) < 0)
			return -1;
		return fs_step(st, step, cached, err);
	case DF_I_ARG: {
		struct kiln_buf h;
		kiln_buf_init(&h, KILN_BUF_NOLIMIT, NULL);
		apply_arg(st, x, &h);
		step->created_by = kiln_buf_detach(&h, NULL);
		step->empty_layer = true;
		return 0;
	}
	case DF_I_FROM: return kiln_err_set(err, KILN_E_INVALID, "FROM inside a stage");
	case DF_I_ONBUILD: /* stored in the config; BuildKit adds no history entry */
		return bld_config_apply(st->cfg, x, &st->cmd_set, err);
	default:
		if (bld_config_apply(st->cfg, x, &st->cmd_set, err) < 0)
			return -1;
		for (size_t i = 0; x->kind == DF_I_ENV && i < x->u.kv.n_kvs; i++)
			drop_name(&st->arg_over, x->u.kv.kvs[i].key); /* this ENV wins now */
		step->created_by = meta_created_by(st, x);
		step->empty_layer = true;
		return 0;
	}
}

static char *step_label(const struct bld_stage *st)
{
	const struct df_graph *g = &st->b->g;
	if (g->n_stages <= 1)
		return xasprintf("[%d/%d]", st->op_no, st->n_ops);
	const char *name = st->st->name;
	if (name)
		return xasprintf("[%s %d/%d]", name, st->op_no, st->n_ops);
	return xasprintf("[stage-%d %d/%d]", st->index, st->op_no, st->n_ops);
}

static void step_release(struct bld_step *s, bool have_x)
{
	if (have_x)
		df_instr_release(&s->x);
	free(s->name);
	free(s->created_by);
	img_layer_release(&s->layer);
	bld_vindex_unref(s->vindex);
}

/* BuildKit shows, and numbers, only the instructions that make an LLB op;
 * the others change the config alone. */
static bool makes_op(enum df_instr_kind k)
{
	return k == DF_I_RUN || k == DF_I_COPY || k == DF_I_ADD || k == DF_I_WORKDIR;
}

/* A logical line with each run of whitespace (continuations too) as one
 * space. */
static char *one_line(const char *s)
{
	char *out = xmalloc(strlen(s) + 1), *o = out;
	for (bool sp = false; *s; s++) {
		if (isspace((unsigned char)*s)) {
			sp = o != out;
			continue;
		}
		if (sp)
			*o++ = ' ';
		sp = false;
		*o++ = *s;
	}
	*o = '\0';
	return out;
}

/* A step's name as BuildKit names its vertex: the canonical form processed
 * as one word with the stage's variables. A RUN keeps its quotes and the
 * variables that are not set (`${X:-d}` stays as written); WORKDIR, COPY and
 * ADD are expanded as their arguments are (quotes removed, defaults taken).
 * A text that does not expand is shown as written. */
static char *op_text(struct bld_stage *st, const struct df_instr *in)
{
	char *text = df_instr_format(in);
	unsigned flags = in->kind == DF_I_RUN ? DF_EXPAND_KEEP_QUOTES | DF_EXPAND_KEEP_UNSET : 0;
	char *x = NULL;
	struct kiln_err e = KILN_ERR_INIT;
	if (df_expand_word(text, st->b->g.escape, flags, bld_stage_lookup, st, &x, &e) < 0) {
		kiln_err_release(&e);
		return text;
	}
	free(text);
	return x;
}

char *bld_ref_shown(const char *base)
{
	struct img_ref r;
	struct kiln_err e = KILN_ERR_INIT;
	if (img_ref_parse(base, 0, &r, &e) < 0) {
		kiln_err_release(&e);
		return xstrdup(base);
	}
	char *n = img_ref_string(&r);
	img_ref_release(&r);
	return n;
}

static bool trigger_makes_op(const char *t)
{
	static const char *const ops[] = {"RUN", "COPY", "ADD", "WORKDIR"};
	t += strspn(t, " \t");
	for (size_t i = 0; i < KILN_ARRAY_SIZE(ops); i++) {
		size_t n = strlen(ops[i]);
		if (!strncasecmp(t, ops[i], n) && (!t[n] || isspace((unsigned char)t[n])))
			return true;
	}
	return false;
}

static int run_step(struct bld_stage *st, const struct df_instr *in, struct kiln_err *err)
{
	struct bld_build *b = st->b;
	struct bld_step step = {.in = in};
	bool op = makes_op(in->kind);
	st->step_no++;
	st->op_no += op;
	_cleanup_free_ char *label = step_label(st);
	/* errors name a config-only instruction as written (its canonical
	 * form re-quotes values that keep their quotes: LABEL a="\"b c\"") */
	_cleanup_free_ char *text = op ? op_text(st, in) : one_line(in->original);
	step.name = xasprintf("%s %s", label, text);
	step.id = op ? bld_vertex_start(b, step.name) : 0;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	bool cached = false;
	int r = df_instr_expand(in, b->g.escape, bld_stage_lookup, st, &step.x, err);
	bool have_x = r == 0;
	if (r == 0)
		r = dispatch(st, &step, &cached, err);
	if (r == 0) {
		if (step.created_by)
			add_history(st, step.created_by, step.empty_layer, op);
		if (op) {
			bld_count_step(b, cached);
			bld_vertex_done(b, step.id, elapsed(&t0), cached);
		}
	} else if (op && err->code == ECANCELED) {
		bld_vertex_error(b, step.id, elapsed(&t0), NULL); /* CANCELED */
	} else if (op) {
		_cleanup_free_ char *m = kiln_err_format(err);
		bld_vertex_error(b, step.id, elapsed(&t0), m);
	}
	if (r < 0) {
		if (!st->err_line)
			st->err_line = in->start_line;
		kiln_err_wrap(err, "%s:%d: %s", b->g.filename, in->start_line, text);
	}
	step_release(&step, have_x);
	return r;
}

/* --- FROM ------------------------------------------------------------------ */

int bld_platform_check(const char *platform, struct kiln_err *err)
{
	if (!platform || !*platform)
		return 0;
	const char *host = "linux/" KILN_HOST_ARCH;
	size_t hl = strlen(host);
	if (!strncmp(platform, host, hl) && (!platform[hl] || platform[hl] == '/'))
		return 0;
	return kiln_err_set(err, KILN_E_UNSUPPORTED,
	                    "platform `%s` differs from the host's (%s): kiln builds for the "
	                    "host only, without emulation",
	                    platform, host);
}

static int from_image(struct bld_stage *st, const char *name, struct kiln_err *err)
{
	struct img_image *img = NULL;
	if (bld_image_load(st->b, name, &img, err) < 0)
		return -1;
	st->cfg = img_config_dup(img->config);
	size_t n = img->manifest->n_layers;
	if (n != img->config->n_diff_ids) {
		img_image_free(img);
		return kiln_err_set(err, KILN_E_CORRUPT, "image `%s`: %zu layers but %zu diff_ids",
		                    name, n, st->cfg->n_diff_ids);
	}
	bld_rootfs_add_image(&st->fs, img);
	img_image_free(img);
	return 0;
}

/* BuildKit makes sure every stage's config has a PATH. */
static void ensure_path(struct img_config *c)
{
	size_t n = 0;
	for (; c->config.env && c->config.env[n]; n++)
		if (!strncmp(c->config.env[n], "PATH=", 5))
			return;
	c->config.env = xreallocarray(c->config.env, n + 2, sizeof(char *));
	c->config.env[n] = xstrdup(DEFAULT_PATH);
	c->config.env[n + 1] = NULL;
	c->has_config = true;
}

static void from_scratch(struct bld_stage *st)
{
	struct img_config *c = img_config_new();
	c->architecture = xstrdup(KILN_HOST_ARCH);
	c->os = xstrdup("linux");
	c->rootfs_type = xstrdup("layers");
	c->has_config = true;
	st->cfg = c;
}

static int stage_from(struct bld_stage *st, struct kiln_err *err)
{
	const struct df_stage *ds = st->st;
	struct bld_build *b = st->b;
	if (bld_platform_check(ds->platform_expanded, err) < 0)
		return -1;
	if (ds->base_stage >= 0) {
		struct bld_stage *base = &b->stages[ds->base_stage];
		if (bld_stage_need(b, ds->base_stage, err) < 0)
			return -1;
		st->cfg = img_config_dup(base->cfg);
		bld_rootfs_copy(&st->fs, &base->fs);
		memcpy(st->key, base->key, sizeof(st->key));
		/* the base stage's ARG values stay in the build's env
		 * (BuildKit's state env); RUN history lists the ARGs this stage
		 * declares only (BuildKit 0.8; later ones list both) */
		for (size_t i = 0; i < base->args.n; i++)
			kiln_strv_push(&st->args, base->args.v[i]);
		for (size_t i = 0; i < base->arg_over.n; i++)
			kiln_strv_push(&st->arg_over, base->arg_over.v[i]);
		return 0;
	}
	if (!strcasecmp(ds->base_expanded, "scratch")) {
		from_scratch(st);
		return 0;
	}
	if (from_image(st, ds->base_expanded, err) < 0)
		return -1;
	/* the parent key of a stage on an image: its layers' chain and the
	 * platform, never its tag */
	struct kiln_buf k;
	kiln_buf_init(&k, KILN_BUF_NOLIMIT, NULL);
	kiln_buf_addstr(&k, "linux/" KILN_HOST_ARCH, NULL);
	for (size_t i = 0; i < st->cfg->n_diff_ids; i++)
		kiln_buf_addf(&k, NULL, "\n%s", st->cfg->diff_ids[i]);
	struct kiln_xxh128 h;
	kiln_xxh128(kiln_buf_str(&k), k.len, &h);
	kiln_buf_release(&k);
	kiln_xxh128_hex(&h, st->key);
	return 0;
}

/* The base image's ONBUILD triggers run first, then are dropped. */
static int fire_triggers(struct bld_stage *st, char **triggers, struct kiln_err *err)
{
	for (size_t i = 0; triggers && triggers[i]; i++) {
		struct df_ast ast = {0};
		struct df_instr in = {0};
		int r = df_parse(triggers[i], strlen(triggers[i]), st->b->g.filename, &ast, err);
		if (r == 0 && ast.n_nodes != 1)
			r = kiln_err_set(err, KILN_E_INVALID, "ONBUILD trigger `%s`", triggers[i]);
		if (r == 0)
			r = df_instr_from_node(&ast.nodes[0], st->b->g.filename, &in, err);
		if (r == 0) {
			in.start_line = in.end_line = st->st->start_line;
			r = run_step(st, &in, err);
			df_instr_release(&in);
		}
		df_ast_release(&ast);
		if (r < 0)
			return -1;
	}
	return 0;
}

int bld_stage_build(struct bld_build *b, int index, struct kiln_err *err)
{
	struct bld_stage *st = &b->stages[index];
	st->b = b;
	st->st = &b->g.stages[index];
	st->index = index;
	bld_rootfs_init(&st->fs, b->s);
	st->fs.mu = &b->fs_mu;
	st->n_steps = 1 + (int)st->st->n_instrs;
	st->step_no = 1;
	/* FROM an image is a step of its own in BuildKit's progress; FROM a
	 * stage or scratch is not */
	bool from_op = st->st->base_stage < 0 && strcasecmp(st->st->base_expanded, "scratch");
	st->n_ops = st->op_no = from_op;
	for (size_t i = 0; i < st->st->n_instrs; i++)
		st->n_ops += makes_op(st->st->instrs[i].kind);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int r = stage_from(st, err);
	if (r == 0) {
		for (char **t = st->cfg->config.on_build; t && *t; t++) {
			st->n_steps++;
			st->n_ops += trigger_makes_op(*t);
		}
		ensure_path(st->cfg);
	}
	_cleanup_free_ char *label = step_label(st);
	_cleanup_free_ char *base = from_op ? bld_ref_shown(st->st->base_expanded) : NULL;
	_cleanup_free_ char *name =
	    xasprintf("%s FROM %s", label, base ? base : st->st->base_expanded);
	int id = from_op || r < 0 ? bld_vertex_start(b, name) : 0;
	if (r < 0) {
		_cleanup_free_ char *m = kiln_err_format(err);
		bld_vertex_error(b, id, elapsed(&t0), m);
		st->err_line = st->st->start_line;
		return kiln_err_wrap(err, "%s:%d: FROM %s", b->g.filename, st->st->start_line,
		                     st->st->base_expanded);
	}
	if (id)
		bld_vertex_done(b, id, elapsed(&t0), false);
	char **triggers = st->cfg->config.on_build;
	st->cfg->config.on_build = NULL;
	r = fire_triggers(st, triggers, err);
	kiln_strv_free(triggers);
	for (size_t i = 0; i < st->st->n_instrs && r == 0; i++)
		r = bld_build_failed(b) ? kiln_err_set(err, ECANCELED, "canceled")
		                        : run_step(st, &st->st->instrs[i], err);
	bld_run_net_drop(st);
	date_undated(st); /* no step set its time: the stage's, as the image's */
	return r;
}

void bld_stage_release(struct bld_stage *st)
{
	bld_run_net_drop(st);
	img_config_free(st->cfg);
	bld_rootfs_release(&st->fs);
	kiln_strv_release(&st->args);
	kiln_strv_release(&st->arg_decl);
	kiln_strv_release(&st->arg_over);
	kiln_strv_release(&st->used_args);
}
