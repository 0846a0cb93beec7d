/* The stat cache: path, size, mtime ns, ctime ns, inode, mode -> content
 * hash, as git's index keeps them. A file is trusted unread only when all
 * of them match and neither timestamp is at or after the moment the cache
 * file was written (git's racy-clean rule: a change within the timestamp
 * granularity of that moment could be invisible to mtime). ctime catches
 * a content change whose mtime was put back (touch -r). File format:
 * "kiln-statcache-v1\n" then one line per entry:
 * "HEX32 MODE SIZE MTIME_NS CTIME_NS INO LEN:PATH\n". */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cache-internal.h"

#define SC_MAGIC "kiln-statcache-v1\n"
#define SC_MAX   (1u << 30)

char *cache_path(struct img_store *s, const char *sub, const char *name)
{
	if (name)
		return xasprintf("%s/%s/%s", img_store_root(s), sub, name);
	return xasprintf("%s/%s", img_store_root(s), sub);
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static int64_t ts_ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000LL + t->tv_nsec;
}

static void rehash(struct statcache *sc)
{
	free(sc->tab);
	sc->tab_size = 1024;
	while (sc->tab_size < sc->n * 2 + 2)
		sc->tab_size *= 2;
	sc->tab = xcalloc(sc->tab_size, sizeof(*sc->tab));
	for (size_t i = 0; i < sc->n; i++) {
		size_t h = fnv1a(sc->v[i].path) & (sc->tab_size - 1);
		while (sc->tab[h])
			h = (h + 1) & (sc->tab_size - 1);
		sc->tab[h] = (uint32_t)i + 1;
	}
}

static struct sc_entry *find(struct statcache *sc, const char *path)
{
	if (!sc->tab)
		return NULL;
	size_t h = fnv1a(path) & (sc->tab_size - 1);
	for (; sc->tab[h]; h = (h + 1) & (sc->tab_size - 1))
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
		size_t h = fnv1a(path) & (sc->tab_size - 1);
		while (sc->tab[h])
			h = (h + 1) & (sc->tab_size - 1);
		sc->tab[h] = (uint32_t)sc->n;
	}
	return e;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static bool parse_line(struct statcache *sc, const char *p, const char *end, const char **next)
{
	uint8_t h[16];
	if (end - p < 33)
		return false;
	for (int i = 0; i < 16; i++) {
		int a = hexval(p[2 * i]), b = hexval(p[2 * i + 1]);
		if (a < 0 || b < 0)
			return false;
		h[i] = (uint8_t)(a << 4 | b);
	}
	p += 32;
	unsigned long long f[6];
	for (int i = 0; i < 6; i++) {
		char *e;
		if (*p != ' ')
			return false;
		errno = 0;
		f[i] = strtoull(p + 1, &e, i == 0 ? 8 : 10);
		if (errno || e == p + 1 || e >= end)
			return false;
		p = e;
	}
	if (*p != ':' || f[5] > (unsigned long long)(end - p - 1) || p[1 + f[5]] != '\n')
		return false;
	char *path = xstrndup(p + 1, f[5]);
	struct sc_entry *e = find(sc, path) ? NULL : insert(sc, path);
	free(path);
	if (e) {
		e->mode = (uint32_t)f[0];
		e->size = f[1];
		e->mtime_ns = (int64_t)f[2];
		e->ctime_ns = (int64_t)f[3];
		e->ino = f[4];
		memcpy(e->hash, h, 16);
	}
	*next = p + 2 + f[5];
	return true;
}

void sc_load(struct statcache *sc, const char *file)
{
	memset(sc, 0, sizeof(*sc));
	rehash(sc);
	_cleanup_free_ char *data = NULL;
	size_t len;
	struct stat st;
	struct kiln_err e = KILN_ERR_INIT;
	if (stat(file, &st) < 0 || kiln_read_file(file, SC_MAX, &data, &len, &e) < 0) {
		kiln_err_release(&e);
		return;
	}
	sc->written_ns = ts_ns(&st.st_mtim);
	size_t ml = strlen(SC_MAGIC);
	if (len < ml || memcmp(data, SC_MAGIC, ml))
		return;
	const char *p = data + ml, *end = data + len;
	while (p < end)
		if (!parse_line(sc, p, end, &p))
			break; /* a torn tail: what was read is still good */
}

int sc_write(struct statcache *sc, const char *file, bool only_seen, struct kiln_err *err)
{
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	kiln_buf_addstr(&b, SC_MAGIC, NULL);
	for (size_t i = 0; i < sc->n; i++) {
		const struct sc_entry *e = &sc->v[i];
		if (only_seen && !e->seen)
			continue;
		for (int k = 0; k < 16; k++)
			kiln_buf_addf(&b, NULL, "%02x", e->hash[k]);
		kiln_buf_addf(
		    &b, NULL, " %o %" PRIu64 " %" PRId64 " %" PRId64 " %" PRIu64 " %zu:%s\n",
		    e->mode, e->size, e->mtime_ns, e->ctime_ns, e->ino, strlen(e->path), e->path);
	}
	int r = kiln_write_file_atomic(file, b.data, b.len, 0600, err);
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
	memset(sc, 0, sizeof(*sc));
}

const struct sc_entry *sc_lookup(struct statcache *sc, const char *path, const struct stat *st)
{
	struct sc_entry *e = find(sc, path);
	if (!e)
		return NULL;
	e->seen = true;
	int64_t m = ts_ns(&st->st_mtim), c = ts_ns(&st->st_ctim);
	if (e->mode != st->st_mode || e->size != (uint64_t)st->st_size || e->ino != st->st_ino ||
	    e->mtime_ns != m || e->ctime_ns != c)
		return NULL;
	if (m >= sc->written_ns || c >= sc->written_ns) {
		sc->dirty = true; /* racily clean: re-read, and write the cache again */
		return NULL;
	}
	return e;
}

void sc_set(struct statcache *sc, const char *path, const struct stat *st, const uint8_t hash[16],
            bool smudge)
{
	struct sc_entry *e = find(sc, path);
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
	sc->dirty = true;
}
