/* RUN --mount=... specs, parsed and validated like BuildKit's parseMount
 * (frontend/dockerfile/instructions/commands_runmount.go). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "graph-internal.h"

static const char *const mount_types[] = {"bind", "cache", "tmpfs", "secret", "ssh"};
static const char *const sharing_modes[] = {"", "shared", "private", "locked"};
static const char *const mount_keys[] = {
    "type",     "from",      "source",      "target", "readonly", "id",  "sharing",
    "required", "mode",      "uid",         "gid",    "src",      "dst", "ro",
    "rw",       "readwrite", "destination", "size",   "env"};

/* Go strconv.ParseBool */
static int parse_bool(const char *s, bool *out)
{
	static const char *const t[] = {"1", "t", "T", "TRUE", "true", "True"};
	static const char *const f[] = {"0", "f", "F", "FALSE", "false", "False"};
	for (size_t i = 0; i < KILN_ARRAY_SIZE(t); i++) {
		if (!strcmp(s, t[i]))
			return *out = true, 0;
		if (!strcmp(s, f[i]))
			return *out = false, 0;
	}
	return -1;
}

/* go-units RAMInBytes: "64m", "1.5GiB", "100 kb", "1024" (binary units). */
static int ram_in_bytes(const char *s, long long *out)
{
	char *end;
	errno = 0;
	if (!isdigit((unsigned char)*s))
		return -1;
	double v = strtod(s, &end);
	if (errno || end == s)
		return -1;
	if (*end == ' ')
		end++;
	double mul = 1;
	const char *units = "kmgtp";
	const char *u = *end ? strchr(units, tolower((unsigned char)*end)) : NULL;
	if (u) {
		for (const char *p = units; p <= u; p++)
			mul *= 1024;
		end++;
	}
	if (*end == 'i' || *end == 'I')
		end++;
	if (*end == 'b' || *end == 'B')
		end++;
	if (*end)
		return -1;
	double r = v * mul;
	if (!isfinite(r) || r > 9.2e18)
		return -1;
	*out = (long long)r;
	return 0;
}

/* Splits a CSV record (encoding/csv rules for one line: fields separated by
 * ',', a field starting with '"' is quoted, "" inside is a quote). */
static int csv_split(const char *s, struct kiln_strv *out, struct kiln_err *err)
{
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	for (;;) {
		kiln_buf_reset(&b);
		kiln_buf_addstr(&b, "", NULL);
		if (*s == '"') {
			for (s++;; s++) {
				if (!*s) {
					kiln_buf_release(&b);
					return kiln_err_set(
					    err, KILN_E_INVALID,
					    "failed to parse csv mounts: extraneous or "
					    "missing \" in quoted-field");
				}
				if (*s == '"' && s[1] == '"') {
					kiln_buf_addch(&b, '"', NULL);
					s++;
				} else if (*s == '"') {
					s++;
					break;
				} else {
					kiln_buf_addch(&b, *s, NULL);
				}
			}
			if (*s && *s != ',') {
				kiln_buf_release(&b);
				return kiln_err_set(
				    err, KILN_E_INVALID,
				    "failed to parse csv mounts: extraneous or missing "
				    "\" in quoted-field");
			}
		} else {
			const char *c = strchr(s, ',');
			size_t len = c ? (size_t)(c - s) : strlen(s);
			if (memchr(s, '"', len)) {
				kiln_buf_release(&b);
				return kiln_err_set(
				    err, KILN_E_INVALID,
				    "failed to parse csv mounts: bare \" in non-quoted-field");
			}
			kiln_buf_add(&b, s, len, NULL);
			s += len;
		}
		kiln_strv_push(out, kiln_buf_str(&b));
		if (*s != ',')
			break;
		s++;
	}
	kiln_buf_release(&b);
	return 0;
}

static int bad_value(const char *key, const char *value, struct kiln_err *err)
{
	return kiln_err_set(err, KILN_E_INVALID, "invalid value for %s: %s", key, value);
}

static int set_flagless(struct df_mount *m, const char *key, const char *field, bool *ro_auto,
                        struct kiln_err *err)
{
	if (!strcmp(key, "readonly") || !strcmp(key, "ro")) {
		m->readonly = true;
		*ro_auto = false;
	} else if (!strcmp(key, "readwrite") || !strcmp(key, "rw")) {
		m->readonly = false;
		*ro_auto = false;
	} else if (!strcmp(key, "required")) {
		if (m->type != DF_MOUNT_SECRET && m->type != DF_MOUNT_SSH)
			return kiln_err_set(err, KILN_E_INVALID,
			                    "unexpected key '%s' for mount type '%s'", key,
			                    mount_types[m->type]);
		m->required = true;
	} else {
		return kiln_err_set(err, KILN_E_INVALID,
		                    "invalid field '%s' must be a key=value pair", field);
	}
	return 0;
}

static int set_number(const char *key, const char *value, int base, unsigned long *out, bool *has,
                      struct kiln_err *err)
{
	char *end;
	errno = 0;
	if (!*value || *value == '-' || *value == '+')
		return kiln_err_set(err, KILN_E_INVALID, "invalid value %s for %s", value, key);
	unsigned long long v = strtoull(value, &end, base);
	if (errno || *end || v > 0xffffffffULL)
		return kiln_err_set(err, KILN_E_INVALID, "invalid value %s for %s", value, key);
	*out = (unsigned long)v;
	*has = true;
	return 0;
}

static int set_choice(const char *value, const char *const *choices, size_t n, const char *what,
                      int *out, struct kiln_err *err)
{
	char lower[64];
	snprintf(lower, sizeof(lower), "%s", value);
	for (char *p = lower; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	for (size_t i = 0; i < n; i++)
		if (*choices[i] && !strcmp(lower, choices[i]))
			return *out = (int)i, 0;
	char buf[32];
	const char *s = df_suggest(value, choices, n, true, buf, sizeof(buf));
	if (s)
		return kiln_err_set(err, KILN_E_INVALID, "unsupported %s \"%s\" (did you mean %s?)",
		                    what, value, s);
	return kiln_err_set(err, KILN_E_INVALID, "unsupported %s \"%s\"", what, value);
}

static int set_field(struct df_mount *m, const char *key, const char *value, const char *field,
                     bool *ro_auto, struct kiln_err *err)
{
	bool b;
	int c = 0;
	if (!strcmp(key, "type")) {
		if (set_choice(value, mount_types, KILN_ARRAY_SIZE(mount_types), "mount type", &c,
		               err) < 0)
			return -1;
		m->type = (enum df_mount_type)c;
	} else if (!strcmp(key, "from")) {
		free(m->from), m->from = xstrdup(value);
	} else if (!strcmp(key, "source") || !strcmp(key, "src")) {
		free(m->source), m->source = xstrdup(value);
	} else if (!strcmp(key, "target") || !strcmp(key, "dst") || !strcmp(key, "destination")) {
		free(m->target), m->target = xstrdup(value);
	} else if (!strcmp(key, "readonly") || !strcmp(key, "ro") || !strcmp(key, "readwrite") ||
	           !strcmp(key, "rw")) {
		if (parse_bool(value, &b) < 0)
			return bad_value(key, value, err);
		m->readonly = (!strcmp(key, "readonly") || !strcmp(key, "ro")) ? b : !b;
		*ro_auto = false;
	} else if (!strcmp(key, "required")) {
		if (m->type != DF_MOUNT_SECRET && m->type != DF_MOUNT_SSH)
			return kiln_err_set(err, KILN_E_INVALID,
			                    "unexpected key '%s' for mount type '%s'", key,
			                    mount_types[m->type]);
		if (parse_bool(value, &m->required) < 0)
			return bad_value(key, value, err);
	} else if (!strcmp(key, "size")) {
		if (m->type != DF_MOUNT_TMPFS)
			return kiln_err_set(err, KILN_E_INVALID,
			                    "unexpected key '%s' for mount type '%s'", key,
			                    mount_types[m->type]);
		if (ram_in_bytes(value, &m->size_bytes) < 0)
			return bad_value(key, value, err);
		free(m->size), m->size = xstrdup(value);
	} else if (!strcmp(key, "id")) {
		free(m->id), m->id = xstrdup(value);
	} else if (!strcmp(key, "env")) {
		if (m->type != DF_MOUNT_SECRET)
			return kiln_err_set(err, KILN_E_INVALID,
			                    "unexpected key '%s' for mount type '%s'", key,
			                    mount_types[m->type]);
		free(m->env), m->env = xstrdup(value);
	} else if (!strcmp(key, "sharing")) {
		if (set_choice(value, sharing_modes, KILN_ARRAY_SIZE(sharing_modes),
		               "sharing value", &c, err) < 0)
			return -1;
		m->sharing = (enum df_mount_sharing)c;
	} else if (!strcmp(key, "mode")) {
		return set_number(key, value, 8, &m->mode, &m->has_mode, err);
	} else if (!strcmp(key, "uid")) {
		return set_number(key, value, 10, &m->uid, &m->has_uid, err);
	} else if (!strcmp(key, "gid")) {
		return set_number(key, value, 10, &m->gid, &m->has_gid, err);
	} else {
		char buf[32];
		const char *s = df_suggest(key, mount_keys, KILN_ARRAY_SIZE(mount_keys), true, buf,
		                           sizeof(buf));
		if (s)
			return kiln_err_set(err, KILN_E_INVALID,
			                    "unexpected key '%s' in '%s' (did you mean %s?)", key,
			                    field, s);
		return kiln_err_set(err, KILN_E_INVALID, "unexpected key '%s' in '%s'", key, field);
	}
	return 0;
}

static int validate(struct df_mount *m, bool ro_auto, struct kiln_err *err)
{
	const char *t = mount_types[m->type];
	bool file_info =
	    m->type == DF_MOUNT_SECRET || m->type == DF_MOUNT_SSH || m->type == DF_MOUNT_CACHE;
	if (!file_info && m->has_mode)
		return kiln_err_set(err, KILN_E_INVALID, "mode not allowed for \"%s\" type mounts",
		                    t);
	if (!file_info && m->has_uid)
		return kiln_err_set(err, KILN_E_INVALID, "uid not allowed for \"%s\" type mounts",
		                    t);
	if (!file_info && m->has_gid)
		return kiln_err_set(err, KILN_E_INVALID, "gid not allowed for \"%s\" type mounts",
		                    t);
	if (ro_auto)
		m->readonly = !(m->type == DF_MOUNT_CACHE || m->type == DF_MOUNT_TMPFS);
	if (m->type == DF_MOUNT_SECRET) {
		if (m->from)
			return kiln_err_set(err, KILN_E_INVALID,
			                    "secret mount should not have a from");
		if (m->sharing)
			return kiln_err_set(err, KILN_E_INVALID,
			                    "secret mount should not define sharing");
		if (!m->source && !m->target && !m->id)
			return kiln_err_set(err, KILN_E_INVALID,
			                    "invalid secret mount. one of source, target required");
		if (m->source && m->id)
			return kiln_err_set(err, KILN_E_INVALID, "both source and id can't be set");
	}
	if (m->sharing && m->type != DF_MOUNT_CACHE)
		return kiln_err_set(err, KILN_E_INVALID, "invalid cache sharing set for %s mount",
		                    t);
	return 0;
}

int df_mount_parse(const char *spec, bool expanded, struct df_mount *m, struct kiln_err *err)
{
	memset(m, 0, sizeof(*m));
	m->from_stage = -1;
	m->spec = xstrdup(spec);
	struct kiln_strv fields = KILN_STRV_INIT;
	bool ro_auto = true, deferred = false;
	int r = csv_split(spec, &fields, err);
	for (size_t i = 0; r == 0 && i < fields.n; i++) {
		char *field = fields.v[i];
		char *eq = strchr(field, '=');
		char *key = xstrndup(field, eq ? (size_t)(eq - field) : strlen(field));
		for (char *p = key; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		const char *value = eq ? eq + 1 : NULL;
		if (!value)
			r = set_flagless(m, key, field, &ro_auto, err);
		else if (!strcmp(key, "from") && strchr(value, '$') &&
		         value[strcspn(value, "$") + 1])
			r = kiln_err_set(err, KILN_E_INVALID,
			                 "'%s' doesn't support variable expansion, define alias "
			                 "stage instead",
			                 key);
		else if (!expanded && strchr(value, '$')) {
			/* kept as written; checked again once expanded */
			deferred = true;
			if (!strcmp(key, "source") || !strcmp(key, "src"))
				free(m->source), m->source = xstrdup(value);
			else if (!strcmp(key, "target") || !strcmp(key, "dst") ||
			         !strcmp(key, "destination"))
				free(m->target), m->target = xstrdup(value);
			else if (!strcmp(key, "id"))
				free(m->id), m->id = xstrdup(value);
		} else
			r = set_field(m, key, value, field, &ro_auto, err);
		free(key);
	}
	kiln_strv_release(&fields);
	if (r == 0 && !deferred)
		r = validate(m, ro_auto, err);
	else if (r == 0 && ro_auto)
		m->readonly = !(m->type == DF_MOUNT_CACHE || m->type == DF_MOUNT_TMPFS);
	if (r < 0)
		df_mount_release(m);
	return r;
}

void df_mount_release(struct df_mount *m)
{
	free(m->spec);
	free(m->from);
	free(m->source);
	free(m->target);
	free(m->id);
	free(m->size);
	free(m->env);
	memset(m, 0, sizeof(*m));
	m->from_stage = -1;
}
