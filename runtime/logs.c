/* docker logs over the json-file log the monitor writes: --tail, --since,
 * --until, -t, -f (until the container stops). */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runtime-internal.h"

/* "2026-11-29T14:10:00.123456789Z" -> Unix ns (UTC only; offsets too). */
static int parse_rfc3339_ns(const char *s, int64_t *ns)
{
	struct tm tm = {0};
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return -1;
	int64_t frac = 0;
	int digits = 0;
	if (*p == '.')
		for (p++; isdigit((unsigned char)*p); p++)
			if (digits++ < 9)
				frac = frac * 10 + (*p - '0');
	while (digits++ < 9)
		frac *= 10;
	long off = 0;
	if (*p == '+' || *p == '-') {
		int hh = 0, mm = 0;
		if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
			return -1;
		off = (hh * 3600L + mm * 60L) * (*p == '-' ? -1 : 1);
	} else if (*p != 'Z') {
		return -1;
	}
	*ns = ((int64_t)timegm(&tm) - off) * 1000000000LL + frac;
	return 0;
}

/* Go's time.ParseDuration for h, m, s, ms (what people pass to --since). */
static int parse_duration_ns(const char *s, int64_t *ns)
{
	int64_t total = 0;
	const char *p = s;
	if (!*p)
		return -1;
	while (*p) {
		char *end;
		double v = strtod(p, &end);
		if (end == p)
			return -1;
		double unit;
		if (!strncmp(end, "ms", 2))
			unit = 1e6, end += 2;
		else if (*end == 'h')
			unit = 3600e9, end++;
		else if (*end == 'm')
			unit = 60e9, end++;
		else if (*end == 's')
			unit = 1e9, end++;
		else
			return -1;
		total += (int64_t)(v * unit);
		p = end;
	}
	*ns = total;
	return 0;
}

int rt_parse_duration(const char *s, int64_t *ns, struct kiln_err *err)
{
	if (parse_duration_ns(s, ns) < 0 || *ns < 0)
		return kiln_err_set(err, KILN_E_INVALID, "time: invalid duration \"%s\"", s);
	return 0;
}

int rt_parse_timestamp(const char *s, int64_t *ns, struct kiln_err *err)
{
	int64_t d;
	if (parse_rfc3339_ns(s, ns) == 0)
		return 0;
	if (parse_duration_ns(s, &d) == 0) {
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		*ns = (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec - d;
		return 0;
	}
	char *end;
	double v = strtod(s, &end);
	if (end != s && !*end && v >= 0) {
		*ns = (int64_t)(v * 1e9);
		return 0;
	}
	return kiln_err_set(err, KILN_E_INVALID, "invalid value for \"since\"/\"until\": `%s`", s);
}

/* Prints one log line if it passes the filters; false once past --until. */
static bool emit(const char *line, size_t len, const struct rt_logs_opts *o, int out_fd, int err_fd)
{
	json_error_t je;
	json_t *j = json_loadb(line, len, 0, &je);
	if (!j)
		return true; /* a torn last line: skipped */
	const char *log = json_string_value(json_object_get(j, "log"));
	const char *stream = json_string_value(json_object_get(j, "stream"));
	const char *time = json_string_value(json_object_get(j, "time"));
	size_t loglen = json_string_length(json_object_get(j, "log"));
	int64_t t = 0;
	bool more = true;
	if (log && time && parse_rfc3339_ns(time, &t) == 0) {
		if (o->until_ns && t > o->until_ns)
			more = false;
		else if (!o->since_ns || t >= o->since_ns) {
			int fd = stream && !strcmp(stream, "stderr") ? err_fd : out_fd;
			if (o->timestamps) {
				char prefix[80];
				int n = snprintf(prefix, sizeof(prefix), "%s ", time);
				kiln_write_all(fd, prefix, (size_t)n, NULL);
			}
			kiln_write_all(fd, log, loglen, NULL);
		}
	}
	json_decref(j);
	return more;
}

/* Lines in the first end bytes (end < 0: all). */
static size_t count_lines(FILE *f, off_t end)
{
	size_t n = 0;
	int ch;
	for (off_t at = 0; (end < 0 || at < end) && (ch = getc(f)) != EOF; at++)
		n += ch == '\n';
	rewind(f);
	return n;
}

static bool is_up(const struct rt_container *c)
{
	return c->status == RT_RUNNING || c->status == RT_PAUSED;
}

/* Whether the run a follow began with goes on (docker's follow ends when
 * the container stops, even when its restart policy starts it again).
 * When not, *end_ns is the end of the last run that finished (every line
 * of a run is stamped before its end is recorded, a later run's after),
 * or 0 when unknown. */
static bool same_run(const char *root, const struct rt_container *first, int64_t *end_ns)
{
	struct rt_container *c = NULL;
	*end_ns = 0;
	if (rt_container_load(root, first->id, &c, NULL) < 0)
		return false;
	bool up = c->started && first->started && !strcmp(c->started, first->started) && is_up(c);
	if (!up && c->finished && parse_rfc3339_ns(c->finished, end_ns) < 0)
		*end_ns = 0;
	rt_container_free(c);
	return up;
}

#define HELD_MAX (1 << 20) /* a follow's lines held before a check */

/* o, with --until brought forward to end_ns (a run's end; 0: none). */
static struct rt_logs_opts cut_at(const struct rt_logs_opts *o, int64_t end_ns)
{
	struct rt_logs_opts until = *o;
	if (end_ns && (!until.until_ns || end_ns < until.until_ns))
		until.until_ns = end_ns;
	return until;
}

/* The lines held in b (whole lines), cut at end_ns; false once past it. */
static bool emit_held(struct kiln_buf *b, const struct rt_logs_opts *o, int64_t end_ns, int out_fd,
                      int err_fd)
{
	struct rt_logs_opts until = cut_at(o, end_ns);
	bool more = true;
	for (size_t at = 0; more && at < b->len;) {
		const char *nl = memchr(b->data + at, '\n', b->len - at);
		size_t n = (size_t)(nl - (b->data + at)) + 1;
		more = emit(b->data + at, n, &until, out_fd, err_fd);
		at += n;
	}
	kiln_buf_reset(b);
	return more;
}

/* After a followed run: the lines it left (none of a later run's). */
static void drain(FILE *f, const struct rt_logs_opts *o, int64_t end_ns, int out_fd, int err_fd)
{
	struct rt_logs_opts until = cut_at(o, end_ns);
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	clearerr(f);
	while ((len = getline(&line, &cap, f)) > 0)
		if (line[len - 1] == '\n' && !emit(line, (size_t)len, &until, out_fd, err_fd))
			break;
	free(line);
}

int rt_container_logs(const char *root, const struct rt_container *c, const struct rt_logs_opts *o,
                      int out_fd, int err_fd, struct kiln_err *err)
{
	_cleanup_free_ char *path = rt_container_log_path(root, c->id);
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	if (!f && errno != ENOENT)
		return kiln_err_set(err, errno, "opening `%s`", path);
	/* docker follows a running container only, and one run of it */
	bool follow = o->follow && is_up(c);
	if (!f && !follow)
		return 0;
	size_t skip = 0;
	/* without -f: the log as it is now; lines the container writes while
	 * it is read are not shown (--tail 1 printed 2 then) */
	off_t end = -1;
	if (f && !follow) {
		struct stat st;
		if (fstat(fileno(f), &st) == 0)
			end = st.st_size;
	}
	if (f && o->tail >= 0) {
		size_t n = count_lines(f, end);
		skip = n > (size_t)o->tail ? n - (size_t)o->tail : 0;
	}
	char *line = NULL;
	size_t cap = 0;
	/* a follow holds the lines it reads until it has checked the run
	 * (at the end of what is there, or every HELD_MAX bytes): a restart
	 * between two looks must not show the later run's lines, which are
	 * cut at the followed run's end */
	struct kiln_buf held;
	kiln_buf_init(&held, KILN_BUF_NOLIMIT, NULL);
	for (;;) {
		ssize_t len = f && (end < 0 || ftello(f) < end) ? getline(&line, &cap, f) : -1;
		if (len > 0 && end >= 0 && ftello(f) > end)
			len = -1; /* finished after we looked: not shown */
		bool whole = len > 0 && line[len - 1] == '\n';
		if (whole && skip) {
			skip--;
			continue;
		}
		if (whole && !follow) {
			if (!emit(line, (size_t)len, o, out_fd, err_fd))
				break;
			continue;
		}
		if (whole)
			kiln_buf_add(&held, line, (size_t)len, NULL);
		if (whole && held.len < HELD_MAX)
			continue;
		if (len > 0 && !whole) /* a line being written: read it again later */
			fseek(f, -len, SEEK_CUR);
		int64_t end_ns = 0;
		bool going = follow && same_run(root, c, &end_ns);
		if (!emit_held(&held, o, going ? 0 : end_ns, out_fd, err_fd))
			break;
		if (!going) {
			if (follow && f) /* what came before it stopped */
				drain(f, o, end_ns, out_fd, err_fd);
			break;
		}
		if (whole)
			continue; /* a full batch: read on at once */
		nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
		if (f)
			clearerr(f);
		else
			f = fopen(path, "re");
	}
	kiln_buf_release(&held);
	free(line);
	return 0;
}
