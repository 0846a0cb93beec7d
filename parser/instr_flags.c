/* Instruction flags (BuildKit's BFlags), suggestions, durations, port specs
 * and RUN --mount specs: the small value parsers of stage 3. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "graph-internal.h"

static struct df_flag *flag_find(struct df_flag *defs, size_t n, const char *name, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(defs[i].name) == len && !strncmp(defs[i].name, name, len))
			return &defs[i];
	return NULL;
}

static int flag_set(struct df_flag *f, const char *value, bool has_eq, struct kiln_err *err)
{
	if (f->used && f->type != DF_FLAG_STRINGS)
		return kiln_err_set(err, KILN_E_INVALID, "duplicate flag specified: %s", f->name);
	f->used = true;
	switch (f->type) {
	case DF_FLAG_BOOL:
		if (has_eq && !*value)
			return kiln_err_set(err, KILN_E_INVALID, "missing a value on flag: %s",
			                    f->name);
		if (!*value || !strcasecmp(value, "true"))
			f->value = "true";
		else if (!strcasecmp(value, "false"))
			f->value = "false";
		else
			return kiln_err_set(err, KILN_E_INVALID,
			                    "expecting boolean value for flag %s, not: %s", f->name,
			                    value);
		return 0;
	case DF_FLAG_STRING:
		if (!has_eq)
			return kiln_err_set(err, KILN_E_INVALID, "missing a value on flag: %s",
			                    f->name);
		f->value = value;
		return 0;
	case DF_FLAG_STRINGS:
		if (!has_eq)
			return kiln_err_set(err, KILN_E_INVALID, "missing a value on flag: %s",
			                    f->name);
		kiln_strv_push(&f->values, value);
		return 0;
	}
	return 0;
}

int df_flags_parse(char *const *raw, size_t n_raw, struct df_flag *defs, size_t n_defs,
                   struct kiln_err *err)
{
	for (size_t i = 0; i < n_defs; i++)
		if (defs[i].type == DF_FLAG_BOOL)
			defs[i].value = "false";
	for (size_t i = 0; i < n_raw; i++) {
		const char *a = raw[i];
		if (strncmp(a, "--", 2))
			return kiln_err_set(err, KILN_E_INVALID, "arg should start with -- : %s",
			                    a);
		if (!strcmp(a, "--"))
			return 0;
		a += 2;
		const char *eq = strchr(a, '=');
		size_t len = eq ? (size_t)(eq - a) : strlen(a);
		struct df_flag *f = flag_find(defs, n_defs, a, len);
		if (!f)
			return kiln_err_set(err, KILN_E_INVALID, "unknown flag: %.*s", (int)len, a);
		if (flag_set(f, eq ? eq + 1 : "", eq != NULL, err) < 0)
			return -1;
	}
	return 0;
}

void df_flags_release(struct df_flag *defs, size_t n_defs)
{
	for (size_t i = 0; i < n_defs; i++)
		kiln_strv_release(&defs[i].values);
}

bool df_flag_true(const struct df_flag *f)
{
	return f->value && !strcmp(f->value, "true");
}

/* ---------------------------------------------------------- suggestions */

static size_t levenshtein(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 64 || lb > 64)
		return (size_t)-1;
	size_t row[65];
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t prev = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t cur = row[j];
			size_t sub = prev + (a[i - 1] != b[j - 1]);
			size_t best = row[j] + 1 < row[j - 1] + 1 ? row[j] + 1 : row[j - 1] + 1;
			row[j] = sub < best ? sub : best;
			prev = cur;
		}
	}
	return row[lb];
}

static void str_case(char *s, int (*fn)(int))
{
	for (; *s; s++)
		*s = (char)fn((unsigned char)*s);
}

const char *df_suggest(const char *val, const char *const *options, size_t n, bool case_sensitive,
                       char *buf, size_t bufsz)
{
	char v[80], o[80];
	if (strlen(val) >= sizeof(v))
		return NULL;
	strcpy(v, val);
	if (!case_sensitive)
		str_case(v, tolower);
	size_t best = 3;
	const char *match = NULL;
	for (size_t i = 0; i < n; i++) {
		if (strlen(options[i]) >= sizeof(o))
			continue;
		strcpy(o, options[i]);
		if (!case_sensitive)
			str_case(o, tolower);
		if (!strcmp(v, o))
			return NULL; /* exact match: the error is about something else */
		size_t d = levenshtein(v, o);
		if (d < best) {
			best = d;
			match = options[i];
		}
	}
	if (!match || strlen(match) >= bufsz)
		return NULL;
	strcpy(buf, match);
	if (!case_sensitive) {
		/* matchCase: all lower -> lower, all upper -> upper */
		bool lower = true, upper = true;
		for (const char *p = val; *p; p++) {
			if (isupper((unsigned char)*p))
				lower = false;
			if (islower((unsigned char)*p))
				upper = false;
		}
		if (lower)
			str_case(buf, tolower);
		else if (upper)
			str_case(buf, toupper);
	}
	return buf;
}

/* ------------------------------------------------------------ durations */

static long long unit_ns(const char *u, size_t len)
{
	static const struct {
		const char *name;
		long long ns;
	} units[] = {
	    {"ns", 1LL},
	    {"us", 1000LL},
	    {"\xc2\xb5s", 1000LL}, /* U+00B5 micro sign */
	    {"\xce\xbcs", 1000LL}, /* U+03BC Greek mu */
	    {"ms", 1000000LL},
	    {"s", 1000000000LL},
	    {"m", 60LL * 1000000000LL},
	    {"h", 3600LL * 1000000000LL},
	};
	for (size_t i = 0; i < KILN_ARRAY_SIZE(units); i++)
		if (strlen(units[i].name) == len && !memcmp(units[i].name, u, len))
			return units[i].ns;
	return 0;
}

int df_parse_duration(const char *orig, long long *ns, struct kiln_err *err)
{
	const char *s = orig;
	bool neg = false;
	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (!strcmp(s, "0")) {
		*ns = 0;
		return 0;
	}
	if (!*s)
		return kiln_err_set(err, KILN_E_INVALID, "time: invalid duration \"%s\"", orig);
	unsigned long long total = 0;
	while (*s) {
		if (!(*s == '.' || isdigit((unsigned char)*s)))
			return kiln_err_set(err, KILN_E_INVALID, "time: invalid duration \"%s\"",
			                    orig);
		unsigned long long v = 0;
		bool pre = false, post = false, overflow = false;
		for (; isdigit((unsigned char)*s); s++, pre = true) {
			if (v > (UINT64_MAX - 9) / 10)
				overflow = true;
			v = v * 10 + (unsigned)(*s - '0');
		}
		double frac = 0, scale = 1;
		if (*s == '.') {
			for (s++; isdigit((unsigned char)*s); s++, post = true) {
				scale *= 10;
				frac += (*s - '0') / scale;
			}
		}
		if ((!pre && !post) || overflow)
			return kiln_err_set(err, KILN_E_INVALID, "time: invalid duration \"%s\"",
			                    orig);
		const char *u = s;
		while (*s && *s != '.' && !isdigit((unsigned char)*s))
			s++;
		if (u == s)
			return kiln_err_set(err, KILN_E_INVALID,
			                    "time: missing unit in duration \"%s\"", orig);
		long long unit = unit_ns(u, (size_t)(s - u));
		if (!unit)
			return kiln_err_set(err, KILN_E_INVALID,
			                    "time: unknown unit \"%.*s\" in duration \"%s\"",
			                    (int)(s - u), u, orig);
		if (v > (unsigned long long)INT64_MAX / (unsigned long long)unit)
			return kiln_err_set(err, KILN_E_INVALID, "time: invalid duration \"%s\"",
			                    orig);
		unsigned long long part =
		    v * (unsigned long long)unit + (unsigned long long)(frac * (double)unit);
		total += part;
		if (total > (unsigned long long)INT64_MAX)
			return kiln_err_set(err, KILN_E_INVALID, "time: invalid duration \"%s\"",
			                    orig);
	}
	*ns = neg ? -(long long)total : (long long)total;
	return 0;
}

/* ---------------------------------------------------------------- ports */

static int parse_port_num(const char *s, size_t len, unsigned *out)
{
	if (!len || len > 5)
		return -1;
	unsigned v = 0;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > 65535)
		return -1;
	*out = v;
	return 0;
}

int df_port_parse(const char *s, unsigned *lo, unsigned *hi, const char **proto,
                  struct kiln_err *err)
{
	const char *slash = strrchr(s, '/');
	*proto = "tcp";
	if (slash) {
		const char *p = slash + 1;
		if (!strcmp(p, "tcp") || !strcmp(p, "udp") || !strcmp(p, "sctp"))
			*proto = !strcmp(p, "tcp") ? "tcp" : !strcmp(p, "udp") ? "udp" : "sctp";
		else
			return kiln_err_set(err, KILN_E_INVALID, "invalid proto: %s", p);
	}
	size_t end = slash ? (size_t)(slash - s) : strlen(s);
	/* [[ip:]hostport:]port: the container port is after the last ':' */
	const char *start = s;
	for (const char *p = s; p < s + end; p++)
		if (*p == ':')
			start = p + 1;
	const char *dash = memchr(start, '-', (size_t)(s + end - start));
	size_t l1 = dash ? (size_t)(dash - start) : (size_t)(s + end - start);
	if (parse_port_num(start, l1, lo) < 0)
		return kiln_err_set(err, KILN_E_INVALID, "invalid containerPort: %.*s", (int)end,
		                    s);
	*hi = *lo;
	if (dash) {
		if (parse_port_num(dash + 1, (size_t)(s + end - dash - 1), hi) < 0 || *hi < *lo)
			return kiln_err_set(err, KILN_E_INVALID,
			                    "invalid range specified for container port: %.*s",
			                    (int)end, s);
	}
	return 0;
}
