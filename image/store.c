/* The content-addressed store: layout bootstrap and blobs. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store-internal.h"

static const char oci_layout_json[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
static const char empty_index_json[] = "{\"schemaVersion\":2,\"manifests\":[]}";
static const char marker_json[] = "{\"kilnStoreVersion\":1}\n";

static int ensure_file(const char *path, const char *content, struct kiln_err *err)
{
	if (kiln_path_exists(path))
		return 0;
	return kiln_write_file_atomic(path, content, strlen(content), 0644, err);
}

enum root_kind { ROOT_NEW, ROOT_KILN, ROOT_LEGACY, ROOT_FOREIGN };

/* True when dir has no entries (a file system's lost+found aside, and the
 * temp of a marker whose writer was killed). */
static bool dir_is_empty(const char *dir)
{
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    strcmp(de->d_name, "lost+found") &&
		    strncmp(de->d_name, "." IMG_STORE_MARKER ".tmp-",
		            strlen("." IMG_STORE_MARKER ".tmp-")))
			return false;
	return d != NULL;
}

static bool has(const char *root, const char *rel)
{
	_cleanup_free_ char *p = kiln_path_join(root, rel);
	return kiln_path_exists(p);
}

/* What root is: missing or empty (a new store), kiln's (its marker), a store
 * of an earlier kiln (the layout and store.lock, no marker), or anything
 * else, which kiln never touches. */
static int classify_root(const char *root, enum root_kind *kind, struct kiln_err *err)
{
	struct stat st;
	if (stat(root, &st) < 0) {
		if (errno != ENOENT)
			return kiln_err_set(err, errno, "stat `%s`", root);
		*kind = ROOT_NEW;
		return 0;
	}
	if (!S_ISDIR(st.st_mode))
		return kiln_err_set(err, ENOTDIR, "`%s`", root);
	if (has(root, IMG_STORE_MARKER))
		*kind = ROOT_KILN;
	else if (has(root, "images/oci-layout") && has(root, "images/index.json") &&
	         has(root, "store.lock"))
		*kind = ROOT_LEGACY;
	else if (dir_is_empty(root))
		*kind = ROOT_NEW;
	else
		*kind = ROOT_FOREIGN;
	return 0;
}

/* Creates a new store: the marker first (the directory is empty, so a crash
 * leaves a marked store that the next open completes), then the layout. */
static int init_store(struct img_store *s, enum root_kind kind, struct kiln_err *err)
{
	_cleanup_free_ char *marker = kiln_path_join(s->root, IMG_STORE_MARKER);
	_cleanup_free_ char *layout_file = kiln_path_join(s->layout, "oci-layout");
	_cleanup_free_ char *index_file = kiln_path_join(s->layout, "index.json");
	if (kind != ROOT_KILN) {
		if (kiln_mkdir_p(s->root, 0755, err) < 0 ||
		    kiln_write_file_atomic(marker, marker_json, strlen(marker_json), 0644, err) < 0)
			return -1;
	}
	if (kiln_mkdir_p(s->blobs, 0755, err) < 0 || kiln_mkdir_p(s->snapshots, 0700, err) < 0 ||
	    kiln_mkdir_p(s->tmp, 0700, err) < 0 ||
	    ensure_file(layout_file, oci_layout_json, err) < 0)
		return -1;
	/* index.json only for a new store (or one whose creation was cut short
	 * before any blob was written): once the store holds something, a
	 * missing index.json is damage (gc refuses to run), never an empty store */
	if ((kind == ROOT_NEW || dir_is_empty(s->blobs)) &&
	    ensure_file(index_file, empty_index_json, err) < 0)
		return -1;
	return 0;
}

/* A store kiln may read but not write (a read-only mount, no permission):
 * listing, inspecting, saving and checking work; writes fail. */
static bool root_read_only(const char *root)
{
	return access(root, W_OK) < 0 && (errno == EROFS || errno == EACCES || errno == EPERM);
}

static int open_lock(struct img_store *s, struct kiln_err *err)
{
	_cleanup_free_ char *lock = kiln_path_join(s->root, "store.lock");
	if (!s->read_only) {
		s->lock_fd = kiln_lock_file(lock, false, err);
		return s->lock_fd < 0 ? -1 : 0;
	}
	/* read-only: a shared lock through a read-only descriptor still keeps
	 * a gc on another (writable) mount of the same store out */
	s->lock_fd = open(lock, O_RDONLY | O_CLOEXEC);
	if (s->lock_fd >= 0)
		while (flock(s->lock_fd, LOCK_SH) < 0 && errno == EINTR)
			;
	return 0;
}

static int store_open(const char *root, bool read_only, struct img_store **out,
                      struct kiln_err *err)
{
	if (!root || !*root)
		return kiln_err_set(err, KILN_E_INVALID, "the store root is an empty path");
	enum root_kind kind;
	if (classify_root(root, &kind, err) < 0)
		return kiln_err_wrap(err, "opening store `%s`", root);
	if (kind == ROOT_FOREIGN)
		return kiln_err_set(
		    err, KILN_E_INVALID,
		    "`%s` is not a kiln store: the directory is not empty and has no "
		    "`%s` marker",
		    root, IMG_STORE_MARKER);
	struct img_store *s = xcalloc(1, sizeof(*s));
	s->lock_fd = -1;
	s->root = xstrdup(root);
	s->layout = kiln_path_join(root, "images");
	s->blobs = kiln_path_join(s->layout, "blobs/sha256");
	s->snapshots = kiln_path_join(root, "snapshots");
	s->tmp = kiln_path_join(root, "tmp");
	s->read_only = read_only || (kind != ROOT_NEW && root_read_only(root));
	if (!s->read_only && init_store(s, kind, err) < 0)
		goto fail;
	if (open_lock(s, err) < 0)
		goto fail;
	if (!s->read_only)
		img_store_sweep_temps(s, IMG_STALE_TEMP_SEC);
	*out = s;
	return 0;
fail:
	img_store_close(s);
	return kiln_err_wrap(err, "opening store `%s`", root);
}

int img_store_open(const char *root, struct img_store **out, struct kiln_err *err)
{
	return store_open(root, false, out, err);
}

int img_store_open_read_only(const char *root, struct img_store **out, struct kiln_err *err)
{
	return store_open(root, true, out, err);
}

void img_store_close(struct img_store *s)
{
	if (!s)
		return;
	img_store_batch_end(s, NULL);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	img_cache_free(s);
	img_index_memo_drop(s);
	free(s->root);
	free(s->layout);
	free(s->blobs);
	free(s->snapshots);
	free(s->tmp);
	kiln_strv_release(&s->durable_dirs);
	free(s);
}

int img_store_writable(struct img_store *s, struct kiln_err *err)
{
	if (!s->read_only)
		return 0;
	return kiln_err_set(err, EROFS,
	                    "the store `%s` is read-only (a read-only mount, or no write "
	                    "permission): only images, inspect, history, save, system df and "
	                    "system check work there",
	                    s->root);
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
	_cleanup_free_ char *p = img_batch_blob_source(s, digest);
	return kiln_path_exists(p);
}

int img_store_open_blob(struct img_store *s, const char *digest, struct kiln_err *err)
{
	if (!kiln_digest_valid(digest))
		return kiln_err_set(err, KILN_E_INVALID, "invalid digest `%s`", digest);
	_cleanup_free_ char *p = img_batch_blob_source(s, digest);
	int fd = open(p, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return kiln_err_set(err, errno == ENOENT ? KILN_E_NOTFOUND : errno, "blob `%s`%s",
		                    digest, errno == ENOENT ? " not found in the store" : "");
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return kiln_err_set(err, e, "blob `%s`", digest);
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return kiln_err_set(err, KILN_E_CORRUPT, "blob `%s` is corrupt: not a regular file",
		                    digest);
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
}

int img_store_read_blob(struct img_store *s, const char *digest, size_t max, char **data,
                        size_t *len, struct kiln_err *err)
{
	_cleanup_close_ int fd = img_store_open_blob(s, digest, err);
	if (fd < 0)
		return -1;
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
	uint64_t flushing;   /* bytes handed to writeback so far */
	bool holes;          /* zeros skipped, or the tail padded: the size is set at commit */
	bool no_direct;      /* O_DIRECT refused: buffered to the end */
	unsigned char *dbuf; /* direct mode: BLOB_DIRECT_BUF aligned bytes, or NULL */
	size_t dlen;         /* bytes in dbuf */
	uint64_t doff;       /* file offset of dbuf[0] */
	bool hash_outside;   /* the caller hashes: commit takes its digest */
	bool partial;        /* ROOT/tmp/partial-<hex>: kept when freed uncommitted */
	bool positioned;     /* a partial's offset is at size, its file cut there */
	uint64_t have;       /* bytes a partial held when opened (replay reads them) */
};

/* Writeback starts behind the writer every BLOB_WRITEBACK bytes, so the
 * fsync before the blob is published waits for the tail only, not for the
 * whole blob (a 400 MB layer's bytes go to disk while it is being tarred
 * and hashed). Only a hint: errors surface at that fsync. */
#define BLOB_WRITEBACK (8u << 20)

struct img_blob_writer *img_blob_writer_new(struct img_store *s, struct kiln_err *err)
{
	if (img_store_writable(s, err) < 0)
		return NULL;
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

/* Appending to a partial: whatever it holds past the bytes replayed goes. */
static int partial_position(struct img_blob_writer *w, struct kiln_err *err)
{
	if (!w->partial || w->positioned)
		return 0;
	if (ftruncate(w->fd, (off_t)w->size) < 0 || lseek(w->fd, (off_t)w->size, SEEK_SET) < 0)
		return kiln_err_set(err, errno, "writing blob to `%s`", w->tmp);
	w->positioned = true;
	return 0;
}

#define HOLE_MIN (64u << 10)

static bool all_zero(const unsigned char *p, size_t n)
{
	return n && !p[0] && !memcmp(p, p + 1, n - 1);
}

/* A long run of zeros (a sparse file in a layer) becomes a hole in the
 * blob file: nothing to write, nothing to flush; reads give the zeros. */
static int buffered_put(struct img_blob_writer *w, const void *p, size_t n, struct kiln_err *err)
{
	if (partial_position(w, err) < 0)
		return -1;
	if (n >= HOLE_MIN && all_zero(p, n)) {
		if (lseek(w->fd, (off_t)n, SEEK_CUR) < 0)
			return kiln_err_set(err, errno, "writing blob to `%s`", w->tmp);
		w->holes = true;
	} else if (kiln_write_all(w->fd, p, n, err) < 0) {
		return kiln_err_wrap(err, "writing blob to `%s`", w->tmp);
	}
	w->size += n;
	if (w->size - w->flushing >= BLOB_WRITEBACK) {
		sync_file_range(w->fd, (off_t)w->flushing, (off_t)(w->size - w->flushing),
		                SYNC_FILE_RANGE_WRITE);
		w->flushing = w->size;
	}
	return 0;
}

/* Past its first BLOB_DIRECT_AFTER bytes, a blob (a large layer) is
 * written with O_DIRECT from an aligned buffer of BLOB_DIRECT_BUF: its
 * bytes go to the disk without passing through the page cache, which here
 * (a VM) costs about 2 ms of system time per MB written to pages the host
 * has to supply first, and the flush before publication finds nothing left
 * to write. Small blobs stay buffered (one syncfs flushes them all). Where
 * O_DIRECT is refused (tmpfs) or a write is (alignment), the blob goes on
 * buffered. */
#define BLOB_DIRECT_AFTER (8u << 20)
#define BLOB_DIRECT_BUF   (4u << 20)
#define BLOB_ALIGN        4096u

static void start_direct(struct img_blob_writer *w)
{
	void *buf = NULL;
	int fl = fcntl(w->fd, F_GETFL);
	if (fl < 0 || posix_memalign(&buf, BLOB_ALIGN, BLOB_DIRECT_BUF) != 0 ||
	    fcntl(w->fd, F_SETFL, fl | O_DIRECT) < 0) {
		free(buf);
		w->no_direct = true;
		return;
	}
	w->dbuf = buf;
	w->dlen = 0;
	w->doff = w->size;
}

/* Writes dbuf[0, len) at doff (len a multiple of BLOB_ALIGN). */
static int direct_flush(struct img_blob_writer *w, size_t len, struct kiln_err *err)
{
	size_t done = 0;
	while (done < len) {
		ssize_t r = pwrite(w->fd, w->dbuf + done, len - done, (off_t)(w->doff + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EINVAL && !w->no_direct) { /* refused: buffered */
			w->no_direct = true;
			fcntl(w->fd, F_SETFL, fcntl(w->fd, F_GETFL) & ~O_DIRECT);
			continue;
		}
		if (r <= 0)
			return kiln_err_set(err, r < 0 ? errno : EIO, "writing blob to `%s`",
			                    w->tmp);
		done += (size_t)r;
	}
	w->doff += len;
	w->dlen = 0;
	return 0;
}

static int direct_put(struct img_blob_writer *w, const unsigned char *p, size_t n,
                      struct kiln_err *err)
{
	if (n >= HOLE_MIN && n % BLOB_ALIGN == 0 && w->dlen % BLOB_ALIGN == 0 && all_zero(p, n)) {
		if (w->dlen && direct_flush(w, w->dlen, err) < 0)
			return -1;
		w->doff += n; /* a hole */
		w->size += n;
		w->holes = true;
		return 0;
	}
	w->size += n;
	if (!w->dlen && (uintptr_t)p % BLOB_ALIGN == 0 && n % BLOB_ALIGN == 0) {
		/* the caller's buffer is aligned (the layer writer's are): no copy */
		unsigned char *own = w->dbuf;
		w->dbuf = (unsigned char *)p;
		int r = direct_flush(w, n, err);
		w->dbuf = own;
		return r;
	}
	while (n) {
		size_t k = BLOB_DIRECT_BUF - w->dlen < n ? BLOB_DIRECT_BUF - w->dlen : n;
		memcpy(w->dbuf + w->dlen, p, k);
		w->dlen += k;
		p += k;
		n -= k;
		if (w->dlen == BLOB_DIRECT_BUF && direct_flush(w, BLOB_DIRECT_BUF, err) < 0)
			return -1;
	}
	return 0;
}

/* The buffered tail, padded to BLOB_ALIGN (the size is set at commit). */
static int direct_finish(struct img_blob_writer *w, struct kiln_err *err)
{
	if (!w->dbuf || !w->dlen)
		return 0;
	size_t len = (w->dlen + BLOB_ALIGN - 1) / BLOB_ALIGN * BLOB_ALIGN;
	memset(w->dbuf + w->dlen, 0, len - w->dlen);
	w->holes = true;
	return direct_flush(w, len, err);
}

int img_blob_writer_write(struct img_blob_writer *w, const void *p, size_t n, struct kiln_err *err)
{
	/* a partial is cut where its replay ended before the first write, on
	 * either path (a direct write does not move the file offset) */
	if (partial_position(w, err) < 0)
		return -1;
	if (!w->hash_outside)
		kiln_sha256_update(&w->hash, p, n);
	const unsigned char *c = p;
	if (!w->dbuf && !w->no_direct && w->size + n > BLOB_DIRECT_AFTER) {
		/* buffered up to an aligned offset, direct from there */
		size_t pad = (BLOB_ALIGN - w->size % BLOB_ALIGN) % BLOB_ALIGN;
		size_t k = pad < n ? pad : n;
		if (k && buffered_put(w, c, k, err) < 0)
			return -1;
		c += k;
		n -= k;
		if (w->size % BLOB_ALIGN == 0)
			start_direct(w);
	}
	return w->dbuf ? direct_put(w, c, n, err) : buffered_put(w, c, n, err);
}

void img_blob_writer_hash_outside(struct img_blob_writer *w)
{
	w->hash_outside = true;
}

/* --- resumable: a partial download kept across processes ------------- */

struct img_blob_writer *img_blob_writer_resume(struct img_store *s, const char *digest,
                                               struct kiln_err *err)
{
	if (!kiln_digest_valid(digest))
		return img_blob_writer_new(s, err);
	if (img_store_writable(s, err) < 0)
		return NULL;
	_cleanup_free_ char *name = xasprintf(IMG_PARTIAL_PREFIX "%s", kiln_digest_hex(digest));
	_cleanup_free_ char *path = kiln_path_join(s->tmp, name);
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	struct stat st, now;
	/* held by another live pull, swept meanwhile or not a file: a plain writer */
	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0 || fstat(fd, &st) < 0 ||
	    !S_ISREG(st.st_mode) || lstat(path, &now) < 0 || now.st_ino != st.st_ino ||
	    now.st_dev != st.st_dev) {
		if (fd >= 0)
			close(fd);
		return img_blob_writer_new(s, err);
	}
	struct img_blob_writer *w = xcalloc(1, sizeof(*w));
	w->store = s;
	w->fd = fd;
	w->tmp = TAKE_PTR(path);
	w->partial = true;
	w->have = (uint64_t)st.st_size;
	kiln_sha256_init(&w->hash);
	return w;
}

ssize_t img_blob_writer_replay(struct img_blob_writer *w, void *buf, size_t n, struct kiln_err *err)
{
	if (!w->partial || w->positioned || w->size >= w->have)
		return 0;
	size_t want = w->have - w->size < n ? (size_t)(w->have - w->size) : n;
	ssize_t r;
	do
		r = pread(w->fd, buf, want, (off_t)w->size);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return kiln_err_set(err, errno, "read partial blob `%s`", w->tmp);
	kiln_sha256_update(&w->hash, buf, (size_t)r);
	w->size += (uint64_t)r;
	w->flushing = w->size;
	if (r == 0)
		w->have = w->size;
	return r;
}

static void writer_discard(struct img_blob_writer *w)
{
	free(w->dbuf);
	w->dbuf = NULL;
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
	if (w->hash_outside && !expected) {
		writer_discard(w);
		return kiln_err_set(err, KILN_E_INVALID, "blob hashed outside: no digest given");
	}
	if (partial_position(w, err) < 0) {
		writer_discard(w);
		return -1;
	}
	if (w->hash_outside)
		snprintf(got, sizeof(got), "%s", expected);
	else
		kiln_sha256_final(&w->hash, got);
	if (expected && strcmp(expected, got) != 0) {
		writer_discard(w);
		return kiln_err_set(err, KILN_E_CORRUPT,
		                    "digest mismatch: expected %s, content hashes to %s", expected,
		                    got);
	}
	if (direct_finish(w, err) < 0) {
		writer_discard(w);
		return -1;
	}
	if (w->holes && ftruncate(w->fd, (off_t)w->size) < 0) {
		int e = errno;
		writer_discard(w);
		return kiln_err_set(err, e, "write blob %s", got);
	}
	if (digest)
		memcpy(digest, got, KILN_DIGEST_LEN);
	if (size)
		*size = w->size;
	/* in a group commit the batch's flush syncs and publishes it */
	if (img_batch_queue_blob(w->store, got, &w->tmp, &w->fd))
		return 0;
	if (fsync(w->fd) < 0) {
		int e = errno;
		writer_discard(w);
		return kiln_err_set(err, e, "fsync blob %s", got);
	}
	/* Renamed over an existing blob too: the new bytes were just hashed, the
	 * old file may have been damaged since it was stored, and replacing it
	 * costs no extra pass (checking it would cost a read of the whole blob) */
	_cleanup_free_ char *target = img_store_blob_path(w->store, got);
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
	writer_discard(w);
	return 0;
}

void img_blob_writer_free(struct img_blob_writer *w)
{
	if (!w)
		return;
	if (w->hash.ctx)
		kiln_sha256_release(&w->hash);
	struct stat st; /* an uncommitted partial stays for the next pull (unless empty) */
	if (w->partial && w->tmp && fstat(w->fd, &st) == 0 && st.st_size > 0) {
		close(w->fd);
		w->fd = -1;
		free(w->tmp);
		w->tmp = NULL;
	}
	writer_discard(w);
	free(w);
}

/* A stored blob of digest d holds exactly the n bytes at p (read back and
 * compared: a damaged copy differs and is then rewritten). */
static bool blob_holds(struct img_store *s, const char *d, const void *p, size_t n)
{
	struct kiln_err e = KILN_ERR_INIT;
	_cleanup_close_ int fd = img_store_open_blob(s, d, &e);
	kiln_err_release(&e);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || (uint64_t)st.st_size != n)
		return false;
	_cleanup_free_ char *buf = xmalloc(n + 1);
	size_t got = 0;
	while (got <= n) {
		ssize_t r = read(fd, buf + got, n + 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got == n && !memcmp(buf, p, n);
}

/* An in-memory blob (config, manifest: small) already stored intact is not
 * written again: a rebuild that makes the same image costs no fsync. */
int img_store_put_blob(struct img_store *s, const void *p, size_t n, char digest[KILN_DIGEST_LEN],
                       struct kiln_err *err)
{
	if (n <= IMG_MAX_JSON) {
		struct kiln_sha256 h;
		char d[KILN_DIGEST_LEN];
		kiln_sha256_init(&h);
		kiln_sha256_update(&h, p, n);
		kiln_sha256_final(&h, d);
		if (blob_holds(s, d, p, n)) {
			memcpy(digest, d, KILN_DIGEST_LEN);
			return 0;
		}
	}
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

void img_layer_of_image(const struct img_manifest *m, const struct img_config *c, size_t i,
                        struct img_layer *out)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->diff_id, sizeof(out->diff_id), "%s", c->diff_ids[i]);
	snprintf(out->digest, sizeof(out->digest), "%s", m->layers[i].digest);
	out->size = (uint64_t)m->layers[i].size;
	out->media_type = m->layers[i].media_type;
}

void img_layer_release(struct img_layer *l)
{
	free(l->media_type);
	l->media_type = NULL;
}
