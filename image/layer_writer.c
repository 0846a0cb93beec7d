/* A layer from entries given one by one: the caller walks (a build
 * context, a stage's rootfs), this file writes the PAX tar into a
 * layer_sink (diffID, compressor, blob writer) in the same pass.
 *
 * The tar stream goes to the sink on other threads: the caller's thread
 * reads files and formats the tar while, for an uncompressed layer, one
 * thread hashes it (sha256: the diffID and blob digest) and another
 * writes the blob, side by side on the same buffers (for a compressed
 * one, a single thread hashes, compresses and writes). A few 1 MiB
 * buffers go round, so memory stays bounded and the output is the same
 * bytes in the same order.
 *
 * The buffers are page-aligned: the store writes a big blob with direct
 * I/O straight from them (image/store.c). A COPY of 400 MB would else
 * take 400 MB of fresh page cache, filled once and flushed at commit.
 * Taking fresh pages is the dearest part of a rebuild on a VM whose host
 * reclaims free guest memory (3/4 of the CPU of a one-file-changed
 * rebuild of a 428 MB context, bench/cache_bench.sh); a direct write
 * waits for the device instead, beside the hashing, and commit's fsync
 * has nothing left to flush. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layer-internal.h"

#define DATA_BUF      (1024 * 1024)
#define PIPE_BUF_SIZE (1024 * 1024)
#define PIPE_BUFS     8

enum { C_WRITE, C_HASH }; /* the consumers of the buffers */

/* The hand-over between the tar thread and the consumer threads. The
 * counters only grow: buffer k is buf[k % PIPE_BUFS]; [min done, pushed)
 * are in use, buf[pushed % PIPE_BUFS] is being filled. */
struct pipe {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread[2];
	int n_threads; /* started: 1, or 2 when split */
	bool split;    /* C_HASH hashes, C_WRITE only writes */
	bool closing, failed;
	char *buf[PIPE_BUFS];
	size_t len[PIPE_BUFS];
	uint64_t pushed, done[2];
	struct kiln_sha256 hash; /* split: C_HASH's */
	struct kiln_err err;     /* the first consumer error */
};

struct img_layer_writer {
	struct archive *a;
	struct archive_entry *e;
	struct layer_sink sink;
	struct pipe p;
	int64_t clamp_mtime;
	size_t count;
	uint64_t bytes;
	char *buf;
	void (*progress)(void *ud, uint64_t n); /* img_layer_writer_set_progress */
	void *progress_ud;
	uint64_t streamed;
};

static char *pipe_buf_alloc(void)
{
	void *p = NULL;
	if (posix_memalign(&p, IMG_BLOB_DIRECT_ALIGN, PIPE_BUF_SIZE) != 0)
		abort(); /* as xmalloc does */
	return p;
}

static int consume_one(struct img_layer_writer *w, int k, size_t i, struct kiln_err *err)
{
	struct pipe *p = &w->p;
	if (k == C_HASH) {
		kiln_sha256_update(&p->hash, p->buf[i], p->len[i]);
		return 0;
	}
	return layer_sink_write(&w->sink, p->buf[i], p->len[i], err);
}

/* Consumer k takes every pushed buffer in order until the pipe closes;
 * after a failure it only drains. */
static void consume(struct img_layer_writer *w, int k)
{
	struct pipe *p = &w->p;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (p->done[k] == p->pushed && !p->closing)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->done[k] == p->pushed)
			break;
		size_t i = p->done[k] % PIPE_BUFS;
		bool skip = p->failed;
		pthread_mutex_unlock(&p->mu);
		struct kiln_err e = KILN_ERR_INIT;
		bool ok = skip || consume_one(w, k, i, &e) == 0;
		pthread_mutex_lock(&p->mu);
		if (!ok && !p->failed) {
			kiln_err_move(&p->err, &e);
			p->failed = true;
		}
		kiln_err_release(&e);
		p->done[k]++;
		pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
}

static void *write_thread(void *arg)
{
	consume(arg, C_WRITE);
	return NULL;
}

static void *hash_thread(void *arg)
{
	consume(arg, C_HASH);
	return NULL;
}

static uint64_t pipe_oldest(const struct pipe *p)
{
	return p->split && p->done[C_HASH] < p->done[C_WRITE] ? p->done[C_HASH] : p->done[C_WRITE];
}

/* Hands the buffer being filled to the consumers; waits for a free one. */
static bool pipe_push(struct pipe *p)
{
	pthread_mutex_lock(&p->mu);
	p->pushed++;
	pthread_cond_broadcast(&p->cv);
	while (p->pushed - pipe_oldest(p) >= PIPE_BUFS && !p->failed)
		pthread_cond_wait(&p->cv, &p->mu);
	p->len[p->pushed % PIPE_BUFS] = 0;
	bool ok = !p->failed;
	pthread_mutex_unlock(&p->mu);
	return ok;
}

static la_ssize_t pipe_out(struct archive *a, void *opaque, const void *data, size_t n)
{
	(void)a;
	struct img_layer_writer *w = opaque;
	struct pipe *p = &w->p;
	const char *c = data;
	for (size_t left = n; left;) {
		size_t h = p->pushed % PIPE_BUFS;
		size_t room = PIPE_BUF_SIZE - p->len[h];
		size_t k = left < room ? left : room;
		memcpy(p->buf[h] + p->len[h], c, k);
		p->len[h] += k;
		c += k;
		left -= k;
		if (p->len[h] == PIPE_BUF_SIZE) {
			if (!pipe_push(p))
				return -1;
			w->streamed += PIPE_BUF_SIZE;
			if (w->progress)
				w->progress(w->progress_ud, w->streamed);
		}
	}
	return (la_ssize_t)n;
}

/* Flushes the last buffer and waits for the consumers to finish. */
static bool pipe_close(struct pipe *p)
{
	if (!p->n_threads)
		return !p->failed;
	bool ok = p->len[p->pushed % PIPE_BUFS] == 0 || pipe_push(p);
	pthread_mutex_lock(&p->mu);
	p->closing = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->n_threads; i++)
		pthread_join(p->thread[i], NULL);
	p->n_threads = 0;
	return ok && !p->failed;
}

/* One consumer thread, or two for an uncompressed blob: the hashing and
 * the writing then overlap (the blob writer takes the digest at commit). */
static int pipe_start(struct img_layer_writer *w, struct kiln_err *err)
{
	struct pipe *p = &w->p;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	for (size_t i = 0; i < PIPE_BUFS; i++)
		p->buf[i] = pipe_buf_alloc();
	p->split = !w->sink.z;
	if (p->split) {
		kiln_sha256_init(&p->hash);
		img_blob_writer_hash_outside(w->sink.w);
	}
	void *(*fn[2])(void *) = {write_thread, hash_thread};
	for (int i = 0; i < (p->split ? 2 : 1); i++) {
		int e = pthread_create(&p->thread[i], NULL, fn[i], w);
		if (e != 0) {
			pthread_mutex_lock(&p->mu);
			p->failed = true;
			pthread_mutex_unlock(&p->mu);
			return kiln_err_set(err, e, "creating layer: starting a thread");
		}
		p->n_threads++;
	}
	return 0;
}

static int writer_fail(struct img_layer_writer *w, const char *path, struct kiln_err *err)
{
	if (w->p.err.msg) {
		kiln_err_move(err, &w->p.err);
		return kiln_err_wrap(err, "writing `%s`", path);
	}
	if (w->sink.err.msg) {
		kiln_err_move(err, &w->sink.err);
		return kiln_err_wrap(err, "writing `%s`", path);
	}
	const char *m = archive_error_string(w->a);
	return kiln_err_set(err, archive_errno(w->a), "tar entry `%s`: %s", path,
	                    m ? m : "write error");
}

int img_layer_writer_new(struct img_store *s, const struct img_layer_opts *opts,
                         struct img_layer_writer **out, struct kiln_err *err)
{
	struct img_layer_writer *w = xcalloc(1, sizeof(*w));
	w->clamp_mtime = opts ? opts->clamp_mtime : -1;
	if (layer_sink_open(&w->sink, s, opts ? opts->compression : IMG_COMPRESS_NONE, err) < 0) {
		free(w);
		return kiln_err_wrap(err, "creating layer");
	}
	w->sink.counted = true;
	w->e = archive_entry_new();
	w->buf = xmalloc(DATA_BUF);
	if (pipe_start(w, err) < 0) {
		img_layer_writer_free(w);
		return -1;
	}
	w->a = archive_write_new();
	int r = layer_tar_format(w->a);
	if (r == ARCHIVE_OK)
		/* unblocked: libarchive hands each piece straight to pipe_out
		 * (one copy of the data fewer); no padding either way, as the
		 * last block is padded to 1 byte: the same bytes */
		r = archive_write_set_bytes_per_block(w->a, 0);
	if (r == ARCHIVE_OK)
		r = archive_write_set_bytes_in_last_block(w->a, 1);
	if (r == ARCHIVE_OK)
		r = archive_write_open2(w->a, w, NULL, pipe_out, NULL, NULL);
	if (r != ARCHIVE_OK) {
		writer_fail(w, "(start)", err);
		img_layer_writer_free(w);
		return kiln_err_wrap(err, "creating layer");
	}
	*out = w;
	return 0;
}

static int64_t clamp(const struct img_layer_writer *w, int64_t t)
{
	return w->clamp_mtime >= 0 && t > w->clamp_mtime ? w->clamp_mtime : t;
}

static int copy_data(struct img_layer_writer *w, const struct img_layer_entry *e, int fd,
                     struct kiln_err *err)
{
	struct layer_tap tap = {e->on_data, e->on_data_ud};
	switch (layer_copy_data(w->a, fd, e->size, w->buf, DATA_BUF, e->on_data ? &tap : NULL)) {
	case 0: w->bytes += e->size; return 0;
	case LAYER_DATA_SHRANK:
		return kiln_err_set(err, KILN_E_CONFLICT, "`%s` changed while being read", e->path);
	case LAYER_DATA_READ: return kiln_err_set(err, errno, "read `%s`", e->path);
	default: return writer_fail(w, e->path, err);
	}
}

int img_layer_writer_add(struct img_layer_writer *w, const struct img_layer_entry *e, int data_fd,
                         struct kiln_err *err)
{
	struct archive_entry *ae = w->e;
	archive_entry_clear(ae);
	archive_entry_set_uid(ae, e->uid);
	archive_entry_set_gid(ae, e->gid);
	archive_entry_set_mode(ae, e->mode);
	archive_entry_set_mtime(ae, clamp(w, e->mtime), 0);
	bool data = false;
	if (S_ISDIR(e->mode)) {
		_cleanup_free_ char *name = xasprintf("%s/", e->path);
		archive_entry_set_pathname(ae, name);
	} else {
		archive_entry_set_pathname(ae, e->path);
	}
	if (S_ISREG(e->mode) && e->hardlink) {
		archive_entry_set_hardlink(ae, e->link);
		archive_entry_set_size(ae, 0);
	} else if (S_ISREG(e->mode)) {
		archive_entry_set_size(ae, (la_int64_t)e->size);
		data = e->size > 0;
	} else if (S_ISLNK(e->mode)) {
		archive_entry_set_symlink(ae, e->link ? e->link : "");
	} else if (S_ISCHR(e->mode) || S_ISBLK(e->mode)) {
		archive_entry_set_rdevmajor(ae, e->rdev_major);
		archive_entry_set_rdevminor(ae, e->rdev_minor);
	}
	int xfd = e->xattrs_via_fd ? data_fd : -1;
	if (e->xattrs_from && layer_entry_xattrs(ae, xfd, e->xattrs_from, err) < 0)
		return -1;
	if (layer_write_header(w->a, ae) != ARCHIVE_OK)
		return writer_fail(w, e->path, err);
	w->sink.usage += layer_entry_usage(ae);
	if (data && data_fd < 0)
		return kiln_err_set(err, KILN_E_INVALID, "no data for `%s`", e->path);
	if (data && copy_data(w, e, data_fd, err) < 0)
		return -1;
	w->count++;
	return 0;
}

int img_layer_writer_whiteout(struct img_layer_writer *w, const char *path, int64_t mtime,
                              struct kiln_err *err)
{
	const char *slash = strrchr(path, '/');
	_cleanup_free_ char *wh =
	    slash ? xasprintf("%.*s/.wh.%s", (int)(slash - path), path, slash + 1)
	          : xasprintf(".wh.%s", path);
	struct img_layer_entry e = {.path = wh, .mode = S_IFREG, .mtime = mtime};
	return img_layer_writer_add(w, &e, -1, err);
}

void img_layer_writer_set_progress(struct img_layer_writer *w, void (*fn)(void *ud, uint64_t n),
                                   void *ud)
{
	w->progress = fn;
	w->progress_ud = ud;
}

size_t img_layer_writer_count(const struct img_layer_writer *w)
{
	return w->count;
}

uint64_t img_layer_writer_bytes(const struct img_layer_writer *w)
{
	return w->bytes;
}

int img_layer_writer_commit(struct img_layer_writer *w, struct img_layer *out, struct kiln_err *err)
{
	if (archive_write_close(w->a) != ARCHIVE_OK || !pipe_close(&w->p)) {
		writer_fail(w, "(end)", err);
		return kiln_err_wrap(err, "creating layer");
	}
	char digest[KILN_DIGEST_LEN];
	if (w->p.split)
		kiln_sha256_final(&w->p.hash, digest);
	if (layer_sink_commit(&w->sink, w->p.split ? digest : NULL, out, err) < 0)
		return kiln_err_wrap(err, "creating layer");
	return 0;
}

void img_layer_writer_free(struct img_layer_writer *w)
{
	if (!w)
		return;
	if (w->p.n_threads) { /* abandoned: the consumers drop what is left */
		pthread_mutex_lock(&w->p.mu);
		w->p.failed = true;
		pthread_mutex_unlock(&w->p.mu);
	}
	if (w->a)
		archive_write_free(w->a);
	pipe_close(&w->p);
	for (size_t i = 0; i < PIPE_BUFS; i++)
		free(w->p.buf[i]);
	kiln_err_release(&w->p.err);
	if (w->p.hash.ctx)
		kiln_sha256_release(&w->p.hash);
	pthread_mutex_destroy(&w->p.mu);
	pthread_cond_destroy(&w->p.cv);
	if (w->e)
		archive_entry_free(w->e);
	free(w->buf);
	layer_sink_release(&w->sink);
	free(w);
}
