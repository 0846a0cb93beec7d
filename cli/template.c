/* A Go text/template subset for --format: lexer and parser. Supported:
 * text, {{pipeline}}, trim markers {{- and -}}, comments ({{/ * ... * /}}),
 * fields .A.B, ., $, $x, $x.A, (pipeline).A, string/raw/number/bool/nil
 * literals, pipelines with |, variables ($x := ..., $x = ...,
 * range $i, $e := ...), if/else if/else/end, range/else/end,
 * with/else with/else/end. Parse errors read like Go's: "template: :1:
 * unexpected EOF". Evaluation is in template_exec.c. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "template-internal.h"

enum tok_kind {
	K_EOF,
	K_TEXT,
	K_LEFT,  /* {{ */
	K_RIGHT, /* }} */
	K_LPAREN,
	K_RPAREN,
	K_PIPE,
	K_DECLARE, /* := */
	K_ASSIGN,  /* = */
	K_COMMA,
	K_STRING,
	K_NUMBER,
	K_FIELD, /* .Name (text without the dot) */
	K_VAR,   /* $name (text with the $) */
	K_DOT,
	K_IDENT, /* identifiers and keywords */
};

struct tok {
	enum tok_kind kind;
	size_t pos, end;
	bool space_before;
	char *text;
};

struct parser {
	const char *src;
	struct tok *toks;
	size_t n, i;
	struct kiln_err *err;
};

int tmpl_line(const char *src, size_t pos)
{
	int line = 1;
	for (size_t i = 0; i < pos && src[i]; i++)
		line += src[i] == '\n';
	return line;
}

static int perr(struct parser *p, size_t pos, const char *msg, const char *arg)
{
	return kiln_err_set(p->err, KILN_E_INVALID, "template: :%d: %s%s", tmpl_line(p->src, pos),
	                    msg, arg ? arg : "");
}

static void push(struct parser *p, enum tok_kind k, size_t pos, size_t end, char *text, bool sp)
{
	p->toks = xreallocarray(p->toks, p->n + 1, sizeof(*p->toks));
	p->toks[p->n++] =
	    (struct tok){.kind = k, .pos = pos, .end = end, .text = text, .space_before = sp};
}

/* Go's quoted string: backslash escapes \n \t \\ \" \r \a \b \f \v \xHH. */
static char *unquote(const char *s, size_t len)
{
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '\\' && i + 1 < len) {
			c = s[++i];
			const char *from = "ntr\\\"abfv'", *to = "\n\t\r\\\"\a\b\f\v'";
			const char *f = strchr(from, c);
			if (c == 'x' && i + 2 < len) {
				char hex[3] = {s[i + 1], s[i + 2], 0};
				c = (char)strtol(hex, NULL, 16);
				i += 2;
			} else if (f && c) {
				c = to[f - from];
			}
		}
		kiln_buf_addch(&b, c, NULL);
	}
	return kiln_buf_detach(&b, NULL);
}

static bool is_ident_char(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

/* Lexes one token inside an action at *i; returns -1 on error. */
static int lex_token(struct parser *p, size_t *i, bool sp)
{
	const char *s = p->src;
	size_t st = *i;
	char c = s[st];
	if (strchr("()|,", c)) {
		enum tok_kind k = c == '('   ? K_LPAREN
		                  : c == ')' ? K_RPAREN
		                  : c == '|' ? K_PIPE
		                             : K_COMMA;
		push(p, k, st, st + 1, NULL, sp);
		*i = st + 1;
	} else if (c == ':' && s[st + 1] == '=') {
		push(p, K_DECLARE, st, st + 2, NULL, sp);
		*i = st + 2;
	} else if (c == '=') {
		push(p, K_ASSIGN, st, st + 1, NULL, sp);
		*i = st + 1;
	} else if (c == '"' || c == '`') {
		size_t e = st + 1;
		while (s[e] && s[e] != c && !(c == '"' && s[e] == '\n')) {
			if (c == '"' && s[e] == '\\' && s[e + 1])
				e++;
			e++;
		}
		if (s[e] != c)
			return perr(p, st,
			            c == '"' ? "unterminated quoted string"
			                     : "unterminated raw quoted string",
			            NULL);
		char *v =
		    c == '"' ? unquote(s + st + 1, e - st - 1) : xstrndup(s + st + 1, e - st - 1);
		push(p, K_STRING, st, e + 1, v, sp);
		*i = e + 1;
	} else if (isdigit((unsigned char)c) ||
	           ((c == '-' || c == '+' || c == '.') && isdigit((unsigned char)s[st + 1]))) {
		size_t e = st + 1;
		while (isalnum((unsigned char)s[e]) || s[e] == '.' || s[e] == '_' ||
		       ((s[e] == '-' || s[e] == '+') && tolower((unsigned char)s[e - 1]) == 'e'))
			e++;
		push(p, K_NUMBER, st, e, xstrndup(s + st, e - st), sp);
		*i = e;
	} else if (c == '.' || c == '$') {
		size_t e = st + 1;
		while (is_ident_char(s[e]))
			e++;
		if (c == '.' && e == st + 1)
			push(p, K_DOT, st, e, NULL, sp);
		else
			push(p, c == '.' ? K_FIELD : K_VAR, st, e,
			     xstrndup(s + st + (c == '.'), e - st - (c == '.')), sp);
		*i = e;
	} else if (isalpha((unsigned char)c) || c == '_') {
		size_t e = st + 1;
		while (is_ident_char(s[e]))
			e++;
		push(p, K_IDENT, st, e, xstrndup(s + st, e - st), sp);
		*i = e;
	} else {
		char q[8];
		snprintf(q, sizeof(q), "%c", c);
		return perr(p, st, "unexpected bad character in command: ", q);
	}
	return 0;
}

static void trim_text_end(struct parser *p)
{
	if (p->n && p->toks[p->n - 1].kind == K_TEXT) {
		char *t = p->toks[p->n - 1].text;
		size_t l = strlen(t);
		while (l && isspace((unsigned char)t[l - 1]))
			t[--l] = 0;
	}
}

/* Lexes an action starting at "{{" (position *i); leaves *i after "}}". */
static int lex_action(struct parser *p, size_t *i, bool *trim_next)
{
	const char *s = p->src;
	size_t open = *i, k = open + 2;
	if (s[k] == '-' && isspace((unsigned char)s[k + 1])) {
		trim_text_end(p);
		k += 2;
	}
	while (isspace((unsigned char)s[k]))
		k++;
	if (!strncmp(s + k, "/*", 2)) { /* comment */
		const char *e = strstr(s + k + 2, "*/");
		if (!e)
			return perr(p, open, "unclosed comment", NULL);
		k = (size_t)(e - s) + 2;
		while (isspace((unsigned char)s[k]))
			k++;
		*trim_next = s[k] == '-' && s[k + 1] == '}' && s[k + 2] == '}';
		k += *trim_next;
		if (strncmp(s + k, "}}", 2) != 0)
			return perr(p, open, "comment ends before closing delimiter", NULL);
		*i = k + 2;
		return 0;
	}
	push(p, K_LEFT, open, open + 2, NULL, false);
	bool sp = false;
	for (;;) {
		if (!s[k])
			return perr(p, k, "unclosed action", NULL);
		if (isspace((unsigned char)s[k])) {
			sp = true;
			k++;
			continue;
		}
		if (!strncmp(s + k, "}}", 2) || (sp && !strncmp(s + k, "-}}", 3))) {
			*trim_next = s[k] == '-';
			k += *trim_next;
			push(p, K_RIGHT, k, k + 2, NULL, sp);
			*i = k + 2;
			return 0;
		}
		if (lex_token(p, &k, sp) < 0)
			return -1;
		sp = false;
	}
}

static int lex(struct parser *p)
{
	const char *s = p->src;
	size_t i = 0;
	bool trim = false;
	while (s[i]) {
		const char *open = strstr(s + i, "{{");
		size_t end = open ? (size_t)(open - s) : strlen(s);
		size_t st = i;
		if (trim)
			while (st < end && isspace((unsigned char)s[st]))
				st++;
		if (end > st)
			push(p, K_TEXT, st, end, xstrndup(s + st, end - st), false);
		if (!open)
			break;
		i = end;
		trim = false;
		if (lex_action(p, &i, &trim) < 0)
			return -1;
	}
	push(p, K_EOF, strlen(s), strlen(s), NULL, false);
	return 0;
}

/* --- parser ---------------------------------------------------------------- */

static struct tok *peek(struct parser *p)
{
	return &p->toks[p->i];
}

static struct tok *next(struct parser *p)
{
	struct tok *t = &p->toks[p->i];
	if (t->kind != K_EOF)
		p->i++;
	return t;
}

static bool is_kw(const struct tok *t, const char *kw)
{
	return t->kind == K_IDENT && !strcmp(t->text, kw);
}

static void pipe_free(struct tpipe *pp);

static void arg_free(struct targ *a)
{
	if (!a)
		return;
	free(a->s);
	kiln_strv_free(a->fields);
	pipe_free(a->pipe);
	free(a);
}

static void pipe_free(struct tpipe *pp)
{
	if (!pp)
		return;
	for (size_t i = 0; i < pp->n_cmds; i++) {
		for (size_t j = 0; j < pp->cmds[i]->n_args; j++)
			arg_free(pp->cmds[i]->args[j]);
		free(pp->cmds[i]->args);
		free(pp->cmds[i]->src);
		free(pp->cmds[i]);
	}
	free(pp->cmds);
	free(pp->decl[0]);
	free(pp->decl[1]);
	free(pp);
}

static void list_release(struct tlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		struct tnode *nd = l->v[i];
		free(nd->text);
		pipe_free(nd->pipe);
		list_release(&nd->list);
		list_release(&nd->orelse);
		free(nd);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static void list_add(struct tlist *l, struct tnode *nd)
{
	l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
	l->v[l->n++] = nd;
}

static struct tpipe *parse_pipeline(struct parser *p, const char *ctx, enum tok_kind end);

/* Field chain directly after an operand (.A.B with no space before). */
static void parse_fields(struct parser *p, struct targ *a)
{
	struct kiln_strv f = KILN_STRV_INIT;
	while (peek(p)->kind == K_FIELD && !peek(p)->space_before)
		kiln_strv_push(&f, next(p)->text);
	a->fields = f.v; /* NULL-terminated, or NULL */
}

static struct targ *parse_operand(struct parser *p)
{
	struct tok *t = peek(p);
	struct targ *a = xcalloc(1, sizeof(*a));
	a->pos = t->pos;
	switch (t->kind) {
	case K_FIELD: {
		a->kind = TA_FIELD;
		const char *first = next(p)->text;
		parse_fields(p, a);
		size_t n = 0;
		while (a->fields && a->fields[n])
			n++;
		char **f = xcalloc(n + 2, sizeof(*f));
		f[0] = xstrdup(first);
		if (n)
			memcpy(f + 1, a->fields, n * sizeof(*f));
		free(a->fields);
		a->fields = f;
		return a;
	}
	case K_DOT:
		next(p);
		a->kind = TA_DOT;
		return a;
	case K_VAR:
		a->kind = TA_VAR;
		a->s = xstrdup(next(p)->text);
		parse_fields(p, a);
		return a;
	case K_STRING:
		a->kind = TA_STRING;
		a->s = xstrdup(next(p)->text);
		return a;
	case K_NUMBER: {
		a->kind = TA_NUMBER;
		a->s = xstrdup(next(p)->text);
		char *e;
		a->ival = strtoll(a->s, &e, 0);
		a->is_int = !*e;
		a->fval = a->is_int ? (double)a->ival : strtod(a->s, &e);
		if (*e) {
			perr(p, a->pos, "bad number syntax: ", a->s);
			arg_free(a);
			return NULL;
		}
		return a;
	}
	case K_LPAREN:
		next(p);
		a->kind = TA_PIPE;
		a->pipe = parse_pipeline(p, "parenthesized pipeline", K_RPAREN);
		if (!a->pipe) {
			arg_free(a);
			return NULL;
		}
		next(p); /* ) */
		parse_fields(p, a);
		return a;
	case K_IDENT:
		if (!strcmp(t->text, "true") || !strcmp(t->text, "false")) {
			a->kind = TA_BOOL;
			a->bval = !strcmp(next(p)->text, "true");
		} else if (!strcmp(t->text, "nil")) {
			next(p);
			a->kind = TA_NIL;
		} else if (tmpl_is_func(t->text)) {
			a->kind = TA_IDENT;
			a->s = xstrdup(next(p)->text);
		} else {
			char *q = xasprintf("\"%s\" not defined", t->text);
			perr(p, t->pos, "function ", q);
			free(q);
			arg_free(a);
			return NULL;
		}
		return a;
	default: free(a); return NULL;
	}
}

static struct tcmd *parse_command(struct parser *p, enum tok_kind end)
{
	struct tcmd *c = xcalloc(1, sizeof(*c));
	c->pos = peek(p)->pos;
	size_t last = c->pos;
	for (;;) {
		struct tok *t = peek(p);
		if (t->kind == end || t->kind == K_PIPE)
			break;
		if (t->kind == K_RIGHT || t->kind == K_EOF || t->kind == K_RPAREN) {
			perr(p, t->pos,
			     t->kind == K_RPAREN ? "unexpected right paren" : "unclosed left paren",
			     NULL);
			goto fail;
		}
		last = t->end;
		struct targ *a = parse_operand(p);
		if (!a) {
			if (!p->err->msg)
				perr(p, t->pos, "unexpected token in operand", NULL);
			goto fail;
		}
		c->args = xreallocarray(c->args, c->n_args + 1, sizeof(*c->args));
		c->args[c->n_args++] = a;
		last = p->toks[p->i - 1].end;
	}
	if (!c->n_args) {
		perr(p, peek(p)->pos, "missing value for command", NULL);
		goto fail;
	}
	c->src = xstrndup(p->src + c->pos, last - c->pos);
	return c;
fail:
	for (size_t j = 0; j < c->n_args; j++)
		arg_free(c->args[j]);
	free(c->args);
	free(c);
	return NULL;
}

static struct tpipe *parse_pipeline(struct parser *p, const char *ctx, enum tok_kind end)
{
	struct tpipe *pp = xcalloc(1, sizeof(*pp));
	pp->pos = peek(p)->pos;
	/* declarations: $x := / $x = / $i, $e := */
	struct tok *t = peek(p);
	if (t->kind == K_VAR) {
		struct tok *t1 = &p->toks[p->i + 1];
		if (t1->kind == K_DECLARE || t1->kind == K_ASSIGN) {
			pp->decl[pp->n_decl++] = xstrdup(t->text);
			pp->assign = t1->kind == K_ASSIGN;
			p->i += 2;
		} else if (t1->kind == K_COMMA && p->toks[p->i + 2].kind == K_VAR &&
		           p->toks[p->i + 3].kind == K_DECLARE) {
			pp->decl[pp->n_decl++] = xstrdup(t->text);
			pp->decl[pp->n_decl++] = xstrdup(p->toks[p->i + 2].text);
			p->i += 4;
		}
	}
	while (peek(p)->kind != end) {
		if (pp->n_cmds && next(p)->kind != K_PIPE)
			break;
		struct tcmd *c = parse_command(p, end);
		if (!c) {
			pipe_free(pp);
			return NULL;
		}
		pp->cmds = xreallocarray(pp->cmds, pp->n_cmds + 1, sizeof(*pp->cmds));
		pp->cmds[pp->n_cmds++] = c;
	}
	if (!pp->n_cmds) {
		perr(p, pp->pos, "missing value for ", ctx);
		pipe_free(pp);
		return NULL;
	}
	return pp;
}

enum term { TERM_EOF, TERM_END, TERM_ELSE };

static int parse_list(struct parser *p, struct tlist *l, enum term *term, bool nested);

/* After "{{if" / "{{range" / "{{with" (the keyword consumed). */
static struct tnode *parse_control(struct parser *p, enum tnode_kind kind, const char *kw,
                                   size_t pos)
{
	struct tnode *nd = xcalloc(1, sizeof(*nd));
	nd->kind = kind;
	nd->pos = pos;
	enum term term;
	nd->pipe = parse_pipeline(p, kw, K_RIGHT);
	if (!nd->pipe || (next(p), parse_list(p, &nd->list, &term, true)) < 0)
		goto fail;
	if (term == TERM_ELSE) {
		struct tok *t = peek(p);
		if ((kind == TN_IF && is_kw(t, "if")) || (kind == TN_WITH && is_kw(t, "with"))) {
			next(p); /* else if / else with: one {{end}} closes both */
			struct tnode *sub = parse_control(p, kind, kw, t->pos);
			if (!sub)
				goto fail;
			list_add(&nd->orelse, sub);
			return nd;
		}
		if (next(p)->kind != K_RIGHT) {
			perr(p, t->pos, "unexpected token in else", NULL);
			goto fail;
		}
		if (parse_list(p, &nd->orelse, &term, true) < 0)
			goto fail;
		if (term != TERM_END) {
			perr(p, peek(p)->pos, "expected end; found {{else}}", NULL);
			goto fail;
		}
	}
	return nd;
fail:
	pipe_free(nd->pipe);
	list_release(&nd->list);
	list_release(&nd->orelse);
	free(nd);
	return NULL;
}

static int parse_action(struct parser *p, struct tlist *l, enum term *term, bool nested, bool *done)
{
	struct tok *t = peek(p);
	static const char *const kws[] = {"if", "range", "with"};
	static const enum tnode_kind kinds[] = {TN_IF, TN_RANGE, TN_WITH};
	if (is_kw(t, "end") || is_kw(t, "else")) {
		next(p);
		if (!nested)
			return perr(p, t->pos,
			            is_kw(t, "end") ? "unexpected {{end}}" : "unexpected {{else}}",
			            NULL);
		*term = is_kw(t, "end") ? TERM_END : TERM_ELSE;
		if (*term == TERM_END && next(p)->kind != K_RIGHT)
			return perr(p, t->pos, "unexpected token in end", NULL);
		*done = true;
		return 0;
	}
	for (size_t k = 0; k < KILN_ARRAY_SIZE(kws); k++) {
		if (is_kw(t, kws[k])) {
			next(p);
			struct tnode *nd = parse_control(p, kinds[k], kws[k], t->pos);
			if (!nd)
				return -1;
			list_add(l, nd);
			return 0;
		}
	}
	struct tnode *nd = xcalloc(1, sizeof(*nd));
	nd->kind = TN_ACTION;
	nd->pos = t->pos;
	nd->pipe = parse_pipeline(p, "command", K_RIGHT);
	if (!nd->pipe) {
		free(nd);
		return -1;
	}
	next(p);
	list_add(l, nd);
	return 0;
}

static int parse_list(struct parser *p, struct tlist *l, enum term *term, bool nested)
{
	for (;;) {
		struct tok *t = next(p);
		if (t->kind == K_EOF) {
			*term = TERM_EOF;
			return nested ? perr(p, t->pos, "unexpected EOF", NULL) : 0;
		}
		if (t->kind == K_TEXT) {
			struct tnode *nd = xcalloc(1, sizeof(*nd));
			nd->kind = TN_TEXT;
			nd->pos = t->pos;
			nd->text = xstrdup(t->text);
			list_add(l, nd);
			continue;
		}
		bool done = false;
		if (parse_action(p, l, term, nested, &done) < 0)
			return -1;
		if (done)
			return 0;
	}
}

/* docker's formatter: \t and \n written as two characters become real ones. */
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

struct kiln_tmpl *kiln_tmpl_parse_raw(const char *text, struct kiln_err *err)
{
	struct kiln_tmpl *t = xcalloc(1, sizeof(*t));
	t->src = xstrdup(text);
	struct parser p = {.src = t->src, .err = err};
	enum term term;
	int r = lex(&p);
	if (r == 0)
		r = parse_list(&p, &t->root, &term, false);
	for (size_t i = 0; i < p.n; i++)
		free(p.toks[i].text);
	free(p.toks);
	if (r < 0) {
		kiln_tmpl_free(t);
		return NULL;
	}
	return t;
}

struct kiln_tmpl *kiln_tmpl_parse(const char *text, struct kiln_err *err)
{
	bool table = !strncmp(text, "table", 5);
	if (table)
		text += 5;
	_cleanup_free_ char *trimmed = xstrdup(text);
	char *s = trimmed;
	while (*s == ' ')
		s++;
	size_t l = strlen(s);
	while (l && s[l - 1] == ' ')
		s[--l] = 0;
	_cleanup_free_ char *src = unescape(s);
	struct kiln_tmpl *t = kiln_tmpl_parse_raw(src, err);
	if (t)
		t->table = table;
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
	list_release(&t->root);
	free(t->src);
	free(t);
}
