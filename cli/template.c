/* A Go text/template subset for --format, evaluated over jansson values. */
#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "format.h"

struct tmpl_node {
	char *text;  /* literal, or NULL for an action */
	char **args; /* action words: function name or path, then arguments */
	size_t n_args;
};

struct kiln_tmpl {
	struct tmpl_node *nodes;
	size_t n;
	bool table;
};

static void add_node(struct kiln_tmpl *t, struct tmpl_node nd)
{
	t->nodes = xreallocarray(t->nodes, t->n + 1, sizeof(*t->nodes));
	t->nodes[t->n++] = nd;
}

/* Splits an action into words; "quoted strings" keep spaces (quotes dropped). */
static int split_action(const char *s, size_t len, struct tmpl_node *nd, struct kiln_err *err)
{
	size_t i = 0;
	while (i < len) {
		while (i < len && isspace((unsigned char)s[i]))
			i++;
		if (i >= len)
			break;
		size_t start = i;
		char *word;
		if (s[i] == '"') {
			const char *end = memchr(s + i + 1, '"', len - i - 1);
			if (!end)
				return kiln_err_set(
				    err, KILN_E_USAGE,
				    "template parsing error: unterminated quoted string");
			word = xstrndup(s + i + 1, (size_t)(end - s) - i - 1);
			i = (size_t)(end - s) + 1;
		} else {
			while (i < len && !isspace((unsigned char)s[i]))
				i++;
			word = xstrndup(s + start, i - start);
		}
		nd->args = xreallocarray(nd->args, nd->n_args + 2, sizeof(char *));
		nd->args[nd->n_args++] = word;
		nd->args[nd->n_args] = NULL;
	}
	if (!nd->n_args)
		return kiln_err_set(err, KILN_E_USAGE, "template parsing error: missing value");
	return 0;
}

static char *unescape(const char *s)
{
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	for (; *s; s++) {
		if (s[0] == '\\' && (s[1] == 't' || s[1] == 'n')) {
			kiln_buf_addch(&b, s[1] == 't' ? '\t' : '\n', NULL);
			s++;
		} else {
			kiln_buf_addch(&b, *s, NULL);
		}
	}
	return kiln_buf_detach(&b, NULL);
}

struct kiln_tmpl *kiln_tmpl_parse(const char *text, struct kiln_err *err)
{
	struct kiln_tmpl *t = xcalloc(1, sizeof(*t));
	if (!strncmp(text, "table ", 6) || !strcmp(text, "table")) {
		t->table = true;
		text += 5;
		while (*text == ' ')
			text++;
	}
	_cleanup_free_ char *src = unescape(text);
	const char *p = src;
	while (*p) {
		const char *open = strstr(p, "{{");
		if (!open) {
			add_node(t, (struct tmpl_node){.text = xstrdup(p)});
			break;
		}
		if (open > p)
			add_node(t, (struct tmpl_node){.text = xstrndup(p, (size_t)(open - p))});
		const char *close = strstr(open + 2, "}}");
		if (!close) {
			kiln_tmpl_free(t);
			kiln_err_set(err, KILN_E_USAGE, "template parsing error: unclosed action");
			return NULL;
		}
		struct tmpl_node nd = {0};
		if (split_action(open + 2, (size_t)(close - open - 2), &nd, err) < 0) {
			kiln_strv_free(nd.args);
			kiln_tmpl_free(t);
			return NULL;
		}
		add_node(t, nd);
		p = close + 2;
	}
	return t;
}

bool kiln_tmpl_is_table(const struct kiln_tmpl *t)
{
	return t->table;
}

void kiln_tmpl_free(struct kiln_tmpl *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++) {
		free(t->nodes[i].text);
		kiln_strv_free(t->nodes[i].args);
	}
	free(t->nodes);
	free(t);
}

static json_t *lookup(json_t *v, const char *path)
{
	if (path[0] != '.')
		return NULL;
	if (!path[1])
		return v;
	_cleanup_free_ char *copy = xstrdup(path + 1);
	char *save = NULL;
	for (char *k = strtok_r(copy, ".", &save); k && v; k = strtok_r(NULL, ".", &save))
		v = json_is_object(v) ? json_object_get(v, k) : NULL;
	return v;
}

static void go_format(json_t *v, struct kiln_buf *b)
{
	if (!v || json_is_null(v)) {
		kiln_buf_addstr(b, "[]", NULL);
	} else if (json_is_string(v)) {
		kiln_buf_addstr(b, json_string_value(v), NULL);
	} else if (json_is_integer(v)) {
		kiln_buf_addf(b, NULL, "%lld", (long long)json_integer_value(v));
	} else if (json_is_real(v)) {
		kiln_buf_addf(b, NULL, "%g", json_real_value(v));
	} else if (json_is_boolean(v)) {
		kiln_buf_addstr(b, json_is_true(v) ? "true" : "false", NULL);
	} else if (json_is_array(v)) {
		kiln_buf_addch(b, '[', NULL);
		for (size_t i = 0; i < json_array_size(v); i++) {
			if (i)
				kiln_buf_addch(b, ' ', NULL);
			go_format(json_array_get(v, i), b);
		}
		kiln_buf_addch(b, ']', NULL);
	} else {
		struct kiln_strv keys = KILN_STRV_INIT;
		const char *k;
		json_t *x;
		json_object_foreach(v, k, x) kiln_strv_push(&keys, k);
		kiln_strv_sort(&keys);
		kiln_buf_addstr(b, "map[", NULL);
		for (size_t i = 0; i < keys.n; i++) {
			kiln_buf_addf(b, NULL, "%s%s:", i ? " " : "", keys.v[i]);
			go_format(json_object_get(v, keys.v[i]), b);
		}
		kiln_buf_addch(b, ']', NULL);
		kiln_strv_release(&keys);
	}
}

char *kiln_go_format(const void *json_value)
{
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	go_format((json_t *)json_value, &b);
	return kiln_buf_detach(&b, NULL);
}

char *kiln_json_dump(const void *json_value, bool indent)
{
	json_t *v = (json_t *)json_value;
	char *raw = json_dumps(v ? v : json_null(),
	                       (indent ? JSON_INDENT(4) : JSON_COMPACT) | JSON_ENCODE_ANY);
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	for (const char *p = raw ? raw : "null"; *p; p++) {
		if (*p == '<' || *p == '>' || *p == '&')
			kiln_buf_addf(&b, NULL, "\\u00%02x", (unsigned)*p);
		else
			kiln_buf_addch(&b, *p, NULL);
	}
	free(raw);
	return kiln_buf_detach(&b, NULL);
}

static int eval(const struct tmpl_node *nd, json_t *data, struct kiln_buf *out,
                struct kiln_err *err)
{
	const char *fn = nd->args[0];
	if (fn[0] == '.' && nd->n_args == 1) {
		json_t *v = lookup(data, fn);
		if (!v && !json_is_object(lookup(data, ".")))
			return kiln_err_set(err, KILN_E_USAGE, "template: can't evaluate field %s",
			                    fn);
		if (!v)
			return kiln_buf_addstr(out, "<no value>", NULL), 0;
		go_format(v, out);
		return 0;
	}
	if (!strcmp(fn, "println"))
		return kiln_buf_addch(out, '\n', NULL), 0;
	json_t *arg = nd->n_args > 1 ? lookup(data, nd->args[1]) : NULL;
	if (!strcmp(fn, "json") && nd->n_args == 2) {
		_cleanup_free_ char *j = kiln_json_dump(arg, false);
		return kiln_buf_addstr(out, j, NULL), 0;
	}
	if ((!strcmp(fn, "upper") || !strcmp(fn, "lower")) && nd->n_args == 2) {
		_cleanup_free_ char *s = kiln_go_format(arg);
		for (char *p = s; *p; p++)
			*p = (char)(fn[0] == 'u' ? toupper((unsigned char)*p)
			                         : tolower((unsigned char)*p));
		return kiln_buf_addstr(out, s, NULL), 0;
	}
	if (!strcmp(fn, "join") && nd->n_args == 3) {
		for (size_t i = 0; json_is_array(arg) && i < json_array_size(arg); i++) {
			if (i)
				kiln_buf_addstr(out, nd->args[2], NULL);
			go_format(json_array_get(arg, i), out);
		}
		return 0;
	}
	if (!strcmp(fn, "index") && nd->n_args == 3) {
		json_t *v = json_is_object(arg) ? json_object_get(arg, nd->args[2]) : NULL;
		if (v)
			go_format(v, out);
		else
			kiln_buf_addstr(out, "<no value>", NULL);
		return 0;
	}
	return kiln_err_set(err, KILN_E_USAGE, "template: function \"%s\" not defined", fn);
}

int kiln_tmpl_render(const struct kiln_tmpl *t, const void *json_value, struct kiln_buf *out,
                     struct kiln_err *err)
{
	for (size_t i = 0; i < t->n; i++) {
		if (t->nodes[i].text)
			kiln_buf_addstr(out, t->nodes[i].text, NULL);
		else if (eval(&t->nodes[i], (json_t *)json_value, out, err) < 0)
			return -1;
	}
	return 0;
}

char *kiln_tmpl_header(const struct kiln_tmpl *t, const char *const (*names)[2])
{
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	for (size_t i = 0; i < t->n; i++) {
		const struct tmpl_node *nd = &t->nodes[i];
		if (nd->text) {
			kiln_buf_addstr(&b, nd->text, NULL);
			continue;
		}
		const char *path = nd->args[nd->n_args > 1 ? 1 : 0];
		const char *field = strrchr(path, '.') ? strrchr(path, '.') + 1 : path;
		const char *h = NULL;
		for (size_t k = 0; names && names[k][0] && !h; k++)
			if (!strcmp(names[k][0], field))
				h = names[k][1];
		if (h) {
			kiln_buf_addstr(&b, h, NULL);
		} else {
			for (const char *p = field; *p; p++)
				kiln_buf_addch(&b, (char)toupper((unsigned char)*p), NULL);
		}
	}
	return kiln_buf_detach(&b, NULL);
}
