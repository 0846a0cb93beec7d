/* df_instr_format: a typed instruction rendered back as one canonical
 * Dockerfile line (used by `kiln parse` and history entries). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph-internal.h"

/* JSON string quoting (exec form arrays, quoted values). */
static void add_quoted(struct kiln_buf *b, const char *s)
{
	kiln_buf_addch(b, '"', NULL);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			kiln_buf_addf(b, NULL, "\\%c", c);
		else if (c == '\n')
			kiln_buf_addstr(b, "\\n", NULL);
		else if (c == '\t')
			kiln_buf_addstr(b, "\\t", NULL);
		else if (c < 0x20 || c == 0x7f)
			kiln_buf_addf(b, NULL, "\\u%04x", c);
		else
			kiln_buf_addch(b, (char)c, NULL);
	}
	kiln_buf_addch(b, '"', NULL);
}

static bool needs_quotes(const char *s)
{
	if (!*s)
		return true;
	for (; *s; s++)
		if (isspace((unsigned char)*s) || *s == '"' || *s == '\'' || *s == '\\')
			return true;
	return false;
}

static void add_word(struct kiln_buf *b, const char *s)
{
	if (needs_quotes(s))
		add_quoted(b, s);
	else
		kiln_buf_addstr(b, s, NULL);
}

static void add_json_array(struct kiln_buf *b, char *const *v, size_t n)
{
	kiln_buf_addch(b, '[', NULL);
	for (size_t i = 0; i < n; i++) {
		if (i)
			kiln_buf_addstr(b, ", ", NULL);
		add_quoted(b, v[i]);
	}
	kiln_buf_addch(b, ']', NULL);
}

static void add_cmdline(struct kiln_buf *b, const struct df_cmdline *c)
{
	if (c->exec_form)
		add_json_array(b, c->argv.v, c->argv.n);
	else if (c->argv.n)
		kiln_buf_addstr(b, c->argv.v[0], NULL);
}

static void add_words(struct kiln_buf *b, const struct kiln_strv *w, bool quote)
{
	for (size_t i = 0; i < w->n; i++) {
		if (i)
			kiln_buf_addch(b, ' ', NULL);
		if (quote)
			add_word(b, w->v[i]);
		else
			kiln_buf_addstr(b, w->v[i], NULL);
	}
}

static void add_copy(struct kiln_buf *b, const struct df_copy *c)
{
	if (c->exec_form) {
		struct kiln_strv all = KILN_STRV_INIT;
		df_strv_copy(&all, &c->srcs);
		kiln_strv_push(&all, c->dest);
		add_json_array(b, all.v, all.n);
		kiln_strv_release(&all);
		return;
	}
	add_words(b, &c->srcs, true);
	for (size_t i = 0; i < c->n_contents; i++)
		kiln_buf_addf(b, NULL, "%s<<%s", c->srcs.n || i ? " " : "", c->contents[i].name);
	kiln_buf_addch(b, ' ', NULL);
	add_word(b, c->dest);
}

static void add_health(struct kiln_buf *b, const struct df_health *h)
{
	const struct kiln_strv *t = &h->test;
	if (t->n && !strcmp(t->v[0], "NONE")) {
		kiln_buf_addstr(b, "NONE", NULL);
		return;
	}
	kiln_buf_addstr(b, "CMD ", NULL);
	if (t->n && !strcmp(t->v[0], "CMD"))
		add_json_array(b, t->v + 1, t->n - 1);
	else if (t->n > 1)
		kiln_buf_addstr(b, t->v[1], NULL);
}

static void add_body(struct kiln_buf *b, const struct df_instr *in)
{
	switch (in->kind) {
	case DF_I_FROM:
		kiln_buf_addstr(b, in->u.from.base, NULL);
		if (in->u.from.name)
			kiln_buf_addf(b, NULL, " AS %s", in->u.from.name);
		break;
	case DF_I_RUN: add_cmdline(b, &in->u.run.cmd); break;
	case DF_I_CMD:
	case DF_I_ENTRYPOINT: add_cmdline(b, &in->u.cmd); break;
	case DF_I_SHELL: add_json_array(b, in->u.words.v, in->u.words.n); break;
	case DF_I_EXPOSE:
	case DF_I_VOLUME: add_words(b, &in->u.words, true); break;
	case DF_I_LABEL:
	case DF_I_ENV:
	case DF_I_ARG:
		for (size_t i = 0; i < in->u.kv.n_kvs; i++) {
			const struct df_kv *kv = &in->u.kv.kvs[i];
			if (i)
				kiln_buf_addch(b, ' ', NULL);
			add_word(b, kv->key);
			if (kv->value) {
				kiln_buf_addch(b, '=', NULL);
				add_word(b, kv->value);
			}
		}
		break;
	case DF_I_MAINTAINER:
	case DF_I_USER:
	case DF_I_WORKDIR:
	case DF_I_STOPSIGNAL: kiln_buf_addstr(b, in->u.word, NULL); break;
	case DF_I_ADD:
	case DF_I_COPY: add_copy(b, &in->u.copy); break;
	case DF_I_ONBUILD: {
		const char *e = in->u.onbuild.expression;
		kiln_buf_add(b, e, strcspn(e, "\n"), NULL);
		break;
	}
	case DF_I_HEALTHCHECK: add_health(b, &in->u.health); break;
	}
}

char *df_instr_format(const struct df_instr *in)
{
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	kiln_buf_addstr(&b, df_instr_name(in->kind), NULL);
	for (size_t i = 0; i < in->flags.n; i++) {
		kiln_buf_addch(&b, ' ', NULL);
		add_word(&b, in->flags.v[i]);
	}
	size_t before = b.len;
	kiln_buf_addch(&b, ' ', NULL);
	add_body(&b, in);
	if (b.len == before + 1) { /* nothing after the keyword */
		b.len = before;
		b.data[b.len] = '\0';
	}
	return kiln_buf_detach(&b, NULL);
}
