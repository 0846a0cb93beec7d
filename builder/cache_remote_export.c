/* --cache-to (docs/cache-format.md): type=registry pushes the build's
 * records as an OCI manifest whose config is a kiln cache config and
 * whose layers are the step layers (compressed once, remembered, as push
 * does) and, with mounts=true, the cache mounts; type=inline writes the
 * records into the image config (io.kiln.cache.v1). Export failures are
 * warnings: the image is built and stored by then. */
#include <string.h>
#include <sys/file.h>
#include <time.h>

#include "cache_remote-internal.h"

/* mode=min: the target stage and the stages it is FROM. */
static bool *min_stages(const struct bld_build *b)
{
	bool *in = xcalloc(b->g.n_stages + 1, sizeof(bool));
	for (int s = b->g.target; s >= 0 && (size_t)s < b->g.n_stages && !in[s];
	     s = b->g.stages[s].base_stage)
		in[s] = true;
	return in;
}

static bool has_key(const struct cache_remote_config *c, const char *key)
{
	for (size_t i = 0; i < c->n_recs; i++)
		if (!strcmp(c->recs[i].rec.key, key))
			return true;
	return false;
}

static void add_listings(struct bld_build *b, const struct cache_fields *pre,
                         struct cache_remote_config *out)
{
	for (size_t i = 0; i < pre->n; i++) {
		const char *v = pre->v[i].value;
		if (strcmp(pre->v[i].name, "input") || strncmp(v, "sha256:", 7))
			continue;
		v += 7; /* the listing of the sha256 leaves is kept under its hex */
		if (strlen(v) != 64 || kiln_strv_contains(&out->listing_hashes, v))
			continue;
		char *data = NULL;
		size_t len;
		bool found = false;
		struct kiln_err e = KILN_ERR_INIT;
		if (cache_listing_get(b->s, v, &data, &len, &found, &e) < 0)
			kiln_err_release(&e);
		if (found && strlen(data) == len) {
			kiln_strv_push(&out->listing_hashes, v);
			kiln_strv_push(&out->listings, data);
		}
		free(data);
	}
}

/* The record of noted step n (the local one, or the imported one while
 * its layer was never pulled); false when there is none. */
static bool step_record(struct bld_build *b, const struct remote_step *n, struct cache_record *rec)
{
	if (n->rec && !n->pulled) {
		*rec = n->rec->rec;
		rec->layer.media_type = xstrdup(n->rec->rec.layer.media_type);
		rec->config = n->rec->rec.config ? xstrdup(n->rec->rec.config) : NULL;
		memset(&rec->preimage, 0, sizeof(rec->preimage));
		return true;
	}
	bool hit = false, gone = false;
	struct kiln_err e = KILN_ERR_INIT;
	if (cache_record_lookup(b->s, n->local, rec, &hit, &gone, &e) < 0)
		kiln_err_release(&e);
	if (hit)
		cache_fields_release(&rec->preimage);
	return hit;
}

void bld_remote_collect(struct bld_build *b, bool max, bool for_inline,
                        struct cache_remote_config *out)
{
	struct bld_remote *r = b->remote;
	memset(out, 0, sizeof(*out));
	out->mode = xstrdup(max ? "max" : "min");
	_cleanup_free_ bool *in = min_stages(b);
	pthread_mutex_lock(&r->mu);
	out->recs = xcalloc(r->n_steps + 1, sizeof(*out->recs));
	for (size_t i = 0; i < r->n_steps; i++) {
		const struct remote_step *n = &r->steps[i];
		if ((!max && !in[n->stage]) || !*n->remote || has_key(out, n->remote))
			continue;
		struct cache_remote_record *x = &out->recs[out->n_recs];
		if (!step_record(b, n, &x->rec))
			continue;
		out->n_recs++;
		snprintf(x->rec.key, sizeof(x->rec.key), "%s", n->remote);
		for (size_t k = 0; k < n->pre.n; k++)
			cache_fields_add(&x->rec.preimage, n->pre.v[k].name, n->pre.v[k].value);
		x->stage = n->stage;
		x->step = n->step;
		x->line = n->line;
		x->name = xstrdup(n->name);
		x->instr = xstrdup(n->instr);
		if (for_inline && x->rec.has_layer) { /* named by diffID: see link_inline */
			snprintf(x->rec.layer.digest, sizeof(x->rec.layer.digest), "%s",
			         x->rec.layer.diff_id);
			x->rec.layer.size = 0;
			free(x->rec.layer.media_type);
			x->rec.layer.media_type = xstrdup(IMG_MT_LAYER);
		}
		if (!for_inline)
			add_listings(b, &n->pre, out);
	}
	pthread_mutex_unlock(&r->mu);
}

void bld_remote_inline(struct bld_build *b, struct img_config *cfg)
{
	struct bld_remote *r = b->remote;
	for (size_t i = 0; r && i < r->n_to; i++) {
		if (!r->to[i].is_inline)
			continue;
		struct cache_remote_config c;
		bld_remote_collect(b, false, true, &c);
		size_t len;
		_cleanup_free_ char *json = cache_remote_to_json(&c, &len);
		cache_remote_release(&c);
		struct kiln_err e = KILN_ERR_INIT;
		if (img_config_extra_set(cfg, BLD_INLINE_CACHE_KEY, json, &e) < 0) {
			kiln_strv_pushf(&b->res->warnings, "--cache-to type=inline: %s", e.msg);
			kiln_err_release(&e);
		}
		return;
	}
}

/* --- type=registry ------------------------------------------------------------ */

struct push {
	struct bld_build *b;
	const struct bld_cache_to *to;
	struct reg_repo *repo;
	struct img_manifest m;
};

static void add_desc(struct push *p, const struct img_descriptor *d, const char *diff_id,
                     const char *mount)
{
	for (size_t i = 0; i < p->m.n_layers; i++)
		if (!strcmp(p->m.layers[i].digest, d->digest))
			return;
	p->m.layers = xreallocarray(p->m.layers, p->m.n_layers + 1, sizeof(*p->m.layers));
	struct img_descriptor *x = &p->m.layers[p->m.n_layers++];
	memset(x, 0, sizeof(*x));
	img_descriptor_copy(x, d);
	img_map_set(&x->annotations, "io.kiln.cache.diff-id", diff_id);
	if (mount)
		img_map_set(&x->annotations, "io.kiln.cache.mount-id", mount);
}

/* Pushes layer l (compressed with the export's compression when it is
 * stored uncompressed) and rewrites it as pushed. */
static int push_layer(struct push *p, struct img_layer *l, const char *mount, struct kiln_err *err)
{
	struct img_store *s = p->b->s;
	struct img_descriptor d = {0};
	if (!img_store_has_blob(s, l->digest)) { /* a remote hit never pulled */
		img_layer_descriptor(l, &d);
		int ex = reg_repo_has_blob(p->repo, l->digest, err);
		if (ex == 1)
			add_desc(p, &d, l->diff_id, mount);
		img_descriptor_release(&d);
		if (ex != 0)
			return ex < 0 ? -1 : 0;
		if (bld_remote_need(p->b, l, 1, false, err) < 0)
			return -1;
	}
	enum img_compression have;
	if (img_compression_from_media_type(l->media_type, &have, err) < 0)
		return -1;
	if (have == IMG_COMPRESS_NONE) {
		struct img_layer z = {0};
		if (img_layer_compressed(s, l, p->to->comp, &z, err) < 0)
			return -1;
		img_layer_release(l);
		*l = z;
	}
	img_layer_descriptor(l, &d);
	int r = reg_repo_push_blob(p->repo, s, &d, err);
	if (r == 0)
		add_desc(p, &d, l->diff_id, mount);
	img_descriptor_release(&d);
	return r;
}

/* mounts=true: each cache mount the build used, as a layer. */
static int push_mounts(struct push *p, struct cache_remote_config *c, struct kiln_err *err)
{
	struct bld_remote *r = p->b->remote;
	c->mounts = xcalloc(r->mount_ids.n + 1, sizeof(*c->mounts));
	for (size_t i = 0; i < r->mount_ids.n; i++) {
		const char *id = r->mount_ids.v[i];
		_cleanup_free_ char *path = bld_remote_mount_path(p->b, id, false);
		_cleanup_free_ char *lock = bld_remote_mount_path(p->b, id, true);
		if (!kiln_path_exists(path))
			continue;
		_cleanup_close_ int fd = kiln_lock_file_removable(lock, LOCK_SH, NULL, err);
		if (fd < 0)
			return kiln_err_wrap(err, "cache mount `%s`", id);
		if (!kiln_path_exists(path))
			continue; /* pruned before the lock was taken */
		struct img_layer_opts lo = {.compression = p->to->comp, .clamp_mtime = -1};
		struct img_layer l = {0};
		if (img_layer_create(p->b->s, path, &lo, &l, err) < 0)
			return kiln_err_wrap(err, "cache mount `%s`", id);
		if (push_layer(p, &l, id, err) < 0) {
			img_layer_release(&l);
			return -1;
		}
		struct cache_remote_mount *m = &c->mounts[c->n_mounts++];
		m->id = xstrdup(id);
		m->layer = l;
	}
	return 0;
}

static int push_config(struct push *p, const struct cache_remote_config *c, struct kiln_err *err)
{
	size_t len;
	_cleanup_free_ char *json = cache_remote_to_json(c, &len);
	if (len > IMG_MAX_JSON)
		return kiln_err_set(err, KILN_E_LIMIT, "the cache config is over %u bytes",
		                    (unsigned)IMG_MAX_JSON);
	char digest[KILN_DIGEST_LEN];
	if (img_store_put_blob(p->b->s, json, len, digest, err) < 0)
		return -1;
	p->m.config.media_type = xstrdup(CACHE_REMOTE_MEDIA_TYPE);
	p->m.config.digest = xstrdup(digest);
	p->m.config.size = (int64_t)len;
	return reg_repo_push_blob(p->repo, p->b->s, &p->m.config, err);
}

static int export_one(struct bld_build *b, const struct bld_cache_to *to, int id,
                      struct kiln_err *err)
{
	struct push p = {.b = b, .to = to, .m = {.schema_version = 2}};
	p.m.media_type = xstrdup(IMG_MT_OCI_MANIFEST);
	img_map_set(&p.m.annotations, "io.kiln.cache.format", "v2");
	struct cache_remote_config c;
	bld_remote_collect(b, to->max, false, &c);
	int r = reg_repo_open(to->ref, true, NULL, &p.repo, err);
	for (size_t i = 0; r == 0 && i < c.n_recs; i++)
		if (c.recs[i].rec.has_layer)
			r = push_layer(&p, &c.recs[i].rec.layer, NULL, err);
	if (r == 0 && to->mounts)
		r = push_mounts(&p, &c, err);
	if (r == 0)
		r = push_config(&p, &c, err);
	size_t len = 0;
	_cleanup_free_ char *json = r == 0 ? img_manifest_to_json(&p.m, &len) : NULL;
	char digest[KILN_DIGEST_LEN];
	if (r == 0)
		r = reg_repo_put_manifest(p.repo, IMG_MT_OCI_MANIFEST, json, len, digest, err);
	if (r == 0) {
		_cleanup_free_ char *line =
		    xasprintf("writing cache manifest %s (%zu records, %zu layers) done", digest,
		              c.n_recs, p.m.n_layers);
		bld_vertex_log(b, id, line);
	}
	cache_remote_release(&c);
	img_manifest_release(&p.m);
	reg_repo_close(p.repo);
	return r;
}

int bld_remote_export(struct bld_build *b, struct kiln_err *err)
{
	int ret = 0;
	struct bld_remote *r = b->remote;
	for (size_t i = 0; r && i < r->n_to; i++) {
		if (r->to[i].is_inline)
			continue;
		_cleanup_free_ char *name =
		    xasprintf("exporting cache to registry %s", r->to[i].ref);
		int id = bld_vertex_start(b, name);
		struct timespec t0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		struct kiln_err e = KILN_ERR_INIT;
		if (export_one(b, &r->to[i], id, &e) < 0) {
			_cleanup_free_ char *line =
			    xasprintf("--cache-to `%s` failed: %s", r->to[i].ref, e.msg);
			bld_vertex_log(b, id, line);
			if (r->to[i].ignore_error) /* BuildKit's ignore-error=true */
				kiln_strv_pushf(&b->res->warnings, "%s", line);
			else if (ret == 0)
				ret = kiln_err_set(err, e.code, "%s", line);
			kiln_err_release(&e);
		}
		bld_vertex_done(b, id, bld_remote_since(&t0), false);
	}
	return ret;
}
