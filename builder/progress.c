/* Progress printers: BuildKit's `--progress=plain` layout and a JSON-lines
 * event stream for tools (README's "Build progress as JSON" lists its
 * events). */
#include <inttypes.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "progress-internal.h"

/* json: a "progress" event at most this often per step, plus the last
 * count before the step's end */
#define JSON_PROGRESS_EVERY 0.1 /* seconds */

struct pvtx {
	struct timespec t0;   /* started */
	double last;          /* seconds since t0 of the last progress event */
	uint64_t bytes, sent; /* the latest count, the last one printed */
};

struct printer {
	struct bld_progress ops; /* first: ops->ud is the printer */
	enum bld_progress_mode mode;
	FILE *out;
	struct pvtx *v; /* by vertex id */
	size_t n_v;
};

static double since(const struct timespec *t0)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void on_start(void *ud, int id, const char *name)
{
	struct printer *p = ud;
	if ((size_t)id >= p->n_v) {
		size_t n = (size_t)id + 16;
		p->v = xreallocarray(p->v, n, sizeof(*p->v));
		memset(p->v + p->n_v, 0, (n - p->n_v) * sizeof(*p->v));
		p->n_v = n;
	}
	memset(&p->v[id], 0, sizeof(p->v[id]));
	clock_gettime(CLOCK_MONOTONIC, &p->v[id].t0);
	if (p->mode == BLD_PROGRESS_PLAIN) {
		fprintf(p->out, "#%d %s\n", id, name);
	} else {
		fprintf(p->out, "{\"event\":\"start\",\"vertex\":%d,\"name\":", id);
		json_str(p->out, name);
		fputs("}\n", p->out);
	}
	fflush(p->out);
}

static void on_log(void *ud, int id, const char *line)
{
	struct printer *p = ud;
	double t = id >= 0 && (size_t)id < p->n_v ? since(&p->v[id].t0) : 0;
	if (p->mode == BLD_PROGRESS_PLAIN) {
		fprintf(p->out, "#%d %.3f %s\n", id, t, line);
	} else {
		fprintf(p->out, "{\"event\":\"log\",\"vertex\":%d,\"line\":", id);
		json_str(p->out, line);
		fputs("}\n", p->out);
	}
	fflush(p->out);
}

static void json_progress(struct printer *p, int id, struct pvtx *x)
{
	fprintf(p->out, "{\"event\":\"progress\",\"vertex\":%d,\"current\":%" PRIu64 "}\n", id,
	        x->bytes);
	x->sent = x->bytes;
}

/* json: the bytes a COPY or ADD has written, at most every
 * JSON_PROGRESS_EVERY (the first count at once) */
static void on_bytes(void *ud, int id, uint64_t n)
{
	struct printer *p = ud;
	if (id < 0 || (size_t)id >= p->n_v)
		return;
	struct pvtx *x = &p->v[id];
	x->bytes = n;
	double t = since(&x->t0);
	if (x->sent && t - x->last < JSON_PROGRESS_EVERY)
		return;
	x->last = t;
	json_progress(p, id, x);
	fflush(p->out);
}

static void on_done(void *ud, int id, double secs, bool cached)
{
	struct printer *p = ud;
	if (p->mode == BLD_PROGRESS_JSON && id >= 0 && (size_t)id < p->n_v &&
	    p->v[id].bytes != p->v[id].sent)
		json_progress(p, id, &p->v[id]); /* the final count */
	if (p->mode == BLD_PROGRESS_PLAIN) {
		if (cached)
			fprintf(p->out, "#%d CACHED\n\n", id);
		else
			fprintf(p->out, "#%d DONE %.1fs\n\n", id, secs);
	} else {
		fprintf(p->out, "{\"event\":\"%s\",\"vertex\":%d,\"seconds\":%.3f}\n",
		        cached ? "cached" : "done", id, secs);
	}
	fflush(p->out);
}

static void on_error(void *ud, int id, double secs, const char *msg)
{
	struct printer *p = ud;
	if (!msg && p->mode == BLD_PROGRESS_PLAIN) {
		fprintf(p->out, "#%d CANCELED\n\n", id);
	} else if (!msg) {
		fprintf(p->out, "{\"event\":\"canceled\",\"vertex\":%d,\"seconds\":%.3f}\n", id,
		        secs);
	} else if (p->mode == BLD_PROGRESS_PLAIN) {
		/* its first line: the rest (a failed RUN's last lines) is in the
		 * error kiln ends with, and the lines were printed as they came */
		fprintf(p->out, "#%d ERROR: %.*s\n\n", id, (int)strcspn(msg, "\n"), msg);
	} else {
		fprintf(p->out,
		        "{\"event\":\"error\",\"vertex\":%d,\"seconds\":%.3f,\"error\":", id, secs);
		json_str(p->out, msg);
		fputs("}\n", p->out);
	}
	fflush(p->out);
}

struct bld_progress *bld_progress_new(enum bld_progress_mode mode, FILE *out)
{
	/* tty where out is no terminal is plain, as docker 20.10's (auto
	 * and tty both take the console only when there is one) */
	if ((mode == BLD_PROGRESS_AUTO || mode == BLD_PROGRESS_TTY) && !isatty(fileno(out)))
		mode = BLD_PROGRESS_PLAIN;
	if (mode == BLD_PROGRESS_AUTO || mode == BLD_PROGRESS_TTY)
		return bld_progress_tty_new(out);
	struct printer *p = xcalloc(1, sizeof(*p));
	p->mode = mode;
	p->out = out;
	p->ops.ud = p;
	p->ops.fd = fileno(out);
	if (mode != BLD_PROGRESS_QUIET) {
		p->ops.start = on_start;
		p->ops.log = on_log;
		p->ops.done = on_done;
		p->ops.error = on_error;
	}
	if (mode == BLD_PROGRESS_JSON)
		p->ops.bytes = on_bytes;
	return &p->ops;
}

void bld_progress_free(struct bld_progress *ops)
{
	if (!ops)
		return;
	if (ops->start && ops->start != on_start) {
		bld_progress_tty_free(ops);
		return;
	}
	struct printer *p = ops->ud;
	free(p->v);
	free(p);
}

int bld_progress_parse(const char *name, enum bld_progress_mode *mode, struct kiln_err *err)
{
	if (!strcmp(name, "auto"))
		*mode = BLD_PROGRESS_AUTO;
	else if (!strcmp(name, "plain"))
		*mode = BLD_PROGRESS_PLAIN;
	else if (!strcmp(name, "tty"))
		*mode = BLD_PROGRESS_TTY;
	else if (!strcmp(name, "json") || !strcmp(name, "rawjson"))
		*mode = BLD_PROGRESS_JSON;
	else if (!strcmp(name, "quiet"))
		*mode = BLD_PROGRESS_QUIET;
	else
		return kiln_err_set(err, KILN_E_USAGE,
		                    "invalid progress mode `%s` (auto, plain, tty, json, quiet)",
		                    name);
	return 0;
}
