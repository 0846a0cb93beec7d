/* The shared cache's config (docs/cache-format.md): records keyed by
 * sha256 remote keys, with their layers as pushed, their preimages (the
 * "previous build" of another machine) and the input file listings that
 * name changed files in miss explanations. Parsing trusts nothing: every
 * record's key must be the sha256 of its preimage, every digest valid. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cache-internal.h"

#define LISTINGS_MAX   (4u << 20) /* total bytes of listings exported */
#define LISTING_IN_MAX (4u << 20) /* one imported listing */

void cache_remote_release(struct cache_remote_config *c)
{
	for (size_t i = 0; i < c->n_recs; i++) {
		cache_record_release(&c->recs[i].rec);
		free(c->recs[i].name);
		free(c->recs[i].instr);
	}
	free(c->recs);
	for (size_t i = 0; i < c->n_mounts; i++) {
		free(c->mounts[i].id);
		img_layer_release(&c->mounts[i].layer);
	}
	free(c->mounts);
	free(c->mode);
	kiln_strv_release(&c->listing_hashes);
	kiln_strv_release(&c->listings);
	memset(c, 0, sizeof(*c));
}

/* --- writing ---------------------------------------------------------------- */

static json_t *layer_json(const struct img_layer *l)
{
	json_t *o = json_object();
	json_object_set_new(o, "digest", json_string(l->digest));
	json_object_set_new(o, "diffID", json_string(l->diff_id));
	json_object_set_new(o, "size", json_integer((json_int_t)l->size));
	json_object_set_new(o, "mediaType",
	                    json_string(l->media_type ? l->media_type : IMG_MT_LAYER_GZIP));
	return o;
}

/* NULL when a value is not UTF-8 (such a record is not exported). */
static json_t *fields_json(const struct cache_fields *f)
{
	json_t *a = json_array();
	for (size_t i = 0; i < f->n; i++) {
		json_t *v = json_stringn(f->v[i].value, strlen(f->v[i].value));
		json_t *n = json_string(f->v[i].name);
		if (!v || !n) {
			json_decref(v);
			json_decref(n);
			json_decref(a);
			return NULL;
		}
		json_array_append_new(a, json_pack("[oo]", n, v));
	}
	return a;
}

static json_t *record_json(const struct cache_remote_record *r)
{
	json_t *pre = fields_json(&r->rec.preimage);
	json_t *name = json_string(r->name ? r->name : ""),
	       *instr = json_string(r->instr ? r->instr : "");
	if (!pre || !name || !instr) {
		json_decref(pre);
		json_decref(name);
		json_decref(instr);
		return NULL;
	}
	const char *parent = cache_fields_get(&r->rec.preimage, "parent");
	json_t *o = json_object();
	json_object_set_new(o, "key", json_string(r->rec.key));
	json_object_set_new(o, "parent", json_string(parent ? parent : ""));
	json_object_set_new(o, "stage", json_integer(r->stage));
	json_object_set_new(o, "step", json_integer(r->step));
	json_object_set_new(o, "line", json_integer(r->line));
	json_object_set_new(o, "name", name);
	json_object_set_new(o, "instr", instr);
	if (r->rec.has_layer)
		json_object_set_new(o, "layer", layer_json(&r->rec.layer));
	json_t *cfg = r->rec.config ? json_string(r->rec.config) : NULL;
	if (cfg)
		json_object_set_new(o, "config", cfg);
	json_object_set_new(o, "created", json_integer(r->rec.created));
	json_object_set_new(o, "duration", json_real(r->rec.duration));
	json_object_set_new(o, "preimage", pre);
	return o;
}

char *cache_remote_to_json(const struct cache_remote_config *c, size_t *len)
{
	json_t *root = json_object(), *recs = json_array(), *mounts = json_array();
	json_object_set_new(root, "format", json_string(CACHE_REMOTE_FORMAT));
	json_object_set_new(root, "mode", json_string(c->mode ? c->mode : "min"));
	for (size_t i = 0; i < c->n_recs; i++) {
		json_t *r = record_json(&c->recs[i]);
		if (r)
			json_array_append_new(recs, r);
	}
	json_object_set_new(root, "records", recs);
	for (size_t i = 0; i < c->n_mounts; i++) {
		json_t *id = json_string(c->mounts[i].id);
		if (id)
			json_array_append_new(mounts, json_pack("{s:o,s:o}", "id", id, "layer",
			                                        layer_json(&c->mounts[i].layer)));
	}
	json_object_set_new(root, "mounts", mounts);
	json_t *ls = json_object();
	size_t total = 0;
	for (size_t i = 0; i < c->listings.n && i < c->listing_hashes.n; i++) {
		size_t n = strlen(c->listings.v[i]);
		json_t *v = json_stringn(c->listings.v[i], n);
		if (!v || total + n > LISTINGS_MAX) {
			json_decref(v);
			continue;
		}
		total += n;
		json_object_set_new(ls, c->listing_hashes.v[i], v);
	}
	json_object_set_new(root, "listings", ls);
	char *s = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(root);
	*len = strlen(s);
	return s;
}

/* --- reading ----------------------------------------------------------------- */

static int bad(struct kiln_err *err, const char *what)
{
	return kiln_err_set(err, KILN_E_CORRUPT, "invalid kiln cache config: %s", what);
}

static const char *str_of(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static int layer_from_json(json_t *o, struct img_layer *l, struct kiln_err *err)
{
	const char *dig = str_of(o, "digest"), *diff = str_of(o, "diffID"),
	           *mt = str_of(o, "mediaType");
	json_t *size = json_object_get(o, "size");
	if (!json_is_object(o) || !dig || !diff || !mt || !kiln_digest_valid(dig) ||
	    !kiln_digest_valid(diff) || !json_is_integer(size) || json_integer_value(size) < 0)
		return bad(err, "a layer needs digest, diffID, size and mediaType");
	snprintf(l->digest, sizeof(l->digest), "%s", dig);
	snprintf(l->diff_id, sizeof(l->diff_id), "%s", diff);
	l->size = (uint64_t)json_integer_value(size);
	l->media_type = xstrdup(mt);
	return 0;
}

static int preimage_from_json(json_t *a, struct cache_fields *f, struct kiln_err *err)
{
	if (!json_is_array(a))
		return bad(err, "`preimage` must be an array");
	size_t i;
	json_t *p;
	json_array_foreach(a, i, p)
	{
		json_t *n = json_array_get(p, 0), *v = json_array_get(p, 1);
		if (!json_is_array(p) || json_array_size(p) != 2 || !json_is_string(n) ||
		    !json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
			return bad(err, "`preimage` entries must be [name, value] strings");
		cache_fields_add(f, json_string_value(n), json_string_value(v));
	}
	return 0;
}

static int record_from_json(json_t *o, struct cache_remote_record *r, struct kiln_err *err)
{
	const char *key = str_of(o, "key");
	if (!json_is_object(o) || !key || strlen(key) != 64 || !cache_key_valid(key))
		return bad(err, "a record needs a sha256 `key`");
	snprintf(r->rec.key, sizeof(r->rec.key), "%s", key);
	if (preimage_from_json(json_object_get(o, "preimage"), &r->rec.preimage, err) < 0)
		return -1;
	char want[CACHE_KEY_MAX];
	cache_key(&r->rec.preimage, CACHE_HASH_SHA256, want);
	if (strcmp(want, key))
		return kiln_err_set(
		    err, KILN_E_CORRUPT,
		    "invalid kiln cache config: record %.12s is not the hash of its "
		    "preimage",
		    key);
	json_t *l = json_object_get(o, "layer");
	if (l) {
		if (layer_from_json(l, &r->rec.layer, err) < 0)
			return -1;
		r->rec.has_layer = true;
	}
	const char *cfg = str_of(o, "config");
	r->rec.config = cfg ? xstrdup(cfg) : NULL;
	r->rec.created = (int64_t)json_integer_value(json_object_get(o, "created"));
	r->rec.duration = json_number_value(json_object_get(o, "duration"));
	r->stage = (int)json_integer_value(json_object_get(o, "stage"));
	r->step = (int)json_integer_value(json_object_get(o, "step"));
	r->line = (int)json_integer_value(json_object_get(o, "line"));
	const char *name = str_of(o, "name"), *instr = str_of(o, "instr");
	r->name = xstrdup(name ? name : "");
	r->instr = xstrdup(instr ? instr : "");
	return 0;
}

static int mounts_from_json(json_t *a, struct cache_remote_config *c, struct kiln_err *err)
{
	if (!a)
		return 0;
	if (!json_is_array(a))
		return bad(err, "`mounts` must be an array");
	c->mounts = xcalloc(json_array_size(a) + 1, sizeof(*c->mounts));
	size_t i;
	json_t *m;
	json_array_foreach(a, i, m)
	{
		const char *id = str_of(m, "id");
		if (!id || !*id)
			return bad(err, "a mount needs an `id`");
		struct cache_remote_mount *d = &c->mounts[c->n_mounts++];
		d->id = xstrdup(id);
		if (layer_from_json(json_object_get(m, "layer"), &d->layer, err) < 0)
			return -1;
	}
	return 0;
}

static int listings_from_json(json_t *o, struct cache_remote_config *c, struct kiln_err *err)
{
	if (!o)
		return 0;
	if (!json_is_object(o))
		return bad(err, "`listings` must be an object");
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v)
	{
		if (!json_is_string(v) || !cache_key_valid(k))
			return bad(err, "`listings` maps input hashes to strings");
		kiln_strv_push(&c->listing_hashes, k);
		kiln_strv_push(&c->listings, json_string_value(v));
	}
	return 0;
}

int cache_remote_from_json(const char *data, size_t len, struct cache_remote_config *out,
                           struct kiln_err *err)
{
	memset(out, 0, sizeof(*out));
	json_error_t je;
	json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return kiln_err_set(err, KILN_E_CORRUPT, "invalid kiln cache config: %s", je.text);
	int r = 0;
	const char *fmt = str_of(root, "format"), *mode = str_of(root, "mode");
	json_t *recs = json_object_get(root, "records");
	if (json_is_object(root) && fmt && !strcmp(fmt, "kiln-cache-v1"))
		r = bad(err, "format kiln-cache-v1 (an older kiln: its keys rest on XXH3 "
		             "content hashes, not sha256), not trusted");
	else if (!json_is_object(root) || !fmt || strcmp(fmt, CACHE_REMOTE_FORMAT))
		r = bad(err, "not " CACHE_REMOTE_FORMAT);
	else if (!json_is_array(recs))
		r = bad(err, "`records` must be an array");
	if (r == 0) {
		out->mode = xstrdup(mode ? mode : "min");
		out->recs = xcalloc(json_array_size(recs) + 1, sizeof(*out->recs));
		for (size_t i = 0; i < json_array_size(recs) && r == 0; i++)
			r = record_from_json(json_array_get(recs, i), &out->recs[out->n_recs++],
			                     err);
	}
	if (r == 0)
		r = mounts_from_json(json_object_get(root, "mounts"), out, err);
	if (r == 0)
		r = listings_from_json(json_object_get(root, "listings"), out, err);
	json_decref(root);
	if (r < 0)
		cache_remote_release(out);
	return r;
}

/* --- input listings ------------------------------------------------------------- */

int cache_listing_get(struct img_store *s, const char *hash, char **data, size_t *len, bool *found,
                      struct kiln_err *err)
{
	*found = false;
	*data = NULL;
	if (!cache_key_valid(hash))
		return 0;
	_cleanup_free_ char *file = cache_path(s, CACHE_INPUTS, hash);
	struct kiln_err e = KILN_ERR_INIT;
	int r = kiln_read_file(file, LISTING_IN_MAX, data, len, &e);
	*found = r == 0;
	if (r < 0 && e.code != ENOENT && e.code != KILN_E_LIMIT) { /* else: not kept */
		kiln_err_move(err, &e);
		return -1;
	}
	kiln_err_release(&e);
	return 0;
}

/* "HEX MODE LEN:PATH\n" lines, as ctxhash.c writes them (HEX: 32 digits
 * for XXH3 leaves, 64 for sha256 ones, the same in every line). */
static bool listing_valid(const char *p, size_t len)
{
	const char *end = p + len;
	size_t hl = len > 64 && p[64] == ' ' ? 64 : 32;
	while (p < end) {
		if ((size_t)(end - p) < hl + 4 || p[hl] != ' ')
			return false;
		for (size_t i = 0; i < hl; i++)
			if (!strchr("0123456789abcdef", p[i]) || !p[i])
				return false;
		const char *q = p + hl + 1;
		while (q < end && *q >= '0' && *q <= '7')
			q++;
		if (q == p + hl + 1 || q >= end || *q != ' ')
			return false;
		const char *e = q + 1; /* LEN, parsed within the data (no NUL needed) */
		size_t pl = 0;
		while (e < end && *e >= '0' && *e <= '9' && pl <= (size_t)(end - p))
			pl = pl * 10 + (size_t)(*e++ - '0');
		if (e == q + 1 || e >= end || *e != ':' || pl >= (size_t)(end - e - 1) ||
		    e[1 + pl] != '\n' || memchr(e + 1, '\n', pl))
			return false;
		p = e + 1 + pl + 1;
	}
	return true;
}

int cache_listing_put(struct img_store *s, const char *hash, const char *data, size_t len,
                      struct kiln_err *err)
{
	if (!cache_key_valid(hash) || len > LISTING_IN_MAX || !listing_valid(data, len))
		return kiln_err_set(err, KILN_E_CORRUPT, "invalid input listing `%s`", hash);
	_cleanup_free_ char *dir = cache_path(s, CACHE_INPUTS, NULL);
	_cleanup_free_ char *file = cache_path(s, CACHE_INPUTS, hash);
	if (kiln_path_exists(file))
		return 0;
	if (kiln_mkdir_p(dir, 0700, err) < 0)
		return -1;
	return kiln_write_file_atomic(file, data, len, 0600, err);
}
