/* The cache in the step loop: lookup (a hit reuses the recorded layer and
 * creation time without running anything or unpacking a layer; a miss
 * prints its reason, explained against the last build of the target),
 * record (the layer, the created time, the duration, the preimage), and
 * the build's story: history record, --cache-report, the time hits saved.
 *
 * History times: each history entry, and the image, take the created time
 * of the last layer step before them (the recorded one on a hit, this
 * build's time on a miss; the base image's before any), so a rebuild where
 * every step hits makes the same image ID, as BuildKit's does. */
#include <inttypes.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cache_remote-internal.h"
#include "step_cache-internal.h"

struct stage_slot {
	char *clock;  /* created time of its last layer step */
	char *missed; /* "#N name" of its last step that missed */
	char *first;  /* "#N name" of its first step that missed */
	char *root;   /* and why: the root cause of every later miss */
	char *base;   /* "sha256:..." of its base image */
	bool base_done;
	struct cache_ctx_walk *walks;  /* its current COPY's hashed sources */
	struct cache_ctx_plan **plans; /* beside each walk: NULL, or hashed while copied */
	size_t n_walks;
	bool chain_new; /* a step of it missed with a new key: later steps must */
};

struct pending {
	struct cache_fields pre;
	bool uncacheable, used;
	struct timespec t0;
	size_t info; /* index in hist.steps, set at lookup */
};

struct bld_cache {
	pthread_mutex_t mu;
	struct cache_ctx *ctx; /* opened on first use */
	struct stage_slot *slots;
	size_t n_slots;
	struct pending *pend; /* by vertex id */
	size_t n_pend;
	struct cache_build hist, prev;
	bool have_prev;
	double saved;
	struct timespec t0; /* when the build started (monotonic) */
};

static bool filtered(const struct bld_stage *st);

static double since(const struct timespec *t0)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

int bld_cache_open(struct bld_build *b, struct kiln_err *err)
{
	(void)err;
	struct bld_cache *c = xcalloc(1, sizeof(*c));
	pthread_mutex_init(&c->mu, NULL);
	clock_gettime(CLOCK_MONOTONIC, &c->t0);
	c->n_slots = b->g.n_stages;
	c->slots = xcalloc(c->n_slots + 1, sizeof(*c->slots));
	const struct bld_opts *o = b->o;
	_cleanup_free_ char *ctxdir = strcmp(o->context, "-") ? realpath(o->context, NULL) : NULL;
	struct kiln_buf tags;
	kiln_buf_init(&tags, KILN_BUF_NOLIMIT, NULL);
	for (size_t i = 0; o->tags && o->tags[i]; i++)
		kiln_buf_addf(&tags, NULL, "%s%s", i ? "," : "", o->tags[i]);
	cache_build_init(&c->hist, ctxdir ? ctxdir : o->context,
	                 o->dockerfile ? o->dockerfile : "Dockerfile", o->target,
	                 kiln_buf_str(&tags));
	kiln_buf_release(&tags);
	c->hist.no_cache = o->no_cache;
	struct kiln_err e = KILN_ERR_INIT;
	if (cache_build_load_last(b->s, c->hist.target_key, &c->prev, &c->have_prev, &e) < 0) {
		kiln_debug("previous build record unreadable: %s", e.msg);
		kiln_err_release(&e);
	}
	b->cache = c;
	return 0;
}

static void drop_walks(struct stage_slot *s)
{
	for (size_t i = 0; i < s->n_walks; i++) {
		cache_ctx_walk_release(&s->walks[i]);
		cache_ctx_plan_free(s->plans[i]);
	}
	free(s->walks);
	free(s->plans);
	s->walks = NULL;
	s->plans = NULL;
	s->n_walks = 0;
}

/* Whether the current COPY's key waits for its copy (a walk has a plan). */
static bool deferred(const struct stage_slot *s)
{
	for (size_t i = 0; i < s->n_walks; i++)
		if (s->plans[i])
			return true;
	return false;
}

void bld_cache_walks_drop(struct bld_stage *st, bool all)
{
	if (st->b->cache && (all || !deferred(&st->b->cache->slots[st->index])))
		drop_walks(&st->b->cache->slots[st->index]);
}

const struct cache_ctx_walk *bld_cache_walk(const struct bld_stage *st, const char *rel,
                                            struct cache_ctx_plan **plan)
{
	const struct bld_cache *c = st->b->cache;
	*plan = NULL;
	if (!c)
		return NULL;
	const struct stage_slot *s = &c->slots[st->index];
	for (size_t i = 0; i < s->n_walks; i++)
		if (s->walks[i].n && !strcmp(s->walks[i].v[0].rel, rel)) {
			*plan = s->plans[i];
			return &s->walks[i];
		}
	return NULL;
}

static void add_walk(struct stage_slot *s, struct cache_ctx_walk *walk, struct cache_ctx_plan *plan)
{
	s->walks = xreallocarray(s->walks, s->n_walks + 1, sizeof(*s->walks));
	s->plans = xreallocarray(s->plans, s->n_walks + 1, sizeof(*s->plans));
	s->plans[s->n_walks] = plan;
	s->walks[s->n_walks++] = *walk;
}

/* Stores the build's story (on success), writes --cache-report and the
 * stat cache. */
void bld_cache_finish(struct bld_build *b, bool ok)
{
	struct bld_cache *c = b->cache;
	if (!c)
		return;
	struct kiln_err e = KILN_ERR_INIT;
	c->hist.secs = b->res->secs;
	snprintf(c->hist.image_id, sizeof(c->hist.image_id), "%s", b->res->image_id);
	if (ok && cache_build_store(b->s, &c->hist, &e) < 0) {
		kiln_debug("build record not stored: %s", e.msg);
		kiln_err_release(&e);
	}
	if (b->o->cache_report) {
		_cleanup_free_ char *json = cache_build_report_json(&c->hist);
		if (kiln_write_file_atomic(b->o->cache_report, json, strlen(json), 0644, &e) < 0) {
			kiln_strv_pushf(&b->res->warnings, "--cache-report: %s", e.msg);
			kiln_err_release(&e);
		}
	}
	if (c->ctx) {
		if (b->ctx.tmp) /* a context from stdin lies in a new temp dir each time */
			cache_ctx_free(c->ctx);
		else if (cache_ctx_close(c->ctx, &e) < 0) {
			kiln_debug("stat cache not written: %s", e.msg);
			kiln_err_release(&e);
		}
	}
	b->res->saved = c->saved;
	for (size_t i = 0; i < c->n_slots; i++) {
		free(c->slots[i].clock);
		free(c->slots[i].missed);
		free(c->slots[i].first);
		free(c->slots[i].root);
		free(c->slots[i].base);
		drop_walks(&c->slots[i]);
	}
	free(c->slots);
	for (size_t i = 0; i < c->n_pend; i++)
		cache_fields_release(&c->pend[i].pre);
	free(c->pend);
	cache_build_release(&c->hist);
	if (c->have_prev)
		cache_build_release(&c->prev);
	pthread_mutex_destroy(&c->mu);
	free(c);
	b->cache = NULL;
}

const char *bld_stage_created(const struct bld_stage *st)
{
	const struct bld_build *b = st->b;
	if (b->epoch >= 0 || !b->cache || (size_t)st->index >= b->cache->n_slots)
		return b->created;
	const struct stage_slot *s = &b->cache->slots[st->index];
	if (s->clock)
		return s->clock;
	return st->cfg && st->cfg->created ? st->cfg->created : b->created;
}

static void set_clock(struct bld_stage *st, const char *created)
{
	struct stage_slot *s = &st->b->cache->slots[st->index];
	free(s->clock);
	s->clock = xstrdup(created);
}

/* The build's context handle, opened on first use (under c->mu). */
static int ctx_handle(struct bld_build *b, struct kiln_err *err)
{
	struct bld_cache *c = b->cache;
	return c->ctx ? 0 : cache_ctx_open(img_store_root(b->s), b->ctx.dir, &c->ctx, err);
}

int bld_cache_hash_context(struct bld_stage *st, const char *rel, cache_select_fn sel, void *ud,
                           char hex[33], bool keep_walk, struct kiln_err *err)
{
	struct bld_build *b = st->b;
	struct bld_cache *c = b->cache;
	struct cache_ctx_walk walk = {0};
	pthread_mutex_lock(&c->mu);
	int r = ctx_handle(b, err);
	char sha[CACHE_SHA_HEX_MAX];
	if (r == 0)
		r = cache_ctx_hash_walk(c->ctx, rel, sel, ud, hex, b->remote ? sha : NULL,
		                        keep_walk ? &walk : NULL, err);
	if (r == 0 && b->remote)
		bld_remote_note_input(b, hex, sha);
	pthread_mutex_unlock(&c->mu);
	if (r == 0 && keep_walk) /* the stage's own slot: no lock */
		add_walk(&c->slots[st->index], &walk, NULL);
	return r;
}

bool bld_cache_sure_miss(struct bld_stage *st)
{
	struct bld_build *b = st->b;
	struct bld_cache *c = b->cache;
	if (!c || b->remote)
		return false;
	pthread_mutex_lock(&c->mu);
	int base = st->st->base_stage;
	bool sure = b->o->no_cache || filtered(st) || c->slots[st->index].chain_new ||
	            (base >= 0 && (size_t)base < c->n_slots && c->slots[base].chain_new);
	pthread_mutex_unlock(&c->mu);
	return sure;
}

int bld_cache_plan_context(struct bld_stage *st, const char *rel, cache_select_fn sel, void *ud,
                           struct kiln_err *err)
{
	struct bld_build *b = st->b;
	struct bld_cache *c = b->cache;
	struct cache_ctx_walk walk = {0};
	struct cache_ctx_plan *plan = NULL;
	pthread_mutex_lock(&c->mu);
	int r = ctx_handle(b, err);
	if (r == 0)
		r = cache_ctx_plan_begin(c->ctx, rel, sel, ud, &walk, &plan, err);
	pthread_mutex_unlock(&c->mu);
	if (r == 0)
		add_walk(&c->slots[st->index], &walk, plan);
	return r;
}

int bld_cache_deferred_key(struct bld_stage *st, const struct bld_step *step, char key[65],
                           struct kiln_err *err)
{
	struct bld_cache *c = st->b->cache;
	struct stage_slot *s = &c->slots[st->index];
	pthread_mutex_lock(&c->mu);
	struct pending *p = &c->pend[step->id];
	size_t k = 0, f = 0;
	int r = 0;
	for (; r == 0 && f < p->pre.n; f++) {
		struct cache_field *fl = &p->pre.v[f];
		if (strcmp(fl->name, "input") || strcmp(fl->value, BLD_INPUT_DEFERRED))
			continue;
		while (k < s->n_walks && !s->plans[k])
			k++;
		char hex[33];
		if (k == s->n_walks)
			r = kiln_err_set(err, KILN_E_INVALID,
			                 "deferred cache input without its walk");
		else if ((r = cache_ctx_plan_end(c->ctx, s->plans[k++], hex, err)) == 0) {
			free(fl->value);
			fl->value = xstrdup(hex);
		}
	}
	if (r == 0)
		cache_key(&p->pre, CACHE_HASH_XXH128, key);
	pthread_mutex_unlock(&c->mu);
	drop_walks(s);
	return r;
}

const char *bld_cache_stage_base(struct bld_stage *st)
{
	struct stage_slot *s = &st->b->cache->slots[st->index];
	if (s->base_done)
		return s->base;
	s->base_done = true;
	const char *name = st->st->base_expanded;
	if (st->st->base_stage >= 0 || !strcasecmp(name, "scratch"))
		return NULL;
	struct img_image *img = NULL;
	struct kiln_err e = KILN_ERR_INIT;
	if (bld_image_load(st->b, name, &img, &e) == 0) {
		s->base = xstrdup(img->id);
		img_image_free(img);
	}
	kiln_err_release(&e);
	return s->base;
}

void bld_cache_pending(struct bld_stage *st, const struct bld_step *step, struct cache_fields *pre,
                       bool uncacheable)
{
	struct bld_cache *c = st->b->cache;
	pthread_mutex_lock(&c->mu);
	if ((size_t)step->id >= c->n_pend) {
		size_t n = (size_t)step->id + 16;
		c->pend = xreallocarray(c->pend, n, sizeof(*c->pend));
		memset(c->pend + c->n_pend, 0, (n - c->n_pend) * sizeof(*c->pend));
		c->n_pend = n;
	}
	struct pending *p = &c->pend[step->id];
	cache_fields_release(&p->pre);
	p->pre = *pre;
	memset(pre, 0, sizeof(*pre));
	p->uncacheable = uncacheable;
	p->used = true;
	clock_gettime(CLOCK_MONOTONIC, &p->t0);
	pthread_mutex_unlock(&c->mu);
}

/* Adds the step to the build's story (under c->mu). */
static struct cache_step_info *add_info(struct bld_stage *st, const struct bld_step *step,
                                        struct pending *p, const char *key,
                                        enum cache_step_result result)
{
	struct bld_cache *c = st->b->cache;
	_cleanup_free_ char *text = df_instr_format(&step->x);
	struct cache_step_info s = {.name = step->name,
	                            .instr = text,
	                            .line = step->in->start_line,
	                            .stage = st->index,
	                            .step = st->step_no,
	                            .result = result};
	snprintf(s.key, sizeof(s.key), "%s", key);
	s.start =
	    (double)(p->t0.tv_sec - c->t0.tv_sec) + (double)(p->t0.tv_nsec - c->t0.tv_nsec) / 1e9;
	for (size_t i = 0; i < p->pre.n; i++)
		cache_fields_add(&s.preimage, p->pre.v[i].name, p->pre.v[i].value);
	p->info = c->hist.n_steps;
	return cache_build_add(&c->hist, &s);
}

/* --no-cache-filter names the stage (by name or index)? */
static bool filtered(const struct bld_stage *st)
{
	char idx[16];
	snprintf(idx, sizeof(idx), "%d", st->index);
	for (char *const *f = st->b->o->no_cache_filter; f && *f; f++)
		if ((st->st->name && !strcasecmp(*f, st->st->name)) || !strcmp(*f, idx))
			return true;
	return false;
}

static const char *stage_label(const struct bld_stage *st, char buf[16])
{
	if (st->st->name)
		return st->st->name;
	snprintf(buf, 16, "%d", st->index);
	return buf;
}

/* cache_stage_why_fn: the stage whose key is now new_key, and why. */
static char *stage_why(void *ud, const char *new_key)
{
	struct bld_build *b = ud;
	for (size_t i = 0; i < b->cache->n_slots; i++) {
		const struct stage_slot *s = &b->cache->slots[i];
		char buf[16];
		if (strcmp(b->stages[i].key, new_key))
			continue;
		if (!s->first)
			return xasprintf("source stage `%s` changed: its result changed",
			                 stage_label(&b->stages[i], buf));
		return xasprintf("source stage `%s` changed: step %s missed (%s)",
		                 stage_label(&b->stages[i], buf), s->first, s->root);
	}
	return NULL;
}

/* "#N name (root cause)" of the step that missed before this one in the
 * stage, or in the stage it is built on; NULL when none did. */
static char *missed_parent(struct bld_stage *st)
{
	struct bld_cache *c = st->b->cache;
	const struct stage_slot *s = &c->slots[st->index];
	int base = st->st->base_stage;
	if (!s->missed && base >= 0 && (size_t)base < c->n_slots)
		s = &c->slots[base];
	if (!s->missed)
		return NULL;
	return s->root ? xasprintf("%s (%s)", s->missed, s->root) : xstrdup(s->missed);
}

static char *miss_reason(struct bld_stage *st, struct cache_step_info *info, bool gone,
                         bool uncacheable)
{
	struct bld_cache *c = st->b->cache;
	if (st->b->o->no_cache)
		return xstrdup("cache disabled (--no-cache)");
	if (filtered(st))
		return xasprintf("cache disabled for stage `%s` (--no-cache-filter)",
		                 st->st->name ? st->st->name : "");
	if (uncacheable)
		return xstrdup("ADD of a URL without --checksum is fetched again every build");
	if (gone)
		return xstrdup("the cached layer was removed from the store");
	_cleanup_free_ char *parent = missed_parent(st);
	char *remote = c->have_prev ? NULL : bld_remote_explain(st, info, parent);
	if (remote)
		return remote;
	const struct cache_explain_opts o = {
	    .missed_parent = parent, .stage_why = stage_why, .ud = st->b};
	return cache_explain_with(st->b->s, c->have_prev ? &c->prev : NULL, info, &o);
}

static void hit_layer(struct bld_step *step, const struct cache_record *rec)
{
	if (!rec->has_layer)
		return;
	snprintf(step->layer.diff_id, sizeof(step->layer.diff_id), "%s", rec->layer.diff_id);
	snprintf(step->layer.digest, sizeof(step->layer.digest), "%s", rec->layer.digest);
	step->layer.size = rec->layer.size;
	free(step->layer.media_type);
	step->layer.media_type = xstrdup(rec->layer.media_type);
}

bool bld_cache_lookup(struct bld_stage *st, const char *key, struct bld_step *step)
{
	struct bld_build *b = st->b;
	struct bld_cache *c = b->cache;
	struct cache_record rec = {0};
	bool hit = false, gone = false;
	struct kiln_err e = KILN_ERR_INIT;
	pthread_mutex_lock(&c->mu);
	struct pending *p = &c->pend[step->id];
	bool usable = !b->o->no_cache && !p->uncacheable && !filtered(st);
	if (usable && cache_record_lookup(b->s, key, &rec, &hit, &gone, &e) < 0) {
		kiln_debug("cache lookup: %s", e.msg);
		kiln_err_release(&e);
	}
	/* --cache-from (cache_remote.c): notes every step, hits on a local miss */
	if (bld_remote_lookup(st, step, key, &p->pre, usable && !hit, &rec))
		hit = true, gone = false;
	struct cache_step_info *info =
	    add_info(st, step, p, key, hit ? CACHE_STEP_HIT : CACHE_STEP_MISS);
	_cleanup_free_ char *why = NULL;
	if (hit) {
		/* a record that outlived its parent's: the chain is known again */
		c->slots[st->index].chain_new = false;
		hit_layer(step, &rec);
		const char *created =
		    rec.config && !strncmp(rec.config, "created=", 8) ? rec.config + 8 : b->created;
		set_clock(st, created);
		info->saved = rec.duration;
		info->secs = since(&p->t0);
		c->saved += rec.duration;
	} else {
		why = miss_reason(st, info, gone, p->uncacheable);
		info->reason = xstrdup(why);
		struct stage_slot *s = &c->slots[st->index];
		s->chain_new |= !p->uncacheable && !gone;
		free(s->missed);
		s->missed = xasprintf("#%d %s", step->id, step->name);
		if (!s->first) { /* a parent miss from the base stage: its root */
			int base = st->st->base_stage;
			const char *root = why;
			if (!strncmp(why, "parent step missed: ", 20) && base >= 0 &&
			    (size_t)base < c->n_slots && c->slots[base].root)
				root = c->slots[base].root;
			s->first = xstrdup(s->missed);
			s->root = xstrdup(root);
		}
	}
	pthread_mutex_unlock(&c->mu);
	cache_record_release(&rec);
	if (why) {
		_cleanup_free_ char *line = xasprintf("cache miss: %s", why);
		bld_vertex_log(b, step->id, line);
	}
	return hit;
}

void bld_cache_record(struct bld_stage *st, const char *key, const struct bld_step *step)
{
	struct bld_build *b = st->b;
	struct bld_cache *c = b->cache;
	pthread_mutex_lock(&c->mu);
	struct pending *p = &c->pend[step->id];
	double secs = since(&p->t0);
	if (p->info < c->hist.n_steps)
		c->hist.steps[p->info].secs = secs;
	set_clock(st, b->created);
	struct cache_record rec = {.has_layer = step->layer.diff_id[0] != '\0',
	                           .config = xasprintf("created=%s", b->created),
	                           .created = (int64_t)time(NULL),
	                           .duration = secs,
	                           .preimage = p->pre};
	snprintf(rec.key, sizeof(rec.key), "%s", key);
	if (rec.has_layer) {
		rec.layer = step->layer;
		rec.layer.media_type = step->layer.media_type;
	}
	bool store = !p->uncacheable;
	pthread_mutex_unlock(&c->mu);
	struct kiln_err e = KILN_ERR_INIT;
	if (store && cache_record_store(b->s, &rec, &e) < 0) {
		_cleanup_free_ char *line = xasprintf("cache record not stored: %s", e.msg);
		bld_vertex_log(b, step->id, line);
		kiln_err_release(&e);
	}
	free(rec.config);
}
