/* Build history and miss explanations. A build record is a field list
 * (ROOT/cache/history/builds/<id>) whose "step" fields are nested field
 * lists, each with its preimage; ROOT/cache/history/last-<target key>
 * names the last build of a target. A miss is explained by diffing the
 * step's preimage with the same step's in that build. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache-internal.h"

#define BUILD_FORMAT "kiln-build-v1"
#define BUILD_MAX    (256u << 20)
#define LISTING_MAX  (1u << 30)
#define FILES_SHOWN  3

static const char *nz(const char *s)
{
	return s ? s : "";
}

void cache_build_init(struct cache_build *b, const char *context, const char *dockerfile,
                      const char *target, const char *tags)
{
	memset(b, 0, sizeof(*b));
	b->context = xstrdup(nz(context));
	b->dockerfile = xstrdup(nz(dockerfile));
	b->target = xstrdup(nz(target));
	b->tags = xstrdup(nz(tags));
	struct kiln_buf k;
	kiln_buf_init(&k, KILN_BUF_NOLIMIT, NULL);
	kiln_buf_add(&k, b->context, strlen(b->context) + 1, NULL);
	kiln_buf_add(&k, b->dockerfile, strlen(b->dockerfile) + 1, NULL);
	kiln_buf_add(&k, b->target, strlen(b->target), NULL);
	struct kiln_xxh128 h;
	kiln_xxh128(k.data, k.len, &h);
	kiln_buf_release(&k);
	kiln_xxh128_hex(&h, b->target_key);
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	b->started = t.tv_sec;
	uint64_t ns = (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
	/* sortable by time, unique by target and process */
	snprintf(b->id, sizeof(b->id), "%016llx%08x%.8s", (unsigned long long)ns,
	         (unsigned)getpid(), b->target_key);
}

static void step_release(struct cache_step_info *s)
{
	free(s->name);
	free(s->instr);
	free(s->reason);
	cache_fields_release(&s->preimage);
}

void cache_build_release(struct cache_build *b)
{
	for (size_t i = 0; i < b->n_steps; i++)
		step_release(&b->steps[i]);
	free(b->steps);
	free(b->dockerfile);
	free(b->target);
	free(b->context);
	free(b->tags);
	memset(b, 0, sizeof(*b));
}

struct cache_step_info *cache_build_add(struct cache_build *b, const struct cache_step_info *s)
{
	KILN_GROW(b->steps, b->cap, b->n_steps + 1);
	struct cache_step_info *d = &b->steps[b->n_steps++];
	*d = *s;
	d->name = xstrdup(nz(s->name));
	d->instr = xstrdup(nz(s->instr));
	d->reason = s->reason ? xstrdup(s->reason) : NULL;
	memset((void *)&s->preimage, 0, sizeof(s->preimage)); /* moved */
	return d;
}

/* --- storage ------------------------------------------------------------- */

static const char *result_name(enum cache_step_result r)
{
	return r == CACHE_STEP_HIT ? "hit" : r == CACHE_STEP_MISS ? "miss" : "none";
}

static char *step_serialize(const struct cache_step_info *s)
{
	struct cache_fields f = {0};
	cache_fields_add(&f, "name", s->name);
	cache_fields_add(&f, "instr", s->instr);
	cache_fields_addf(&f, "line", "%d", s->line);
	cache_fields_addf(&f, "stage", "%d", s->stage);
	cache_fields_addf(&f, "step", "%d", s->step);
	cache_fields_add(&f, "key", s->key);
	cache_fields_add(&f, "result", result_name(s->result));
	if (s->reason)
		cache_fields_add(&f, "reason", s->reason);
	cache_fields_addf(&f, "secs", "%.6f", s->secs);
	cache_fields_addf(&f, "saved", "%.6f", s->saved);
	cache_fields_addf(&f, "start", "%.6f", s->start);
	char *pre = cache_fields_serialize(&s->preimage, NULL);
	cache_fields_add(&f, "preimage", pre);
	free(pre);
	char *out = cache_fields_serialize(&f, NULL);
	cache_fields_release(&f);
	return out;
}

static int step_parse(const char *data, struct cache_step_info *s, struct kiln_err *err)
{
	struct cache_fields f = {0};
	if (cache_fields_parse(data, strlen(data), &f, err) < 0)
		return -1;
	memset(s, 0, sizeof(*s));
	s->name = xstrdup(nz(cache_fields_get(&f, "name")));
	s->instr = xstrdup(nz(cache_fields_get(&f, "instr")));
	s->line = atoi(nz(cache_fields_get(&f, "line")));
	s->stage = atoi(nz(cache_fields_get(&f, "stage")));
	s->step = atoi(nz(cache_fields_get(&f, "step")));
	snprintf(s->key, sizeof(s->key), "%s", nz(cache_fields_get(&f, "key")));
	const char *r = nz(cache_fields_get(&f, "result"));
	s->result = !strcmp(r, "hit")    ? CACHE_STEP_HIT
	            : !strcmp(r, "miss") ? CACHE_STEP_MISS
	                                 : CACHE_STEP_NONE;
	const char *reason = cache_fields_get(&f, "reason");
	s->reason = reason ? xstrdup(reason) : NULL;
	s->secs = strtod(nz(cache_fields_get(&f, "secs")), NULL);
	s->saved = strtod(nz(cache_fields_get(&f, "saved")), NULL);
	s->start = strtod(nz(cache_fields_get(&f, "start")), NULL);
	const char *pre = nz(cache_fields_get(&f, "preimage"));
	int rc = cache_fields_parse(pre, strlen(pre), &s->preimage, err);
	cache_fields_release(&f);
	return rc;
}

int cache_build_store(struct img_store *s, const struct cache_build *b, struct kiln_err *err)
{
	struct cache_fields f = {0};
	cache_fields_add(&f, "format", BUILD_FORMAT);
	cache_fields_add(&f, "id", b->id);
	cache_fields_add(&f, "target-key", b->target_key);
	cache_fields_add(&f, "context", b->context);
	cache_fields_add(&f, "dockerfile", b->dockerfile);
	cache_fields_add(&f, "target", b->target);
	cache_fields_add(&f, "tags", b->tags);
	cache_fields_addf(&f, "started", "%" PRId64, b->started);
	cache_fields_addf(&f, "secs", "%.6f", b->secs);
	cache_fields_add(&f, "image", b->image_id);
	cache_fields_add(&f, "no-cache", b->no_cache ? "true" : "false");
	for (size_t i = 0; i < b->n_steps; i++) {
		char *st = step_serialize(&b->steps[i]);
		cache_fields_add(&f, "step", st);
		free(st);
	}
	size_t len;
	_cleanup_free_ char *data = cache_fields_serialize(&f, &len);
	cache_fields_release(&f);
	_cleanup_free_ char *dir = cache_path(s, CACHE_HISTORY, "builds");
	_cleanup_free_ char *file = xasprintf("%s/%s", dir, b->id);
	_cleanup_free_ char *last =
	    xasprintf("%s/%s/last-%s", img_store_root(s), CACHE_HISTORY, b->target_key);
	if (kiln_mkdir_p(dir, 0700, err) < 0 ||
	    kiln_write_file_replace(file, data, len, 0600, err) < 0 ||
	    kiln_write_file_replace(last, b->id, strlen(b->id), 0600, err) < 0)
		return kiln_err_wrap(err, "storing build record");
	/* the oldest records beyond CACHE_HISTORY_KEEP go */
	struct kiln_strv ids = KILN_STRV_INIT;
	if (cache_build_list(s, &ids, NULL) == 0)
		for (size_t i = 0; i + CACHE_HISTORY_KEEP < ids.n; i++) {
			_cleanup_free_ char *old = xasprintf("%s/%s", dir, ids.v[i]);
			unlink(old);
		}
	kiln_strv_release(&ids);
	return 0;
}

static bool id_valid(const char *id)
{
	size_t n = strlen(id);
	return n == 32 && strspn(id, "0123456789abcdef") == n;
}

int cache_build_load(struct img_store *s, const char *id, struct cache_build *out,
                     struct kiln_err *err)
{
	memset(out, 0, sizeof(*out));
	if (!id_valid(id))
		return kiln_err_set(err, KILN_E_NOTFOUND, "no build `%s`", id);
	_cleanup_free_ char *file =
	    xasprintf("%s/%s/builds/%s", img_store_root(s), CACHE_HISTORY, id);
	_cleanup_free_ char *data = NULL;
	size_t len;
	if (kiln_read_file(file, BUILD_MAX, &data, &len, err) < 0)
		return err && err->code == ENOENT
		           ? kiln_err_set(err, KILN_E_NOTFOUND, "no build `%s`", id)
		           : -1;
	struct cache_fields f = {0};
	if (cache_fields_parse(data, len, &f, err) < 0)
		return kiln_err_wrap(err, "build record `%s`", id);
	int r = 0;
	if (strcmp(nz(cache_fields_get(&f, "format")), BUILD_FORMAT))
		r = kiln_err_set(err, KILN_E_CORRUPT, "build record `%s`: unknown format", id);
	snprintf(out->id, sizeof(out->id), "%s", id);
	snprintf(out->target_key, sizeof(out->target_key), "%s",
	         nz(cache_fields_get(&f, "target-key")));
	out->context = xstrdup(nz(cache_fields_get(&f, "context")));
	out->dockerfile = xstrdup(nz(cache_fields_get(&f, "dockerfile")));
	out->target = xstrdup(nz(cache_fields_get(&f, "target")));
	out->tags = xstrdup(nz(cache_fields_get(&f, "tags")));
	out->started = strtoll(nz(cache_fields_get(&f, "started")), NULL, 10);
	out->secs = strtod(nz(cache_fields_get(&f, "secs")), NULL);
	snprintf(out->image_id, sizeof(out->image_id), "%s", nz(cache_fields_get(&f, "image")));
	out->no_cache = !strcmp(nz(cache_fields_get(&f, "no-cache")), "true");
	for (size_t i = 0; i < f.n && r == 0; i++) {
		if (strcmp(f.v[i].name, "step"))
			continue;
		struct cache_step_info st;
		r = step_parse(f.v[i].value, &st, err);
		if (r == 0) {
			cache_build_add(out, &st);
			free(st.name);
			free(st.instr);
			free(st.reason);
		} else {
			step_release(&st);
		}
	}
	cache_fields_release(&f);
	if (r < 0)
		cache_build_release(out);
	return r;
}

int cache_build_load_last(struct img_store *s, const char *target_key, struct cache_build *out,
                          bool *found, struct kiln_err *err)
{
	*found = false;
	_cleanup_free_ char *last =
	    xasprintf("%s/%s/last-%s", img_store_root(s), CACHE_HISTORY, target_key);
	_cleanup_free_ char *id = NULL;
	size_t len;
	struct kiln_err e = KILN_ERR_INIT;
	if (kiln_read_file(last, 64, &id, &len, &e) < 0) {
		kiln_err_release(&e);
		return 0;
	}
	if (cache_build_load(s, id, out, &e) < 0) {
		bool gone = e.code == KILN_E_NOTFOUND;
		if (gone) {
			kiln_err_release(&e);
			return 0;
		}
		kiln_err_move(err, &e);
		return -1;
	}
	*found = true;
	return 0;
}

int cache_build_list(struct img_store *s, struct kiln_strv *ids, struct kiln_err *err)
{
	_cleanup_free_ char *dir = cache_path(s, CACHE_HISTORY, "builds");
	_cleanup_closedir_ DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : kiln_err_set(err, errno, "open `%s`", dir);
	struct dirent *de;
	while ((de = readdir(d)))
		if (id_valid(de->d_name))
			kiln_strv_push(ids, de->d_name);
	kiln_strv_sort(ids);
	return 0;
}

/* --- explanations ---------------------------------------------------------- */

struct lentry {
	char *path;
	unsigned mode;
	char hash[65];
};
struct listing {
	struct lentry *v;
	size_t n, cap;
};

static int cmp_lentry(const void *a, const void *b)
{
	return strcmp(((const struct lentry *)a)->path, ((const struct lentry *)b)->path);
}

static bool load_listing(struct img_store *s, const char *hash, struct listing *l)
{
	memset(l, 0, sizeof(*l));
	if (!cache_key_valid(hash))
		return false;
	_cleanup_free_ char *file = cache_path(s, CACHE_INPUTS, hash);
	_cleanup_free_ char *data = NULL;
	size_t len;
	struct kiln_err e = KILN_ERR_INIT;
	if (kiln_read_file(file, LISTING_MAX, &data, &len, &e) < 0) {
		kiln_err_release(&e);
		return false;
	}
	const char *p = data, *end = data + len;
	size_t hl = len > 64 && data[64] == ' ' ? 64 : 32; /* sha256 or XXH3 leaves */
	while (p < end) {
		char *q;
		if ((size_t)(end - p) < hl + 2 || p[hl] != ' ')
			break;
		unsigned mode = (unsigned)strtoul(p + hl + 1, &q, 8);
		if (*q != ' ')
			break;
		unsigned long pl = strtoul(q + 1, &q, 10);
		if (*q != ':' || pl > (unsigned long)(end - q - 1))
			break;
		KILN_GROW(l->v, l->cap, l->n + 1);
		struct lentry *e2 = &l->v[l->n++];
		memcpy(e2->hash, p, hl);
		e2->hash[hl] = '\0';
		e2->mode = mode;
		e2->path = xstrndup(q + 1, pl);
		p = q + 1 + pl + 1;
	}
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), cmp_lentry);
	return true;
}

static void listing_release(struct listing *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].path);
	free(l->v);
}

static void note_file(struct kiln_buf *b, size_t *count, const char *path, const char *what)
{
	if ((*count)++ < FILES_SHOWN)
		kiln_buf_addf(b, NULL, "%s%s (%s)", *count > 1 ? ", " : "", path, what);
}

char *cache_explain_inputs(struct img_store *s, const char *old_hash, const char *new_hash)
{
	struct listing a, b;
	bool ha = load_listing(s, old_hash, &a), hb = load_listing(s, new_hash, &b);
	if (!ha || !hb) {
		listing_release(&a);
		listing_release(&b);
		return xstrdup("source files changed (the old file list is no longer kept)");
	}
	struct kiln_buf out;
	kiln_buf_init(&out, KILN_BUF_NOLIMIT, NULL);
	size_t count = 0, i = 0, k = 0;
	while (i < a.n || k < b.n) {
		int c = i >= a.n ? 1 : k >= b.n ? -1 : strcmp(a.v[i].path, b.v[k].path);
		if (c < 0) {
			note_file(&out, &count, a.v[i++].path, "removed");
		} else if (c > 0) {
			note_file(&out, &count, b.v[k++].path, "added");
		} else {
			const struct lentry *x = &a.v[i++], *y = &b.v[k++];
			if (x->mode != y->mode) {
				char m[48];
				if ((x->mode & 0170000) != (y->mode & 0170000))
					snprintf(m, sizeof(m), "type changed");
				else
					snprintf(m, sizeof(m), "mode %o -> %o", x->mode & 07777,
					         y->mode & 07777);
				note_file(&out, &count, y->path, m);
			} else if (strcmp(x->hash, y->hash) && (y->mode & 0170000) != 0040000) {
				note_file(&out, &count, y->path, "content");
			}
		}
	}
	listing_release(&a);
	listing_release(&b);
	if (!count) {
		kiln_buf_release(&out);
		return xstrdup("source files changed");
	}
	char *list = kiln_buf_detach(&out, NULL);
	char *r = count > FILES_SHOWN ? xasprintf("files changed: %s and %zu more (%zu files)",
	                                          list, count - FILES_SHOWN, count)
	                              : xasprintf("files changed: %s", list);
	free(list);
	return r;
}

static bool strv_eq(const struct kiln_strv *a, const struct kiln_strv *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]))
			return false;
	return true;
}

/* The values of `name` in f, in order. */
static void values(const struct cache_fields *f, const char *name, struct kiln_strv *out)
{
	for (size_t i = 0; i < f->n; i++)
		if (!strcmp(f->v[i].name, name))
			kiln_strv_push(out, f->v[i].value);
}

static const char *var_get(const struct kiln_strv *v, const char *name, size_t len)
{
	for (size_t i = 0; i < v->n; i++)
		if (!strncmp(v->v[i], name, len) && v->v[i][len] == '=')
			return v->v[i] + len + 1;
	return NULL;
}

/* "build arg X changed: a -> b" for the first variable that differs. */
static char *diff_vars(const struct cache_fields *a, const struct cache_fields *b, const char *name,
                       const char *what)
{
	struct kiln_strv x = KILN_STRV_INIT, y = KILN_STRV_INIT;
	values(a, name, &x);
	values(b, name, &y);
	char *r = NULL;
	for (int pass = 0; pass < 2 && !r; pass++) {
		const struct kiln_strv *p = pass ? &x : &y, *q = pass ? &y : &x;
		for (size_t i = 0; i < p->n && !r; i++) {
			size_t kl = strcspn(p->v[i], "=");
			const char *nv = p->v[i][kl] ? p->v[i] + kl + 1 : "";
			const char *ov = var_get(q, p->v[i], kl);
			if (!ov)
				r = pass ? xasprintf("%s %.*s removed (was %s)", what, (int)kl,
				                     p->v[i], nv)
				         : xasprintf("%s %.*s added: %s", what, (int)kl, p->v[i],
				                     nv);
			else if (strcmp(ov, nv) && !pass)
				r = xasprintf("%s %.*s changed: %s -> %s", what, (int)kl, p->v[i],
				              ov, nv);
		}
	}
	if (!r && (x.n != y.n || !strv_eq(&x, &y)))
		r = xasprintf("%s order changed", what);
	kiln_strv_release(&x);
	kiln_strv_release(&y);
	return r;
}

static char *diff_field(const struct cache_fields *a, const struct cache_fields *b,
                        const char *name, const char *what)
{
	struct kiln_strv x = KILN_STRV_INIT, y = KILN_STRV_INIT;
	values(a, name, &x);
	values(b, name, &y);
	char *r = NULL;
	if (!strv_eq(&x, &y)) {
		const char *o = x.n ? x.v[0] : "", *n = y.n ? y.v[0] : "";
		for (size_t i = 0; i < x.n && i < y.n; i++)
			if (strcmp(x.v[i], y.v[i])) {
				o = x.v[i];
				n = y.v[i];
				break;
			}
		r = xasprintf("%s changed: %s -> %s", what, *o ? o : "(none)", *n ? n : "(none)");
	}
	kiln_strv_release(&x);
	kiln_strv_release(&y);
	return r;
}

static bool prefixed(const char *s, const char *p)
{
	return !strncmp(s, p, strlen(p));
}

/* Why input value x became y: a stage's key, an image, a path that is
 * missing, or the files behind a content hash. */
static char *diff_input(struct img_store *s, const char *x, const char *y,
                        const struct cache_explain_opts *o)
{
	if (prefixed(x, "stage:") && prefixed(y, "stage:")) {
		char *r = o && o->stage_why ? o->stage_why(o->ud, y + 6) : NULL;
		return r ? r : xstrdup("the source stage's result changed");
	}
	if (prefixed(x, "image:") && prefixed(y, "image:"))
		return xasprintf("source image changed: %s -> %s", x + 6, y + 6);
	if (prefixed(y, "missing:"))
		return xasprintf("source `%s` is missing now", y + 8);
	if (prefixed(x, "missing:"))
		return xasprintf("source `%s` was missing before", x + 8);
	if (prefixed(x, "sha256:") && prefixed(y, "sha256:")) /* a remote preimage's */
		return cache_explain_inputs(s, x + 7, y + 7);
	if (strchr(x, ':') || strchr(y, ':'))
		return xasprintf("source changed: %s -> %s", x, y);
	return cache_explain_inputs(s, x, y);
}

static char *diff_inputs(struct img_store *s, const struct cache_fields *a,
                         const struct cache_fields *b, const struct cache_explain_opts *o)
{
	struct kiln_strv x = KILN_STRV_INIT, y = KILN_STRV_INIT;
	values(a, "input", &x);
	values(b, "input", &y);
	char *r = NULL;
	for (size_t i = 0; i < x.n && i < y.n && !r; i++)
		if (strcmp(x.v[i], y.v[i]))
			r = diff_input(s, x.v[i], y.v[i], o);
	if (!r && x.n != y.n)
		r = xstrdup("the set of copied sources changed");
	kiln_strv_release(&x);
	kiln_strv_release(&y);
	return r;
}

const struct cache_step_info *cache_build_step(const struct cache_build *b, int stage, int step)
{
	for (size_t i = 0; b && i < b->n_steps; i++)
		if (b->steps[i].stage == stage && b->steps[i].step == step)
			return &b->steps[i];
	return NULL;
}

char *cache_explain(struct img_store *s, const struct cache_build *prev,
                    const struct cache_step_info *now, const char *missed_parent)
{
	const struct cache_explain_opts o = {.missed_parent = missed_parent};
	return cache_explain_with(s, prev, now, &o);
}

/* Pushes r onto out (when set); true when the caller should stop. Its
 * control characters are escaped (\xNN): the values may come from another
 * machine's cache config and are printed on a terminal. */
static bool found(struct kiln_strv *out, char *r, bool all)
{
	if (!r)
		return false;
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	for (const unsigned char *p = (const unsigned char *)r; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			kiln_buf_addf(&b, NULL, "\\x%02x", *p);
		else
			kiln_buf_addch(&b, (char)*p, NULL);
	kiln_strv_push_take(out, kiln_buf_detach(&b, NULL));
	free(r);
	return !all;
}

void cache_step_diffs(struct img_store *s, const struct cache_step_info *old,
                      const struct cache_step_info *now, const struct cache_explain_opts *o,
                      bool all, struct kiln_strv *out)
{
	const struct cache_fields *a = &old->preimage, *b = &now->preimage;
	if (found(out, diff_field(a, b, "format", "cache key format"), all) ||
	    found(out, diff_field(a, b, "base", "base image"), all))
		return;
	if (strcmp(nz(cache_fields_get(a, "instr")), nz(cache_fields_get(b, "instr"))) &&
	    found(out,
	          xasprintf("instruction changed: `%s` (line %d) -> `%s` (line %d)",
	                    nz(cache_fields_get(a, "instr")), old->line,
	                    nz(cache_fields_get(b, "instr")), now->line),
	          all))
		return;
	if (found(out, diff_vars(a, b, "arg", "build arg"), all) ||
	    found(out, diff_vars(a, b, "env", "env"), all))
		return;
	static const char *const plain[][2] = {{"workdir", "workdir"}, {"user", "user"},
	                                       {"shell", "shell"},     {"network", "network mode"},
	                                       {"mount", "mounts"},    {"src", "sources"},
	                                       {"op", "instruction"}};
	for (size_t i = 0; i < KILN_ARRAY_SIZE(plain); i++)
		if (found(out, diff_field(a, b, plain[i][0], plain[i][1]), all))
			return;
	if (found(out, diff_inputs(s, a, b, o), all))
		return;
	if (strcmp(nz(cache_fields_get(a, "parent")), nz(cache_fields_get(b, "parent"))))
		found(out,
		      o->missed_parent ? xasprintf("parent step missed: %s", o->missed_parent)
		                       : xstrdup("the parent step's result changed"),
		      all);
}

char *cache_explain_with(struct img_store *s, const struct cache_build *prev,
                         const struct cache_step_info *now, const struct cache_explain_opts *o)
{
	const char *missed_parent = o->missed_parent;
	const struct cache_step_info *old = cache_build_step(prev, now->stage, now->step);
	if (!old)
		return !prev ? xstrdup("no previous build of this target")
		       : missed_parent
		           ? xasprintf("parent step missed: %s", missed_parent)
		           : xstrdup("a new step (not in the previous build of this target)");
	struct kiln_strv why = KILN_STRV_INIT;
	cache_step_diffs(s, old, now, o, false, &why);
	char *r = why.n                         ? xstrdup(why.v[0])
	          : !strcmp(old->key, now->key) ? xstrdup("the cached result was pruned")
	                                        : xstrdup("the cache key changed");
	kiln_strv_release(&why);
	return r;
}

/* --- the JSON report ------------------------------------------------------ */

void cache_json_str(struct kiln_buf *b, const char *s)
{
	kiln_buf_addch(b, '"', NULL);
	for (const unsigned char *p = (const unsigned char *)nz(s); *p; p++) {
		if (*p == '"' || *p == '\\')
			kiln_buf_addf(b, NULL, "\\%c", *p);
		else if (*p == '\n')
			kiln_buf_addstr(b, "\\n", NULL);
		else if (*p < 0x20)
			kiln_buf_addf(b, NULL, "\\u%04x", *p);
		else
			kiln_buf_addch(b, (char)*p, NULL);
	}
	kiln_buf_addch(b, '"', NULL);
}

char *cache_build_report_json(const struct cache_build *bd)
{
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	size_t hits = 0, misses = 0;
	double saved = 0;
	for (size_t i = 0; i < bd->n_steps; i++) {
		hits += bd->steps[i].result == CACHE_STEP_HIT;
		misses += bd->steps[i].result == CACHE_STEP_MISS;
		saved += bd->steps[i].result == CACHE_STEP_HIT ? bd->steps[i].saved : 0;
	}
	kiln_buf_addstr(&b, "{\n  \"build\": ", NULL);
	cache_json_str(&b, bd->id);
	kiln_buf_addstr(&b, ",\n  \"dockerfile\": ", NULL);
	cache_json_str(&b, bd->dockerfile);
	kiln_buf_addstr(&b, ",\n  \"target\": ", NULL);
	cache_json_str(&b, bd->target);
	kiln_buf_addstr(&b, ",\n  \"image\": ", NULL);
	cache_json_str(&b, bd->image_id);
	kiln_buf_addf(&b, NULL,
	              ",\n  \"no_cache\": %s,\n  \"hits\": %zu,\n  \"misses\": %zu,\n"
	              "  \"time\": %.3f,\n  \"time_saved\": %.3f,\n  \"steps\": [",
	              bd->no_cache ? "true" : "false", hits, misses, bd->secs, saved);
	for (size_t i = 0; i < bd->n_steps; i++) {
		const struct cache_step_info *s = &bd->steps[i];
		kiln_buf_addf(&b, NULL, "%s\n    {\"step\": ", i ? "," : "");
		cache_json_str(&b, s->name);
		kiln_buf_addf(&b, NULL, ", \"line\": %d, \"key\": ", s->line);
		cache_json_str(&b, s->key);
		kiln_buf_addstr(&b, ", \"result\": ", NULL);
		cache_json_str(&b, result_name(s->result));
		kiln_buf_addstr(&b, ", \"reason\": ", NULL);
		if (s->reason)
			cache_json_str(&b, s->reason);
		else
			kiln_buf_addstr(&b, "null", NULL);
		kiln_buf_addf(&b, NULL, ", \"time\": %.3f, \"time_saved\": %.3f}", s->secs,
		              s->result == CACHE_STEP_HIT ? s->saved : 0.0);
	}
	kiln_buf_addstr(&b, "\n  ]\n}\n", NULL);
	return kiln_buf_detach(&b, NULL);
}
