/* Group commit: durability for a whole build with a few syncfs instead of
 * two fsyncs per file (docs/design-notes.md, "Durability by group
 * commit").
 *
 * While a batch is open, a committed blob stays in its temp file in
 * ROOT/tmp (held open and flock'ed, so no temp sweep takes it) and a file
 * written with img_store_write_durable stays under a temp name beside its
 * target: written, not flushed, not published. Lookups through the store
 * (img_store_has_blob, img_store_open_blob, img_store_durable_path) find
 * them there, so later steps of the build read what earlier ones made.
 * A flush makes them durable first (one syncfs of the store's
 * filesystem) and only then renames them into place, in the order they
 * were queued: a blob is queued when it is committed, the GC root and the
 * cache record that name it after that, so children always precede their
 * parents. A crash before the syncfs leaves only temps (swept later); one
 * during the renames, or a reordering of directory updates on a
 * filesystem without a journal, can lose a rename but never publish a name
 * whose bytes are not on disk. A publication (index.c) writes index.json's
 * temp, flushes the batch, syncs again so the renames are durable, and only
 * then renames index.json and syncs its directory: a tag never points at a
 * blob whose name could still be lost. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store-internal.h"

struct batch_item {
	char *digest; /* a blob's digest, or NULL */
	char *tmp;    /* written, not flushed (registered for removal) */
	char *final;  /* where the flush renames it */
	int fd;       /* a blob's temp, held flock'ed until published; or -1 */
};

struct img_batch {
	pthread_mutex_t mu;
	struct batch_item *v;
	size_t n, cap;
};

/* KILN_TEST_CRASH=POINT: SIGKILL at that point of a group commit, for the
 * crash tests (tests/e2e/test_build_crash.sh). POINT is `batch-synced`
 * (temps flushed, nothing renamed), `batch-renamed` (half the renames
 * done), `index-written` (every rename done and synced, index.json's new
 * temp written, not renamed). */
void img_batch_crash_point(const char *point)
{
	const char *want = getenv("KILN_TEST_CRASH");
	if (want && !strcmp(want, point))
		raise(SIGKILL);
}

void img_store_batch_begin(struct img_store *s)
{
	if (s->batch || s->read_only)
		return;
	s->batch = xcalloc(1, sizeof(*s->batch));
	pthread_mutex_init(&s->batch->mu, NULL);
}

static void item_release(struct batch_item *it, bool drop)
{
	if (it->fd >= 0)
		close(it->fd);
	if (drop && it->tmp)
		unlink(it->tmp);
	if (it->tmp)
		kiln_tempfile_forget(it->tmp);
	free(it->digest);
	free(it->tmp);
	free(it->final);
	memset(it, 0, sizeof(*it));
	it->fd = -1;
}

static void queue(struct img_batch *b, char *digest, char *tmp, char *final, int fd)
{
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 16;
		b->v = xreallocarray(b->v, b->cap, sizeof(*b->v));
	}
	b->v[b->n++] = (struct batch_item){.digest = digest, .tmp = tmp, .final = final, .fd = fd};
}

bool img_batch_queue_blob(struct img_store *s, const char *digest, char **tmp, int *fd)
{
	struct img_batch *b = s->batch;
	if (!b)
		return false;
	pthread_mutex_lock(&b->mu);
	bool dup = false;
	for (size_t i = 0; i < b->n && !dup; i++)
		dup = b->v[i].digest && !strcmp(b->v[i].digest, digest);
	if (dup) { /* the same bytes are already queued: this copy goes */
		unlink(*tmp);
		kiln_tempfile_forget(*tmp);
		free(*tmp);
		close(*fd);
	} else {
		queue(b, xstrdup(digest), *tmp, img_store_blob_path(s, digest), *fd);
	}
	*tmp = NULL;
	*fd = -1;
	pthread_mutex_unlock(&b->mu);
	return true;
}

/* The queued temp of blob digest (or of the file final when digest is
 * NULL), the latest one; allocated, or NULL. */
static char *pending(struct img_store *s, const char *digest, const char *final)
{
	struct img_batch *b = s->batch;
	if (!b)
		return NULL;
	char *p = NULL;
	pthread_mutex_lock(&b->mu);
	for (size_t i = b->n; i-- > 0 && !p;) {
		const struct batch_item *it = &b->v[i];
		if (digest ? it->digest && !strcmp(it->digest, digest)
		           : !it->digest && final && !strcmp(it->final, final))
			p = xstrdup(it->tmp);
	}
	pthread_mutex_unlock(&b->mu);
	return p;
}

char *img_batch_blob_source(struct img_store *s, const char *digest)
{
	char *p = pending(s, digest, NULL);
	return p ? p : img_store_blob_path(s, digest);
}

char *img_store_durable_path(struct img_store *s, const char *path)
{
	char *p = pending(s, NULL, path);
	return p ? p : xstrdup(path);
}

int img_store_write_durable(struct img_store *s, const char *path, const void *data, size_t len,
                            mode_t mode, struct kiln_err *err)
{
	struct img_batch *b = s->batch;
	if (!b)
		return kiln_write_file_atomic(path, data, len, mode, err);
	const char *slash = strrchr(path, '/');
	_cleanup_free_ char *dir = slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup(".");
	_cleanup_free_ char *prefix = xasprintf(".%s.tmp-", slash ? slash + 1 : path);
	char *tmp = NULL;
	_cleanup_close_ int fd = kiln_tempfile_create(dir, prefix, &tmp, err);
	if (fd < 0)
		return kiln_err_wrap(err, "writing `%s`", path);
	if (kiln_write_all(fd, data, len, err) < 0 || fchmod(fd, mode) < 0) {
		if (!err->msg)
			kiln_err_set(err, errno, "write `%s`", tmp);
		unlink(tmp);
		kiln_tempfile_forget(tmp);
		free(tmp);
		return kiln_err_wrap(err, "writing `%s`", path);
	}
	pthread_mutex_lock(&b->mu);
	queue(b, NULL, tmp, xstrdup(path), -1);
	pthread_mutex_unlock(&b->mu);
	return 0;
}

static int sync_store(struct img_store *s, struct kiln_err *err)
{
	_cleanup_close_ int fd = open(s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || syncfs(fd) < 0)
		return kiln_err_set(err, errno, "sync the store `%s`", s->root);
	return 0;
}

/* Under b->mu: one syncfs, then every rename in queue order. On failure
 * the items not yet renamed are dropped (their temps removed). */
static int flush_locked(struct img_store *s, struct img_batch *b, struct kiln_err *err)
{
	if (b->n == 0)
		return 0;
	struct img_snapshot_settle st; /* snapshots made durable by the same syncfs */
	img_snapshot_settle_begin(s, &st);
	int r = sync_store(s, err);
	img_snapshot_settle_end(s, &st, r == 0);
	if (r == 0)
		img_batch_crash_point("batch-synced");
	size_t i = 0;
	for (; r == 0 && i < b->n; i++) {
		if (i == b->n / 2)
			img_batch_crash_point("batch-renamed");
		if (rename(b->v[i].tmp, b->v[i].final) < 0) {
			r = kiln_err_set(err, errno, "rename `%s` to `%s`", b->v[i].tmp,
			                 b->v[i].final);
			break;
		}
		kiln_tempfile_forget(b->v[i].tmp); /* published: nothing to remove */
		free(b->v[i].tmp);
		b->v[i].tmp = NULL;
	}
	for (size_t k = 0; k < b->n; k++)
		item_release(&b->v[k], k >= i);
	b->n = 0;
	return r;
}

int img_store_batch_flush(struct img_store *s, struct kiln_err *err)
{
	struct img_batch *b = s->batch;
	if (!b)
		return 0;
	pthread_mutex_lock(&b->mu);
	int r = flush_locked(s, b, err);
	pthread_mutex_unlock(&b->mu);
	return r;
}

int img_batch_sync(struct img_store *s, struct kiln_err *err)
{
	return sync_store(s, err);
}

int img_store_batch_end(struct img_store *s, struct kiln_err *err)
{
	struct img_batch *b = s->batch;
	if (!b)
		return 0;
	int r = img_store_batch_flush(s, err);
	s->batch = NULL;
	free(b->v);
	pthread_mutex_destroy(&b->mu);
	free(b);
	return r;
}
