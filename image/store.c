/* The content-addressed store: layout bootstrap and blobs. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store-internal.h"

static const char oci_layout_json[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
static const char empty_index_json[] = "{\"schemaVersion\":2,\"manifests\":[]}";

static int ensure_file(const char *path, const char *content, struct kiln_err *err)
{
	if (kiln_path_exists(path))
		return 0;
	return kiln_write_file_atomic(path, content, strlen(content), 0644, err);
}

int img_store_open(const char *root, struct img_store **out, struct kiln_err *err)
{
	struct img_store *s = xcalloc(1, sizeof(*s));
	s->lock_fd = -1;
	s->root = xstrdup(root);
	s->layout = kiln_path_join(root, "images");
	s->blobs = kiln_path_join(s->layout, "blobs/sha256");
	s->snapshots = kiln_path_join(root, "snapshots");
	s->tmp = kiln_path_join(root, "tmp");
	_cleanup_free_ char *lock = kiln_path_join(root, "store.lock");
	_cleanup_free_ char *layout_file = kiln_path_join(s->layout, "oci-layout");
	_cleanup_free_ char *index_file = kiln_path_join(s->layout, "index.json");

	if (kiln_mkdir_p(s->blobs, 0755, err) < 0 || kiln_mkdir_p(s->snapshots, 0700, err) < 0 ||
	    kiln_mkdir_p(s->tmp, 0700, err) < 0)
		goto fail;
	s->lock_fd = kiln_lock_file(lock, false, err);
	if (s->lock_fd < 0)
		goto fail;
	if (ensure_file(layout_file, oci_layout_json, err) < 0 ||
	    ensure_file(index_file, empty_index_json, err) < 0)
		goto fail;
	img_store_sweep_temps(s, IMG_STALE_TEMP_SEC);
	*out = s;
	return 0;
fail:
	img_store_close(s);
	return kiln_err_wrap(err, "opening store `%s`", root);
}

void img_store_close(struct img_store *s)
{
	if (!s)
		return;
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	img_cache_free(s);
	free(s->root);
	free(s->layout);
	free(s->blobs);
	free(s->snapshots);
	free(s->tmp);
	free(s);
}

const char *img_store_root(const struct img_store *s)
{
	return s->root;
}

const char *img_store_tmpdir(const struct img_store *s)
{
	return s->tmp;
}

char *img_store_blob_path(struct img_store *s, const char *digest)
{
	return kiln_path_join(s->blobs, kiln_digest_hex(digest));
}

bool img_store_has_blob(struct img_store *s, const char *digest)
{
	if (!kiln_digest_valid(digest))
		return false;
	_cleanup_free_ char *p = img_store_blob_path(s, digest);
	return kiln_path_exists(p);
}

int img_store_read_blob(struct img_store *s, const char *digest, size_t max, char **data,
                        size_t *len, struct kiln_err *err)
{
	if (!kiln_digest_valid(digest))
		return kiln_err_set(err, KILN_E_INVALID, "invalid digest `%s`", digest);
	_cleanup_free_ char *p = img_store_blob_path(s, digest);
	_cleanup_close_ int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kiln_err_set(err, errno == ENOENT ? KILN_E_NOTFOUND : errno, "blob `%s`%s",
		                    digest, errno == ENOENT ? " not found in the store" : "");
	_cleanup_free_ char *what = xasprintf("blob `%s`", digest);
	_cleanup_free_ char *buf = NULL;
	size_t n = 0;
	if (kiln_read_fd(fd, max, what, &buf, &n, err) < 0)
		return -1;
	char got[KILN_DIGEST_LEN];
	kiln_sha256_digest(buf, n, got);
	if (strcmp(got, digest) != 0)
		return kiln_err_set(err, KILN_E_CORRUPT,
		                    "blob `%s` is corrupt: its content hashes to %s", digest, got);
	*data = TAKE_PTR(buf);
	if (len)
		*len = n;
	return 0;
}

/* --- blob writer ------------------------------------------------------- */

struct img_blob_writer {
	struct img_store *store;
	int fd;
	char *tmp;
	struct kiln_sha256 hash;
	uint64_t size;
};

struct img_blob_writer *img_blob_writer_new(struct img_store *s, struct kiln_err *err)
{
	struct img_blob_writer *w = xcalloc(1, sizeof(*w));
	w->store = s;
	w->fd = kiln_tempfile_create(s->tmp, "blob-", &w->tmp, err);
	if (w->fd < 0) {
		free(w);
		return NULL;
	}
	flock(w->fd, LOCK_EX); /* a temp sweep skips files held by a live writer */
	kiln_sha256_init(&w->hash);
	return w;
}

int img_blob_writer_write(struct img_blob_writer *w, const void *p, size_t n, struct kiln_err *err)
{
	if (kiln_write_all(w->fd, p, n, err) < 0)
		return kiln_err_wrap(err, "writing blob to `%s`", w->tmp);
	kiln_sha256_update(&w->hash, p, n);
	w->size += n;
	return 0;
}

static void writer_discard(struct img_blob_writer *w)
{
	if (w->fd >= 0) {
		close(w->fd);
		w->fd = -1;
	}
	if (w->tmp) {
		unlink(w->tmp);
		kiln_tempfile_forget(w->tmp);
		free(w->tmp);
		w->tmp = NULL;
	}
}

int img_blob_writer_commit(struct img_blob_writer *w, const char *expected,
                           char digest[KILN_DIGEST_LEN], uint64_t *size, struct kiln_err *err)
{
	char got[KILN_DIGEST_LEN];
	kiln_sha256_final(&w->hash, got);
	if (expected && strcmp(expected, got) != 0) {
		writer_discard(w);
		return kiln_err_set(err, KILN_E_CORRUPT,
		                    "digest mismatch: expected %s, content hashes to %s", expected,
		                    got);
	}
	if (fsync(w->fd) < 0) {
		int e = errno;
		writer_discard(w);
		return kiln_err_set(err, e, "fsync blob %s", got);
	}
	_cleanup_free_ char *target = img_store_blob_path(w->store, got);
	if (!kiln_path_exists(target)) {
		if (rename(w->tmp, target) < 0) {
			int e = errno;
			writer_discard(w);
			return kiln_err_set(err, e, "store blob `%s`", target);
		}
		kiln_tempfile_forget(w->tmp);
		free(w->tmp);
		w->tmp = NULL;
		if (kiln_fsync_dir(w->store->blobs, err) < 0) {
			writer_discard(w);
			return -1;
		}
	}
	writer_discard(w); /* an existing blob: the temp copy goes */
	if (digest)
		memcpy(digest, got, KILN_DIGEST_LEN);
	if (size)
		*size = w->size;
	return 0;
}

void img_blob_writer_free(struct img_blob_writer *w)
{
	if (!w)
		return;
	if (w->hash.ctx)
		kiln_sha256_release(&w->hash);
	writer_discard(w);
	free(w);
}

int img_store_put_blob(struct img_store *s, const void *p, size_t n, char digest[KILN_DIGEST_LEN],
                       struct kiln_err *err)
{
	struct img_blob_writer *w = img_blob_writer_new(s, err);
	if (!w)
		return -1;
	int r = img_blob_writer_write(w, p, n, err);
	if (r == 0)
		r = img_blob_writer_commit(w, NULL, digest, NULL, err);
	img_blob_writer_free(w);
	return r;
}

void img_layer_descriptor(const struct img_layer *l, struct img_descriptor *d)
{
	d->media_type = xstrdup(l->media_type ? l->media_type : IMG_MT_OCI_LAYER);
	d->digest = xstrdup(l->digest);
	d->size = (int64_t)l->size;
}

void img_layer_release(struct img_layer *l)
{
	free(l->media_type);
	l->media_type = NULL;
}
