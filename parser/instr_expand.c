/* df_instr_expand: expands the words BuildKit expands for each instruction
 * kind, through the parser's expander (df_expand_word / df_expand_words). */
#include <stdlib.h>
#include <string.h>

#include "graph-internal.h"

struct xctx {
	char escape;
	df_lookup_fn lookup;
	void *ud;
};

/* Expands *s in place (NULL stays NULL). */
static int x_word(const struct xctx *x, char **s, struct kiln_err *err)
{
	if (!*s)
		return 0;
	char *out = NULL;
	if (df_expand_word(*s, x->escape, 0, x->lookup, x->ud, &out, err) < 0)
		return -1;
	free(*s);
	*s = out;
	return 0;
}

static int x_strv(const struct xctx *x, struct kiln_strv *sv, struct kiln_err *err)
{
	for (size_t i = 0; i < sv->n; i++)
		if (x_word(x, &sv->v[i], err) < 0)
			return -1;
	return 0;
}

/* Flags whose value is expanded: the rest stay as written. */
static int x_flags(const struct xctx *x, struct kiln_strv *flags, const char *const *names,
                   struct kiln_err *err)
{
	for (size_t i = 0; i < flags->n; i++) {
		char *f = flags->v[i], *eq = strchr(f, '=');
		if (!eq || strncmp(f, "--", 2))
			continue;
		bool match = false;
		for (const char *const *n = names; *n && !match; n++)
			match =
			    strlen(*n) == (size_t)(eq - f - 2) && !strncmp(f + 2, *n, strlen(*n));
		if (!match)
			continue;
		char *val = xstrdup(eq + 1);
		if (x_word(x, &val, err) < 0) {
			free(val);
			return -1;
		}
		flags->v[i] = xasprintf("%.*s=%s", (int)(eq - f), f, val);
		free(val);
		free(f);
	}
	return 0;
}

static int x_copy(const struct xctx *x, struct df_instr *o, struct kiln_err *err)
{
	static const char *const names[] = {"chown", "chmod", "checksum", "exclude", NULL};
	struct df_copy *c = &o->u.copy;
	if (x_strv(x, &c->srcs, err) < 0 || x_word(x, &c->dest, err) < 0 ||
	    x_word(x, &c->chown, err) < 0 || x_word(x, &c->chmod, err) < 0 ||
	    x_word(x, &c->checksum, err) < 0 || x_strv(x, &c->excludes, err) < 0)
		return -1;
	return x_flags(x, &o->flags, names, err);
}

static int x_kvs(const struct xctx *x, struct df_instr *o, struct kiln_err *err)
{
	for (size_t i = 0; i < o->u.kv.n_kvs; i++)
		if (x_word(x, &o->u.kv.kvs[i].key, err) < 0 ||
		    x_word(x, &o->u.kv.kvs[i].value, err) < 0)
			return -1;
	return 0;
}

/* EXPOSE: each word may expand to several (ProcessWords), then each must be
 * a valid port spec. */
static int x_expose(const struct xctx *x, struct df_instr *o, struct kiln_err *err)
{
	struct kiln_strv out = KILN_STRV_INIT;
	for (size_t i = 0; i < o->u.words.n; i++) {
		struct kiln_strv w = KILN_STRV_INIT;
		if (df_expand_words(o->u.words.v[i], x->escape, 0, x->lookup, x->ud, &w, err) < 0) {
			kiln_strv_release(&out);
			return -1;
		}
		for (size_t j = 0; j < w.n; j++)
			kiln_strv_push(&out, w.v[j]);
		kiln_strv_release(&w);
	}
	kiln_strv_release(&o->u.words);
	o->u.words = out;
	for (size_t i = 0; i < out.n; i++) {
		unsigned lo, hi;
		const char *proto;
		if (df_port_parse(out.v[i], &lo, &hi, &proto, err) < 0)
			return -1;
	}
	return 0;
}

static int x_from(const struct xctx *x, struct df_instr *o, struct kiln_err *err)
{
	static const char *const names[] = {"platform", NULL};
	if (x_word(x, &o->u.from.base, err) < 0 || x_word(x, &o->u.from.platform, err) < 0)
		return -1;
	return x_flags(x, &o->flags, names, err);
}

int df_instr_expand(const struct df_instr *in, char escape, df_lookup_fn lookup, void *ud,
                    struct df_instr *out, struct kiln_err *err)
{
	struct xctx x = {escape ? escape : '\\', lookup, ud};
	df_instr_copy(out, in);
	int r = 0;
	switch (out->kind) {
	case DF_I_FROM: r = x_from(&x, out, err); break;
	case DF_I_ADD:
	case DF_I_COPY: r = x_copy(&x, out, err); break;
	case DF_I_ENV:
	case DF_I_LABEL:
	case DF_I_ARG: r = x_kvs(&x, out, err); break;
	case DF_I_EXPOSE: r = x_expose(&x, out, err); break;
	case DF_I_VOLUME: r = x_strv(&x, &out->u.words, err); break;
	case DF_I_USER:
	case DF_I_WORKDIR:
	case DF_I_STOPSIGNAL: r = x_word(&x, &out->u.word, err); break;
	default: break; /* RUN CMD ENTRYPOINT SHELL ONBUILD HEALTHCHECK MAINTAINER */
	}
	if (r < 0)
		df_instr_release(out);
	return r;
}
