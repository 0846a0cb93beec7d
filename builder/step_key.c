/* The cache key of a step (ARCHITECTURE.md decision 2): a preimage of
 * named fields (cache/cache.h) over what the step sees, hashed with
 * XXH3-128. Fields, in order: format, parent (the previous step's key;
 * for the first step on an image, the chain of its layers and the
 * platform), base (the stage's base image ID), op, instr (the expanded
 * instruction), heredoc bodies, env, arg (undeclared proxy args left out,
 * secrets and proxies masked; a non-RUN step only those the stage
 * referred to so far), argover (the names of ARGs set after an ENV of
 * their name, which win over it), workdir, user, shell, network (RUN), and
 * for COPY/ADD one src + input pair per source: the context content hash
 * (cache/ctxhash.c: .dockerignore and --exclude applied, symlinks never
 * followed out), the source stage's key, the source image's ID, or a URL
 * with its --checksum; for RUN, one input per --mount=type=bind
 * (run_inputs). The step loop (stage.c) is key -> lookup -> execute ->
 * record; lookup and record are in step_cache.c. */
#include <ctype.h>
#include <string.h>

#include "cache.h"
#include "copy-internal.h"
#include "step_cache-internal.h"

struct sel {
	const struct bld_context *ctx;
	const struct df_ignore *excl;
	const char *base; /* the source's path in the context ("" = root) */
};

/* What a COPY of the context reads: visible through .dockerignore, not
 * matched by --exclude (relative to the source, as copy_add_tree does). */
static enum cache_sel select_cb(void *ud, const char *rel, bool is_dir)
{
	const struct sel *s = ud;
	enum cache_sel in = bld_context_select(s->ctx, rel, is_dir);
	if (in == CACHE_SEL_NO || !s->excl)
		return in;
	size_t bl = strlen(s->base);
	const char *erel = bl && !strncmp(rel, s->base, bl) && rel[bl] == '/' ? rel + bl + 1 : rel;
	return df_ignore_match(s->excl, erel) ? CACHE_SEL_NO : in;
}

static bool is_url(const char *s)
{
	return !strncmp(s, "http://", 7) || !strncmp(s, "https://", 8);
}

/* What becomes of the walk a context input hashed: dropped, kept for the
 * COPY, or kept with a plan (the COPY hashes the files as it copies). */
enum walk_use { WALK_DROP, WALK_KEEP, WALK_PLAN };

/* The content hash of a context path (after symlinks inside the context)
 * as one input field; "missing:PATH" when there is none. */
static int context_input(struct bld_stage *st, const char *path, struct df_ignore *excl,
                         enum walk_use use, struct cache_fields *pre, struct kiln_err *err)
{
	struct bld_build *b = st->b;
	struct bld_tree t = {.ctx = &b->ctx};
	struct bld_node n = {0};
	bool found = false;
	int r = bld_tree_resolve(&t, path, true, &n, &found, err);
	if (r == 0 && !found) {
		cache_fields_addf(pre, "input", "missing:%s", path);
	} else if (r == 0 && copy_left_out(n.st.st_mode)) {
		cache_fields_addf(pre, "input", "left-out:%s", n.real);
	} else if (r == 0) {
		struct sel s = {.ctx = &b->ctx, .excl = excl, .base = n.real};
		char hex[33];
		if (use == WALK_PLAN)
			r = bld_cache_plan_context(st, n.real, select_cb, &s, err);
		else
			r = bld_cache_hash_context(st, n.real, select_cb, &s, hex, use == WALK_KEEP,
			                           err);
		if (r == 0)
			cache_fields_add(pre, "input", use == WALK_PLAN ? BLD_INPUT_DEFERRED : hex);
	}
	bld_node_release(&n);
	return r;
}

/* One context source (wildcards expanded): a src field and one input
 * field per match. */
static int context_inputs(struct bld_stage *st, const char *src, struct df_ignore *excl,
                          enum walk_use use, struct cache_fields *pre, struct kiln_err *err)
{
	struct bld_build *b = st->b;
	struct bld_tree t = {.ctx = &b->ctx};
	struct kiln_strv matches = KILN_STRV_INIT;
	int r = 0;
	if (strpbrk(src, "*?["))
		r = copy_glob_tree(&t, src, &matches, err);
	else
		kiln_strv_push(&matches, src);
	for (size_t i = 0; i < matches.n && r == 0; i++)
		r = context_input(st, matches.v[i], excl, use, pre, err);
	kiln_strv_release(&matches);
	return r;
}

static int copy_inputs(struct bld_stage *st, const struct bld_step *step, bool defer,
                       struct cache_fields *pre, bool *uncacheable, struct kiln_err *err)
{
	const struct df_copy *c = &step->x.u.copy;
	const struct df_copy *orig = &step->in->u.copy;
	for (size_t i = 0; i < c->n_contents; i++)
		cache_fields_add(pre, "heredoc", c->contents[i].content);
	if (orig->from_stage >= 0) { /* the source stage's result */
		if (bld_stage_need(st->b, orig->from_stage, err) < 0)
			return -1;
		cache_fields_addf(pre, "input", "stage:%s", st->b->stages[orig->from_stage].key);
		return 0;
	}
	if (orig->from) {
		struct img_image *img = NULL;
		if (bld_image_load(st->b, c->from, &img, err) < 0)
			return kiln_err_wrap(err, "--from=%s", c->from);
		cache_fields_addf(pre, "input", "image:%s", img->id);
		img_image_free(img);
		return 0;
	}
	struct df_ignore *excl = NULL;
	if (c->excludes.n) {
		struct kiln_buf eb;
		kiln_buf_init(&eb, KILN_BUF_NOLIMIT, NULL);
		for (size_t i = 0; i < c->excludes.n; i++)
			kiln_buf_addf(&eb, NULL, "%s\n", c->excludes.v[i]);
		int r = df_ignore_parse(kiln_buf_str(&eb), eb.len, &excl, err);
		kiln_buf_release(&eb);
		if (r < 0)
			return kiln_err_wrap(err, "--exclude");
	}
	int r = 0;
	for (size_t i = 0; i < c->srcs.n && r == 0; i++) {
		const char *src = c->srcs.v[i];
		cache_fields_add(pre, "src", src);
		if (step->x.kind == DF_I_ADD && is_url(src)) {
			if (c->checksum)
				cache_fields_addf(pre, "input", "url:%s@%s", src, c->checksum);
			else
				*uncacheable = true; /* fetched again each time */
			continue;
		}
		r = context_inputs(st, src, excl, defer ? WALK_PLAN : WALK_KEEP, pre, err);
	}
	df_ignore_free(excl);
	return r;
}

/* RUN --mount=type=bind: what the mount shows is part of the key (the
 * content of a context path, the source stage's key, the source image's
 * ID), one input field per bind mount, in order. */
static int run_inputs(struct bld_stage *st, const struct bld_step *step, struct cache_fields *pre,
                      struct kiln_err *err)
{
	const struct df_run *run = &step->x.u.run, *orig = &step->in->u.run;
	int r = 0;
	for (size_t i = 0; i < run->n_mounts && r == 0; i++) {
		const struct df_mount *m = &run->mounts[i];
		int from_stage = i < orig->n_mounts ? orig->mounts[i].from_stage : -1;
		if (m->type != DF_MOUNT_BIND)
			continue;
		const char *src = m->source && *m->source ? m->source : "/";
		if (m->from && from_stage >= 0) {
			r = bld_stage_need(st->b, from_stage, err);
			if (r == 0)
				cache_fields_addf(pre, "input", "stage:%s",
				                  st->b->stages[from_stage].key);
		} else if (m->from) {
			struct img_image *img = NULL;
			r = bld_image_load(st->b, m->from, &img, err);
			if (r < 0)
				return kiln_err_wrap(err, "mount from=%s", m->from);
			cache_fields_addf(pre, "input", "image:%s", img->id);
			img_image_free(img);
		} else {
			r = context_input(st, src, NULL, WALK_DROP, pre, err);
		}
	}
	return r;
}

/* Whether text refers to the variable name ($NAME or ${NAME...}). */
static bool mentions(const char *text, const char *name, size_t nl)
{
	for (const char *p = strchr(text, '$'); p; p = strchr(p + 1, '$')) {
		const char *q = p + 1 + (p[1] == '{');
		if (!strncmp(q, name, nl) && !isalnum((unsigned char)q[nl]) && q[nl] != '_')
			return true;
	}
	return false;
}

/* Whether instruction in refers to the variable: its line, or the body of
 * a COPY/ADD heredoc that is expanded (an unquoted delimiter: the body's
 * $NAME becomes the arg's value, and the key holds the body unexpanded). */
static bool instr_mentions(const struct df_instr *in, const char *name, size_t nl)
{
	if (in->original && mentions(in->original, name, nl))
		return true;
	if (in->kind != DF_I_COPY && in->kind != DF_I_ADD)
		return false;
	for (size_t i = 0; i < in->u.copy.n_contents; i++)
		if (in->u.copy.contents[i].expand && in->u.copy.contents[i].content &&
		    mentions(in->u.copy.contents[i].content, name, nl))
			return true;
	return false;
}

/* A build arg ("K=V") enters the key of a RUN (it is in its environment)
 * and of any step at or after the stage's first instruction that refers
 * to it: as docker's builders, a changed arg misses at its first use, not
 * where it is declared. */
static bool arg_used(const struct bld_stage *st, const struct bld_step *step, const char *kv)
{
	if (step->x.kind == DF_I_RUN)
		return true;
	size_t nl = strcspn(kv, "=");
	_cleanup_free_ char *name = xstrndup(kv, nl);
	if (instr_mentions(step->in, name, nl))
		return true;
	for (size_t i = 0; i < st->st->n_instrs && &st->st->instrs[i] != step->in; i++)
		if (instr_mentions(&st->st->instrs[i], name, nl))
			return true;
	return false;
}

bool bld_step_key_deferrable(struct bld_stage *st, const struct bld_step *step)
{
	const struct df_copy *orig = &step->in->u.copy;
	if (step->x.kind != DF_I_COPY && step->x.kind != DF_I_ADD)
		return false;
	if (orig->from_stage >= 0 || orig->from)
		return false;
	bool context = false;
	for (size_t i = 0; i < step->x.u.copy.srcs.n; i++)
		context |= !is_url(step->x.u.copy.srcs.v[i]);
	return context && bld_cache_sure_miss(st);
}

int bld_step_key(struct bld_stage *st, const struct bld_step *step, bool defer, char key[65],
                 struct kiln_err *err)
{
	struct cache_fields pre = {0};
	bool uncacheable = false;
	bld_cache_walks_drop(st, true); /* the previous COPY's */
	cache_fields_add(&pre, "format", CACHE_KEY_FORMAT);
	cache_fields_add(&pre, "parent", st->key);
	const char *base = bld_cache_stage_base(st);
	if (base)
		cache_fields_add(&pre, "base", base);
	cache_fields_add(&pre, "op", df_instr_name(step->x.kind));
	_cleanup_free_ char *op = df_instr_format(&step->x);
	cache_fields_add(&pre, "instr", op);
	for (char **e = st->cfg->config.env; e && *e; e++)
		cache_fields_add_var(&pre, "env", *e);
	for (size_t i = 0; i < st->args.n; i++)
		if (arg_used(st, step, st->args.v[i]))
			cache_fields_add_var(&pre, "arg", st->args.v[i]);
	for (char **e = st->cfg->config.env; e && *e; e++) /* an ARG set after this ENV wins */
		if (bld_stage_arg_wins(st, *e, strcspn(*e, "=")))
			cache_fields_addf(&pre, "argover", "%.*s", (int)strcspn(*e, "="), *e);
	cache_fields_add(&pre, "workdir", st->cfg->config.working_dir);
	cache_fields_add(&pre, "user", st->cfg->config.user);
	for (char **s = st->cfg->config.shell; s && *s; s++)
		cache_fields_add(&pre, "shell", *s);
	if (step->x.kind == DF_I_RUN)
		cache_fields_add(&pre, "network",
		                 st->b->o->network ? st->b->o->network : "default");
	int r = 0;
	if (step->x.kind == DF_I_COPY || step->x.kind == DF_I_ADD)
		r = copy_inputs(st, step, defer, &pre, &uncacheable, err);
	else if (step->x.kind == DF_I_RUN)
		r = run_inputs(st, step, &pre, err);
	if (r < 0) {
		cache_fields_release(&pre);
		return -1;
	}
	if (defer)
		key[0] = '\0'; /* bld_cache_deferred_key, once the COPY read the files */
	else
		cache_key(&pre, CACHE_HASH_XXH128, key);
	bld_cache_pending(st, step, &pre, uncacheable);
	return 0;
}
