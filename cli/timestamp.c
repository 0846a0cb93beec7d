/* docker's --filter until=VALUE (api/types/time.GetTimestamp and
 * ParseTimestamps): a Go duration before now, an RFC 3339 date or time
 * (without a zone: in the local zone), or unix seconds[.nanoseconds]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "format.h"

static int unit_ns(const char **p, double *unit)
{
	static const struct {
		const char *name;
		double ns;
	} units[] = {{"ns", 1},   {"us", 1e3}, {"\xc2\xb5s", 1e3}, {"\xce\xbcs", 1e3},
	             {"ms", 1e6}, {"s", 1e9},  {"m", 60e9},        {"h", 3600e9}};
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		size_t n = strlen(units[i].name);
		if (!strncmp(*p, units[i].name, n)) {
			*p += n;
			*unit = units[i].ns;
			return 0;
		}
	}
	return -1;
}

/* Go's time.ParseDuration: [-+]?(DECIMAL UNIT)+, or "0". */
static int go_duration(const char *s, int64_t *ns)
{
	const char *p = s;
	double sign = 1, total = 0;
	if (*p == '-' || *p == '+')
		sign = *p++ == '-' ? -1 : 1;
	if (!strcmp(p, "0")) {
		*ns = 0;
		return 0;
	}
	if (!*p)
		return -1;
	while (*p) {
		if (!(*p >= '0' && *p <= '9') && *p != '.')
			return -1;
		char *end;
		double v = strtod(p, &end);
		double unit;
		if (end == p)
			return -1;
		p = end;
		if (unit_ns(&p, &unit) < 0)
			return -1;
		total += v * unit;
	}
	*ns = (int64_t)(sign * total);
	return 0;
}

static int digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++, (*p)++) {
		if (**p < '0' || **p > '9')
			return -1;
		v = v * 10 + (**p - '0');
	}
	*out = v;
	return 0;
}

/* YYYY-MM-DD[THH[:MM[:SS[.frac]]]] then, unless local, Z or +-HH:MM. */
static int parse_date(const char *s, bool local, int64_t *ns)
{
	const char *p = s;
	struct tm tm = {0};
	int y, mo, d, h = 0, mi = 0, sec = 0;
	long frac = 0;
	if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
	    digits(&p, 2, &d))
		return -1;
	if (*p == 'T') {
		p++;
		if (digits(&p, 2, &h))
			return -1;
		if (*p == ':' && (p++, digits(&p, 2, &mi)))
			return -1;
		if (*p == ':' && (p++, digits(&p, 2, &sec)))
			return -1;
		if (*p == '.') {
			long scale = 100000000;
			for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
				frac += scale ? (*p - '0') * scale : 0;
		}
	}
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59)
		return -1;
	tm.tm_year = y - 1900, tm.tm_mon = mo - 1, tm.tm_mday = d;
	tm.tm_hour = h, tm.tm_min = mi, tm.tm_sec = sec;
	int64_t t = (int64_t)timegm(&tm);
	if (local) {
		time_t now = time(NULL);
		struct tm lt;
		localtime_r(&now, &lt); /* docker: the zone in effect now */
		t -= lt.tm_gmtoff;
	} else if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1, oh, om;
		if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om))
			return -1;
		t -= sign * (oh * 3600 + om * 60);
	} else {
		return -1;
	}
	if (*p)
		return -1;
	*ns = t * 1000000000LL + frac;
	return 0;
}

/* ParseTimestamps: seconds[.nanoseconds] */
static int unix_seconds(const char *s, int64_t *ns)
{
	char *end;
	long long sec = strtoll(s, &end, 10);
	if (end == s || (*end && *end != '.'))
		return -1;
	long long nsec = 0;
	if (*end == '.') {
		const char *f = end + 1;
		nsec = strtoll(f, &end, 10);
		if (*end || end == f)
			return -1;
		for (size_t n = (size_t)(end - f); n < 9; n++)
			nsec *= 10;
	}
	*ns = sec * 1000000000LL + nsec;
	return 0;
}

int kiln_docker_timestamp(const char *value, int64_t *ns, struct kiln_err *err)
{
	int64_t d;
	if (strcmp(value, "0") != 0 && go_duration(value, &d) == 0) {
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		*ns = (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec - d;
		return 0;
	}
	int dashes = 0;
	for (const char *p = value; *p; p++)
		dashes += *p == '-';
	bool local = !(strpbrk(value, "zZ+") || dashes == 3);
	if (parse_date(value, local, ns) == 0)
		return 0;
	if (strchr(value, '-'))
		return kiln_err_set(err, KILN_E_INVALID,
		                    "parsing time \"%s\": not a valid RFC 3339 date or time",
		                    value);
	if (unix_seconds(value, ns) == 0)
		return 0;
	return kiln_err_set(err, KILN_E_INVALID,
	                    "failed to parse value as time or duration: \"%s\"", value);
}
