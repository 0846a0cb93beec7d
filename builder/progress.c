/* Progress printers: BuildKit's `--progress=plain` layout and a JSON-lines
 * event stream for tools. */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "progress-internal.h"

struct printer {
	struct bld_progress ops; /* first: ops->ud is the printer */
	enum bld_progress_mode mode;
	FILE *out;
	struct timespec *starts;
	size_t n_starts;
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
	if ((size_t)id >= p->n_starts) {
		size_t n = (size_t)id + 16;
		p->starts = xreallocarray(p->starts, n, sizeof(*p->starts));
		p->n_starts = n;
	}
	clock_gettime(CLOCK_MONOTONIC, &p->starts[id]);
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
	double t = (size_t)id < p->n_starts ? since(&p->starts[id]) : 0;
	if (p->mode == BLD_PROGRESS_PLAIN) {
		fprintf(p->out, "#%d %.3f %s\n", id, t, line);
	} else {
		fprintf(p->out, "{\"event\":\"log\",\"vertex\":%d,\"line\":", id);
		json_str(p->out, line);
		fputs("}\n", p->out);
	}
	fflush(p->out);
}

static void on_done(void *ud, int id, double secs, bool cached)
{
	struct printer *p = ud;
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
	if (p->mode == BLD_PROGRESS_PLAIN) {
		fprintf(p->out, "#%d ERROR: %s\n\n", id, msg);
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
	if (mode == BLD_PROGRESS_AUTO)
		mode = isatty(fileno(out)) ? BLD_PROGRESS_TTY : BLD_PROGRESS_PLAIN;
	if (mode == BLD_PROGRESS_TTY)
		return bld_progress_tty_new(out);
	struct printer *p = xcalloc(1, sizeof(*p));
	p->mode = mode;
	p->out = out;
	p->ops.ud = p;
	if (mode != BLD_PROGRESS_QUIET) {
		p->ops.start = on_start;
		p->ops.log = on_log;
		p->ops.done = on_done;
		p->ops.error = on_error;
	}
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
	free(p->starts);
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
