/* Evaluates a parsed template (template.c) over a jansson value, printing
 * values as Go's fmt does: a struct `{v1 v2}` in field order, a map
 * `map[k:v]` sorted by key, a slice `[a b]`, nil `<nil>`, a missing map
 * entry `<no value>`. JSON carries no Go types, so a JSON object is a struct
 * unless the caller's kinds table names its field a map; null and absent
 * fields take the zero value of their kind (slice `[]`, map `map[]`,
 * pointer `<nil>`). Execution errors read like Go's:
 *   template: :1:2: executing "" at <.Foo>: map has no entry for key "Foo" */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "template-internal.h"

struct tvar {
	char *name;
	struct tv v;
};

struct st {
	const struct kiln_tmpl *t;
	const struct kiln_tmpl_opts *o;
	bool raw;    /* every object is a map, missing keys are errors */
	bool header; /* rendering a table header: fields are column titles */
	const char *const (*names)[2];
	struct tvar *vars;
	size_t n_vars;
	struct kiln_err *err;
};

static struct tv tv_take(json_t *j, const char *name)
{
	return (struct tv){.j = j, .name = name};
}

static struct tv tv_ref(json_t *j, const char *name)
{
	return (struct tv){.j = json_incref(j), .name = name};
}

static struct tv tv_str(const char *s)
{
	return tv_take(json_string(s ? s : ""), NULL);
}

static void tv_drop(struct tv *v)
{
	json_decref(v->j);
	v->j = NULL;
}

static const char *kind_of(const struct st *s, const char *name)
{
	for (size_t i = 0; name && s->o && s->o->kinds && s->o->kinds[i][0]; i++)
		if (!strcmp(s->o->kinds[i][0], name))
			return s->o->kinds[i][1];
	return NULL;
}

static const char *struct_fields(const struct st *s, const char *name)
{
	for (size_t i = 0; name && !s->raw && s->o && s->o->structs && s->o->structs[i][0]; i++)
		if (!strcmp(s->o->structs[i][0], name))
			return s->o->structs[i][1];
	return NULL;
}

static bool is_kind(const struct st *s, const char *name, const char *kind)
{
	const char *k = kind_of(s, name);
	return k && !strcmp(k, kind);
}

static bool is_map(const struct st *s, const struct tv *v)
{
	return json_is_object(v->j) && (s->raw || s->header || is_kind(s, v->name, "map"));
}

static int exec_err(struct st *s, size_t pos, const char *ctx, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int exec_err(struct st *s, size_t pos, const char *ctx, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *msg = NULL;
	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	va_end(ap);
	const char *src = s->t->src;
	size_t col = pos;
	for (size_t i = 0; i < pos; i++)
		if (src[i] == '\n')
			col = pos - i - 1;
	_cleanup_free_ char *c = strlen(ctx) > 20 ? xasprintf("%.20s...", ctx) : xstrdup(ctx);
	return kiln_err_set(s->err, KILN_E_INVALID, "template: :%d:%zu: executing \"\" at <%s>: %s",
	                    tmpl_line(src, pos), col, c, msg);
}

/* --- printing like fmt's %v ------------------------------------------------ */

static void print_float(double f, struct kiln_buf *b)
{
	char tmp[64];
	int p = 1;
	for (; p < 17; p++) { /* shortest precision that round-trips */
		snprintf(tmp, sizeof(tmp), "%.*e", p - 1, f);
		if (strtod(tmp, NULL) == f)
			break;
	}
	snprintf(tmp, sizeof(tmp), "%.*e", p - 1, f);
	int exp = atoi(strchr(tmp, 'e') + 1), eprec = 6;
	if (eprec > p && p >= exp + 1)
		eprec = p;
	if (exp < -4 || exp >= eprec) {
		kiln_buf_addstr(b, tmp, NULL);
		return;
	}
	int decimals = p - 1 - exp;
	kiln_buf_addf(b, NULL, "%.*f", decimals > 0 ? decimals : 0, f);
}

static void print_val(const struct st *s, const struct tv *v, struct kiln_buf *b, int depth);

static void print_null(const struct st *s, const char *name, struct kiln_buf *b)
{
	const char *k = s->raw ? NULL : kind_of(s, name);
	if (!k)
		kiln_buf_addstr(b, "<nil>", NULL);
	else if (!strcmp(k, "map"))
		kiln_buf_addstr(b, "map[]", NULL);
	else if (!strcmp(k, "slice"))
		kiln_buf_addstr(b, "[]", NULL);
	else if (!strcmp(k, "bool"))
		kiln_buf_addstr(b, "false", NULL);
	else if (!strcmp(k, "int"))
		kiln_buf_addch(b, '0', NULL);
	else if (strcmp(k, "string") != 0)
		kiln_buf_addstr(b, "<nil>", NULL);
}

static void print_object(const struct st *s, const struct tv *v, struct kiln_buf *b, int depth)
{
	const char *k;
	json_t *x;
	if (!is_map(s, v)) {
		kiln_buf_addstr(b, depth && is_kind(s, v->name, "ptr") ? "&{" : "{", NULL);
		const char *schema = struct_fields(s, v->name);
		bool first = true;
		if (schema) {
			_cleanup_free_ char *copy = xstrdup(schema);
			char *save = NULL;
			for (char *f = strtok_r(copy, " ", &save); f;
			     f = strtok_r(NULL, " ", &save)) {
				kiln_buf_addstr(b, first ? "" : " ", NULL);
				first = false;
				struct tv e = {.j = json_object_get(v->j, f), .name = f};
				print_val(s, &e, b, depth + 1);
			}
		}
		json_object_foreach(v->j, k, x)
		{
			if (schema)
				break;
			kiln_buf_addstr(b, first ? "" : " ", NULL);
			first = false;
			struct tv e = {.j = x, .name = k};
			print_val(s, &e, b, depth + 1);
		}
		kiln_buf_addch(b, '}', NULL);
		return;
	}
	struct kiln_strv keys = KILN_STRV_INIT;
	json_object_foreach(v->j, k, x) kiln_strv_push(&keys, k);
	kiln_strv_sort(&keys);
	kiln_buf_addstr(b, "map[", NULL);
	for (size_t i = 0; i < keys.n; i++) {
		kiln_buf_addf(b, NULL, "%s%s:", i ? " " : "", keys.v[i]);
		struct tv e = {.j = json_object_get(v->j, keys.v[i]), .name = NULL};
		print_val(s, &e, b, depth + 1);
	}
	kiln_buf_addch(b, ']', NULL);
	kiln_strv_release(&keys);
}

static void print_val(const struct st *s, const struct tv *v, struct kiln_buf *b, int depth)
{
	json_t *j = v->j;
	if (v->invalid)
		kiln_buf_addstr(b, "<no value>", NULL);
	else if (!j || json_is_null(j))
		print_null(s, v->name, b);
	else if (json_is_string(j) && !s->raw && is_kind(s, v->name, "time")) {
		_cleanup_free_ char *t = kiln_time_go_nano(json_string_value(j));
		kiln_buf_addstr(b, t, NULL); /* a Go time.Time held as RFC 3339 */
	} else if (json_is_string(j))
		kiln_buf_add(b, json_string_value(j), json_string_length(j), NULL);
	else if (json_is_integer(j))
		kiln_buf_addf(b, NULL, "%lld", (long long)json_integer_value(j));
	else if (json_is_real(j))
		print_float(json_real_value(j), b);
	else if (json_is_boolean(j))
		kiln_buf_addstr(b, json_is_true(j) ? "true" : "false", NULL);
	else if (json_is_array(j)) {
		kiln_buf_addch(b, '[', NULL);
		for (size_t i = 0; i < json_array_size(j); i++) {
			if (i)
				kiln_buf_addch(b, ' ', NULL);
			struct tv e = {.j = json_array_get(j, i)};
			print_val(s, &e, b, depth + 1);
		}
		kiln_buf_addch(b, ']', NULL);
	} else
		print_object(s, v, b, depth);
}

char *tmpl_to_string(const struct st *s, const struct tv *v)
{
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	print_val(s, v, &b, 0);
	return kiln_buf_detach(&b, NULL);
}

char *kiln_go_format(const void *json_value)
{
	struct st s = {.raw = true};
	struct tv v = {.j = (json_t *)json_value};
	return tmpl_to_string(&s, &v);
}

static char *json_dump_go(json_t *v, bool escape_html, bool indent)
{
	char *raw = json_dumps(v ? v : json_null(),
	                       (indent ? JSON_INDENT(4) : JSON_COMPACT) | JSON_ENCODE_ANY);
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	for (const char *p = raw ? raw : "null"; *p; p++) {
		if (escape_html && (*p == '<' || *p == '>' || *p == '&'))
			kiln_buf_addf(&b, NULL, "\\u00%02x", (unsigned)*p);
		else
			kiln_buf_addch(&b, *p, NULL);
	}
	free(raw);
	return kiln_buf_detach(&b, NULL);
}

char *kiln_json_dump(const void *json_value, bool indent)
{
	return json_dump_go((json_t *)json_value, true, indent);
}

/* --- truth, fields, variables ---------------------------------------------- */

bool tmpl_header_mode(const struct st *s)
{
	return s->header;
}

bool tmpl_truth(const struct st *s, const struct tv *v)
{
	json_t *j = v->j;
	if (v->invalid || !j || json_is_null(j))
		return false;
	if (json_is_boolean(j))
		return json_is_true(j);
	if (json_is_integer(j))
		return json_integer_value(j) != 0;
	if (json_is_real(j))
		return json_real_value(j) != 0;
	if (json_is_string(j))
		return json_string_length(j) > 0;
	if (json_is_array(j))
		return json_array_size(j) > 0;
	return !is_map(s, v) || json_object_size(j) > 0;
}

static const char *go_type(const struct st *s, const struct tv *v, bool root)
{
	if (root && s->o && s->o->type && !s->raw)
		return s->o->type;
	return json_is_object(v->j) && !s->raw ? "interface {}" : tmpl_type_name(v);
}

/* recv.key into *out (recv is consumed). */
static int field(struct st *s, struct tv *recv, const char *key, bool root, size_t pos,
                 const char *ctx, struct tv *out)
{
	json_t *j = recv->j;
	int ret = 0;
	if (s->header && root) {
		const char *h = NULL;
		for (size_t i = 0; s->names && s->names[i][0] && !h; i++)
			if (!strcmp(s->names[i][0], key))
				h = s->names[i][1];
		char *up = xstrdup(key);
		for (char *p = up; *p; p++)
			*p = (char)toupper((unsigned char)*p);
		*out = tv_str(h ? h : up);
		free(up);
	} else if (json_is_object(j)) {
		json_t *x = json_object_get(j, key);
		if (x)
			*out = tv_ref(x, key);
		else if (is_map(s, recv) && !s->raw)
			*out = (struct tv){.invalid = true};
		else if (s->raw)
			ret = exec_err(s, pos, ctx, "map has no entry for key \"%s\"", key);
		else if (kind_of(s, key))
			*out = (struct tv){.name = key}; /* the zero value of a known field */
		else
			ret = exec_err(s, pos, ctx, "can't evaluate field %s in type %s", key,
			               go_type(s, recv, root));
	} else if (recv->invalid || !j || json_is_null(j)) {
		ret = s->raw ? exec_err(s, pos, ctx, "nil data; no entry for key \"%s\"", key)
		             : exec_err(s, pos, ctx, "nil pointer evaluating %s.%s",
		                        go_type(s, recv, root), key);
	} else {
		ret = exec_err(s, pos, ctx, "can't evaluate field %s in type %s", key,
		               go_type(s, recv, root));
	}
	tv_drop(recv);
	return ret;
}

static int fields(struct st *s, struct tv v, char *const *f, bool root, size_t pos, const char *ctx,
                  struct tv *out)
{
	for (; f && *f; f++, root = false) {
		struct tv nv;
		if (field(s, &v, *f, root, pos, ctx, &nv) < 0)
			return -1;
		v = nv;
	}
	*out = v;
	return 0;
}

static struct tvar *var_find(struct st *s, const char *name)
{
	for (size_t i = s->n_vars; i-- > 0;)
		if (!strcmp(s->vars[i].name, name))
			return &s->vars[i];
	return NULL;
}

static void var_push(struct st *s, const char *name, struct tv v)
{
	s->vars = xreallocarray(s->vars, s->n_vars + 1, sizeof(*s->vars));
	s->vars[s->n_vars++] = (struct tvar){.name = xstrdup(name), .v = v};
}

static void vars_pop(struct st *s, size_t mark)
{
	while (s->n_vars > mark) {
		struct tvar *v = &s->vars[--s->n_vars];
		free(v->name);
		tv_drop(&v->v);
	}
}

/* --- evaluation ------------------------------------------------------------- */

static int eval_pipe(struct st *s, const struct tpipe *pp, const struct tv *dot, struct tv *out);

static char *arg_ctx(const struct targ *a, const struct tcmd *c)
{
	if (a->kind == TA_FIELD || a->kind == TA_VAR) {
		struct kiln_buf b;
		kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
		if (a->kind == TA_VAR)
			kiln_buf_addstr(&b, a->s, NULL);
		for (char *const *f = a->fields; f && *f; f++)
			kiln_buf_addf(&b, NULL, ".%s", *f);
		return kiln_buf_detach(&b, NULL);
	}
	return xstrdup(c->src);
}

static int eval_call(struct st *s, const struct tcmd *c, const char *fn, size_t first,
                     const struct tv *dot, const struct tv *final, struct tv *out);

static int eval_arg(struct st *s, const struct targ *a, const struct tcmd *c, const struct tv *dot,
                    struct tv *out)
{
	_cleanup_free_ char *ctx = arg_ctx(a, c);
	struct tv base;
	switch (a->kind) {
	case TA_FIELD:
		return fields(s, tv_ref(dot->j, dot->name), a->fields, dot->j == s->vars[0].v.j,
		              a->pos, ctx, out);
	case TA_DOT:
		*out = *dot;
		json_incref(out->j);
		return 0;
	case TA_VAR: {
		struct tvar *v = var_find(s, a->s);
		if (!v)
			return exec_err(s, a->pos, ctx, "undefined variable: %s", a->s);
		base = v->v;
		json_incref(base.j);
		return fields(s, base, a->fields, !strcmp(a->s, "$"), a->pos, ctx, out);
	}
	case TA_PIPE:
		if (eval_pipe(s, a->pipe, dot, &base) < 0)
			return -1;
		return fields(s, base, a->fields, false, a->pos, ctx, out);
	case TA_STRING: *out = tv_str(a->s); return 0;
	case TA_NUMBER:
		*out = tv_take(a->is_int ? json_integer(a->ival) : json_real(a->fval), NULL);
		return 0;
	case TA_BOOL: *out = tv_take(json_boolean(a->bval), NULL); return 0;
	case TA_NIL: return exec_err(s, a->pos, ctx, "nil is not a command");
	case TA_IDENT: {
		struct tcmd one = {.pos = a->pos, .src = a->s};
		return eval_call(s, &one, a->s, 1, dot, NULL, out);
	}
	}
	return -1;
}

static int eval_call(struct st *s, const struct tcmd *c, const char *fn, size_t first,
                     const struct tv *dot, const struct tv *final, struct tv *out)
{
	size_t n = (c->n_args > first ? c->n_args - first : 0) + (final != NULL);
	struct tv *args = xcalloc(n + 1, sizeof(*args));
	int ret = 0;
	size_t k = 0;
	for (size_t i = first; i < c->n_args && ret == 0; i++)
		ret = eval_arg(s, c->args[i], c, dot, &args[k++]);
	if (ret == 0 && final) {
		args[k] = *final;
		json_incref(args[k++].j);
	}
	if (ret == 0) {
		struct kiln_err why = KILN_ERR_INIT;
		int r = tmpl_call(s, fn, args, k, out, &why);
		if (r == -2)
			ret = exec_err(s, c->pos, c->src, "%s", why.msg);
		else if (r < 0)
			ret = exec_err(s, c->pos, c->src, "error calling %s: %s", fn, why.msg);
		kiln_err_release(&why);
	}
	for (size_t i = 0; i < k; i++)
		tv_drop(&args[i]);
	free(args);
	return ret;
}

static int eval_cmd(struct st *s, const struct tcmd *c, const struct tv *dot,
                    const struct tv *final, struct tv *out)
{
	const struct targ *a = c->args[0];
	if (a->kind == TA_IDENT)
		return eval_call(s, c, a->s, 1, dot, final, out);
	if (c->n_args > 1 || final) {
		_cleanup_free_ char *ctx = arg_ctx(a, c);
		return exec_err(s, a->pos, ctx, "can't give argument to non-function %s", ctx);
	}
	return eval_arg(s, a, c, dot, out);
}

static int eval_pipe(struct st *s, const struct tpipe *pp, const struct tv *dot, struct tv *out)
{
	struct tv v = {0};
	bool have = false;
	for (size_t i = 0; i < pp->n_cmds; i++) {
		struct tv nv;
		int r = eval_cmd(s, pp->cmds[i], dot, have ? &v : NULL, &nv);
		tv_drop(&v);
		if (r < 0)
			return -1;
		v = nv;
		have = true;
	}
	if (pp->n_decl == 1 && pp->assign) {
		struct tvar *var = var_find(s, pp->decl[0]);
		if (!var) {
			tv_drop(&v);
			return exec_err(s, pp->pos, pp->decl[0], "undefined variable: %s",
			                pp->decl[0]);
		}
		tv_drop(&var->v);
		var->v = v;
		json_incref(v.j);
	} else if (pp->n_decl == 1) {
		var_push(s, pp->decl[0], v);
		json_incref(v.j);
	}
	*out = v;
	return 0;
}

static int walk_list(struct st *s, const struct tlist *l, const struct tv *dot, struct kiln_buf *b);

static int walk_range(struct st *s, const struct tnode *nd, struct tv *val, struct kiln_buf *b)
{
	json_t *j = val->j;
	size_t n = json_is_array(j) ? json_array_size(j) : 0, mark = s->n_vars;
	const struct tpipe *pp = nd->pipe;
	struct kiln_strv keys = KILN_STRV_INIT;
	if (json_is_object(j) && is_map(s, val)) {
		const char *k;
		json_t *x;
		json_object_foreach(j, k, x) kiln_strv_push(&keys, k);
		kiln_strv_sort(&keys);
		n = keys.n;
	} else if (json_is_integer(j)) {
		n = json_integer_value(j) > 0 ? (size_t)json_integer_value(j) : 0;
	} else if (!val->invalid && j && !json_is_null(j) && !json_is_array(j)) {
		_cleanup_free_ char *str = tmpl_to_string(s, val);
		return exec_err(s, nd->pos, "range", "range can't iterate over %s", str);
	}
	int ret = 0;
	for (size_t i = 0; i < n && ret == 0; i++) {
		struct tv e = keys.n               ? tv_ref(json_object_get(j, keys.v[i]), NULL)
		              : json_is_integer(j) ? tv_take(json_integer((json_int_t)i), NULL)
		                                   : tv_ref(json_array_get(j, i), NULL);
		struct tv key =
		    keys.n ? tv_str(keys.v[i]) : tv_take(json_integer((json_int_t)i), NULL);
		if (pp->n_decl == 2) {
			var_push(s, pp->decl[0], key);
			var_push(s, pp->decl[1], tv_ref(e.j, NULL));
		} else {
			if (pp->n_decl == 1) { /* eval_pipe declared it: it takes the element */
				tv_drop(&s->vars[mark - 1].v);
				s->vars[mark - 1].v = tv_ref(e.j, NULL);
			}
			tv_drop(&key);
		}
		ret = walk_list(s, &nd->list, &e, b);
		tv_drop(&e);
		vars_pop(s, mark);
	}
	kiln_strv_release(&keys);
	if (ret == 0 && n == 0)
		ret = walk_list(s, &nd->orelse, val, b);
	return ret;
}

static int walk_node(struct st *s, const struct tnode *nd, const struct tv *dot, struct kiln_buf *b)
{
	if (nd->kind == TN_TEXT)
		return kiln_buf_addstr(b, nd->text, NULL), 0;
	size_t mark = s->n_vars;
	struct tv v;
	int ret = eval_pipe(s, nd->pipe, dot, &v);
	if (ret < 0)
		return -1;
	switch (nd->kind) {
	case TN_ACTION:
		if (!nd->pipe->n_decl)
			print_val(s, &v, b, 0);
		mark = s->n_vars; /* {{$x := ...}} stays declared */
		break;
	case TN_IF: ret = walk_list(s, tmpl_truth(s, &v) ? &nd->list : &nd->orelse, dot, b); break;
	case TN_WITH:
		ret = tmpl_truth(s, &v) ? walk_list(s, &nd->list, &v, b)
		                        : walk_list(s, &nd->orelse, dot, b);
		break;
	case TN_RANGE: ret = walk_range(s, nd, &v, b); break;
	case TN_TEXT: break;
	}
	tv_drop(&v);
	vars_pop(s, mark);
	return ret;
}

/* Variables declared in a list end with it (at its {{end}}). */
static int walk_list(struct st *s, const struct tlist *l, const struct tv *dot, struct kiln_buf *b)
{
	size_t mark = s->n_vars;
	int ret = 0;
	for (size_t i = 0; i < l->n && ret == 0; i++)
		ret = walk_node(s, l->v[i], dot, b);
	vars_pop(s, mark);
	return ret;
}

static int run(struct st *s, json_t *data, struct kiln_buf *out)
{
	struct tv root = tv_ref(data, NULL);
	var_push(s, "$", root);
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	struct tv dot = tv_ref(data, NULL);
	int ret = walk_list(s, &s->t->root, &dot, &b);
	tv_drop(&dot);
	vars_pop(s, 0);
	free(s->vars);
	s->vars = NULL;
	if (ret == 0)
		kiln_buf_addstr(out, kiln_buf_str(&b), NULL);
	kiln_buf_release(&b);
	return ret;
}

int kiln_tmpl_render(const struct kiln_tmpl *t, const void *json_value,
                     const struct kiln_tmpl_opts *o, struct kiln_buf *out, struct kiln_err *err)
{
	struct st s = {.t = t, .o = o, .err = err};
	if (run(&s, (json_t *)json_value, out) == 0)
		return 0;
	if (!o || !o->raw_fallback)
		return kiln_err_wrap(err, "template parsing error");
	kiln_err_release(err);
	s = (struct st){.t = t, .o = o, .err = err, .raw = true};
	if (run(&s, (json_t *)json_value, out) < 0)
		return kiln_err_wrap(err, "template parsing error");
	return 0;
}

char *kiln_tmpl_header(const struct kiln_tmpl *t, const char *const (*names)[2])
{
	struct kiln_err err = KILN_ERR_INIT;
	struct st s = {.t = t, .header = true, .names = names, .err = &err};
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	json_t *data = json_object();
	if (run(&s, data, &b) < 0)
		kiln_buf_reset(&b);
	json_decref(data);
	kiln_err_release(&err);
	return kiln_buf_detach(&b, NULL);
}
