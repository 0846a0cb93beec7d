/* The tty progress printer (BuildKit's default on a terminal): a header
 * with the elapsed time and steps done, then the steps with their timers,
 * redrawn in place every 100 ms by a ticker thread; finished steps collapse
 * into their one line, running ones show a spinner, a failing one its
 * error. At the end the final frame stays on the screen. */
#include <inttypes.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "progress-internal.h"

#define TTY_MAX_SHOWN 12 /* the last steps kept on the screen */

struct vtx {
	char *name;
	struct timespec t0;
	double secs;
	int state; /* 0 running, 1 done, 2 cached, 3 error */
	char *err;
	uint64_t bytes; /* written so far (COPY, ADD) */
};

struct tty {
	struct bld_progress ops;
	FILE *out;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t ticker;
	bool stop, finished; /* finished: the last frame, all steps done */
	struct vtx *v;
	size_t n, cap;
	int lines; /* lines of the last frame, to move back over */
	unsigned tick;
	struct timespec t0;
};

static double secs_since(const struct timespec *t0)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static int term_width(FILE *f)
{
	struct winsize ws;
	if (ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
		return ws.ws_col;
	return 80;
}

void bld_format_bytes(char *buf, size_t len, uint64_t v)
{
	static const char *const unit[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
	uint64_t base = 1;
	size_t i = 0;
	while (i + 1 < KILN_ARRAY_SIZE(unit) && v / 1000 >= base) {
		base *= 1000;
		i++;
	}
	if (i == 0)
		snprintf(buf, len, "%" PRIu64 "B", v);
	else
		snprintf(buf, len, "%.2f%s", (double)v / (double)base, unit[i]);
}

/* One frame; called with t->mu held. */
static void draw(struct tty *t)
{
	static const char spin[] = "|/-\\";
	int width = term_width(t->out);
	size_t done = 0, failed = 0;
	for (size_t i = 0; i < t->n; i++) {
		done += t->v[i].state != 0;
		failed += t->v[i].state == 3;
	}
	if (t->lines)
		fprintf(t->out, "\033[%dA", t->lines);
	int lines = 0;
	fprintf(t->out, "\033[2K[+] Building %.1fs (%zu/%zu)%s\n", secs_since(&t->t0), done, t->n,
	        t->finished && done == t->n && !failed ? " FINISHED"
	                                               : ""); /* BuildKit's last frame */
	lines++;
	size_t first = t->n > TTY_MAX_SHOWN ? t->n - TTY_MAX_SHOWN : 0;
	for (size_t i = first; i < t->n; i++) {
		const struct vtx *x = &t->v[i];
		double s = x->state ? x->secs : secs_since(&x->t0);
		char mark = x->state == 0 ? spin[t->tick % 4] : x->state == 3 ? '!' : '=';
		char size[32] = "";
		if (x->bytes)
			bld_format_bytes(size, sizeof(size), x->bytes);
		const char *tail = x->state == 2              ? "CACHED"
		                   : x->state == 3 && !x->err ? "CANCELED"
		                                              : size;
		int room = width - 20;
		fprintf(t->out, "\033[2K %c> %-*.*s %5.1fs %s\n", mark, room > 10 ? room : 10,
		        room > 10 ? room : 10, x->name, s, tail);
		lines++;
		if (x->state == 3 && x->err) {
			fprintf(t->out, "\033[2K  ERROR: %.*s\n", width - 10, x->err);
			lines++;
		}
	}
	t->lines = lines;
	fflush(t->out);
}

static void *ticker(void *arg)
{
	struct tty *t = arg;
	pthread_mutex_lock(&t->mu);
	while (!t->stop) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 100 * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&t->cv, &t->mu, &until);
		t->tick++;
		if (t->n)
			draw(t);
	}
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

static struct vtx *find(struct tty *t, int id)
{
	return id >= 1 && (size_t)id <= t->n ? &t->v[id - 1] : NULL;
}

static void on_start(void *ud, int id, const char *name)
{
	struct tty *t = ud;
	pthread_mutex_lock(&t->mu);
	while (t->n < (size_t)id) { /* ids are given in order from 1 */
		KILN_GROW(t->v, t->cap, t->n + 1);
		memset(&t->v[t->n], 0, sizeof(t->v[t->n]));
		t->v[t->n].name = xstrdup("");
		t->n++;
	}
	struct vtx *x = &t->v[id - 1];
	free(x->name);
	x->name = xstrdup(name);
	clock_gettime(CLOCK_MONOTONIC, &x->t0);
	draw(t);
	pthread_mutex_unlock(&t->mu);
}

static void on_log(void *ud, int id, const char *line)
{
	(void)ud, (void)id, (void)line; /* logs show in plain mode; tty keeps its frame */
}

static void on_end(struct tty *t, int id, double secs, int state, const char *msg)
{
	pthread_mutex_lock(&t->mu);
	struct vtx *x = find(t, id);
	if (x) {
		x->state = state;
		x->secs = secs;
		if (msg)
			x->err = xstrdup(msg);
	}
	draw(t);
	pthread_mutex_unlock(&t->mu);
}

static void on_bytes(void *ud, int id, uint64_t n)
{
	struct tty *t = ud;
	pthread_mutex_lock(&t->mu);
	struct vtx *x = find(t, id);
	if (x)
		x->bytes = n;
	pthread_mutex_unlock(&t->mu); /* the ticker draws it */
}

static void on_done(void *ud, int id, double secs, bool cached)
{
	on_end(ud, id, secs, cached ? 2 : 1, NULL);
}

static void on_error(void *ud, int id, double secs, const char *msg)
{
	on_end(ud, id, secs, 3, msg);
}

struct bld_progress *bld_progress_tty_new(FILE *out)
{
	struct tty *t = xcalloc(1, sizeof(*t));
	t->out = out;
	t->ops =
	    (struct bld_progress){on_start, on_log, on_done, on_error, t, on_bytes, fileno(out)};
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->cv, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t->t0);
	if (pthread_create(&t->ticker, NULL, ticker, t) != 0)
		t->stop = true; /* no live timers: frames on events only */
	return &t->ops;
}

void bld_progress_tty_free(struct bld_progress *ops)
{
	struct tty *t = ops->ud;
	pthread_mutex_lock(&t->mu);
	bool running = !t->stop;
	t->stop = true;
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->mu);
	if (running)
		pthread_join(t->ticker, NULL);
	t->finished = true;
	if (t->n)
		draw(t);
	for (size_t i = 0; i < t->n; i++) {
		free(t->v[i].name);
		free(t->v[i].err);
	}
	free(t->v);
	pthread_cond_destroy(&t->cv);
	pthread_mutex_destroy(&t->mu);
	free(t);
}
