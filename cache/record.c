/* Records: ROOT/cache/records/<key>, a field list (format, key, layer,
 * config, created, duration, preimage), published after the GC root
 * ROOT/gc-roots/cache-<key> that keeps its layer blob (decision 3). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache-internal.h"

#define RECORD_FORMAT "kiln-cache-record-v1"
#define RECORD_MAX    (64u << 20)

void cache_record_release(struct cache_record *r)
{
	img_layer_release(&r->layer);
	free(r->config);
	cache_fields_release(&r->preimage);
	memset(r, 0, sizeof(*r));
}

static char *root_file(struct img_store *s, const char *key)
{
	return xasprintf("%s/%s/cache-%s", img_store_root(s), IMG_GC_ROOTS_DIR, key);
}

int cache_record_store(struct img_store *s, const struct cache_record *r, struct kiln_err *err)
{
	if (!cache_key_valid(r->key))
		return kiln_err_set(err, KILN_E_INVALID, "invalid cache key `%s`", r->key);
	struct cache_fields f = {0};
	cache_fields_add(&f, "format", RECORD_FORMAT);
	cache_fields_add(&f, "key", r->key);
	if (r->has_layer) {
		cache_fields_add(&f, "layer-diff-id", r->layer.diff_id);
		cache_fields_add(&f, "layer-digest", r->layer.digest);
		cache_fields_addf(&f, "layer-size", "%" PRIu64, r->layer.size);
		cache_fields_add(&f, "layer-media-type",
		                 r->layer.media_type ? r->layer.media_type : IMG_MT_LAYER);
	}
	if (r->config)
		cache_fields_add(&f, "config", r->config);
	cache_fields_addf(&f, "created", "%" PRId64, r->created);
	cache_fields_addf(&f, "duration", "%.6f", r->duration);
	size_t pl;
	_cleanup_free_ char *pre = cache_fields_serialize(&r->preimage, &pl);
	cache_fields_add(&f, "preimage", pre);
	size_t len;
	_cleanup_free_ char *data = cache_fields_serialize(&f, &len);
	cache_fields_release(&f);

	_cleanup_free_ char *roots = xasprintf("%s/%s", img_store_root(s), IMG_GC_ROOTS_DIR);
	_cleanup_free_ char *dir = cache_path(s, CACHE_RECORDS, NULL);
	_cleanup_free_ char *rf = root_file(s, r->key);
	_cleanup_free_ char *file = cache_path(s, CACHE_RECORDS, r->key);
	if (kiln_mkdir_p(roots, 0700, err) < 0 || kiln_mkdir_p(dir, 0700, err) < 0)
		return kiln_err_wrap(err, "storing cache record");
	_cleanup_free_ char *root = r->has_layer ? xasprintf("%s\n", r->layer.digest) : xstrdup("");
	/* in a build's group commit both wait for its flush, after the blob */
	if (img_store_write_durable(s, rf, root, strlen(root), 0600, err) < 0 ||
	    img_store_write_durable(s, file, data, len, 0600, err) < 0)
		return kiln_err_wrap(err, "storing cache record %s", r->key);
	return 0;
}

static int parse_record(const char *data, size_t len, struct cache_record *out,
                        struct kiln_err *err)
{
	struct cache_fields f = {0};
	if (cache_fields_parse(data, len, &f, err) < 0)
		return -1;
	const char *fmt = cache_fields_get(&f, "format"), *key = cache_fields_get(&f, "key");
	const char *dig = cache_fields_get(&f, "layer-digest"),
	           *pre = cache_fields_get(&f, "preimage");
	int r = 0;
	if (!fmt || strcmp(fmt, RECORD_FORMAT) || !key || !cache_key_valid(key) || !pre)
		r = kiln_err_set(err, KILN_E_CORRUPT, "not a cache record");
	if (r == 0 && dig) {
		const char *diff = cache_fields_get(&f, "layer-diff-id");
		const char *size = cache_fields_get(&f, "layer-size");
		const char *mt = cache_fields_get(&f, "layer-media-type");
		if (!kiln_digest_valid(dig) || !diff || !kiln_digest_valid(diff) || !size || !mt)
			r = kiln_err_set(err, KILN_E_CORRUPT, "cache record: bad layer");
		if (r == 0) {
			out->has_layer = true;
			snprintf(out->layer.diff_id, sizeof(out->layer.diff_id), "%s", diff);
			snprintf(out->layer.digest, sizeof(out->layer.digest), "%s", dig);
			out->layer.size = strtoull(size, NULL, 10);
			out->layer.media_type = xstrdup(mt);
		}
	}
	if (r == 0) {
		snprintf(out->key, sizeof(out->key), "%s", key);
		const char *cfg = cache_fields_get(&f, "config");
		out->config = cfg ? xstrdup(cfg) : NULL;
		const char *c = cache_fields_get(&f, "created"),
		           *d = cache_fields_get(&f, "duration");
		out->created = c ? strtoll(c, NULL, 10) : 0;
		out->duration = d ? strtod(d, NULL) : 0;
		r = cache_fields_parse(pre, strlen(pre), &out->preimage, err);
	}
	cache_fields_release(&f);
	if (r < 0)
		cache_record_release(out);
	return r;
}

/* Reads and parses the record of a valid key (*st: its stat, when asked
 * for). A missing record fails with ENOENT, one that is not this key's
 * record with KILN_E_CORRUPT. */
static int load_record(struct img_store *s, const char *key, struct cache_record *out,
                       struct stat *st, struct kiln_err *err)
{
	memset(out, 0, sizeof(*out));
	_cleanup_free_ char *final = cache_path(s, CACHE_RECORDS, key);
	/* this build's own records are still under their temp names */
	_cleanup_free_ char *file = img_store_durable_path(s, final);
	_cleanup_free_ char *data = NULL;
	size_t len;
	if (st && stat(file, st) < 0)
		return kiln_err_set(err, errno, "cache record `%s`", key);
	if (kiln_read_file(file, RECORD_MAX, &data, &len, err) < 0)
		return -1;
	if (parse_record(data, len, out, err) < 0)
		return kiln_err_wrap(err, "cache record `%s`", key);
	if (strcmp(out->key, key)) {
		cache_record_release(out);
		return kiln_err_set(err, KILN_E_CORRUPT, "cache record `%s` holds another key",
		                    key);
	}
	return 0;
}

static int bad_key(const char *key, struct kiln_err *err)
{
	return kiln_err_set(err, KILN_E_INVALID, "invalid cache key `%s`", key);
}

int cache_record_read(struct img_store *s, const char *key, struct cache_record *out,
                      int64_t *last_used, struct kiln_err *err)
{
	memset(out, 0, sizeof(*out));
	if (!cache_key_valid(key))
		return bad_key(key, err);
	struct stat st;
	if (load_record(s, key, out, &st, err) < 0)
		return -1;
	*last_used = st.st_mtim.tv_sec;
	return 0;
}

int cache_record_remove(struct img_store *s, const char *key, struct kiln_err *err)
{
	if (!cache_key_valid(key))
		return kiln_err_set(err, KILN_E_INVALID, "invalid cache key `%s`", key);
	_cleanup_free_ char *file = cache_path(s, CACHE_RECORDS, key);
	_cleanup_free_ char *rf = root_file(s, key);
	/* the record goes first: a root without a record only delays GC */
	if (unlink(file) < 0 && errno != ENOENT)
		return kiln_err_set(err, errno, "remove cache record `%s`", key);
	if (unlink(rf) < 0 && errno != ENOENT)
		return kiln_err_set(err, errno, "remove `%s`", rf);
	return 0;
}

int cache_record_lookup(struct img_store *s, const char *key, struct cache_record *out, bool *hit,
                        bool *gone, struct kiln_err *err)
{
	*hit = *gone = false;
	memset(out, 0, sizeof(*out));
	if (!cache_key_valid(key))
		return bad_key(key, err);
	struct kiln_err e = KILN_ERR_INIT;
	if (load_record(s, key, out, NULL, &e) < 0) {
		bool missing = e.code == ENOENT;
		kiln_err_release(&e);
		if (!missing) /* unreadable or torn: dropped, a miss */
			*gone = cache_record_remove(s, key, NULL) == 0;
		return 0;
	}
	if (out->has_layer && !img_store_has_blob(s, out->layer.digest)) {
		cache_record_release(out);
		*gone = true;
		return cache_record_remove(s, key, err);
	}
	_cleanup_free_ char *file = cache_path(s, CACHE_RECORDS, key);
	utimensat(AT_FDCWD, file, NULL, 0); /* last used: the record's mtime */
	*hit = true;
	return 0;
}
