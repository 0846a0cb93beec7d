/* Unpacking a layer while it downloads: the downloader hands each chunk
 * of blob bytes (already written to the store's blob writer, which hashes
 * them) to a thread that unpacks the snapshot from them
 * (img_snapshot_from_stream verifies the diffID before publishing it), so
 * a pulled image runs without reading its layers a second time. The
 * chunks change hands, never bytes: no pipe, no copy, a bounded queue. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "reg-internal.h"

/* A chunk read to its end goes back to the downloader (under mu): fresh
 * 1 MiB allocations are mmap'ed, and their page faults cost more than
 * the copy into them. */
static void recycle(struct reg_unpack *u, void *p)
{
	if (p && u->n_spare < REG_UNPACK_QUEUE)
		u->spare[u->n_spare++] = p;
	else
		free(p);
}

void *reg_unpack_chunk(struct reg_unpack *u)
{
	void *p = NULL;
	if (u->running) {
		pthread_mutex_lock(&u->mu);
		if (u->n_spare)
			p = u->spare[--u->n_spare];
		pthread_mutex_unlock(&u->mu);
	}
	return p ? p : xmalloc(REG_CHUNK);
}

static ssize_t next_chunk(void *ud, const void **buf, struct kiln_err *err)
{
	struct reg_unpack *u = ud;
	pthread_mutex_lock(&u->mu);
	recycle(u, u->reading);
	u->reading = NULL;
	while (!u->count && !u->closed)
		pthread_cond_wait(&u->cv, &u->mu);
	if (u->abandoned) {
		pthread_mutex_unlock(&u->mu);
		return kiln_err_set(err, ECANCELED, "the download was abandoned");
	}
	size_t n = 0;
	if (u->count) {
		u->reading = u->q[u->head].p;
		n = u->q[u->head].n;
		u->head = (u->head + 1) % REG_UNPACK_QUEUE;
		u->count--;
		pthread_cond_broadcast(&u->cv);
	}
	pthread_mutex_unlock(&u->mu);
	*buf = u->reading;
	return (ssize_t)n;
}

static void drop_queued(struct reg_unpack *u)
{
	for (; u->count; u->count--, u->head = (u->head + 1) % REG_UNPACK_QUEUE)
		free(u->q[u->head].p);
}

static void *unpacker(void *arg)
{
	struct reg_unpack *u = arg;
	int ret = img_snapshot_from_stream(u->s, &u->layer, next_chunk, u, &u->err);
	pthread_mutex_lock(&u->mu);
	u->ret = ret;
	u->stopped = true; /* later chunks are dropped: the downloader never waits */
	drop_queued(u);
	pthread_cond_broadcast(&u->cv);
	pthread_mutex_unlock(&u->mu);
	return NULL;
}

int reg_unpack_start(struct reg_unpack *u, struct img_store *s, const struct img_layer *l,
                     struct kiln_err *err)
{
	memset(u, 0, sizeof(*u));
	u->s = s;
	u->layer = *l;
	u->layer.media_type = NULL; /* not needed: the stream says what it is */
	pthread_mutex_init(&u->mu, NULL);
	pthread_cond_init(&u->cv, NULL);
	if (pthread_create(&u->th, NULL, unpacker, u) != 0) {
		pthread_mutex_destroy(&u->mu);
		pthread_cond_destroy(&u->cv);
		return kiln_err_set(err, EAGAIN, "starting the unpack thread");
	}
	u->running = true;
	kiln_debug("registry: unpacking %s while it downloads", l->digest);
	return 0;
}

int reg_unpack_give(struct reg_unpack *u, void *p, size_t n)
{
	if (!u->running) {
		free(p);
		return 0;
	}
	pthread_mutex_lock(&u->mu);
	while (u->count == REG_UNPACK_QUEUE && !u->stopped)
		pthread_cond_wait(&u->cv, &u->mu);
	if (u->stopped) { /* it failed: finish reports why */
		free(p);
	} else {
		size_t tail = (u->head + u->count) % REG_UNPACK_QUEUE;
		u->q[tail].p = p;
		u->q[tail].n = n;
		u->count++;
		pthread_cond_broadcast(&u->cv);
	}
	pthread_mutex_unlock(&u->mu);
	return 0;
}

int reg_unpack_finish(struct reg_unpack *u, bool complete, struct kiln_err *err)
{
	if (!u->running)
		return 0;
	pthread_mutex_lock(&u->mu);
	u->closed = true;
	u->abandoned = !complete;
	pthread_cond_broadcast(&u->cv);
	pthread_mutex_unlock(&u->mu);
	pthread_join(u->th, NULL);
	u->running = false;
	drop_queued(u);
	free(u->reading);
	u->reading = NULL;
	while (u->n_spare)
		free(u->spare[--u->n_spare]);
	pthread_mutex_destroy(&u->mu);
	pthread_cond_destroy(&u->cv);
	int ret = u->ret;
	if (ret < 0 && complete)
		kiln_err_move(err, &u->err);
	kiln_err_release(&u->err);
	return complete ? ret : 0;
}
