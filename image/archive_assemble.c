/* load, second half: the images an archive's manifest.json (docker) or
 * index.json (OCI layout) lists, verified from what archive_load.c read
 * (digests, diffIDs, sizes, media types, layer entries) and queued for
 * publication with the blobs they reference. */
#include <stdio.h>
#include <string.h>

#include "archive-internal.h"
#include "store-internal.h"

#define MAX_INDEX_DEPTH 4

static bool is_manifest_type(const char *mt)
{
	return !mt || !strcmp(mt, IMG_MT_OCI_MANIFEST) || !strcmp(mt, IMG_MT_DOCKER_MANIFEST);
}

static bool is_index_type(const char *mt)
{
	return mt && (!strcmp(mt, IMG_MT_OCI_INDEX) || !strcmp(mt, IMG_MT_DOCKER_LIST));
}

/* docker's lines: a tag that moves from another image says so first. */
static void report(struct loader *L, char *const *refs, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *fam = img_ref_familiarize(refs[i]);
		struct img_image *old = NULL;
		if (img_image_find(L->s, refs[i], IMG_LIST_DAMAGED, &old, NULL) == 0 &&
		    strcmp(old->id, id) != 0)
			kiln_strv_pushf(L->out,
			                "The image %s already exists, renaming the old one with ID "
			                "%s to empty string",
			                fam, old->id);
		img_image_free(old);
		kiln_strv_pushf(L->out, "Loaded image: %s", fam);
	}
	if (!n)
		kiln_strv_pushf(L->out, "Loaded image ID: %s", id);
}

/* A layer member: its verdict as a layer, its diffID against want_diff;
 * fills l and keeps the blob (for xz and bzip2, the decompressed copy). */
static int layer_of(struct loader *L, struct lfile *f, const char *what, const char *want_diff,
                    struct img_layer *l, struct kiln_err *err)
{
	if (load_scan(L, f, err) < 0)
		return kiln_err_wrap(err, "layer `%s`", what);
	if (f->scan < 0)
		return kiln_err_set(err, f->why.code, "layer `%s`: %s", what, f->why.msg);
	if (strcmp(f->diff, want_diff))
		return kiln_err_set(err, KILN_E_CORRUPT,
		                    "layer `%s`: diffID mismatch: the config says %s, content "
		                    "hashes to %s",
		                    what, want_diff, f->diff);
	memset(l, 0, sizeof(*l));
	memcpy(l->diff_id, f->diff, KILN_DIGEST_LEN);
	bool unc =
	    strcmp(f->filter, "none") && strcmp(f->filter, "gzip") && strcmp(f->filter, "zstd");
	enum img_compression c = IMG_COMPRESS_NONE;
	if (!strcmp(f->filter, "gzip"))
		c = IMG_COMPRESS_GZIP;
	else if (!strcmp(f->filter, "zstd"))
		c = IMG_COMPRESS_ZSTD;
	memcpy(l->digest, unc ? f->diff : f->digest, KILN_DIGEST_LEN);
	l->size = unc ? f->usize : f->size;
	l->media_type = xstrdup(img_compression_media_type(c));
	load_keep(L, f, unc);
	return 0;
}

static int parse_config(struct loader *L, struct lfile *f, struct img_config **cfg,
                        struct kiln_err *err)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	if (load_read(L, f, IMG_MAX_JSON, &data, &len, err) < 0)
		return -1;
	return img_config_from_json(data, len, cfg, err);
}

/* RepoTags, normalized; a reference that is not a tag (name@digest) is
 * refused, as docker load does: it would be stored as a broken tag. */
static char **normalize_all(char *const *v, struct kiln_err *err)
{
	struct kiln_strv out = KILN_STRV_INIT;
	for (size_t i = 0; v && v[i]; i++) {
		char *n = img_ref_normalize(v[i], err);
		if (!n)
			kiln_err_wrap(err, "RepoTags entry `%s`", v[i]);
		if (n && strchr(n, '@')) {
			free(n);
			n = NULL;
			kiln_err_set(err, KILN_E_INVALID, "RepoTags entry `%s` is not a tag", v[i]);
		}
		if (!n) {
			kiln_strv_release(&out);
			return NULL;
		}
		kiln_strv_push_take(&out, n);
	}
	if (!out.v)
		return xcalloc(1, sizeof(char *));
	return out.v;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && !strcmp(s + a - b, suffix);
}

/* The layers of a docker entry into m (fields allocated). */
static int docker_layers(struct loader *L, const struct docker_manifest_entry *e,
                         const struct img_config *cfg, struct img_manifest *m, struct kiln_err *err)
{
	m->layers = xcalloc(e->n_layers + 1, sizeof(*m->layers));
	for (size_t i = 0; i < e->n_layers; i++) {
		struct lfile *f = (struct lfile *)load_find(L, e->layers[i]);
		if (!f)
			return kiln_err_set(err, KILN_E_CORRUPT, "archive has no `%s`",
			                    e->layers[i]);
		struct img_layer l;
		if (layer_of(L, f, e->layers[i], cfg->diff_ids[i], &l, err) < 0)
			return -1;
		img_layer_descriptor(&l, &m->layers[i]);
		m->n_layers = i + 1;
		img_layer_release(&l);
	}
	return 0;
}

static int load_docker_entry(struct loader *L, const struct docker_manifest_entry *e,
                             struct kiln_err *err)
{
	struct lfile *cf = (struct lfile *)load_find(L, e->config);
	if (!cf)
		return kiln_err_set(err, KILN_E_CORRUPT, "archive has no `%s`", e->config);
	struct img_config *cfg = NULL;
	if (parse_config(L, cf, &cfg, err) < 0)
		return kiln_err_wrap(err, "image config `%s`", e->config);
	const char *cdig = load_digest(cf);
	/* old style: "<hex>.json" names the config's digest */
	const char *base = strrchr(e->config, '/') ? strrchr(e->config, '/') + 1 : e->config;
	int r = 0;
	if (strlen(base) == 69 && ends_with(base, ".json") && strncmp(base, cdig + 7, 64))
		r = kiln_err_set(err, KILN_E_CORRUPT, "config `%s` hashes to %s", e->config, cdig);
	if (r == 0 && cfg->n_diff_ids != e->n_layers)
		r = kiln_err_set(err, KILN_E_CORRUPT, "config `%s` lists %zu layers, manifest %zu",
		                 e->config, cfg->n_diff_ids, e->n_layers);
	struct img_manifest m = {.schema_version = 2};
	m.media_type = xstrdup(IMG_MT_OCI_MANIFEST);
	m.config.media_type = xstrdup(IMG_MT_OCI_CONFIG);
	m.config.digest = xstrdup(cdig);
	m.config.size = (int64_t)(cf->fd >= 0 ? cf->size : cf->len);
	if (r == 0)
		r = docker_layers(L, e, cfg, &m, err);
	char **refs = r == 0 ? normalize_all(e->repo_tags, err) : NULL;
	if (r == 0 && !refs)
		r = -1;
	if (r == 0) {
		load_keep(L, cf, false);
		size_t mlen, nr = 0;
		char *mj = img_manifest_to_json(&m, &mlen);
		struct img_descriptor d = {.media_type = xstrdup(IMG_MT_OCI_MANIFEST),
		                           .digest = xmalloc(KILN_DIGEST_LEN),
		                           .size = (int64_t)mlen};
		load_keep_data(L, mj, mlen, d.digest);
		while (refs[nr])
			nr++;
		report(L, refs, nr, cdig);
		load_add_entry(L, &d, TAKE_PTR(refs), nr);
	}
	kiln_strv_free(refs);
	img_manifest_release(&m);
	img_config_free(cfg);
	return r;
}

/* The reference an OCI index entry names, normalized, or NULL. */
static char *oci_entry_ref(const struct img_descriptor *d)
{
	const char *n = img_map_get(&d->annotations, "io.containerd.image.name");
	if (!n) {
		n = img_map_get(&d->annotations, IMG_ANNOT_REF_NAME);
		/* a bare tag ("latest") names no repository */
		if (n && !strpbrk(n, "/:@"))
			n = NULL;
	}
	char *ref = n ? img_ref_normalize(n, NULL) : NULL;
	if (ref && strchr(ref, '@')) { /* not a tag: ignored */
		free(ref);
		ref = NULL;
	}
	return ref;
}

/* The archive's blob for a descriptor, whose size must be the blob's: a
 * lie would be published. */
static struct lfile *sized_blob(struct loader *L, const char *what, const char *digest,
                                int64_t size, struct kiln_err *err)
{
	struct lfile *f = load_blob(L, digest);
	if (!f) {
		kiln_err_set(err, KILN_E_CORRUPT, "archive has no %s blob `%s`", what, digest);
		return NULL;
	}
	int64_t have = (int64_t)(f->fd >= 0 ? f->size : f->len);
	if (have != size) {
		kiln_err_set(err, KILN_E_CORRUPT,
		             "%s `%s`: the descriptor says %lld bytes, the blob has %lld", what,
		             digest, (long long)size, (long long)have);
		return NULL;
	}
	return f;
}

/* One layer of an OCI manifest: stored as it came, with a media type that
 * tells its real compression and a size that is its own. */
static int check_oci_layer(struct loader *L, const struct img_descriptor *d, const char *diff_id,
                           struct kiln_err *err)
{
	/* a digest from a manifest names a file under blobs/: "sha256:../x"
	 * must never become a path */
	if (!kiln_digest_valid(d->digest))
		return kiln_err_set(err, KILN_E_INVALID, "invalid or unsupported layer digest `%s`",
		                    d->digest);
	enum img_compression c;
	if (img_compression_from_media_type(d->media_type, &c, err) < 0)
		return -1;
	struct lfile *f = load_blob(L, d->digest);
	if (!f)
		return kiln_err_set(err, KILN_E_CORRUPT, "archive has no layer blob `%s`",
		                    d->digest);
	struct img_layer l = {0};
	int r = layer_of(L, f, d->digest, diff_id, &l, err);
	if (r == 0 && strcmp(l.digest, d->digest))
		r = kiln_err_set(err, KILN_E_UNSUPPORTED, "layer `%s`: unsupported compression",
		                 d->digest);
	if (r == 0 && strcmp(l.media_type, img_compression_media_type(c)))
		r = kiln_err_set(
		    err, KILN_E_CORRUPT, "layer `%s`: media type `%s` says %s, the content is %s",
		    d->digest, d->media_type, img_compression_name(c),
		    strrchr(l.media_type, '+') ? strrchr(l.media_type, '+') + 1 : "uncompressed");
	if (r == 0 && (uint64_t)d->size != l.size)
		r = kiln_err_set(err, KILN_E_CORRUPT,
		                 "layer `%s`: the descriptor says %lld bytes, the blob has %lld",
		                 d->digest, (long long)d->size, (long long)l.size);
	img_layer_release(&l);
	return r;
}

/* Keeps what an index or manifest of the archive references and the
 * archive holds (children of a nested index that this host does not use
 * included, as they came), so that the published entry is whole. */
static void keep_closure(struct loader *L, struct lfile *f, const char *mt, int depth)
{
	load_keep(L, f, false);
	if (depth > MAX_INDEX_DEPTH || (!is_index_type(mt) && !is_manifest_type(mt)))
		return;
	_cleanup_free_ char *data = NULL;
	size_t len;
	if (load_read(L, f, IMG_MAX_JSON, &data, &len, NULL) < 0)
		return;
	if (is_index_type(mt)) {
		struct img_index *x = NULL;
		if (img_index_from_json(data, len, &x, NULL) < 0)
			return;
		for (size_t i = 0; i < x->n_manifests; i++) {
			struct lfile *c = load_blob(L, x->manifests[i].digest);
			if (c)
				keep_closure(L, c, x->manifests[i].media_type, depth + 1);
		}
		img_index_free(x);
		return;
	}
	struct img_manifest *m = NULL;
	if (img_manifest_from_json(data, len, &m, NULL) < 0)
		return;
	struct lfile *c = load_blob(L, m->config.digest);
	if (c)
		load_keep(L, c, false);
	for (size_t i = 0; i < m->n_layers; i++)
		if ((c = load_blob(L, m->layers[i].digest)))
			load_keep(L, c, false);
	img_manifest_free(m);
}

/* The manifest a nested index designates: for this host, else its first. */
static int pick_manifest(struct loader *L, struct lfile *f, const char *digest,
                         struct img_descriptor *out, struct kiln_err *err)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	struct img_index *x = NULL;
	if (load_read(L, f, IMG_MAX_JSON, &data, &len, err) < 0 ||
	    img_index_from_json(data, len, &x, err) < 0)
		return -1;
	const struct img_descriptor *pick = NULL;
	for (size_t i = 0; i < x->n_manifests && !pick; i++) {
		const struct img_platform *p = x->manifests[i].platform;
		if (is_manifest_type(x->manifests[i].media_type) && p && p->os &&
		    !strcmp(p->os, "linux") && p->architecture &&
		    !strcmp(p->architecture, KILN_HOST_ARCH))
			pick = &x->manifests[i];
	}
	for (size_t i = 0; i < x->n_manifests && !pick; i++)
		if (is_manifest_type(x->manifests[i].media_type))
			pick = &x->manifests[i];
	if (pick)
		img_descriptor_copy(out, pick);
	img_index_free(x);
	return pick
	           ? 0
	           : kiln_err_set(err, KILN_E_NOTFOUND, "index `%s` has no image manifest", digest);
}

/* The manifest of an index.json entry, verified against its descriptor. */
static int oci_manifest(struct loader *L, const struct img_descriptor *d, struct lfile *f,
                        struct img_manifest **m, char md[KILN_DIGEST_LEN], struct kiln_err *err)
{
	struct img_descriptor pick = {0};
	const struct img_descriptor *use = d;
	if (is_index_type(d->media_type)) {
		if (pick_manifest(L, f, d->digest, &pick, err) < 0)
			return -1;
		use = &pick;
		f = sized_blob(L, "manifest", pick.digest, pick.size, err);
	} else if (!is_manifest_type(d->media_type)) {
		return kiln_err_set(err, KILN_E_UNSUPPORTED, "unsupported media type `%s`",
		                    d->media_type);
	}
	_cleanup_free_ char *data = NULL;
	size_t len;
	int r = f ? load_read(L, f, IMG_MAX_JSON, &data, &len, err) : -1;
	if (r == 0)
		r = img_manifest_from_json(data, len, m, err);
	if (r == 0)
		snprintf(md, KILN_DIGEST_LEN, "%s", use->digest);
	img_descriptor_release(&pick);
	return r;
}

static int load_oci_entry(struct loader *L, const struct img_descriptor *d, struct kiln_err *err)
{
	if (!kiln_digest_valid(d->digest) || !load_blob(L, d->digest))
		return kiln_err_set(err, KILN_E_CORRUPT, "archive has no blob `%s`", d->digest);
	struct img_manifest *m = NULL;
	struct img_config *cfg = NULL;
	char md[KILN_DIGEST_LEN];
	struct lfile *f = sized_blob(L, "manifest", d->digest, d->size, err), *cf = NULL;
	int r = f ? oci_manifest(L, d, f, &m, md, err) : -1;
	if (r == 0)
		cf = sized_blob(L, "config", m->config.digest, m->config.size, err);
	if (r == 0 && !cf)
		r = -1;
	if (r == 0)
		r = parse_config(L, cf, &cfg, err);
	if (r == 0 && cfg->n_diff_ids != m->n_layers)
		r = kiln_err_set(err, KILN_E_CORRUPT, "manifest `%s` has %zu layers, config %zu",
		                 md, m->n_layers, cfg->n_diff_ids);
	for (size_t i = 0; r == 0 && i < m->n_layers; i++)
		r = check_oci_layer(L, &m->layers[i], cfg->diff_ids[i], err);
	if (r == 0) {
		keep_closure(L, f, d->media_type ? d->media_type : IMG_MT_OCI_MANIFEST, 0);
		char *ref = oci_entry_ref(d);
		struct img_descriptor pub = {0};
		img_descriptor_copy(&pub, d);
		img_map_release(&pub.annotations);
		report(L, &ref, ref ? 1 : 0, m->config.digest);
		char **refs = xcalloc(2, sizeof(char *));
		refs[0] = ref;
		load_add_entry(L, &pub, refs, ref ? 1 : 0);
	}
	img_manifest_free(m);
	img_config_free(cfg);
	return r;
}

int load_assemble(struct loader *L, struct kiln_err *err)
{
	const struct lfile *mf = load_find(L, "manifest.json");
	const struct lfile *ix = load_find(L, "index.json");
	if (!mf && !ix)
		return kiln_err_set(err, KILN_E_INVALID,
		                    "not an image archive: no manifest.json or index.json");
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	if (load_read(L, mf ? mf : ix, IMG_MAX_JSON, &data, &len, err) < 0)
		return -1;
	int r = 0;
	if (mf) {
		struct docker_manifest_entry *v = NULL;
		size_t n = 0;
		if (docker_manifest_parse(data, len, &v, &n, err) < 0)
			return -1;
		for (size_t i = 0; i < n && r == 0; i++)
			r = load_docker_entry(L, &v[i], err);
		docker_manifest_free(v, n);
		return r;
	}
	struct img_index *x = NULL;
	if (img_index_from_json(data, len, &x, err) < 0)
		return kiln_err_wrap(err, "index.json");
	for (size_t i = 0; i < x->n_manifests && r == 0; i++)
		r = load_oci_entry(L, &x->manifests[i], err);
	img_index_free(x);
	return r;
}
