/* Template functions: docker's template FuncMap (json, split, join, title,
 * lower, upper, pad, truncate; identities while rendering a table header,
 * as docker's HeaderFunctions) and Go's builtins (and, or, not, len, index,
 * print, printf, println, eq, ne, lt, le, gt, ge). */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "template-internal.h"

static const char *const docker_funcs[] = {"json",  "split", "join",     "title", "lower",
                                           "upper", "pad",   "truncate", NULL};
static const char *const builtins[] = {"and",   "or",     "not",     "len", "index",
                                       "print", "printf", "println", "eq",  "ne",
                                       "lt",    "le",     "gt",      "ge",  NULL};

static bool in_list(const char *const *l, const char *name)
{
	for (; *l; l++)
		if (!strcmp(*l, name))
			return true;
	return false;
}

bool tmpl_is_func(const char *name)
{
	return in_list(docker_funcs, name) || in_list(builtins, name);
}

static struct tv str_tv(char *s) /* takes s */
{
	struct tv v = {.j = json_string(s)};
	free(s);
	return v;
}

static struct tv copy_tv(const struct tv *a)
{
	struct tv v = *a;
	json_incref(v.j);
	return v;
}

const char *tmpl_type_name(const struct tv *v)
{
	json_t *j = v->j;
	if (v->invalid || !j || json_is_null(j))
		return "<nil>";
	if (json_is_string(j))
		return "string";
	if (json_is_integer(j))
		return "int";
	if (json_is_real(j))
		return "float64";
	if (json_is_boolean(j))
		return "bool";
	if (json_is_array(j))
		return "[]interface {}";
	return "map[string]interface {}";
}

static int arity(const char *fn, size_t want, size_t got, struct kiln_err *why)
{
	if (want == got)
		return 0;
	kiln_err_set(why, KILN_E_INVALID, "wrong number of args for %s: want %zu got %zu", fn, want,
	             got);
	return -2;
}

static char *go_quote(const char *s)
{
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	kiln_buf_addch(&b, '"', NULL);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		const char *esc = c == '"'    ? "\\\""
		                  : c == '\\' ? "\\\\"
		                  : c == '\n' ? "\\n"
		                  : c == '\t' ? "\\t"
		                  : c == '\r' ? "\\r"
		                              : NULL;
		if (esc)
			kiln_buf_addstr(&b, esc, NULL);
		else if (c < 0x20 || c == 0x7f)
			kiln_buf_addf(&b, NULL, "\\x%02x", c);
		else
			kiln_buf_addch(&b, (char)c, NULL);
	}
	kiln_buf_addch(&b, '"', NULL);
	return kiln_buf_detach(&b, NULL);
}

/* One printf verb with its flags/width/precision spec (e.g. "-10.3"). */
static void fmt_verb(const struct st *s, char verb, const char *spec, const struct tv *a,
                     struct kiln_buf *b)
{
	json_t *j = a->j;
	char cf[48];
	if (strchr("dxXoc", verb) && json_is_integer(j)) {
		snprintf(cf, sizeof(cf), "%%%sll%c", spec, verb == 'c' ? 'd' : verb);
		if (verb == 'c')
			kiln_buf_addch(b, (char)json_integer_value(j), NULL);
		else
			kiln_buf_addf(b, NULL, cf, (long long)json_integer_value(j));
	} else if (strchr("feEgG", verb) && json_is_number(j)) {
		snprintf(cf, sizeof(cf), "%%%s%c", spec, verb);
		kiln_buf_addf(b, NULL, cf, json_number_value(j));
	} else if (verb == 't' && json_is_boolean(j)) {
		kiln_buf_addstr(b, json_is_true(j) ? "true" : "false", NULL);
	} else if (strchr("svq", verb) || (strchr("xX", verb) && json_is_string(j))) {
		_cleanup_free_ char *str = tmpl_to_string(s, a);
		if (verb == 'q') {
			char *q = go_quote(str);
			free(str);
			str = q;
		} else if (verb != 's' && verb != 'v') {
			struct kiln_buf h;
			kiln_buf_init(&h, KILN_BUF_NOLIMIT, NULL);
			for (const char *p = str; *p; p++)
				kiln_buf_addf(&h, NULL, verb == 'x' ? "%02x" : "%02X",
				              (unsigned char)*p);
			free(str);
			str = kiln_buf_detach(&h, NULL);
		}
		snprintf(cf, sizeof(cf), "%%%ss", spec);
		kiln_buf_addf(b, NULL, cf, str);
	} else {
		_cleanup_free_ char *str = tmpl_to_string(s, a);
		kiln_buf_addf(b, NULL, "%%!%c(%s=%s)", verb, tmpl_type_name(a), str);
	}
}

static char *go_sprintf(const struct st *s, const char *f, const struct tv *args, size_t n)
{
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	size_t ai = 0;
	for (const char *p = f; *p; p++) {
		if (*p != '%') {
			kiln_buf_addch(&b, *p, NULL);
			continue;
		}
		const char *st = ++p;
		while (*p && strchr("-+# 0", *p))
			p++;
		while (isdigit((unsigned char)*p) || *p == '.')
			p++;
		if (!*p) {
			kiln_buf_addstr(&b, "%!(NOVERB)", NULL);
			break;
		}
		if (*p == '%') {
			kiln_buf_addch(&b, '%', NULL);
			continue;
		}
		_cleanup_free_ char *spec = xstrndup(st, (size_t)(p - st));
		if (ai >= n)
			kiln_buf_addf(&b, NULL, "%%!%c(MISSING)", *p);
		else
			fmt_verb(s, *p, spec, &args[ai++], &b);
	}
	if (ai < n) {
		kiln_buf_addstr(&b, "%!(EXTRA ", NULL);
		for (; ai < n; ai++) {
			_cleanup_free_ char *str = tmpl_to_string(s, &args[ai]);
			kiln_buf_addf(&b, NULL, "%s=%s%s", tmpl_type_name(&args[ai]), str,
			              ai + 1 < n ? ", " : ")");
		}
	}
	return kiln_buf_detach(&b, NULL);
}

/* fmt.Sprint (spaces between operands when neither is a string) or Sprintln. */
static char *go_sprint(const struct st *s, const struct tv *args, size_t n, bool ln)
{
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	for (size_t i = 0; i < n; i++) {
		bool strs = json_is_string(args[i].j) || (i && json_is_string(args[i - 1].j));
		if (i && (ln || !strs))
			kiln_buf_addch(&b, ' ', NULL);
		_cleanup_free_ char *str = tmpl_to_string(s, &args[i]);
		kiln_buf_addstr(&b, str, NULL);
	}
	if (ln)
		kiln_buf_addch(&b, '\n', NULL);
	return kiln_buf_detach(&b, NULL);
}

/* -1, 0, 1; or 2 when the values do not compare. */
static int compare(const struct tv *a, const struct tv *b, bool ordered)
{
	json_t *x = a->j, *y = b->j;
	if (json_is_string(x) && json_is_string(y))
		return strcmp(json_string_value(x), json_string_value(y)) < 0   ? -1
		       : strcmp(json_string_value(x), json_string_value(y)) > 0 ? 1
		                                                                : 0;
	if (json_is_integer(x) && json_is_integer(y))
		return (json_integer_value(x) > json_integer_value(y)) -
		       (json_integer_value(x) < json_integer_value(y));
	if (json_is_real(x) && json_is_real(y))
		return (json_real_value(x) > json_real_value(y)) -
		       (json_real_value(x) < json_real_value(y));
	if (!ordered && json_is_boolean(x) && json_is_boolean(y))
		return json_is_true(x) != json_is_true(y);
	if (!ordered && (!x || json_is_null(x)) && (!y || json_is_null(y)))
		return 0;
	return 2;
}

static int fn_compare(const char *fn, const struct tv *args, size_t n, struct tv *out,
                      struct kiln_err *why)
{
	bool eq = !strcmp(fn, "eq");
	if (n < 2 || (!eq && n != 2))
		return arity(fn, 2, n, why);
	bool res = false;
	for (size_t i = 1; i < n && !res; i++) {
		int c = compare(&args[0], &args[i], fn[0] == 'l' || fn[0] == 'g');
		if (c == 2)
			return kiln_err_set(why, KILN_E_INVALID,
			                    "incompatible types for comparison");
		res = eq                  ? c == 0
		      : !strcmp(fn, "ne") ? c != 0
		      : !strcmp(fn, "lt") ? c < 0
		      : !strcmp(fn, "le") ? c <= 0
		      : !strcmp(fn, "gt") ? c > 0
		                          : c >= 0;
	}
	*out = (struct tv){.j = json_boolean(res)};
	return 0;
}

static int fn_index(const struct st *s, const struct tv *args, size_t n, struct tv *out,
                    struct kiln_err *why)
{
	if (n < 1)
		return arity("index", 1, n, why);
	struct tv cur = copy_tv(&args[0]);
	for (size_t i = 1; i < n; i++) {
		json_t *j = cur.j, *k = args[i].j, *x = NULL;
		if (json_is_array(j) && json_is_integer(k)) {
			json_int_t ix = json_integer_value(k);
			if (ix < 0 || (size_t)ix >= json_array_size(j)) {
				json_decref(cur.j);
				return kiln_err_set(why, KILN_E_INVALID, "index out of range: %lld",
				                    (long long)ix);
			}
			x = json_array_get(j, (size_t)ix);
		} else if ((!j || json_is_null(j)) && cur.name && json_is_string(k)) {
			json_decref(cur.j); /* a nil map field: the zero value */
			*out = (struct tv){.j = json_string("")};
			return 0;
		} else if (json_is_object(j) && json_is_string(k)) {
			x = json_object_get(j, json_string_value(k));
			if (!x) { /* the map's zero value: "" for string maps */
				json_decref(cur.j);
				*out = (struct tv){.j = json_string("")};
				return 0;
			}
		} else {
			const char *t = tmpl_type_name(&cur);
			json_decref(cur.j);
			return kiln_err_set(why, KILN_E_INVALID, "can't index item of type %s", t);
		}
		json_decref(cur.j);
		cur = (struct tv){.j = json_incref(x)};
	}
	(void)s;
	*out = cur;
	return 0;
}

static int fn_len(const struct tv *a, struct tv *out, struct kiln_err *why)
{
	json_t *j = a->j;
	size_t n;
	if (json_is_string(j))
		n = json_string_length(j);
	else if (json_is_array(j))
		n = json_array_size(j);
	else if (json_is_object(j))
		n = json_object_size(j);
	else if (!a->invalid && (!j || json_is_null(j)) && a->name)
		n = 0; /* a nil slice or map field */
	else
		return kiln_err_set(why, KILN_E_INVALID, "len of type %s", tmpl_type_name(a));
	*out = (struct tv){.j = json_integer((json_int_t)n)};
	return 0;
}

static char *title_case(const char *s)
{
	char *r = xstrdup(s);
	bool start = true;
	for (char *p = r; *p; p++) {
		bool word = isalnum((unsigned char)*p) || *p == '_' || *p == '\'' || (*p & 0x80);
		if (word && start)
			*p = (char)toupper((unsigned char)*p);
		start = !word;
	}
	return r;
}

/* Go's json.Marshal escapes <, > and & (they can only be inside strings). */
static char *go_html_escape(const char *j)
{
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	for (; *j; j++)
		if (*j == '<' || *j == '>' || *j == '&')
			kiln_buf_addf(&b, NULL, "\\u%04x", (unsigned)*j);
		else
			kiln_buf_addch(&b, *j, NULL);
	return kiln_buf_detach(&b, NULL);
}

static int fn_docker(const struct st *s, const char *fn, const struct tv *args, size_t n,
                     struct tv *out, struct kiln_err *why)
{
	static const struct {
		const char *name;
		size_t n;
	} ar[] = {{"json", 1},  {"split", 2}, {"join", 2}, {"title", 1},
	          {"lower", 1}, {"upper", 1}, {"pad", 3},  {"truncate", 2}};
	for (size_t i = 0; i < KILN_ARRAY_SIZE(ar); i++)
		if (!strcmp(ar[i].name, fn) && n != ar[i].n)
			return arity(fn, ar[i].n, n, why);
	_cleanup_free_ char *a0 = tmpl_to_string(s, &args[0]);
	if (tmpl_header_mode(s)) /* docker's HeaderFunctions */
		return *out = str_tv(xstrdup(a0)), 0;
	if (!strcmp(fn, "json")) {
		json_t *j = args[0].invalid ? NULL : args[0].j;
		_cleanup_free_ char *raw =
		    json_dumps(j ? j : json_null(), JSON_COMPACT | JSON_ENCODE_ANY);
		return *out = str_tv(go_html_escape(raw)), 0;
	}
	if (!strcmp(fn, "lower") || !strcmp(fn, "upper")) {
		for (char *p = a0; *p; p++)
			*p = (char)(fn[0] == 'u' ? toupper((unsigned char)*p)
			                         : tolower((unsigned char)*p));
		return *out = str_tv(xstrdup(a0)), 0;
	}
	if (!strcmp(fn, "title"))
		return *out = str_tv(title_case(a0)), 0;
	if (!strcmp(fn, "pad") || !strcmp(fn, "truncate")) {
		json_t *x = args[1].j, *y = n > 2 ? args[2].j : NULL;
		if (!json_is_integer(x) || (y && !json_is_integer(y)))
			return kiln_err_set(why, KILN_E_INVALID,
			                    "wrong type for value; expected int");
		long long k = json_integer_value(x);
		if (fn[0] == 't')
			return *out = str_tv(xstrndup(a0, k < 0 ? 0 : (size_t)k)), 0;
		long long after = json_integer_value(y);
		return *out = str_tv(xasprintf("%*s%s%*s", (int)(k > 0 ? k : 0), "", a0,
		                               (int)(after > 0 ? after : 0), "")),
		       0;
	}
	if (!strcmp(fn, "split")) {
		_cleanup_free_ char *sep = tmpl_to_string(s, &args[1]);
		json_t *a = json_array();
		size_t sl = strlen(sep);
		for (const char *p = a0;;) {
			const char *e = sl ? strstr(p, sep) : (*p && p[1] ? p + 1 : NULL);
			if (!e) {
				json_array_append_new(a, json_string(p));
				break;
			}
			json_array_append_new(a, json_stringn(p, (size_t)(e - p)));
			p = e + sl;
		}
		return *out = (struct tv){.j = a}, 0;
	}
	/* join */
	_cleanup_free_ char *sep = tmpl_to_string(s, &args[1]);
	json_t *a = args[0].j;
	if (!json_is_array(a) && a && !json_is_null(a))
		return kiln_err_set(why, KILN_E_INVALID,
		                    "wrong type for value; expected []string; got %s",
		                    tmpl_type_name(&args[0]));
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	for (size_t i = 0; i < json_array_size(a); i++) {
		struct tv e = {.j = json_array_get(a, i)};
		_cleanup_free_ char *str = tmpl_to_string(s, &e);
		kiln_buf_addf(&b, NULL, "%s%s", i ? sep : "", str);
	}
	*out = str_tv(kiln_buf_detach(&b, NULL));
	return 0;
}

int tmpl_call(const struct st *s, const char *fn, struct tv *args, size_t n, struct tv *out,
              struct kiln_err *why)
{
	if (in_list(docker_funcs, fn))
		return n ? fn_docker(s, fn, args, n, out, why) : arity(fn, 1, 0, why);
	if (!strcmp(fn, "print") || !strcmp(fn, "println"))
		return *out = str_tv(go_sprint(s, args, n, fn[5] == 'l')), 0;
	if (!strcmp(fn, "printf")) {
		if (n < 1)
			return arity(fn, 1, n, why);
		_cleanup_free_ char *f = tmpl_to_string(s, &args[0]);
		return *out = str_tv(go_sprintf(s, f, args + 1, n - 1)), 0;
	}
	if (!strcmp(fn, "not")) {
		if (n != 1)
			return arity(fn, 1, n, why);
		return *out = (struct tv){.j = json_boolean(!tmpl_truth(s, &args[0]))}, 0;
	}
	if (!strcmp(fn, "and") || !strcmp(fn, "or")) {
		if (n < 1)
			return arity(fn, 1, n, why);
		size_t i = 0;
		while (i + 1 < n && tmpl_truth(s, &args[i]) == (fn[0] == 'a'))
			i++;
		return *out = copy_tv(&args[i]), 0;
	}
	if (!strcmp(fn, "len"))
		return n != 1 ? arity(fn, 1, n, why) : fn_len(&args[0], out, why);
	if (!strcmp(fn, "index"))
		return fn_index(s, args, n, out, why);
	return fn_compare(fn, args, n, out, why);
}
