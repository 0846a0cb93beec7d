/* Output helpers shared by commands: docker-style tables (tabwriter with
 * minwidth 10, padding 3), human sizes and durations, RFC 3339 times, the
 * confirmation prompt, and docker's list formatter over the Go-template
 * subset (template.c). */
#include "format.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"

void kiln_table_add(struct kiln_table *t, const char *const *cells)
{
	t->rows = xreallocarray(t->rows, t->n_rows + 1, sizeof(*t->rows));
	char **row = xcalloc(t->n_cols, sizeof(char *));
	for (size_t i = 0; i < t->n_cols; i++)
		row[i] = xstrdup(cells[i] ? cells[i] : "");
	t->rows[t->n_rows++] = row;
}

void kiln_table_print(struct kiln_table *t, FILE *out)
{
	size_t *w = xcalloc(t->n_cols, sizeof(size_t));
	for (size_t r = 0; r < t->n_rows; r++)
		for (size_t c = 0; c < t->n_cols; c++) {
			size_t len = kiln_display_width(t->rows[r][c]) + 3;
			if (len > w[c])
				w[c] = len;
		}
	for (size_t r = 0; r < t->n_rows; r++) {
		for (size_t c = 0; c < t->n_cols; c++) {
			fputs(t->rows[r][c], out);
			if (c + 1 < t->n_cols) {
				size_t want = w[c] < 10 ? 10 : w[c];
				for (size_t k = kiln_display_width(t->rows[r][c]); k < want; k++)
					fputc(' ', out);
			}
		}
		fputc('\n', out);
	}
	free(w);
}

void kiln_table_release(struct kiln_table *t)
{
	for (size_t r = 0; r < t->n_rows; r++) {
		for (size_t c = 0; c < t->n_cols; c++)
			free(t->rows[r][c]);
		free(t->rows[r]);
	}
	free(t->rows);
	t->rows = NULL;
	t->n_rows = 0;
}

size_t kiln_display_width(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80; /* count UTF-8 code points */
	return n;
}

char *kiln_human_size(double size)
{
	return kiln_human_size_prec(size, 3);
}

char *kiln_human_size_prec(double size, int precision)
{
	static const char *const units[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
	size_t i = 0;
	while (size >= 1000.0 && i + 1 < KILN_ARRAY_SIZE(units)) {
		size /= 1000.0;
		i++;
	}
	return xasprintf("%.*g%s", precision, size, units[i]);
}

char *kiln_human_duration(int64_t seconds)
{
	if (seconds < 1)
		return xstrdup("Less than a second");
	if (seconds == 1)
		return xstrdup("1 second");
	if (seconds < 60)
		return xasprintf("%lld seconds", (long long)seconds);
	/* as go-units: whole minutes, but hours rounded to the nearest */
	int64_t minutes = seconds / 60, hours = (seconds + 1800) / 3600;
	if (minutes == 1)
		return xstrdup("About a minute");
	if (minutes < 60)
		return xasprintf("%lld minutes", (long long)minutes);
	if (hours == 1)
		return xstrdup("About an hour");
	if (hours < 48)
		return xasprintf("%lld hours", (long long)hours);
	if (hours < 24 * 7 * 2)
		return xasprintf("%lld days", (long long)(hours / 24));
	if (hours < 24 * 30 * 2)
		return xasprintf("%lld weeks", (long long)(hours / 24 / 7));
	if (hours < 24 * 365 * 2)
		return xasprintf("%lld months", (long long)(hours / 24 / 30));
	return xasprintf("%lld years", (long long)(seconds / 3600 / 24 / 365));
}

int kiln_parse_rfc3339(const char *s, time_t *out)
{
	struct tm tm = {0};
	const char *p = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
	if (!p)
		return -1;
	if (*p == '.')
		for (p++; isdigit((unsigned char)*p); p++)
			;
	long off = 0;
	if (*p == '+' || *p == '-') {
		int hh = 0, mm = 0;
		if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
			return -1;
		off = (hh * 3600L + mm * 60L) * (*p == '-' ? -1 : 1);
	} else if (*p != 'Z' && *p != 'z') {
		return -1;
	}
	*out = timegm(&tm) - off;
	return 0;
}

char *kiln_since(const char *rfc3339)
{
	time_t t;
	if (kiln_parse_rfc3339(rfc3339, &t) < 0)
		return xstrdup("N/A");
	/* Go's time.Sub saturates at the largest Duration (about 292 years) */
	int64_t d = (int64_t)time(NULL) - (int64_t)t;
	_cleanup_free_ char *h = kiln_human_duration(d > 9223372036LL ? 9223372036LL : d);
	return xasprintf("%s ago", h);
}

bool kiln_time_is_zero(const char *rfc3339)
{
	time_t t;
	return kiln_parse_rfc3339(rfc3339, &t) == 0 && (int64_t)t == -62135596800LL;
}

/* strftime with fmt starting "%Y", the year printed with four digits as Go
 * does ("0001"). */
static void strftime_year4(char *buf, size_t size, const char *fmt, const struct tm *tm)
{
	int n = snprintf(buf, size, "%04d", tm->tm_year + 1900);
	strftime(buf + n, size - (size_t)n, fmt + 2, tm);
}

/* Go's "Z07:00": Z for UTC, else the offset in hours and minutes. */
static void go_offset(char *buf, size_t size, const struct tm *tm)
{
	long off = tm->tm_gmtoff;
	if (!off) {
		snprintf(buf, size, "Z");
		return;
	}
	int a = (int)((off < 0 ? -off : off) % 86400);
	snprintf(buf, size, "%c%02d:%02d", off < 0 ? '-' : '+', a / 3600, a % 3600 / 60);
}

char *kiln_time_rfc3339_local(const char *rfc3339)
{
	time_t t;
	struct tm tm;
	char buf[64], off[16];
	if (kiln_parse_rfc3339(rfc3339, &t) < 0 || !localtime_r(&t, &tm))
		return xstrdup("0001-01-01T00:00:00Z");
	strftime_year4(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	go_offset(off, sizeof(off), &tm);
	return xasprintf("%s%s", buf, off);
}

static char *time_format(const char *rfc3339, bool utc, const char *fmt, const char *fallback)
{
	time_t t;
	struct tm tm;
	char buf[64];
	if (kiln_parse_rfc3339(rfc3339, &t) < 0 ||
	    !(utc ? gmtime_r(&t, &tm) : localtime_r(&t, &tm)))
		return xstrdup(fallback);
	strftime_year4(buf, sizeof(buf), fmt, &tm);
	return xstrdup(buf);
}

char *kiln_time_go_nano(const char *rfc3339)
{
	time_t t;
	struct tm tm;
	char buf[64], frac[16] = "";
	if (!rfc3339 || kiln_time_is_zero(rfc3339) || kiln_parse_rfc3339(rfc3339, &t) < 0 ||
	    !localtime_r(&t, &tm))
		return xstrdup("0001-01-01 00:00:00 +0000 UTC"); /* Go's zero time is UTC */
	const char *dot = strchr(rfc3339, '.');
	if (dot) { /* Go prints the fraction without its trailing zeros */
		size_t n = strspn(dot + 1, "0123456789");
		snprintf(frac, sizeof(frac), ".%.*s", (int)(n > 9 ? 9 : n), dot + 1);
		for (size_t i = strlen(frac); i > 1 && frac[i - 1] == '0'; i--)
			frac[i - 1] = '\0';
		if (!frac[1])
			frac[0] = '\0';
	}
	strftime_year4(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
	char zone[32];
	strftime(zone, sizeof(zone), "%z %Z", &tm);
	return xasprintf("%s%s %s", buf, frac, zone);
}

char *kiln_time_go(const char *rfc3339)
{
	return time_format(rfc3339, false, "%Y-%m-%d %H:%M:%S %z %Z", "");
}

void kiln_report_error(struct kiln_ctx *ctx, struct kiln_err *e)
{
	if (ctx->err.msg) {
		char *m = kiln_err_format(&ctx->err);
		fprintf(stderr, "Error: %s\n", m);
		free(m);
	}
	kiln_err_move(&ctx->err, e);
}

/* docker's prompt.Confirm: the answer, spaces trimmed, must be y or Y; end
 * of input is no. */
bool kiln_confirm(const char *warning)
{
	printf("%s\nAre you sure you want to continue? [y/N] ", warning);
	fflush(stdout);
	char line[64];
	if (!fgets(line, sizeof(line), stdin))
		return false;
	char *p = line, *e = line + strlen(line);
	while (isspace((unsigned char)*p))
		p++;
	while (e > p && isspace((unsigned char)e[-1]))
		e--;
	return e - p == 1 && (*p == 'y' || *p == 'Y');
}

/* Splits tab-separated rendered lines into an aligned table. */
static void print_tabbed(char *all, FILE *out)
{
	struct kiln_strv lines = KILN_STRV_INIT;
	size_t n_cols = 1;
	for (char *save = NULL, *l = strtok_r(all, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		size_t c = 1;
		for (char *p = l; *p; p++)
			c += *p == '\t';
		n_cols = c > n_cols ? c : n_cols;
		kiln_strv_push(&lines, l);
	}
	struct kiln_table tab = {.n_cols = n_cols};
	const char **cells = xcalloc(n_cols, sizeof(*cells));
	for (size_t i = 0; i < lines.n; i++) {
		size_t c = 0;
		for (char *p = lines.v[i], *cell = p;; p++) {
			if (*p && *p != '\t')
				continue;
			bool end = !*p;
			*p = 0;
			cells[c++] = cell;
			cell = p + 1;
			if (end)
				break;
		}
		while (c < n_cols)
			cells[c++] = "";
		kiln_table_add(&tab, cells);
	}
	kiln_table_print(&tab, out);
	kiln_table_release(&tab);
	free(cells);
	kiln_strv_release(&lines);
}

int kiln_format_list(const char *format, void *const *objs, size_t n,
                     const char *const (*headers)[2], const struct kiln_tmpl_opts *o, FILE *out,
                     struct kiln_err *err)
{
	struct kiln_tmpl *t = kiln_tmpl_parse(strcmp(format, "json") ? format : "{{json .}}", err);
	if (!t)
		return kiln_err_wrap(err, "template parsing error");
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	if (kiln_tmpl_is_table(t)) {
		char *h = kiln_tmpl_header(t, headers);
		kiln_buf_addf(&b, NULL, "%s\n", h);
		free(h);
	}
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		rc = kiln_tmpl_render(t, objs[i], o, &b, err);
		kiln_buf_addch(&b, '\n', NULL);
	}
	if (!rc && kiln_tmpl_is_table(t)) {
		char *all = kiln_buf_detach(&b, NULL);
		print_tabbed(all, out);
		free(all);
	} else if (!rc) {
		fputs(kiln_buf_str(&b), out);
	}
	kiln_buf_release(&b);
	kiln_tmpl_free(t);
	return rc;
}
