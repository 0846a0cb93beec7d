/* Parsed metadata blobs by digest, kept in the store handle: a manifest or
 * config is read, verified and parsed at most once per process. Blobs are
 * content-addressed, so an entry never goes stale (a blob removed by gc and
 * stored again has the same bytes). Objects are shared by reference count:
 * the cache holds one reference, each caller gets its own and frees it with
 * img_manifest_free / img_config_free as usual. A store handle is used by
 * one thread at a time; the counts are atomic so that shared objects may
 * still be freed from any thread. */
#include <string.h>

#include "store-internal.h"

enum cache_kind { CACHE_MANIFEST = 1, CACHE_CONFIG, CACHE_INDEX_PICK };

struct cache_entry {
	char digest[KILN_DIGEST_LEN];
	enum cache_kind kind;
	void *obj; /* manifest, config, or the digest picked from an index (char *) */
};

struct img_blob_cache {
	struct cache_entry *v;
	size_t cap, n; /* open addressing, cap a power of two */
};

static size_t slot_of(const char *digest, enum cache_kind kind, size_t cap)
{
	/* the hex of a sha256 is already uniformly spread */
	const char *hex = kiln_digest_hex(digest);
	size_t h = (size_t)kind;
	for (size_t i = 0; i < 12 && hex[i]; i++)
		h = h * 16 + (size_t)(hex[i] <= '9' ? hex[i] - '0' : hex[i] - 'a' + 10);
	return h & (cap - 1);
}

static struct cache_entry *find(struct img_blob_cache *c, const char *digest, enum cache_kind kind)
{
	if (!c || !c->cap)
		return NULL;
	for (size_t i = slot_of(digest, kind, c->cap);; i = (i + 1) & (c->cap - 1)) {
		struct cache_entry *e = &c->v[i];
		if (!e->kind)
			return NULL;
		if (e->kind == kind && !strcmp(e->digest, digest))
			return e;
	}
}

static void insert(struct img_store *s, const char *digest, enum cache_kind kind, void *obj)
{
	struct img_blob_cache *c = s->cache;
	if (!c)
		c = s->cache = xcalloc(1, sizeof(*c));
	if ((c->n + 1) * 2 > c->cap) { /* keep the load under one half */
		struct img_blob_cache big = {.cap = c->cap ? c->cap * 2 : 64};
		big.v = xcalloc(big.cap, sizeof(*big.v));
		for (size_t i = 0; i < c->cap; i++) {
			if (!c->v[i].kind)
				continue;
			size_t j = slot_of(c->v[i].digest, c->v[i].kind, big.cap);
			while (big.v[j].kind)
				j = (j + 1) & (big.cap - 1);
			big.v[j] = c->v[i];
		}
		big.n = c->n;
		free(c->v);
		*c = big;
	}
	size_t j = slot_of(digest, kind, c->cap);
	while (c->v[j].kind)
		j = (j + 1) & (c->cap - 1);
	snprintf(c->v[j].digest, sizeof(c->v[j].digest), "%s", digest);
	c->v[j].kind = kind;
	c->v[j].obj = obj;
	c->n++;
}

/* The cached manifest or config `digest`, read and parsed on first use. */
static void *cached(struct img_store *s, const char *digest, enum cache_kind kind,
                    struct kiln_err *err)
{
	struct cache_entry *e = find(s->cache, digest, kind);
	if (e)
		return e->obj;
	_cleanup_free_ char *data = NULL;
	size_t len;
	struct img_manifest *m = NULL;
	struct img_config *c = NULL;
	if (img_store_read_blob(s, digest, IMG_MAX_JSON, &data, &len, err) < 0 ||
	    (kind == CACHE_MANIFEST ? img_manifest_from_json(data, len, &m, err)
	                            : img_config_from_json(data, len, &c, err)) < 0)
		return NULL;
	void *obj = kind == CACHE_MANIFEST ? (void *)m : (void *)c;
	insert(s, digest, kind, obj);
	return obj;
}

int img_cache_manifest(struct img_store *s, const char *digest, struct img_manifest **out,
                       struct kiln_err *err)
{
	struct img_manifest *m = cached(s, digest, CACHE_MANIFEST, err);
	if (!m)
		return -1;
	__atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED);
	*out = m;
	return 0;
}

int img_cache_config(struct img_store *s, const char *digest, struct img_config **out,
                     struct kiln_err *err)
{
	struct img_config *c = cached(s, digest, CACHE_CONFIG, err);
	if (!c)
		return -1;
	__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
	*out = c;
	return 0;
}

const struct img_descriptor *
img_cache_index_pick(struct img_store *s, const char *digest,
                     struct img_descriptor *(*pick)(struct img_index *), struct kiln_err *err)
{
	struct cache_entry *e = find(s->cache, digest, CACHE_INDEX_PICK);
	if (e)
		return e->obj;
	_cleanup_free_ char *data = NULL;
	size_t len;
	struct img_index *x = NULL;
	if (img_store_read_blob(s, digest, IMG_MAX_JSON, &data, &len, err) < 0 ||
	    img_index_from_json(data, len, &x, err) < 0)
		return NULL;
	const struct img_descriptor *p = pick(x);
	struct img_descriptor *copy = NULL;
	if (p) {
		copy = xcalloc(1, sizeof(*copy));
		img_descriptor_copy(copy, p);
		insert(s, digest, CACHE_INDEX_PICK, copy);
	} else {
		kiln_err_set(err, KILN_E_NOTFOUND, "index `%s` has no image manifest", digest);
	}
	img_index_free(x);
	return copy;
}

void img_cache_free(struct img_store *s)
{
	struct img_blob_cache *c = s->cache;
	if (!c)
		return;
	for (size_t i = 0; i < c->cap; i++) {
		struct cache_entry *e = &c->v[i];
		if (e->kind == CACHE_MANIFEST)
			img_manifest_free(e->obj);
		else if (e->kind == CACHE_CONFIG)
			img_config_free(e->obj);
		else if (e->kind == CACHE_INDEX_PICK) {
			img_descriptor_release(e->obj);
			free(e->obj);
		}
	}
	free(c->v);
	free(c);
	s->cache = NULL;
}
