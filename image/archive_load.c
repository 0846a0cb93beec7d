/* load: docker archives (manifest.json, old and new style) and OCI layout
 * tars, read in one streaming pass. Files under blobs/sha256/ and *.tar go
 * straight into the store (blobs verified against their names), small
 * files stay in memory; then the images are assembled, every layer checked
 * against its diffID, and published. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive-internal.h"
#include "layer-internal.h"
#include "store-internal.h"

/* Limits on what a load keeps in memory: member names and small files
 * together. Past LOAD_MEM_DATA, small files go to the store like big ones;
 * past LOAD_MEM_NAMES of names the archive is refused. */
#define LOAD_MEM_DATA  (16u << 20)
#define LOAD_MEM_NAMES (64u << 20)
#define LOAD_SMALL     (1u << 20) /* larger members go straight to the store */
#define LOAD_MAX_LINKS 16         /* symlinks followed for one lookup */

struct lfile {
	char *name;                   /* normalized (see norm_path) */
	char digest[KILN_DIGEST_LEN]; /* stored blob, or "" */
	char *data;                   /* small file in memory */
	size_t len;
	char *link; /* symlink or hardlink target, normalized from the archive root */
};

struct loader {
	struct img_store *s;
	struct lfile *f;
	size_t n, cap;
	size_t mem_data, mem_names;
	struct kiln_strv *out;
};

/* A member path relative to the archive root, as if the archive were
 * extracted into a directory: "." and empty components dropped, ".." folded
 * and clamped at the root. Nothing here ever touches the filesystem: a name
 * like "../../etc/shadow" only ever names a member of the archive. */
static char *norm_path(const char *base_dir, const char *p)
{
	char *out = NULL;
	img_path_norm(base_dir, p, true, KILN_BUF_NOLIMIT, &out, NULL); /* cannot fail */
	return out;
}

static int cmp_lfile(const void *a, const void *b)
{
	return strcmp(((const struct lfile *)a)->name, ((const struct lfile *)b)->name);
}

/* After read_entries: sorted by name, so lookups are a binary search. */
static const struct lfile *find(const struct loader *L, const char *name)
{
	_cleanup_free_ char *n = norm_path(NULL, name);
	for (int depth = 0; depth <= LOAD_MAX_LINKS; depth++) {
		struct lfile key = {.name = n};
		const struct lfile *f = bsearch(&key, L->f, L->n, sizeof(*L->f), cmp_lfile);
		if (!f || !f->link)
			return f;
		free(n);
		n = xstrdup(f->link);
	}
	return NULL;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && !strcmp(s + a - b, suffix);
}

static int store_entry(struct loader *L, struct archive *a, struct lfile *f, const char *expected,
                       struct kiln_err *err)
{
	struct img_blob_writer *w = img_blob_writer_new(L->s, err);
	if (!w)
		return -1;
	const void *blk;
	size_t n;
	la_int64_t off;
	int r, ret = 0;
	while ((r = archive_read_data_block(a, &blk, &n, &off)) == ARCHIVE_OK && ret == 0)
		ret = img_blob_writer_write(w, blk, n, err);
	if (ret == 0 && r != ARCHIVE_EOF)
		ret = kiln_err_set(err, KILN_E_CORRUPT, "archive entry `%s`: %s", f->name,
		                   archive_error_string(a));
	if (ret == 0 && img_blob_writer_commit(w, expected, f->digest, NULL, err) < 0)
		ret = kiln_err_wrap(err, "archive entry `%s`", f->name);
	img_blob_writer_free(w);
	return ret;
}

static int keep_small(struct loader *L, struct archive *a, struct lfile *f, struct kiln_err *err)
{
	struct kiln_buf b;
	kiln_buf_init(&b, LOAD_SMALL, f->name);
	const void *blk;
	size_t n;
	la_int64_t off;
	int r;
	while ((r = archive_read_data_block(a, &blk, &n, &off)) == ARCHIVE_OK)
		if (kiln_buf_add(&b, blk, n, err) < 0) {
			kiln_buf_release(&b);
			return -1;
		}
	if (r != ARCHIVE_EOF) {
		kiln_buf_release(&b);
		return kiln_err_set(err, KILN_E_CORRUPT, "archive entry `%s`: %s", f->name,
		                    archive_error_string(a));
	}
	f->data = kiln_buf_detach(&b, &f->len);
	L->mem_data += f->len;
	return 0;
}

/* Records one member: links by their target, blobs/sha256/<hex> verified
 * into the store, big files and *.tar into the store, the rest in memory. */
static int read_member(struct loader *L, struct archive *a, struct archive_entry *e,
                       struct kiln_err *err)
{
	mode_t t = archive_entry_filetype(e);
	const char *raw = archive_entry_pathname(e);
	if (t != AE_IFREG && t != AE_IFLNK)
		return 0;
	if (!raw)
		return kiln_err_set(err, KILN_E_CORRUPT, "archive member without a name");
	KILN_GROW(L->f, L->cap, L->n + 1);
	struct lfile *f = &L->f[L->n++];
	memset(f, 0, sizeof(*f));
	f->name = norm_path(NULL, raw);
	const char *hl = archive_entry_hardlink(e);
	if (t == AE_IFLNK || hl) {
		const char *target = hl ? hl : archive_entry_symlink(e);
		_cleanup_free_ char *dir = NULL;
		const char *sl = strrchr(f->name, '/');
		if (!hl && sl) /* a symlink is relative to its directory */
			dir = xstrndup(f->name, (size_t)(sl - f->name));
		f->link = norm_path(dir ? dir : "", target ? target : "");
	}
	L->mem_names += strlen(f->name) + (f->link ? strlen(f->link) : 0) + sizeof(*f);
	if (L->mem_names > LOAD_MEM_NAMES)
		return kiln_err_set(err, KILN_E_INVALID,
		                    "archive has too many members (names over %u MiB)",
		                    LOAD_MEM_NAMES >> 20);
	if (f->link)
		return 0;
	if (!strncmp(f->name, "blobs/sha256/", 13)) {
		_cleanup_free_ char *want = xasprintf("sha256:%s", f->name + 13);
		if (!kiln_digest_valid(want))
			return kiln_err_set(err, KILN_E_CORRUPT, "bad blob name `%s`", raw);
		return store_entry(L, a, f, want, err);
	}
	la_int64_t size = archive_entry_size(e);
	if (ends_with(f->name, ".tar") || size < 0 || size > (la_int64_t)LOAD_SMALL ||
	    L->mem_data + (size_t)size > LOAD_MEM_DATA)
		return store_entry(L, a, f, NULL, err);
	return keep_small(L, a, f, err);
}

static int read_entries(struct loader *L, struct archive *a, struct layer_source *src,
                        struct kiln_err *err)
{
	struct archive_entry *e;
	int r;
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK)
		if (read_member(L, a, e, err) < 0)
			return -1;
	if (r != ARCHIVE_EOF) {
		if (src->err.msg)
			kiln_err_move(err, &src->err);
		else
			kiln_err_set(err, KILN_E_CORRUPT, "reading archive: %s",
			             archive_error_string(a));
		return -1;
	}
	if (L->n)
		qsort(L->f, L->n, sizeof(*L->f), cmp_lfile);
	/* two blobs/sha256/<hex> are the same bytes (both verified) */
	for (size_t i = 1; i < L->n; i++)
		if (!strcmp(L->f[i - 1].name, L->f[i].name) &&
		    (!L->f[i].digest[0] || strcmp(L->f[i - 1].digest, L->f[i].digest)))
			return kiln_err_set(err, KILN_E_CORRUPT,
			                    "archive has two members named `%s`", L->f[i].name);
	return 0;
}

/* The blob digest of an archive file, storing an in-memory one. */
static int file_blob(struct loader *L, const char *name, char digest[KILN_DIGEST_LEN],
                     struct kiln_err *err)
{
	struct lfile *f = (struct lfile *)find(L, name);
	if (!f)
		return kiln_err_set(err, KILN_E_CORRUPT, "archive has no `%s`", name);
	if (!f->digest[0] && img_store_put_blob(L->s, f->data, f->len, f->digest, err) < 0)
		return -1;
	memcpy(digest, f->digest, KILN_DIGEST_LEN);
	return 0;
}

/* The content of a metadata file (manifest.json, index.json): in memory,
 * or read back from the store (bounded) when it was too big to keep. */
static int file_json(struct loader *L, const struct lfile *f, char **data, size_t *len,
                     struct kiln_err *err)
{
	if (!f->digest[0]) {
		*data = xmemdup(f->data ? f->data : "", f->len);
		*len = f->len;
		return 0;
	}
	if (img_store_read_blob(L->s, f->digest, IMG_MAX_JSON, data, len, err) < 0)
		return kiln_err_wrap(err, "archive entry `%s`", f->name);
	return 0;
}

/* Reads a stored layer: its diffID must be want_diff; fills l. A layer in
 * a compression the store does not describe (xz, bzip2) is decompressed. */
static int check_layer(struct loader *L, const char *digest, const char *want_diff,
                       struct img_layer *l, struct kiln_err *err)
{
	/* a digest from a manifest names a file under blobs/: "sha256:../x"
	 * must never become a path */
	if (!kiln_digest_valid(digest))
		return kiln_err_set(err, KILN_E_INVALID, "invalid or unsupported layer digest `%s`",
		                    digest);
	_cleanup_free_ char *p = img_store_blob_path(L->s, digest);
	_cleanup_close_ int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return kiln_err_set(err, KILN_E_CORRUPT, "archive has no layer blob `%s`", digest);
	if (fd < 0)
		return kiln_err_set(err, errno, "layer `%s`", digest);
	struct layer_source src;
	if (layer_source_open(&src, fd, err) < 0)
		return kiln_err_wrap(err, "layer `%s`", digest);
	char blob[KILN_DIGEST_LEN], diff[KILN_DIGEST_LEN];
	uint64_t size = 0;
	const char *filter = src.filter;
	int r = layer_source_finish(&src, blob, diff, &size, err);
	enum img_compression c = IMG_COMPRESS_NONE;
	bool known = !strcmp(filter, "none") || !strcmp(filter, "gzip") || !strcmp(filter, "zstd");
	if (r == 0 && strcmp(blob, digest) != 0)
		r = kiln_err_set(err, KILN_E_CORRUPT, "layer `%s` is corrupt: it hashes to %s",
		                 digest, blob);
	if (r == 0 && strcmp(diff, want_diff) != 0)
		r = kiln_err_set(err, KILN_E_CORRUPT,
		                 "layer `%s`: diffID mismatch: the config says %s, content hashes "
		                 "to %s",
		                 digest, want_diff, diff);
	if (r == 0 && known) {
		if (strcmp(filter, "none"))
			c = filter[0] == 'g' ? IMG_COMPRESS_GZIP : IMG_COMPRESS_ZSTD;
		memset(l, 0, sizeof(*l));
		memcpy(l->digest, digest, KILN_DIGEST_LEN);
		memcpy(l->diff_id, diff, KILN_DIGEST_LEN);
		l->size = size;
		l->media_type = xstrdup(img_compression_media_type(c));
	}
	layer_source_release(&src);
	if (r == 0 && !known) {
		struct img_layer in = {0};
		memcpy(in.digest, digest, KILN_DIGEST_LEN);
		memcpy(in.diff_id, diff, KILN_DIGEST_LEN);
		r = img_layer_recompress(L->s, &in, IMG_COMPRESS_NONE, l, err);
	}
	return r;
}

static int load_config(struct loader *L, const char *digest, struct img_config **cfg,
                       struct kiln_err *err)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	if (img_store_read_blob(L->s, digest, IMG_MAX_JSON, &data, &len, err) < 0)
		return -1;
	return img_config_from_json(data, len, cfg, err);
}

static void report(struct loader *L, char *const *refs, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *fam = img_ref_familiarize(refs[i]);
		kiln_strv_pushf(L->out, "Loaded image: %s", fam);
	}
	if (!n)
		kiln_strv_pushf(L->out, "Loaded image ID: %s", id);
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

static int load_docker_entry(struct loader *L, const struct docker_manifest_entry *e,
                             struct kiln_err *err)
{
	char cdig[KILN_DIGEST_LEN];
	struct img_config *cfg = NULL;
	if (file_blob(L, e->config, cdig, err) < 0 || load_config(L, cdig, &cfg, err) < 0)
		return kiln_err_wrap(err, "image config `%s`", e->config);
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
	m.layers = xcalloc(e->n_layers + 1, sizeof(*m.layers));
	for (size_t i = 0; r == 0 && i < e->n_layers; i++) {
		char ld[KILN_DIGEST_LEN];
		struct img_layer l = {0};
		r = file_blob(L, e->layers[i], ld, err);
		if (r == 0)
			r = check_layer(L, ld, cfg->diff_ids[i], &l, err);
		if (r < 0)
			break;
		img_layer_descriptor(&l, &m.layers[i]);
		m.n_layers = i + 1;
		img_layer_release(&l);
	}
	char **refs = r == 0 ? normalize_all(e->repo_tags, err) : NULL;
	if (r == 0 && !refs)
		r = -1;
	if (r == 0) {
		_cleanup_free_ char *cdata = NULL;
		size_t clen = 0, mlen;
		img_store_read_blob(L->s, cdig, IMG_MAX_JSON, &cdata, &clen, NULL);
		m.config.size = (int64_t)clen;
		_cleanup_free_ char *mj = img_manifest_to_json(&m, &mlen);
		struct img_descriptor d = {.media_type = xstrdup(IMG_MT_OCI_MANIFEST),
		                           .digest = xmalloc(KILN_DIGEST_LEN),
		                           .size = (int64_t)mlen};
		r = img_store_put_blob(L->s, mj, mlen, d.digest, err);
		size_t nr = 0;
		while (refs[nr])
			nr++;
		if (r == 0)
			r = img_publish(L->s, &d, refs, nr, err);
		if (r == 0)
			report(L, refs, nr, cdig);
		img_descriptor_release(&d);
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

/* The descriptor's size must be the blob's: a lie would be published. */
static int check_size(struct loader *L, const char *what, const char *digest, int64_t size,
                      struct kiln_err *err)
{
	_cleanup_free_ char *p = img_store_blob_path(L->s, digest);
	struct stat st;
	if (stat(p, &st) < 0)
		return kiln_err_set(err, errno, "%s `%s`", what, digest);
	if (st.st_size != size)
		return kiln_err_set(err, KILN_E_CORRUPT,
		                    "%s `%s`: the descriptor says %lld bytes, the blob has %lld",
		                    what, digest, (long long)size, (long long)st.st_size);
	return 0;
}

/* One layer of an OCI manifest: stored as it came, with a media type that
 * tells its real compression and a size that is its own. */
static int check_oci_layer(struct loader *L, const struct img_descriptor *d, const char *diff_id,
                           struct kiln_err *err)
{
	enum img_compression c;
	struct img_layer l = {0};
	int r = img_compression_from_media_type(d->media_type, &c, err);
	if (r == 0)
		r = check_layer(L, d->digest, diff_id, &l, err);
	if (r == 0 && strcmp(l.digest, d->digest))
		r = kiln_err_set(err, KILN_E_UNSUPPORTED, "layer `%s`: unsupported compression",
		                 d->digest);
	if (r == 0 && strcmp(l.media_type, img_compression_media_type(c)))
		r = kiln_err_set(
		    err, KILN_E_CORRUPT, "layer `%s`: media type `%s` says %s, the content is %s",
		    d->digest, d->media_type, img_compression_name(c),
		    strrchr(l.media_type, '+') ? strrchr(l.media_type, '+') + 1 : "uncompressed");
	if (r == 0 && (uint64_t)d->size != l.size)
		r = check_size(L, "layer", d->digest, d->size, err);
	img_layer_release(&l);
	return r;
}

static int load_oci_entry(struct loader *L, const struct img_descriptor *d, struct kiln_err *err)
{
	if (!img_store_has_blob(L->s, d->digest))
		return kiln_err_set(err, KILN_E_CORRUPT, "archive has no blob `%s`", d->digest);
	struct img_manifest *m = NULL;
	struct img_config *cfg = NULL;
	char md[KILN_DIGEST_LEN];
	int r = check_size(L, "manifest", d->digest, d->size, err);
	if (r == 0)
		r = img_entry_manifest(L->s, d, &m, md, err);
	if (r == 0)
		r = load_config(L, m->config.digest, &cfg, err);
	if (r == 0)
		r = check_size(L, "config", m->config.digest, m->config.size, err);
	if (r == 0 && cfg->n_diff_ids != m->n_layers)
		r = kiln_err_set(err, KILN_E_CORRUPT, "manifest `%s` has %zu layers, config %zu",
		                 md, m->n_layers, cfg->n_diff_ids);
	for (size_t i = 0; r == 0 && i < m->n_layers; i++)
		r = check_oci_layer(L, &m->layers[i], cfg->diff_ids[i], err);
	if (r == 0) {
		char *ref = oci_entry_ref(d);
		struct img_descriptor pub = {0};
		img_descriptor_copy(&pub, d);
		img_map_release(&pub.annotations);
		r = img_publish(L->s, &pub, &ref, ref ? 1 : 0, err);
		if (r == 0)
			report(L, &ref, ref ? 1 : 0, m->config.digest);
		img_descriptor_release(&pub);
		free(ref);
	}
	img_manifest_free(m);
	img_config_free(cfg);
	return r;
}

static int assemble(struct loader *L, struct kiln_err *err)
{
	const struct lfile *mf = find(L, "manifest.json");
	const struct lfile *ix = find(L, "index.json");
	if (!mf && !ix)
		return kiln_err_set(err, KILN_E_INVALID,
		                    "not an image archive: no manifest.json or index.json");
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	if (file_json(L, mf ? mf : ix, &data, &len, err) < 0)
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

int img_load(struct img_store *s, int fd, struct kiln_strv *loaded, struct kiln_err *err)
{
	struct loader L = {.s = s, .out = loaded};
	struct layer_source src;
	if (layer_source_open(&src, fd, err) < 0)
		return kiln_err_wrap(err, "load");
	int r = -1;
	struct archive *a = layer_source_tar_reader(&src, err);
	if (a) {
		r = read_entries(&L, a, &src, err);
		archive_read_free(a);
	}
	layer_source_release(&src);
	if (r == 0)
		r = assemble(&L, err);
	for (size_t i = 0; i < L.n; i++) {
		free(L.f[i].name);
		free(L.f[i].data);
		free(L.f[i].link);
	}
	free(L.f);
	return r < 0 ? kiln_err_wrap(err, "load") : 0;
}
