/* The rules every layer entry must pass wherever a layer is read: unpacking
 * (extract.c) and the checks of import and load (layer_scan), so that a
 * layer kiln stores is one it can unpack. */
#include <archive.h>
#include <archive_entry.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "layer-internal.h"

/* --- a string set (paths this layer created, for opaque whiteouts) ----- */

static uint64_t pset_hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
	return h;
}

bool layer_pset_has(const struct layer_pset *p, const char *s, size_t n)
{
	if (!p->cap)
		return false;
	for (size_t i = pset_hash(s, n) & (p->cap - 1);; i = (i + 1) & (p->cap - 1)) {
		if (!p->slot[i])
			return false;
		if (strlen(p->slot[i]) == n && !memcmp(p->slot[i], s, n))
			return true;
	}
}

void layer_pset_add(struct layer_pset *p, const char *s, size_t n)
{
	if (layer_pset_has(p, s, n))
		return;
	if (2 * (p->n + 1) > p->cap) {
		struct layer_pset q = {xcalloc(p->cap ? 2 * p->cap : 256, sizeof(char *)),
		                       p->cap ? 2 * p->cap : 256, 0};
		for (size_t i = 0; i < p->cap; i++)
			if (p->slot[i]) {
				size_t j = pset_hash(p->slot[i], strlen(p->slot[i])) & (q.cap - 1);
				while (q.slot[j])
					j = (j + 1) & (q.cap - 1);
				q.slot[j] = p->slot[i];
			}
		q.n = p->n;
		free(p->slot);
		*p = q;
	}
	size_t i = pset_hash(s, n) & (p->cap - 1);
	while (p->slot[i])
		i = (i + 1) & (p->cap - 1);
	p->slot[i] = xstrndup(s, n);
	p->n++;
}

/* Adds a path and all its parents. */
void layer_pset_add_path(struct layer_pset *p, const char *rel)
{
	for (const char *c = rel; (c = strchr(c, '/')); c++)
		layer_pset_add(p, rel, (size_t)(c - rel));
	layer_pset_add(p, rel, strlen(rel));
}

void layer_pset_release(struct layer_pset *p)
{
	for (size_t i = 0; i < p->cap; i++)
		free(p->slot[i]);
	free(p->slot);
	memset(p, 0, sizeof(*p));
}

/* --- entry rules ----------------------------------------------------------- */

int layer_entry_check(struct archive_entry *e, char **rel, char **link, struct kiln_err *err)
{
	const char *path = archive_entry_pathname(e);
	if (!path)
		return kiln_err_set(err, KILN_E_CORRUPT, "layer entry without a name");
	_cleanup_free_ char *r = NULL, *t = NULL;
	if (img_path_norm(NULL, path, false, PATH_MAX, &r, err) < 0)
		return -1;
	const char *base = strrchr(r, '/') ? strrchr(r, '/') + 1 : r;
	if (!strncmp(base, ".wh.", 4) && strcmp(base, LAYER_WH_OPQ)) {
		const char *victim = base + 4;
		if (!*victim || !strcmp(victim, ".") || !strcmp(victim, ".."))
			return kiln_err_set(err, KILN_E_INVALID, "invalid whiteout `%s`", base);
	}
	const char *target = archive_entry_hardlink(e);
	if (target) {
		if (img_path_norm(NULL, target, false, PATH_MAX, &t, err) < 0)
			return kiln_err_set(err, KILN_E_INVALID,
			                    "hardlink `%s` points outside the root: `%s`", path,
			                    target);
		if (!*t)
			return kiln_err_set(err, KILN_E_INVALID, "hardlink `%s` points at the root",
			                    path);
	}
	*rel = TAKE_PTR(r);
	if (link)
		*link = TAKE_PTR(t);
	return 0;
}

/* --- a whole layer ---------------------------------------------------------- */

/* One entry in the scan: its own rules, then a hardlink's target must be
 * a file this layer wrote before it (unpacking a layer happens into a
 * directory of its own, where nothing else exists). */
static int scan_entry(struct layer_pset *files, struct archive_entry *e, struct kiln_err *err)
{
	_cleanup_free_ char *rel = NULL, *link = NULL;
	if (layer_entry_check(e, &rel, &link, err) < 0)
		return -1;
	const char *base = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
	if (link && !layer_pset_has(files, link, strlen(link)))
		return kiln_err_set(err, KILN_E_INVALID,
		                    "hardlink `%s` points at `%s`, which is not a file of this "
		                    "layer",
		                    archive_entry_pathname(e), archive_entry_hardlink(e));
	if (*rel && strncmp(base, ".wh.", 4) && archive_entry_filetype(e) != AE_IFDIR)
		layer_pset_add(files, rel, strlen(rel));
	return 0;
}

int layer_scan(struct layer_source *src, struct kiln_err *err)
{
	struct archive *a = layer_source_tar_reader(src, err);
	if (!a)
		return -1;
	struct layer_pset files = {0};
	struct archive_entry *e;
	int r = 0, ar;
	bool seen = false;
	while (r == 0 && (ar = archive_read_next_header(a, &e)) != ARCHIVE_EOF) {
		if (ar != ARCHIVE_OK && ar != ARCHIVE_WARN) {
			if (src->err.msg)
				kiln_err_move(err, &src->err);
			else if (!seen)
				kiln_err_set(err, KILN_E_INVALID,
				             "not a tar archive (compression: %s): %s", src->filter,
				             archive_error_string(a));
			else
				kiln_err_set(err, KILN_E_CORRUPT, "reading layer tar: %s",
				             archive_error_string(a));
			r = -1;
			break;
		}
		seen = true;
		src->usage += layer_entry_usage(e);
		r = scan_entry(&files, e, err);
		if (r == 0 && archive_read_data_skip(a) != ARCHIVE_OK) {
			if (src->err.msg)
				kiln_err_move(err, &src->err);
			else
				kiln_err_set(err, KILN_E_CORRUPT, "layer entry `%s`: %s",
				             archive_entry_pathname(e), archive_error_string(a));
			r = -1;
		}
	}
	layer_pset_release(&files);
	archive_read_free(a);
	return r;
}
