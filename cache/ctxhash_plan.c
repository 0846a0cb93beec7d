/* The context handle, and hashing while copying: a step sure to miss
 * (cache.h, cache_ctx_plan_begin) reads each file of its source once,
 * for the layer and the key together, instead of once for the key and
 * again for the layer. The walk, the stat cache, the leaves and the
 * folding are ctxhash.c's, so the hash is the one cache_ctx_hash gives. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache-internal.h"

struct cache_ctx_plan {
	struct ctx_walk w;
	char *rel;
	size_t *todo, n_todo;
	bool *fed; /* per node: its leaf came from cache_ctx_plan_fed */
	int64_t tick;
	uint64_t bytes;
};

int cache_ctx_plan_begin(struct cache_ctx *c, const char *rel, cache_select_fn sel, void *ud,
                         struct cache_ctx_walk *walk, struct cache_ctx_plan **out,
                         struct kiln_err *err)
{
	cache_ctx_walk_release(walk);
	*out = NULL;
	struct cache_ctx_plan *p = xcalloc(1, sizeof(*p));
	p->tick = ctx_coarse_now();
	c->want_sha = false;
	if (ctx_walk_tree(c, rel, sel, ud, &p->w, err) < 0) {
		cache_ctx_plan_free(p);
		return -1;
	}
	ctx_use_statcache(c, &p->w, &p->todo, &p->n_todo);
	p->rel = xstrdup(rel);
	p->fed = xcalloc(p->w.n ? p->w.n : 1, sizeof(*p->fed));
	ctx_walk_out(&p->w, walk, true); /* the plan keeps its own */
	*out = p;
	return 0;
}

bool cache_ctx_plan_wants(const struct cache_ctx_plan *p, size_t i)
{
	return i < p->w.n && p->w.v[i].read && !p->fed[i];
}

void cache_ctx_feed_init(struct cache_ctx_feed *f)
{
	kiln_xxh128_init(&f->x);
	f->size = 0;
}

void cache_ctx_feed(void *feed, const void *data, size_t n)
{
	struct cache_ctx_feed *f = feed;
	kiln_xxh128_update(&f->x, data, n);
	f->size += n;
}

void cache_ctx_feed_release(struct cache_ctx_feed *f)
{
	if (!f->x.st)
		return;
	struct kiln_xxh128 d;
	kiln_xxh128_final(&f->x, &d);
}

int cache_ctx_plan_fed(struct cache_ctx_plan *p, size_t i, int fd, struct cache_ctx_feed *f,
                       struct kiln_err *err)
{
	struct kiln_xxh128 d;
	kiln_xxh128_final(&f->x, &d);
	if (!cache_ctx_plan_wants(p, i))
		return 0;
	struct ctx_node *n = &p->w.v[i];
	if (f->size != (uint64_t)n->st.st_size)
		return kiln_err_set(err, KILN_E_CONFLICT, "`%s` changed while being read", n->rel);
	if (ctx_file_leaf_fd(n, fd, f->size, &d, err) < 0)
		return -1;
	p->fed[i] = true;
	p->bytes += f->size;
	return 0;
}

int cache_ctx_plan_end(struct cache_ctx *c, struct cache_ctx_plan *p, char hex[33],
                       struct kiln_err *err)
{
	_cleanup_free_ char *buf = NULL;
	int r = 0;
	c->tick = p->tick;
	c->want_sha = false;
	for (size_t k = 0; k < p->n_todo && r == 0; k++) {
		struct ctx_node *n = &p->w.v[p->todo[k]];
		if (p->fed[p->todo[k]])
			continue;
		/* not read by the copy (a hardlink, a source another one
		 * replaced, an archive ADD unpacked): read now, and only if it
		 * is still what the walk saw (and what the copy checked) */
		if (!buf)
			buf = xmalloc(CTX_READ_BUF);
		struct stat was = n->st;
		r = ctx_hash_file(c, n, &was, buf, &p->bytes, err);
	}
	if (r == 0)
		r = ctx_finish(c, &p->w, p->todo, p->n_todo, p->rel, hex, NULL, err);
	if (r == 0) {
		c->stats.files_read += p->n_todo;
		c->stats.bytes_read += p->bytes;
	}
	return r;
}

void cache_ctx_plan_free(struct cache_ctx_plan *p)
{
	if (!p)
		return;
	ctx_walk_release(&p->w);
	free(p->rel);
	free(p->todo);
	free(p->fed);
	free(p);
}

/* --- the context handle ------------------------------------------------- */

int cache_ctx_open(const char *root, const char *dir, struct cache_ctx **out, struct kiln_err *err)
{
	_cleanup_free_ char *real = realpath(dir, NULL);
	if (!real)
		return kiln_err_set(err, errno, "context `%s`", dir);
	struct kiln_xxh128 h;
	kiln_xxh128(real, strlen(real), &h);
	char hex[33];
	kiln_xxh128_hex(&h, hex);
	_cleanup_free_ char *scdir = xasprintf("%s/%s", root, CACHE_STATCACHE);
	if (kiln_mkdir_p(scdir, 0700, err) < 0)
		return -1;
	struct cache_ctx *c = xcalloc(1, sizeof(*c));
	c->dir = TAKE_PTR(real);
	c->sc_file = xasprintf("%s/%s", scdir, hex);
	c->inputs_dir = xasprintf("%s/%s", root, CACHE_INPUTS);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	c->threads = cpus < 1 ? 1 : cpus > CTX_MAX_THREAD ? CTX_MAX_THREAD : (unsigned)cpus;
	sc_load(&c->sc, c->sc_file);
	*out = c;
	return 0;
}

void cache_ctx_set_threads(struct cache_ctx *c, unsigned n)
{
	c->threads = n < 1 ? 1 : n > CTX_MAX_THREAD ? CTX_MAX_THREAD : n;
}

void cache_ctx_stats(const struct cache_ctx *c, struct cache_ctx_stats *out)
{
	*out = c->stats;
}

int cache_ctx_close(struct cache_ctx *c, struct kiln_err *err)
{
	int r = 0;
	if (c && c->sc.dirty)
		r = sc_write(&c->sc, c->sc_file, c->hashed_root, err);
	cache_ctx_free(c);
	return r;
}

void cache_ctx_free(struct cache_ctx *c)
{
	if (!c)
		return;
	sc_release(&c->sc);
	free(c->dir);
	free(c->sc_file);
	free(c->inputs_dir);
	free(c);
}
