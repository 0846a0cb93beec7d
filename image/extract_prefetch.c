/* A layer's decompression and diffID hashing on a thread of their own while
 * the extracting thread parses the tar and creates the files (a pull's
 * unpacking: the two halves overlap instead of taking turns on one core).
 * The thread reads the source with layer_source_read into buffers handed
 * over through a short queue (no copy); the source (its digests, limits
 * and error) belongs to that thread until it is joined. */
#include <archive.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "layer-internal.h"

#define PF_BUFS 8            /* buffers in flight: queued, being read, being filled */
#define PF_BUF  (256u << 10) /* bytes per buffer */

struct layer_prefetch {
	struct layer_source *src;
	pthread_t th;
	bool running;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *q[PF_BUFS];
	size_t qn[PF_BUFS];
	size_t head, count;
	char *free_bufs[PF_BUFS];
	size_t n_free;
	char *reading; /* the buffer libarchive reads */
	bool eof, failed;
	bool stop; /* abandoned: the thread reads no more */
	bool gone; /* the reader is done: the rest is read (hashed) and dropped */
};

static void *prefetch_main(void *arg)
{
	struct layer_prefetch *pf = arg;
	for (;;) {
		pthread_mutex_lock(&pf->mu);
		while (!pf->stop && !pf->n_free)
			pthread_cond_wait(&pf->cv, &pf->mu);
		if (pf->stop) {
			pthread_mutex_unlock(&pf->mu);
			return NULL;
		}
		char *buf = pf->free_bufs[--pf->n_free];
		pthread_mutex_unlock(&pf->mu);
		struct kiln_err e = KILN_ERR_INIT;
		ssize_t n = layer_source_read(pf->src, buf, PF_BUF, &e);
		if (n < 0 && !pf->src->err.msg)
			kiln_err_move(&pf->src->err, &e);
		kiln_err_release(&e);
		pthread_mutex_lock(&pf->mu);
		if (n > 0 && !pf->gone) {
			size_t tail = (pf->head + pf->count) % PF_BUFS;
			pf->q[tail] = buf;
			pf->qn[tail] = (size_t)n;
			pf->count++;
		} else {
			pf->free_bufs[pf->n_free++] = buf;
		}
		pf->failed = n < 0;
		pf->eof = n == 0;
		pthread_cond_broadcast(&pf->cv);
		pthread_mutex_unlock(&pf->mu);
		if (n <= 0)
			return NULL;
	}
}

static ssize_t prefetch_read(struct archive *a, void *opaque, const void **out)
{
	struct layer_prefetch *pf = opaque;
	pthread_mutex_lock(&pf->mu);
	if (pf->reading) {
		pf->free_bufs[pf->n_free++] = pf->reading;
		pf->reading = NULL;
		pthread_cond_broadcast(&pf->cv);
	}
	while (!pf->count && !pf->eof && !pf->failed)
		pthread_cond_wait(&pf->cv, &pf->mu);
	ssize_t n = 0;
	if (pf->count) {
		pf->reading = pf->q[pf->head];
		n = (la_ssize_t)pf->qn[pf->head];
		pf->head = (pf->head + 1) % PF_BUFS;
		pf->count--;
	} else if (pf->failed) { /* the thread is done with src: its error is ours */
		n = -1;
	}
	pthread_mutex_unlock(&pf->mu);
	if (n < 0)
		archive_set_error(a, EIO, "%s",
		                  pf->src->err.msg ? pf->src->err.msg : "reading layer failed");
	*out = pf->reading;
	return n;
}

struct archive *layer_prefetch_tar_reader(struct layer_source *src, struct layer_prefetch **out,
                                          struct kiln_err *err)
{
	struct layer_prefetch *pf = xcalloc(1, sizeof(*pf));
	pf->src = src;
	pthread_mutex_init(&pf->mu, NULL);
	pthread_cond_init(&pf->cv, NULL);
	for (size_t i = 0; i < PF_BUFS; i++)
		pf->free_bufs[pf->n_free++] = xmalloc(PF_BUF);
	*out = pf;
	if (pthread_create(&pf->th, NULL, prefetch_main, pf) != 0)
		return layer_source_tar_reader(src, err); /* no thread: read in line */
	pf->running = true;
	_cleanup_free_ char *msg = NULL;
	struct archive *a = layer_tar_reader_open(pf, prefetch_read, NULL, &msg);
	if (!a) {
		layer_prefetch_stop(pf); /* src is ours again */
		layer_tar_reader_err(src, msg, err);
	}
	return a;
}

static void join(struct layer_prefetch *pf)
{
	if (pf->running)
		pthread_join(pf->th, NULL);
	pf->running = false;
}

void layer_prefetch_stop(struct layer_prefetch *pf)
{
	if (!pf)
		return;
	pthread_mutex_lock(&pf->mu);
	pf->stop = true;
	pthread_cond_broadcast(&pf->cv);
	pthread_mutex_unlock(&pf->mu);
	join(pf);
}

void layer_prefetch_free(struct layer_prefetch *pf)
{
	if (!pf)
		return;
	pthread_mutex_lock(&pf->mu);
	pf->gone = true; /* every buffer back to the thread, which drains src */
	for (; pf->count; pf->count--, pf->head = (pf->head + 1) % PF_BUFS)
		pf->free_bufs[pf->n_free++] = pf->q[pf->head];
	if (pf->reading)
		pf->free_bufs[pf->n_free++] = pf->reading;
	pf->reading = NULL;
	pthread_cond_broadcast(&pf->cv);
	pthread_mutex_unlock(&pf->mu);
	join(pf);
	while (pf->n_free)
		free(pf->free_bufs[--pf->n_free]);
	pthread_mutex_destroy(&pf->mu);
	pthread_cond_destroy(&pf->cv);
	free(pf);
}
