/* import (rootfs tarball or directory -> one-layer image) and
 * save (docker archive or OCI layout tar). Load is in archive_load.c. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "archive-internal.h"
#include "layer-internal.h"
#include "store-internal.h"

#define SAVE_BUF (256 * 1024)

/* --- import --------------------------------------------------------------- */

char *img_time_rfc3339(int64_t epoch)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (epoch >= 0) {
		ts.tv_sec = (time_t)epoch;
		ts.tv_nsec = 0;
	}
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char buf[64];
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	if (!ts.tv_nsec)
		return xasprintf("%sZ", buf);
	char frac[16];
	snprintf(frac, sizeof(frac), "%09ld", ts.tv_nsec);
	for (int i = 8; i > 0 && frac[i] == '0'; i--)
		frac[i] = '\0';
	return xasprintf("%s.%sZ", buf, frac);
}

/* `created` of an import: now, or SOURCE_DATE_EPOCH when set. */
static char *rfc3339_now(void)
{
	const char *sde = getenv("SOURCE_DATE_EPOCH");
	return img_time_rfc3339(sde && *sde ? strtoll(sde, NULL, 10) : -1);
}

static int import_layer(struct img_store *s, const struct img_import_opts *o, struct img_layer *l,
                        struct kiln_err *err)
{
	if (strcmp(o->source, "-") != 0) {
		struct stat st;
		if (stat(o->source, &st) < 0)
			return kiln_err_set(err, errno, "import source `%s`", o->source);
		if (S_ISDIR(st.st_mode)) {
			struct img_layer_opts lo = {o->compression, false, -1};
			return img_layer_create(s, o->source, &lo, l, err);
		}
	}
	_cleanup_close_ int fd = -1;
	int in = 0;
	if (strcmp(o->source, "-") != 0) {
		fd = open(o->source, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return kiln_err_set(err, errno, "open `%s`", o->source);
		in = fd;
	}
	if (img_layer_from_fd(s, in, o->compression, l, err) < 0)
		return kiln_err_wrap(err, "reading `%s`", o->source);
	return 0;
}

int img_import(struct img_store *s, const struct img_import_opts *o, char image_id[KILN_DIGEST_LEN],
               struct kiln_err *err)
{
	/* the target name first: a bad one must not cost reading the layer */
	_cleanup_free_ char *ref = o->ref ? img_ref_normalize(o->ref, err) : NULL;
	if (o->ref && !ref)
		return kiln_err_wrap(err, "import: reference `%s`", o->ref);
	if (ref && strchr(ref, '@')) {
		kiln_err_set(err, KILN_E_INVALID, "reference `%s` is not a tag", o->ref);
		return kiln_err_wrap(err, "import");
	}
	struct img_config *cfg = img_config_new();
	if (o->apply && o->apply(cfg, o->apply_ud, err) < 0) {
		img_config_free(cfg);
		return kiln_err_wrap(err, "import");
	}
	struct img_layer l = {0};
	if (import_layer(s, o, &l, err) < 0) {
		img_config_free(cfg);
		return kiln_err_wrap(err, "import");
	}
	if (!cfg->os) { /* apply may have set a platform (import --platform) */
		cfg->architecture = xstrdup(KILN_HOST_ARCH);
		cfg->os = xstrdup("linux");
	}
	cfg->created = rfc3339_now();
	cfg->rootfs_type = xstrdup("layers");
	free(cfg->diff_ids);
	cfg->diff_ids = xcalloc(2, sizeof(char *));
	cfg->diff_ids[0] = xstrdup(l.diff_id);
	cfg->n_diff_ids = 1;
	cfg->history = xcalloc(1, sizeof(*cfg->history));
	cfg->n_history = 1;
	cfg->history[0].created = xstrdup(cfg->created);
	/* as docker import: no created_by, the source in the comment */
	cfg->history[0].comment =
	    o->message ? xstrdup(o->message) : xasprintf("Imported from %s", o->source);
	const char *refs[1] = {o->ref};
	int r = img_image_commit(s, cfg, &l, 1, refs, o->ref ? 1 : 0, image_id, err);
	img_config_free(cfg);
	img_layer_release(&l);
	return r < 0 ? kiln_err_wrap(err, "import") : 0;
}

/* --- save ------------------------------------------------------------------- */

struct out_file {
	char *name;
	char *blob;  /* digest of a store blob, or NULL */
	char *data;  /* in-memory content */
	size_t len;  /* of data; of the decompressed stream when diff is set */
	char *image; /* the image it was saved for (error messages) */
	char *diff;  /* written decompressed: the diffID it must hash to */
};

struct saver {
	struct img_store *s;
	const struct img_save_opts *o;
	struct out_file *files;
	size_t n, cap;
	struct img_index index;
	struct docker_manifest_entry *dm;
	size_t n_dm, cap_dm;
	struct kiln_strv repos, repo_ids;
};

static char *blob_name(const char *digest)
{
	return xasprintf("blobs/sha256/%s", kiln_digest_hex(digest));
}

static struct out_file *add_file(struct saver *sv, char *name, const char *blob, char *data,
                                 size_t len)
{
	for (size_t i = 0; i < sv->n; i++)
		if (!strcmp(sv->files[i].name, name)) {
			free(name);
			free(data);
			return NULL;
		}
	KILN_GROW(sv->files, sv->cap, sv->n + 1);
	sv->files[sv->n] =
	    (struct out_file){name, blob ? xstrdup(blob) : NULL, data, len, NULL, NULL};
	return &sv->files[sv->n++];
}

static void add_blob(struct saver *sv, const char *image, const char *digest, const char *diff,
                     uint64_t len)
{
	struct out_file *f = add_file(sv, blob_name(diff ? diff : digest), digest, NULL, len);
	if (f) {
		f->image = xstrdup(image);
		f->diff = diff ? xstrdup(diff) : NULL;
	}
}

/* Opens a stored blob for reading. */
static int open_blob(struct saver *sv, const char *image, const char *digest, int *fd,
                     struct kiln_err *err)
{
	if (!kiln_digest_valid(digest))
		return kiln_err_set(err, KILN_E_CORRUPT, "image `%s`: invalid digest `%s`", image,
		                    digest);
	*fd = img_store_open_blob(sv->s, digest, err);
	if (*fd < 0)
		return kiln_err_wrap(err, "image `%s`", image);
	return 0;
}

/* The digests a finished source hashed to must be the expected ones. */
static int check_source(struct layer_source *src, const char *image, const char *digest,
                        const char *diff_id, struct kiln_err *err)
{
	char blob[KILN_DIGEST_LEN], diff[KILN_DIGEST_LEN];
	if (layer_source_finish(src, blob, diff, NULL, err) < 0)
		return kiln_err_wrap(err, "image `%s`: layer `%s`", image, digest);
	if (strcmp(blob, digest))
		return kiln_err_set(err, KILN_E_CORRUPT,
		                    "image `%s`: blob `%s` is corrupt: its content hashes to %s",
		                    image, digest, blob);
	if (strcmp(diff, diff_id))
		return kiln_err_set(err, KILN_E_CORRUPT,
		                    "image `%s`: layer `%s`: diffID mismatch: the config says %s, "
		                    "content hashes to %s",
		                    image, digest, diff_id, diff);
	return 0;
}

/* The size of a stored compressed layer once decompressed, verifying its
 * digest and diffID (the tar header of the archive needs the size first;
 * nothing is written anywhere). */
static int measure_layer(struct saver *sv, const char *image, const char *digest,
                         const char *diff_id, uint64_t *size, struct kiln_err *err)
{
	_cleanup_close_ int fd = -1;
	if (open_blob(sv, image, digest, &fd, err) < 0)
		return -1;
	struct layer_source src;
	if (layer_source_open(&src, fd, err) < 0)
		return kiln_err_wrap(err, "image `%s`: layer `%s`", image, digest);
	int r = check_source(&src, image, digest, diff_id, err);
	*size = src.diff_size;
	layer_source_release(&src);
	return r;
}

/* The layer in the output's compression. Decompression is streamed into
 * the archive; compression (OCI output only) goes through the store, since
 * the manifest needs the compressed digest before the blob is written. */
static int output_layer(struct saver *sv, const char *image, const struct img_descriptor *d,
                        const char *diff_id, struct img_layer *out, struct kiln_err *err)
{
	enum img_compression have,
	    want = sv->o->format == IMG_ARCHIVE_DOCKER ? IMG_COMPRESS_NONE : sv->o->compression;
	if (img_compression_from_media_type(d->media_type, &have, err) < 0)
		return -1;
	struct img_layer in = {0};
	snprintf(in.diff_id, sizeof(in.diff_id), "%s", diff_id);
	snprintf(in.digest, sizeof(in.digest), "%s", d->digest);
	in.size = (uint64_t)d->size;
	if (have == want) {
		*out = in;
		out->media_type = xstrdup(img_compression_media_type(want));
		add_blob(sv, image, d->digest, NULL, 0);
		return 0;
	}
	if (want == IMG_COMPRESS_NONE) {
		if (!kiln_digest_valid(diff_id))
			return kiln_err_set(err, KILN_E_CORRUPT, "image `%s`: invalid diffID `%s`",
			                    image, diff_id);
		if (measure_layer(sv, image, d->digest, diff_id, &in.size, err) < 0)
			return -1;
		*out = in;
		memcpy(out->digest, diff_id, KILN_DIGEST_LEN);
		out->media_type = xstrdup(IMG_MT_LAYER);
		add_blob(sv, image, d->digest, diff_id, in.size);
		return 0;
	}
	if (img_layer_recompress(sv->s, &in, want, out, err) < 0)
		return -1;
	add_blob(sv, image, out->digest, NULL, 0);
	return 0;
}

/* Normalized tags to write for `name`: the reference if it names a tag of
 * the image, none when the image was named by ID. */
static char **tags_for(const struct img_image *img, const char *name)
{
	char **tags = xcalloc(2, sizeof(char *));
	char *norm = img_ref_normalize(name, NULL);
	for (size_t i = 0; norm && i < img->n_repo_tags; i++)
		if (!strcmp(img->repo_tags[i], norm)) {
			tags[0] = TAKE_PTR(norm);
			break;
		}
	free(norm);
	return tags;
}

/* index.json: one entry per manifest and name, however often named, and
 * an unnamed one only for a manifest saved under no name (as docker's). */
static void add_index_entry(struct saver *sv, const char *mdigest, size_t mlen, const char *tag)
{
	for (size_t i = sv->index.n_manifests; i-- > 0;) {
		const struct img_descriptor *o = &sv->index.manifests[i];
		const char *was = img_map_get(&o->annotations, "io.containerd.image.name");
		if (strcmp(o->digest, mdigest))
			continue;
		if (!tag || (was && !strcmp(tag, was)))
			return; /* named already, or this very name */
		if (!was)
			img_index_remove_at(&sv->index, i); /* a name now: no unnamed one */
	}
	struct img_descriptor d = {0};
	d.media_type = xstrdup(IMG_MT_OCI_MANIFEST);
	d.digest = xstrdup(mdigest);
	d.size = (int64_t)mlen;
	if (tag) {
		img_map_set(&d.annotations, "io.containerd.image.name", tag);
		const char *colon = strrchr(tag, ':');
		img_map_set(&d.annotations, IMG_ANNOT_REF_NAME,
		            sv->o->format == IMG_ARCHIVE_DOCKER && colon ? colon + 1 : tag);
	}
	img_index_add(&sv->index, &d);
	img_descriptor_release(&d);
}

/* manifest.json's entry for the image whose config is `config` (taken):
 * the one an earlier name of it made, as docker writes one per image, or
 * a new one taking *layers. */
static struct docker_manifest_entry *dm_entry(struct saver *sv, char *config, char ***layers,
                                              size_t n_layers)
{
	for (size_t i = 0; i < sv->n_dm; i++)
		if (!strcmp(sv->dm[i].config, config)) {
			free(config);
			return &sv->dm[i];
		}
	KILN_GROW(sv->dm, sv->cap_dm, sv->n_dm + 1);
	struct docker_manifest_entry *e = &sv->dm[sv->n_dm++];
	memset(e, 0, sizeof(*e));
	e->config = config;
	e->repo_tags = xcalloc(1, sizeof(char *));
	e->layers = TAKE_PTR(*layers);
	e->n_layers = n_layers;
	return e;
}

/* A tag in e's RepoTags (familiar, once) and in `repositories`, which
 * names the image by its top layer's diffID (the config's, no layers). */
static void dm_add_tag(struct saver *sv, struct docker_manifest_entry *e, const char *tag,
                       const char *top)
{
	char *f = img_ref_familiarize(tag);
	size_t n = 0;
	while (e->repo_tags[n] && strcmp(e->repo_tags[n], f))
		n++;
	if (e->repo_tags[n]) {
		free(f);
		return;
	}
	e->repo_tags = xrealloc(e->repo_tags, (n + 2) * sizeof(char *));
	e->repo_tags[n] = f;
	e->repo_tags[n + 1] = NULL;
	kiln_strv_push(&sv->repos, f);
	kiln_strv_push(&sv->repo_ids, kiln_digest_hex(top));
}

static int save_image(struct saver *sv, const char *name, struct kiln_err *err)
{
	struct img_image *img = NULL;
	if (img_image_load(sv->s, name, &img, err) < 0)
		return -1;
	const struct img_manifest *m = img->manifest;
	int r = 0;
	if (img->config->n_diff_ids != m->n_layers)
		r = kiln_err_set(err, KILN_E_CORRUPT, "image `%s`: %zu layers but %zu diff_ids",
		                 name, m->n_layers, img->config->n_diff_ids);
	struct img_manifest om = {.schema_version = 2};
	om.media_type = xstrdup(IMG_MT_OCI_MANIFEST);
	om.config.media_type = xstrdup(IMG_MT_OCI_CONFIG);
	om.config.digest = xstrdup(img->id);
	om.config.size = m->config.size;
	om.layers = xcalloc(m->n_layers + 1, sizeof(*om.layers));
	char **layer_names = xcalloc(m->n_layers + 1, sizeof(char *));
	for (size_t i = 0; r == 0 && i < m->n_layers; i++) {
		struct img_layer l = {0};
		r = output_layer(sv, name, &m->layers[i], img->config->diff_ids[i], &l, err);
		if (r < 0)
			break;
		img_layer_descriptor(&l, &om.layers[i]);
		om.n_layers = i + 1;
		layer_names[i] = blob_name(l.digest);
		img_layer_release(&l);
	}
	if (r == 0) {
		add_blob(sv, name, img->id, NULL, 0);
		size_t mlen;
		char *mjson = img_manifest_to_json(&om, &mlen);
		char md[KILN_DIGEST_LEN];
		kiln_sha256_digest(mjson, mlen, md);
		add_file(sv, blob_name(md), NULL, mjson, mlen);
		char **tags = tags_for(img, name);
		add_index_entry(sv, md, mlen, tags[0]);
		struct docker_manifest_entry *e =
		    dm_entry(sv, blob_name(img->id), &layer_names, m->n_layers);
		if (tags[0])
			dm_add_tag(sv, e, tags[0],
			           m->n_layers ? img->config->diff_ids[m->n_layers - 1] : img->id);
		kiln_strv_free(tags);
	}
	kiln_strv_free(layer_names); /* NULL when the entry took them */
	img_manifest_release(&om);
	img_image_free(img);
	return r;
}

static int cmp_files(const void *a, const void *b)
{
	return strcmp(((const struct out_file *)a)->name, ((const struct out_file *)b)->name);
}

static int archive_fail(struct archive *a, const char *name, struct kiln_err *err)
{
	return kiln_err_set(err, archive_errno(a), "write `%s`: %s", name,
	                    archive_error_string(a) ? archive_error_string(a) : "write error");
}

/* A stored blob as it is, hashed on the way: a blob that no longer
 * matches its digest fails the save. */
static int copy_blob(struct archive *a, const struct out_file *f, int fd, uint64_t size,
                     struct kiln_err *err)
{
	struct kiln_sha256 h;
	kiln_sha256_init(&h);
	_cleanup_free_ char *buf = xmalloc(SAVE_BUF);
	int r = 0;
	while (r == 0 && size) {
		ssize_t n = read(fd, buf, size < SAVE_BUF ? (size_t)size : SAVE_BUF);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			r = kiln_err_set(err, n < 0 ? errno : KILN_E_CORRUPT,
			                 "image `%s`: read blob `%s`%s", f->image, f->blob,
			                 n ? "" : ": shorter than when the save began");
		else if (archive_write_data(a, buf, (size_t)n) != n)
			r = archive_fail(a, f->name, err);
		else
			kiln_sha256_update(&h, buf, (size_t)n);
		size -= n > 0 ? (uint64_t)n : 0;
	}
	if (r < 0) {
		kiln_sha256_release(&h);
		return -1;
	}
	char got[KILN_DIGEST_LEN];
	kiln_sha256_final(&h, got);
	if (strcmp(got, f->blob))
		return kiln_err_set(err, KILN_E_CORRUPT,
		                    "image `%s`: blob `%s` is corrupt: its content hashes to %s",
		                    f->image, f->blob, got);
	return 0;
}

/* A stored compressed layer, decompressed on the way, both digests checked. */
static int copy_decompressed(struct archive *a, const struct out_file *f, int fd,
                             struct kiln_err *err)
{
	struct layer_source src;
	if (layer_source_open(&src, fd, err) < 0)
		return kiln_err_wrap(err, "image `%s`: layer `%s`", f->image, f->blob);
	_cleanup_free_ char *buf = xmalloc(SAVE_BUF);
	int r = 0;
	uint64_t left = f->len;
	for (;;) {
		ssize_t n = layer_source_read(&src, buf, SAVE_BUF, err);
		if (n < 0)
			r = kiln_err_wrap(err, "image `%s`: layer `%s`", f->image, f->blob);
		else if ((uint64_t)n > left)
			r = kiln_err_set(err, KILN_E_CORRUPT,
			                 "image `%s`: layer `%s` changed while being saved",
			                 f->image, f->blob);
		else if (n > 0 && archive_write_data(a, buf, (size_t)n) != n)
			r = archive_fail(a, f->name, err);
		if (r < 0 || n == 0)
			break;
		left -= (uint64_t)n;
	}
	if (r == 0)
		r = check_source(&src, f->image, f->blob, f->diff, err);
	if (r == 0 && left)
		r = kiln_err_set(err, KILN_E_CORRUPT,
		                 "image `%s`: layer `%s` changed while being saved", f->image,
		                 f->blob);
	layer_source_release(&src);
	return r;
}

static int write_entry(struct saver *sv, struct archive *a, struct archive_entry *e,
                       const struct out_file *f, struct kiln_err *err)
{
	archive_entry_clear(e);
	archive_entry_set_pathname(e, f->name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_mtime(e, 0, 0);
	_cleanup_close_ int fd = -1;
	struct stat st;
	if (f->blob && open_blob(sv, f->image, f->blob, &fd, err) < 0)
		return -1;
	if (f->blob && fstat(fd, &st) < 0)
		return kiln_err_set(err, errno, "image `%s`: blob `%s`", f->image, f->blob);
	archive_entry_set_size(e, f->blob && !f->diff ? st.st_size : (la_int64_t)f->len);
	if (archive_write_header(a, e) != ARCHIVE_OK)
		return archive_fail(a, f->name, err);
	if (f->diff)
		return copy_decompressed(a, f, fd, err);
	if (f->blob)
		return copy_blob(a, f, fd, (uint64_t)st.st_size, err);
	return archive_write_data(a, f->data, f->len) == (la_ssize_t)f->len
	           ? 0
	           : archive_fail(a, f->name, err);
}

static int write_dir(struct archive *a, struct archive_entry *e, const char *name)
{
	archive_entry_clear(e);
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFDIR);
	archive_entry_set_perm(e, 0755);
	archive_entry_set_mtime(e, 0, 0);
	return archive_write_header(a, e);
}

static int write_archive(struct saver *sv, int fd, struct kiln_err *err)
{
	qsort(sv->files, sv->n, sizeof(*sv->files), cmp_files);
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	archive_write_set_format_pax_restricted(a);
	archive_write_set_bytes_in_last_block(a, 1);
	int r = 0;
	if (archive_write_open_fd(a, fd) != ARCHIVE_OK || write_dir(a, e, "blobs/") != ARCHIVE_OK ||
	    write_dir(a, e, "blobs/sha256/") != ARCHIVE_OK)
		r = kiln_err_set(err, archive_errno(a), "write archive: %s",
		                 archive_error_string(a));
	for (size_t i = 0; r == 0 && i < sv->n; i++)
		r = write_entry(sv, a, e, &sv->files[i], err);
	if (r == 0 && archive_write_close(a) != ARCHIVE_OK)
		r = kiln_err_set(err, archive_errno(a), "write archive: %s",
		                 archive_error_string(a));
	archive_entry_free(e);
	archive_write_free(a);
	return r;
}

static void saver_release(struct saver *sv)
{
	for (size_t i = 0; i < sv->n; i++) {
		free(sv->files[i].name);
		free(sv->files[i].blob);
		free(sv->files[i].data);
		free(sv->files[i].image);
		free(sv->files[i].diff);
	}
	free(sv->files);
	for (size_t i = 0; i < sv->index.n_manifests; i++)
		img_descriptor_release(&sv->index.manifests[i]);
	free(sv->index.manifests);
	free(sv->index.media_type);
	docker_manifest_free(sv->dm, sv->n_dm);
	kiln_strv_release(&sv->repos);
	kiln_strv_release(&sv->repo_ids);
}

int img_save(struct img_store *s, char *const *names, size_t n, const struct img_save_opts *o,
             int fd, struct kiln_err *err)
{
	struct saver sv = {.s = s, .o = o};
	sv.index.schema_version = 2;
	sv.index.media_type = xstrdup(IMG_MT_OCI_INDEX);
	int r = 0;
	for (size_t i = 0; i < n && r == 0; i++)
		r = save_image(&sv, names[i], err);
	if (r == 0) {
		size_t len;
		char *idx = img_index_to_json(&sv.index, &len);
		add_file(&sv, xstrdup("index.json"), NULL, idx, len);
		const char *layout = "{\"imageLayoutVersion\":\"1.0.0\"}";
		add_file(&sv, xstrdup("oci-layout"), NULL, xstrdup(layout), strlen(layout));
		if (o->format == IMG_ARCHIVE_DOCKER) {
			char *mj = docker_manifest_json(sv.dm, sv.n_dm, &len);
			add_file(&sv, xstrdup("manifest.json"), NULL, mj, len);
			char *rj =
			    docker_repositories_json(sv.repos.v, sv.repo_ids.v, sv.repos.n, &len);
			add_file(&sv, xstrdup("repositories"), NULL, rj, len);
		}
		r = write_archive(&sv, fd, err);
	}
	saver_release(&sv);
	return r < 0 ? kiln_err_wrap(err, "save") : 0;
}
