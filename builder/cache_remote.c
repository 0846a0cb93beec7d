/* --cache-from: the build cache shared through registries
 * (docs/cache-format.md). Import resolves each ref's manifest and kiln
 * cache config (or an image whose config carries the inline cache),
 * checks everything, and keeps the records in memory; a cache that cannot
 * be used is a warning, never trusted. Every looked-up step is noted with
 * its remote key (sha256 of its preimage with step keys made remote);
 * a local miss then looks the remote key up. A remote hit's layer is
 * pulled, verified, only when a step runs on top of it or the image is
 * stored, and then recorded in the local cache too. */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache_remote-internal.h"

double bld_remote_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* --- options --------------------------------------------------------------- */

static bool ignored_key(const char *k)
{
	static const char *const keys[] = {"image-manifest", "oci-mediatypes", "ignore-error",
	                                   "compression-level", "force-compression"};
	for (size_t i = 0; i < KILN_ARRAY_SIZE(keys); i++)
		if (!strcmp(k, keys[i]))
			return true;
	return false;
}

static int spec_err(struct kiln_err *err, const char *flag, const char *spec, const char *why)
{
	return kiln_err_set(err, KILN_E_USAGE, "invalid %s `%s`: %s", flag, spec, why);
}

/* "type=registry,ref=R,mode=max,..." or "type=inline" or a bare "R". */
static int parse_to(const char *spec, struct bld_cache_to *t, struct kiln_err *err)
{
	memset(t, 0, sizeof(*t));
	t->comp = IMG_COMPRESS_GZIP;
	if (!strchr(spec, '=')) {
		t->ref = xstrdup(spec);
		return 0;
	}
	_cleanup_free_ char *dup = xstrdup(spec);
	char *save = NULL, *type = NULL;
	int r = 0;
	for (char *kv = strtok_r(dup, ",", &save); kv && r == 0; kv = strtok_r(NULL, ",", &save)) {
		char *v = strchr(kv, '=');
		if (!v) {
			r = spec_err(err, "--cache-to", spec, "want key=value pairs");
			break;
		}
		*v++ = '\0';
		if (!strcmp(kv, "type"))
			type = v;
		else if (!strcmp(kv, "ref"))
			free(t->ref), t->ref = xstrdup(v);
		else if (!strcmp(kv, "mode") && (!strcmp(v, "min") || !strcmp(v, "max")))
			t->max = !strcmp(v, "max");
		else if (!strcmp(kv, "compression") && strcmp(v, "none"))
			r = img_compression_parse(v, &t->comp, err);
		else if (!strcmp(kv, "mounts") && (!strcmp(v, "true") || !strcmp(v, "false")))
			t->mounts = !strcmp(v, "true");
		else if (!strcmp(kv, "ignore-error") && (!strcmp(v, "true") || !strcmp(v, "false")))
			t->ignore_error = !strcmp(v, "true");
		else if (!strcmp(kv, "ignore-error"))
			r = spec_err(err, "--cache-to", spec, "ignore-error takes true or false");
		else if (!ignored_key(kv))
			r = kiln_err_set(err, KILN_E_USAGE,
			                 "invalid --cache-to `%s`: `%s=%s` (mode=min|max, "
			                 "compression=gzip|zstd, mounts=true|false)",
			                 spec, kv, v);
	}
	if (r == 0 && type && !strcmp(type, "inline"))
		t->is_inline = true;
	else if (r == 0 && type && strcmp(type, "registry"))
		r = kiln_err_set(err, KILN_E_UNSUPPORTED,
		                 "--cache-to type `%s` is not supported (registry, inline)", type);
	else if (r == 0 && !t->ref)
		r = spec_err(err, "--cache-to", spec, "type=registry needs ref=");
	if (r < 0) {
		free(t->ref);
		t->ref = NULL;
	}
	return r;
}

static char *parse_from(const char *spec, struct kiln_err *err)
{
	if (!strchr(spec, '='))
		return xstrdup(spec);
	_cleanup_free_ char *dup = xstrdup(spec);
	char *save = NULL, *ref = NULL;
	for (char *kv = strtok_r(dup, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		_cleanup_free_ char *key = xstrndup(kv, strcspn(kv, "="));
		if (!strncmp(kv, "ref=", 4)) {
			free(ref);
			ref = xstrdup(kv + 4);
		} else if (!strcmp(kv, "type=inline")) {
			/* BuildKit spells an inline source as the image ref */
		} else if (strcmp(kv, "type=registry") && !ignored_key(key)) {
			free(ref);
			spec_err(err, "--cache-from", spec, "want type=registry,ref=REF or REF");
			return NULL;
		}
	}
	if (!ref)
		spec_err(err, "--cache-from", spec, "no ref=");
	return ref;
}

/* --- import ------------------------------------------------------------------- */

static const struct img_descriptor *find_desc(const struct img_manifest *m, const char *digest)
{
	for (size_t i = 0; i < m->n_layers; i++)
		if (m->layers[i].digest && !strcmp(m->layers[i].digest, digest))
			return &m->layers[i];
	return NULL;
}

/* Each layer the config names must be one of the manifest's, same size. */
static int check_layer(const struct img_manifest *m, const struct img_layer *l,
                       struct kiln_err *err)
{
	const struct img_descriptor *d = find_desc(m, l->digest);
	enum img_compression c;
	if (!d || d->size != (int64_t)l->size)
		return kiln_err_set(err, KILN_E_CORRUPT, "layer %s is not in its manifest",
		                    l->digest);
	return img_compression_from_media_type(l->media_type, &c, err);
}

/* Inline cache: layers are named by diffID; the image's manifest gives
 * their digests as pushed. */
static int link_inline(const struct img_manifest *m, const struct img_config *ic,
                       struct cache_remote_config *cfg, struct kiln_err *err)
{
	for (size_t i = 0; i < cfg->n_recs; i++) {
		struct img_layer *l = &cfg->recs[i].rec.layer;
		if (!cfg->recs[i].rec.has_layer)
			continue;
		size_t k = 0;
		while (k < ic->n_diff_ids && k < m->n_layers && strcmp(ic->diff_ids[k], l->diff_id))
			k++;
		if (k == ic->n_diff_ids || k == m->n_layers ||
		    !kiln_digest_valid(m->layers[k].digest))
			return kiln_err_set(err, KILN_E_CORRUPT, "layer %s is not in the image",
			                    l->diff_id);
		snprintf(l->digest, sizeof(l->digest), "%s", m->layers[k].digest);
		l->size = (uint64_t)m->layers[k].size;
		free(l->media_type);
		l->media_type = xstrdup(m->layers[k].media_type);
	}
	return 0;
}

static int inline_config(struct remote_src *src, const struct img_manifest *m, const char *data,
                         size_t len, struct kiln_err *err)
{
	struct img_config *ic = NULL;
	if (img_config_from_json(data, len, &ic, err) < 0)
		return -1;
	_cleanup_free_ char *json = img_config_extra_get(ic, BLD_INLINE_CACHE_KEY);
	_cleanup_free_ char *bk = img_config_extra_get(ic, BLD_BUILDKIT_CACHE_KEY);
	int r;
	if (!json && bk)
		r = kiln_err_set(err, KILN_E_UNSUPPORTED,
		                 "its inline cache is BuildKit's (" BLD_BUILDKIT_CACHE_KEY
		                 "), whose keys kiln cannot compute");
	else if (!json)
		r = kiln_err_set(err, KILN_E_NOTFOUND, "an image without a kiln inline cache");
	else
		r = cache_remote_from_json(json, strlen(json), &src->cfg, err);
	if (r == 0)
		r = link_inline(m, ic, &src->cfg, err);
	img_config_free(ic);
	return r;
}

static int read_config(struct remote_src *src, const struct img_manifest *m, struct kiln_err *err)
{
	const char *mt = m->config.media_type ? m->config.media_type : "";
	bool kiln = !strcmp(mt, CACHE_REMOTE_MEDIA_TYPE);
	if (!kiln && strcmp(mt, IMG_MT_OCI_CONFIG) && strcmp(mt, IMG_MT_DOCKER_CONFIG))
		return kiln_err_set(err, KILN_E_UNSUPPORTED, "not a kiln cache (config type `%s`)",
		                    mt);
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	if (!m->config.digest || reg_repo_blob(src->repo, m->config.digest, m->config.size,
	                                       IMG_MAX_JSON, &data, &len, err) < 0)
		return m->config.digest ? -1 : kiln_err_set(err, KILN_E_CORRUPT, "no config");
	if (!kiln)
		return inline_config(src, m, data, len, err);
	if (cache_remote_from_json(data, len, &src->cfg, err) < 0)
		return -1;
	for (size_t i = 0; i < src->cfg.n_recs; i++)
		if (src->cfg.recs[i].rec.has_layer &&
		    check_layer(m, &src->cfg.recs[i].rec.layer, err) < 0)
			return -1;
	for (size_t i = 0; i < src->cfg.n_mounts; i++)
		if (check_layer(m, &src->cfg.mounts[i].layer, err) < 0)
			return -1;
	return 0;
}

static int import_one(struct bld_build *b, struct remote_src *src, struct kiln_err *err)
{
	if (reg_repo_open(src->ref, false, NULL, &src->repo, err) < 0)
		return -1;
	_cleanup_free_ char *data = NULL, *mt = NULL;
	size_t len = 0;
	char digest[KILN_DIGEST_LEN];
	if (reg_repo_manifest(src->repo, &data, &len, &mt, digest, err) < 0)
		return -1;
	if (strcmp(mt, IMG_MT_OCI_MANIFEST) && strcmp(mt, IMG_MT_DOCKER_MANIFEST))
		return kiln_err_set(err, KILN_E_UNSUPPORTED, "not a kiln cache (a `%s`)", mt);
	struct img_manifest *m = NULL;
	if (img_manifest_from_json(data, len, &m, err) < 0)
		return -1;
	int r = read_config(src, m, err);
	img_manifest_free(m);
	for (size_t i = 0; r == 0 && i < src->cfg.listing_hashes.n; i++) {
		const char *l = src->cfg.listings.v[i];
		struct kiln_err e = KILN_ERR_INIT;
		if (cache_listing_put(b->s, src->cfg.listing_hashes.v[i], l, strlen(l), &e) < 0) {
			kiln_debug("cache listing not imported: %s", e.msg);
			kiln_err_release(&e);
		}
	}
	return r;
}

static void src_release(struct remote_src *src)
{
	free(src->ref);
	reg_repo_close(src->repo);
	cache_remote_release(&src->cfg);
	memset(src, 0, sizeof(*src));
}

/* The first imported cache's records, as the previous build to explain
 * misses against. */
static void make_prev(struct bld_remote *r)
{
	if (!r->n_srcs)
		return;
	const struct cache_remote_config *c = &r->srcs[0].cfg;
	cache_build_init(&r->prev, "", "", "", "");
	for (size_t i = 0; i < c->n_recs; i++) {
		const struct cache_remote_record *x = &c->recs[i];
		struct cache_step_info s = {.name = x->name,
		                            .instr = x->instr,
		                            .line = x->line,
		                            .stage = x->stage,
		                            .step = x->step,
		                            .result = CACHE_STEP_HIT};
		snprintf(s.key, sizeof(s.key), "%s", x->rec.key);
		for (size_t k = 0; k < x->rec.preimage.n; k++)
			cache_fields_add(&s.preimage, x->rec.preimage.v[k].name,
			                 x->rec.preimage.v[k].value);
		cache_build_add(&r->prev, &s);
	}
	r->have_prev = true;
}

static void import_all(struct bld_build *b, struct bld_remote *r, char *const *from)
{
	size_t n = 0;
	while (from && from[n])
		n++;
	r->srcs = xcalloc(n + 1, sizeof(*r->srcs));
	for (size_t i = 0; i < n; i++) {
		struct kiln_err e = KILN_ERR_INIT;
		struct remote_src *src = &r->srcs[r->n_srcs];
		src->ref = parse_from(from[i], &e);
		if (!src->ref) {
			kiln_strv_pushf(&b->res->warnings, "%s", e.msg);
			kiln_err_release(&e);
			continue;
		}
		_cleanup_free_ char *name = xasprintf("importing cache manifest from %s", src->ref);
		int id = bld_vertex_start(b, name);
		struct timespec t0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (import_one(b, src, &e) < 0) {
			_cleanup_free_ char *line =
			    xasprintf("--cache-from `%s` ignored: %s", src->ref, e.msg);
			bld_vertex_log(b, id, line);
			kiln_strv_pushf(&b->res->warnings, "%s", line);
			kiln_err_release(&e);
			src_release(src);
		} else {
			r->n_srcs++;
		}
		bld_vertex_done(b, id, bld_remote_since(&t0), false);
	}
	make_prev(r);
}

int bld_remote_open(struct bld_build *b, bool disabled, struct kiln_err *err)
{
	const struct bld_opts *o = b->o;
	bool to = o->cache_to && o->cache_to[0], from = o->cache_from && o->cache_from[0];
	if (!to && !from)
		return 0;
	struct bld_remote *r = xcalloc(1, sizeof(*r));
	pthread_mutex_init(&r->mu, NULL);
	b->remote = r;
	for (size_t i = 0; to && o->cache_to[i]; i++) {
		r->to = xreallocarray(r->to, r->n_to + 1, sizeof(*r->to));
		if (parse_to(o->cache_to[i], &r->to[r->n_to], err) < 0)
			return -1;
		r->n_to++;
	}
	if (from && !disabled && !o->no_cache) /* --no-cache: nothing would be looked up */
		import_all(b, r, o->cache_from);
	return 0;
}

void bld_remote_free(struct bld_build *b)
{
	struct bld_remote *r = b->remote;
	if (!r)
		return;
	for (size_t i = 0; i < r->n_to; i++)
		free(r->to[i].ref);
	free(r->to);
	for (size_t i = 0; i < r->n_srcs; i++)
		src_release(&r->srcs[i]);
	free(r->srcs);
	for (size_t i = 0; i < r->n_steps; i++) {
		cache_fields_release(&r->steps[i].pre);
		cache_fields_release(&r->steps[i].local_pre);
		free(r->steps[i].name);
		free(r->steps[i].instr);
	}
	free(r->steps);
	kiln_strv_release(&r->mount_ids);
	kiln_strv_release(&r->in_xxh);
	kiln_strv_release(&r->in_sha);
	if (r->have_prev)
		cache_build_release(&r->prev);
	pthread_mutex_destroy(&r->mu);
	free(r);
	b->remote = NULL;
}

bool bld_remote_failed(const struct bld_build *b)
{
	return b->remote && b->remote->failed;
}

/* --- keys and lookups ---------------------------------------------------------- */

static const char *remote_of(const struct bld_remote *r, const char *local)
{
	for (size_t i = r->n_steps; i-- > 0;)
		if (!strcmp(r->steps[i].local, local))
			return r->steps[i].remote;
	return NULL;
}

void bld_remote_note_input(struct bld_build *b, const char *hex, const char *sha)
{
	struct bld_remote *r = b->remote;
	pthread_mutex_lock(&r->mu);
	size_t i = 0;
	while (i < r->in_xxh.n && strcmp(r->in_xxh.v[i], hex))
		i++;
	if (i == r->in_xxh.n) {
		kiln_strv_push(&r->in_xxh, hex);
		kiln_strv_push(&r->in_sha, sha);
	} else if (strcmp(r->in_sha.v[i], sha)) {
		r->in_sha.v[i][0] = '\0'; /* an XXH3 collision in this context */
	}
	pthread_mutex_unlock(&r->mu);
}

/* The sha256 content hash noted for a context input, NULL if none. */
static const char *sha_of_input(const struct bld_remote *r, const char *hex)
{
	for (size_t i = 0; i < r->in_xxh.n; i++)
		if (!strcmp(r->in_xxh.v[i], hex))
			return *r->in_sha.v[i] ? r->in_sha.v[i] : NULL;
	return NULL;
}

static bool is_xxh_input(const char *v)
{
	return strlen(v) == 32 && cache_key_valid(v);
}

/* The preimage with the keys of this build's steps made remote and every
 * context input's XXH3 hash replaced by its sha256 one; false when one
 * cannot be (the step then has no remote key: nothing of it leaves the
 * machine or is looked up). */
static bool translate(const struct bld_remote *r, const struct cache_fields *pre,
                      struct cache_fields *out)
{
	bool ok = true;
	for (size_t i = 0; i < pre->n; i++) {
		const char *n = pre->v[i].name, *v = pre->v[i].value, *m = NULL;
		bool input = !strcmp(n, "input");
		if (!strcmp(n, "format")) {
			cache_fields_add(out, n, CACHE_REMOTE_KEY_FORMAT);
		} else if (!strcmp(n, "parent") && (m = remote_of(r, v))) {
			ok &= *m != '\0'; /* the parent step has no remote key */
			cache_fields_add(out, n, m);
		} else if (input && !strncmp(v, "stage:", 6) && (m = remote_of(r, v + 6))) {
			ok &= *m != '\0';
			cache_fields_addf(out, n, "stage:%s", m);
		} else if (input && is_xxh_input(v)) {
			m = sha_of_input(r, v);
			ok &= m != NULL;
			cache_fields_addf(out, n, "sha256:%s", m ? m : "");
		} else {
			cache_fields_add(out, n, v);
		}
	}
	return ok;
}

static const char *mount_id(const struct df_mount *dm)
{
	return dm->id && *dm->id ? dm->id : dm->target;
}

static struct remote_step *note(struct bld_stage *st, const struct bld_step *step, const char *key,
                                const struct cache_fields *pre)
{
	struct bld_remote *r = st->b->remote;
	KILN_GROW(r->steps, r->cap, r->n_steps + 1);
	struct remote_step *n = &r->steps[r->n_steps];
	memset(n, 0, sizeof(*n));
	snprintf(n->local, sizeof(n->local), "%s", key);
	if (translate(r, pre, &n->pre))
		cache_key(&n->pre, CACHE_HASH_SHA256, n->remote);
	n->stage = st->index;
	n->step = st->step_no;
	n->line = step->in->start_line;
	n->name = xstrdup(step->name);
	n->instr = df_instr_format(&step->x);
	n->src = -1;
	r->n_steps++;
	if (step->x.kind == DF_I_RUN)
		for (size_t i = 0; i < step->x.u.run.n_mounts; i++) {
			const struct df_mount *dm = &step->x.u.run.mounts[i];
			if (dm->type == DF_MOUNT_CACHE &&
			    !kiln_strv_contains(&r->mount_ids, mount_id(dm)))
				kiln_strv_push(&r->mount_ids, mount_id(dm));
		}
	return n;
}

static const struct cache_remote_record *find(const struct bld_remote *r, const char *key, int *src)
{
	for (size_t s = 0; s < r->n_srcs; s++)
		for (size_t i = 0; i < r->srcs[s].cfg.n_recs; i++)
			if (!strcmp(r->srcs[s].cfg.recs[i].rec.key, key)) {
				*src = (int)s;
				return &r->srcs[s].cfg.recs[i];
			}
	return NULL;
}

/* The local record of a remote hit whose layer is now stored. */
static void record_local(struct bld_build *b, struct remote_step *n)
{
	struct cache_record rec = n->rec->rec;
	snprintf(rec.key, sizeof(rec.key), "%s", n->local);
	rec.preimage = n->local_pre;
	struct kiln_err e = KILN_ERR_INIT;
	if (cache_record_store(b->s, &rec, &e) < 0) {
		kiln_debug("cache record of %s not stored: %s", n->local, e.msg);
		kiln_err_release(&e);
	}
	n->pulled = true;
}

bool bld_remote_lookup(struct bld_stage *st, const struct bld_step *step, const char *key,
                       const struct cache_fields *pre, bool usable, struct cache_record *rec)
{
	struct bld_build *b = st->b;
	struct bld_remote *r = b->remote;
	if (!r)
		return false;
	pthread_mutex_lock(&r->mu);
	struct remote_step *n = note(st, step, key, pre);
	const struct cache_remote_record *x =
	    usable && !r->failed && *n->remote ? find(r, n->remote, &n->src) : NULL;
	if (x) {
		n->rec = x;
		for (size_t i = 0; i < pre->n; i++)
			cache_fields_add(&n->local_pre, pre->v[i].name, pre->v[i].value);
		cache_record_release(rec);
		snprintf(rec->key, sizeof(rec->key), "%s", key);
		rec->has_layer = x->rec.has_layer;
		rec->layer = x->rec.layer;
		rec->layer.media_type = xstrdup(x->rec.layer.media_type);
		rec->config = x->rec.config ? xstrdup(x->rec.config) : NULL;
		rec->created = x->rec.created;
		rec->duration = x->rec.duration;
		if (!x->rec.has_layer || img_store_has_blob(b->s, x->rec.layer.digest))
			record_local(b, n);
	}
	pthread_mutex_unlock(&r->mu);
	return x != NULL;
}

char *bld_remote_explain(struct bld_stage *st, const struct cache_step_info *now,
                         const char *missed_parent)
{
	struct bld_remote *r = st->b->remote;
	if (!r || !r->have_prev)
		return NULL;
	struct cache_step_info tmp = *now;
	memset(&tmp.preimage, 0, sizeof(tmp.preimage));
	pthread_mutex_lock(&r->mu);
	bool ok = translate(r, &now->preimage, &tmp.preimage);
	pthread_mutex_unlock(&r->mu);
	cache_key(&tmp.preimage, CACHE_HASH_SHA256, tmp.key);
	char *why = ok ? cache_explain(st->b->s, &r->prev, &tmp, missed_parent) : NULL;
	cache_fields_release(&tmp.preimage);
	return why;
}

/* --- lazy pulls ------------------------------------------------------------------ */

/* Pulls the remote-hit layer digest (under r->mu). */
static int pull_one(struct bld_build *b, const char *digest, bool unpack, struct kiln_err *err)
{
	struct bld_remote *r = b->remote;
	struct remote_step *want = NULL;
	for (size_t i = 0; i < r->n_steps && !want; i++) {
		struct remote_step *n = &r->steps[i];
		if (n->rec && !n->pulled && n->rec->rec.has_layer &&
		    !strcmp(n->rec->rec.layer.digest, digest))
			want = n;
	}
	if (!want)
		return 0;
	struct remote_src *src = &r->srcs[want->src];
	if (!img_store_has_blob(b->s, digest) &&
	    reg_repo_pull_layers(src->repo, b->s, &want->rec->rec.layer, 1, unpack, err) < 0) {
		r->failed = true;
		return kiln_err_wrap(err, "cache layer %s from `%s`", digest, src->ref);
	}
	for (size_t i = 0; i < r->n_steps; i++) {
		struct remote_step *n = &r->steps[i];
		if (n->rec && !n->pulled && n->rec->rec.has_layer &&
		    !strcmp(n->rec->rec.layer.digest, digest))
			record_local(b, n);
	}
	return 0;
}

int bld_remote_need(struct bld_build *b, const struct img_layer *layers, size_t n, bool unpack,
                    struct kiln_err *err)
{
	struct bld_remote *r = b->remote;
	if (!r || !r->n_srcs)
		return 0;
	pthread_mutex_lock(&r->mu);
	int ret = 0;
	for (size_t i = 0; i < n && ret == 0; i++)
		ret = pull_one(b, layers[i].digest, unpack, err);
	pthread_mutex_unlock(&r->mu);
	return ret;
}

char *bld_remote_mount_path(struct bld_build *b, const char *id, bool lock)
{
	struct kiln_xxh128 h;
	kiln_xxh128(id, strlen(id), &h);
	char hex[33];
	kiln_xxh128_hex(&h, hex);
	return xasprintf("%s/cache/mounts/%s%s", img_store_root(b->s), hex, lock ? ".lock" : "");
}

static bool dir_empty(const char *path)
{
	DIR *d = opendir(path);
	if (!d)
		return errno == ENOENT;
	struct dirent *e;
	bool empty = true;
	while (empty && (e = readdir(d)))
		empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
	closedir(d);
	return empty;
}

/* A cache mount the local machine has empty, from the imported layer. */
static int restore_mount(struct bld_build *b, const struct remote_src *src,
                         const struct cache_remote_mount *m, struct kiln_err *err)
{
	_cleanup_free_ char *path = bld_remote_mount_path(b, m->id, false);
	_cleanup_free_ char *lock = bld_remote_mount_path(b, m->id, true);
	_cleanup_free_ char *base = xasprintf("%s/cache/mounts", img_store_root(b->s));
	if (kiln_mkdir_p(base, 0700, err) < 0)
		return -1;
	_cleanup_close_ int fd = kiln_lock_file_removable(lock, LOCK_EX, NULL, err);
	if (fd < 0)
		return -1;
	if (!dir_empty(path))
		return 0;
	if (kiln_path_exists(path) && rmdir(path) < 0)
		return kiln_err_set(err, errno, "rmdir `%s`", path);
	int r = 0;
	if (!img_store_has_blob(b->s, m->layer.digest))
		r = reg_repo_pull_layers(src->repo, b->s, &m->layer, 1, false, err);
	if (r == 0)
		r = img_layer_extract(b->s, m->layer.digest, m->layer.media_type, path, 0, err);
	return r < 0 ? kiln_err_wrap(err, "cache mount `%s` from `%s`", m->id, src->ref) : 0;
}

static void restore_mounts(struct bld_stage *st, const struct bld_step *step)
{
	struct bld_remote *r = st->b->remote;
	for (size_t i = 0; i < step->x.u.run.n_mounts; i++) {
		const struct df_mount *dm = &step->x.u.run.mounts[i];
		if (dm->type != DF_MOUNT_CACHE)
			continue;
		for (size_t s = 0; s < r->n_srcs; s++)
			for (size_t k = 0; k < r->srcs[s].cfg.n_mounts; k++) {
				const struct cache_remote_mount *m = &r->srcs[s].cfg.mounts[k];
				struct kiln_err e = KILN_ERR_INIT;
				if (strcmp(m->id, mount_id(dm)))
					continue;
				if (restore_mount(st->b, &r->srcs[s], m, &e) < 0) {
					_cleanup_free_ char *line = xasprintf("warning: %s", e.msg);
					bld_vertex_log(st->b, step->id, line);
					kiln_err_release(&e);
				}
			}
	}
}

static int need_stage(struct bld_build *b, int index, struct kiln_err *err)
{
	if (bld_stage_need(b, index, err) < 0)
		return -1;
	const struct bld_stage *from = &b->stages[index];
	return bld_remote_need(b, from->fs.layers, from->fs.n, true, err);
}

int bld_remote_need_step(struct bld_stage *st, const struct bld_step *step, struct kiln_err *err)
{
	struct bld_build *b = st->b;
	struct bld_remote *r = b->remote;
	if (!r || !r->n_srcs)
		return 0;
	if (bld_remote_need(b, st->fs.layers, st->fs.n, true, err) < 0)
		return -1;
	const struct df_instr *in = step->in;
	/* the stages it reads from (done first: another thread may build them) */
	if ((in->kind == DF_I_COPY || in->kind == DF_I_ADD) && in->u.copy.from_stage >= 0 &&
	    need_stage(b, in->u.copy.from_stage, err) < 0)
		return -1;
	if (in->kind != DF_I_RUN)
		return 0;
	for (size_t i = 0; i < in->u.run.n_mounts; i++) {
		const struct df_mount *dm = &in->u.run.mounts[i];
		if (dm->from && dm->from_stage >= 0 && need_stage(b, dm->from_stage, err) < 0)
			return -1;
	}
	pthread_mutex_lock(&r->mu);
	restore_mounts(st, step);
	pthread_mutex_unlock(&r->mu);
	return 0;
}
