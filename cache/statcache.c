/* The stat cache: path, size, mtime ns, ctime ns, inode, mode -> content
 * hash, as git's index keeps them. A file is trusted unread only when all
 * of them match and neither timestamp is at or after the moment the cache
 * file was written (git's racy-clean rule: a change within the timestamp
 * granularity of that moment could be invisible to mtime). ctime catches
 * a content change whose mtime was put back (touch -r).
 *
 * The file is binary, native byte order, and mapped read-only: a header,
 * n fixed-size records, an open-addressing table of record indices + 1
 * (FNV-1a of the path, linear probing, a power of two at least 2n), then
 * the paths. Loading parses nothing; a lookup hashes the path and compares
 * it in place, so a no-op rebuild of 20,000 files costs their stats only.
 * A file of the wrong size or with a record pointing outside it is ignored
 * whole (everything is read again); so is a text cache of kiln before. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache-internal.h"

#define SC_MAGIC "kiln-statcache3\n"
#define SC_MAX   (1ull << 32)

struct sc_head {
	char magic[16];
	uint32_t n, tab_size;
	uint64_t str_len;
};
struct sc_rec {
	uint64_t size, ino;
	int64_t mtime_ns, ctime_ns;
	uint64_t path_off;
	uint32_t path_len, mode;
	uint8_t hash[16];
	uint8_t sha[32]; /* valid when flags has SC_REC_SHA */
	uint32_t flags;
	uint32_t pad;
};
enum { SC_REC_SHA = 1 };
enum { SC_SEEN = 1, SC_REPLACED = 2 };

char *cache_path(struct img_store *s, const char *sub, const char *name)
{
	if (name)
		return xasprintf("%s/%s/%s", img_store_root(s), sub, name);
	return xasprintf("%s/%s", img_store_root(s), sub);
}

static uint64_t fnv1a(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
	return h;
}

static int64_t ts_ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000LL + t->tv_nsec;
}

/* --- entries set in this run (in memory) ---------------------------------- */

static void rehash(struct statcache *sc)
{
	free(sc->tab);
	sc->tab_size = 64;
	while (sc->tab_size < sc->n * 2 + 2)
		sc->tab_size *= 2;
	sc->tab = xcalloc(sc->tab_size, sizeof(*sc->tab));
	for (size_t i = 0; i < sc->n; i++) {
		size_t h = fnv1a(sc->v[i].path, strlen(sc->v[i].path)) & (sc->tab_size - 1);
		while (sc->tab[h])
			h = (h + 1) & (sc->tab_size - 1);
		sc->tab[h] = (uint32_t)i + 1;
	}
}

static struct sc_entry *find(struct statcache *sc, const char *path, uint64_t hv)
{
	if (!sc->tab)
		return NULL;
	for (size_t h = hv & (sc->tab_size - 1); sc->tab[h]; h = (h + 1) & (sc->tab_size - 1))
		if (!strcmp(sc->v[sc->tab[h] - 1].path, path))
			return &sc->v[sc->tab[h] - 1];
	return NULL;
}

static struct sc_entry *insert(struct statcache *sc, const char *path)
{
	KILN_GROW(sc->v, sc->cap, sc->n + 1);
	struct sc_entry *e = &sc->v[sc->n++];
	memset(e, 0, sizeof(*e));
	e->path = xstrdup(path);
	if (sc->n * 2 + 2 > sc->tab_size) {
		rehash(sc);
	} else {
		size_t h = fnv1a(path, strlen(path)) & (sc->tab_size - 1);
		while (sc->tab[h])
			h = (h + 1) & (sc->tab_size - 1);
		sc->tab[h] = (uint32_t)sc->n;
	}
	return e;
}

/* --- the mapped file -------------------------------------------------------- */

static ssize_t mfind(const struct statcache *sc, const char *path, size_t len, uint64_t hv)
{
	if (!sc->m_tab)
		return -1;
	size_t mask = sc->m_tab_size - 1;
	for (size_t h = hv & mask, probes = 0; sc->m_tab[h] && probes < sc->m_tab_size;
	     h = (h + 1) & mask, probes++) {
		uint32_t i = sc->m_tab[h] - 1;
		if (i >= sc->m_n)
			return -1; /* damaged: treated as unknown */
		const struct sc_rec *r = &sc->m_rec[i];
		if (r->path_len == len && !memcmp(sc->m_str + r->path_off, path, len))
			return i;
	}
	return -1;
}

static bool map_valid(const struct statcache *sc, const struct sc_head *h)
{
	if (memcmp(h->magic, SC_MAGIC, sizeof(h->magic)) || !h->tab_size ||
	    h->tab_size < 2 * (uint64_t)h->n || (h->tab_size & (h->tab_size - 1)))
		return false;
	uint64_t fixed = sizeof(*h) + (uint64_t)h->n * sizeof(struct sc_rec) +
	                 (uint64_t)h->tab_size * sizeof(uint32_t); /* < 2^39: no wrap */
	if (fixed > sc->map_len || h->str_len != sc->map_len - fixed)
		return false;
	const struct sc_rec *r = (const void *)(h + 1);
	for (uint32_t i = 0; i < h->n; i++)
		if (r[i].path_off > h->str_len || r[i].path_len > h->str_len - r[i].path_off)
			return false;
	return true;
}

void sc_load(struct statcache *sc, const char *file)
{
	memset(sc, 0, sizeof(*sc));
	_cleanup_close_ int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size < sizeof(struct sc_head) || (uint64_t)st.st_size > SC_MAX)
		return;
	void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED)
		return;
	sc->map = map;
	sc->map_len = (size_t)st.st_size;
	const struct sc_head *h = map;
	if (!map_valid(sc, h)) {
		munmap(map, sc->map_len);
		sc->map = NULL;
		return;
	}
	sc->written_ns = ts_ns(&st.st_mtim);
	sc->m_n = h->n;
	sc->m_tab_size = h->tab_size;
	sc->m_rec = (const void *)(h + 1);
	sc->m_tab = (const void *)(sc->m_rec + h->n);
	sc->m_str = (const char *)(sc->m_tab + h->tab_size);
	sc->m_str_len = h->str_len;
	sc->m_flags = xcalloc(h->n + 1, 1);
}

/* --- writing ------------------------------------------------------------- */

struct out {
	struct kiln_buf rec, str;
	uint32_t n;
	uint64_t *hv; /* per record */
	size_t cap;
};

/* Appends r (its path_off and path_len set here). */
static void out_add(struct out *o, const char *path, size_t len, struct sc_rec r)
{
	r.path_off = o->str.len;
	r.path_len = (uint32_t)len;
	r.pad = 0;
	kiln_buf_add(&o->rec, &r, sizeof(r), NULL);
	kiln_buf_add(&o->str, path, len, NULL);
	KILN_GROW(o->hv, o->cap, (size_t)o->n + 1);
	o->hv[o->n++] = fnv1a(path, len);
}

int sc_write(struct statcache *sc, const char *file, bool only_seen, struct kiln_err *err)
{
	struct out o = {0};
	kiln_buf_init(&o.rec, KILN_BUF_NOLIMIT, NULL);
	kiln_buf_init(&o.str, KILN_BUF_NOLIMIT, NULL);
	for (size_t i = 0; i < sc->m_n; i++) {
		const struct sc_rec *r = &sc->m_rec[i];
		if ((sc->m_flags[i] & SC_REPLACED) || (only_seen && !(sc->m_flags[i] & SC_SEEN)))
			continue;
		out_add(&o, sc->m_str + r->path_off, r->path_len, *r);
	}
	for (size_t i = 0; i < sc->n; i++) {
		const struct sc_entry *e = &sc->v[i];
		if (only_seen && !e->seen)
			continue;
		struct sc_rec r = {.size = e->size,
		                   .ino = e->ino,
		                   .mtime_ns = e->mtime_ns,
		                   .ctime_ns = e->ctime_ns,
		                   .mode = e->mode,
		                   .flags = e->has_sha ? SC_REC_SHA : 0};
		memcpy(r.hash, e->hash, 16);
		memcpy(r.sha, e->sha, 32);
		out_add(&o, e->path, strlen(e->path), r);
	}
	struct sc_head h = {.n = o.n, .tab_size = 64, .str_len = o.str.len};
	memcpy(h.magic, SC_MAGIC, sizeof(h.magic));
	while (h.tab_size < 2 * (uint64_t)o.n + 2)
		h.tab_size *= 2;
	uint32_t *tab = xcalloc(h.tab_size, sizeof(*tab));
	for (uint32_t i = 0; i < o.n; i++) {
		size_t k = o.hv[i] & (h.tab_size - 1);
		while (tab[k])
			k = (k + 1) & (h.tab_size - 1);
		tab[k] = i + 1;
	}
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	kiln_buf_add(&b, &h, sizeof(h), NULL);
	kiln_buf_add(&b, o.rec.data, o.rec.len, NULL);
	kiln_buf_add(&b, tab, (size_t)h.tab_size * sizeof(*tab), NULL);
	kiln_buf_add(&b, o.str.data, o.str.len, NULL);
	free(tab);
	free(o.hv);
	kiln_buf_release(&o.rec);
	kiln_buf_release(&o.str);
	/* a cache: losing it on a crash costs a re-read, never a wrong hash */
	int r = kiln_write_file_replace(file, b.data, b.len, 0600, err);
	kiln_buf_release(&b);
	if (r == 0)
		sc->dirty = false;
	return r;
}

void sc_release(struct statcache *sc)
{
	for (size_t i = 0; i < sc->n; i++)
		free(sc->v[i].path);
	free(sc->v);
	free(sc->tab);
	if (sc->map)
		munmap(sc->map, sc->map_len);
	free(sc->m_flags);
	memset(sc, 0, sizeof(*sc));
}

size_t sc_count(const struct statcache *sc)
{
	size_t n = sc->n;
	for (size_t i = 0; i < sc->m_n; i++)
		n += !(sc->m_flags[i] & SC_REPLACED);
	return n;
}

/* --- lookups --------------------------------------------------------------- */

static bool stat_matches(struct statcache *sc, uint32_t mode, uint64_t size, uint64_t ino,
                         int64_t mtime, int64_t ctime, const struct stat *st)
{
	int64_t m = ts_ns(&st->st_mtim), c = ts_ns(&st->st_ctim);
	if (mode != st->st_mode || size != (uint64_t)st->st_size || ino != st->st_ino ||
	    mtime != m || ctime != c)
		return false;
	if (m >= sc->written_ns || c >= sc->written_ns) {
		sc->dirty = true; /* racily clean: re-read, and write the cache again */
		return false;
	}
	return true;
}

bool sc_lookup(struct statcache *sc, const char *path, const struct stat *st, uint8_t hash[16],
               uint8_t *sha)
{
	size_t len = strlen(path);
	uint64_t hv = fnv1a(path, len);
	struct sc_entry *e = find(sc, path, hv);
	if (e) {
		e->seen = true;
		if ((sha && !e->has_sha) ||
		    !stat_matches(sc, e->mode, e->size, e->ino, e->mtime_ns, e->ctime_ns, st))
			return false;
		memcpy(hash, e->hash, 16);
		if (sha)
			memcpy(sha, e->sha, 32);
		return true;
	}
	ssize_t i = mfind(sc, path, len, hv);
	if (i < 0)
		return false;
	const struct sc_rec *r = &sc->m_rec[i];
	sc->m_flags[i] |= SC_SEEN;
	if ((sha && !(r->flags & SC_REC_SHA)) ||
	    !stat_matches(sc, r->mode, r->size, r->ino, r->mtime_ns, r->ctime_ns, st))
		return false;
	memcpy(hash, r->hash, 16);
	if (sha)
		memcpy(sha, r->sha, 32);
	return true;
}

void sc_set(struct statcache *sc, const char *path, const struct stat *st, const uint8_t hash[16],
            const uint8_t *sha, bool smudge)
{
	size_t len = strlen(path);
	uint64_t hv = fnv1a(path, len);
	ssize_t i = mfind(sc, path, len, hv);
	if (i >= 0)
		sc->m_flags[i] |= SC_REPLACED;
	struct sc_entry *e = find(sc, path, hv);
	if (!e)
		e = insert(sc, path);
	e->seen = true;
	e->mode = st->st_mode;
	e->size = (uint64_t)st->st_size;
	e->ino = st->st_ino;
	e->mtime_ns = ts_ns(&st->st_mtim);
	e->ctime_ns = ts_ns(&st->st_ctim);
	if (smudge)
		e->mtime_ns = -1; /* never matches: read again next time */
	memcpy(e->hash, hash, 16);
	e->has_sha = sha != NULL;
	if (sha)
		memcpy(e->sha, sha, 32);
	sc->dirty = true;
}
