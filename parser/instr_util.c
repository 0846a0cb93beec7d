/* Typed instructions: release, deep copy, canonical formatting and word
 * expansion (the words BuildKit expands per instruction kind). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "graph-internal.h"

void df_strv_copy(struct kiln_strv *dst, const struct kiln_strv *src)
{
	for (size_t i = 0; i < src->n; i++)
		kiln_strv_push(dst, src->v[i]);
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

struct df_heredoc *df_heredocs_dup(const struct df_heredoc *h, size_t n)
{
	if (!n)
		return NULL;
	struct df_heredoc *c = xcalloc(n, sizeof(*c));
	for (size_t i = 0; i < n; i++) {
		c[i] = h[i];
		c[i].name = xstrdup(h[i].name ? h[i].name : "");
		c[i].content = xstrdup(h[i].content ? h[i].content : "");
	}
	return c;
}

void df_heredocs_free(struct df_heredoc *h, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(h[i].name);
		free(h[i].content);
	}
	free(h);
}

char *df_heredoc_chomp(const char *s)
{
	char *out = xmalloc(strlen(s) + 1), *p = out;
	bool bol = true;
	for (; *s; s++) {
		if (bol && *s == '\t')
			continue;
		bol = *s == '\n';
		*p++ = *s;
	}
	*p = '\0';
	return out;
}

static void cmdline_release(struct df_cmdline *c)
{
	kiln_strv_release(&c->argv);
	df_heredocs_free(c->files, c->n_files);
}

static void cmdline_copy(struct df_cmdline *d, const struct df_cmdline *s)
{
	df_strv_copy(&d->argv, &s->argv);
	d->exec_form = s->exec_form;
	d->files = df_heredocs_dup(s->files, s->n_files);
	d->n_files = s->n_files;
}

static void kvs_release(struct df_kv *kvs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kvs[i].key);
		free(kvs[i].value);
	}
	free(kvs);
}

static void copy_release(struct df_copy *c)
{
	kiln_strv_release(&c->srcs);
	df_heredocs_free(c->contents, c->n_contents);
	free(c->dest);
	free(c->from);
	free(c->chown);
	free(c->chmod);
	free(c->checksum);
	kiln_strv_release(&c->excludes);
}

void df_instr_release(struct df_instr *in)
{
	if (!in)
		return;
	switch (in->kind) {
	case DF_I_FROM:
		free(in->u.from.base);
		free(in->u.from.name);
		free(in->u.from.platform);
		break;
	case DF_I_RUN:
		cmdline_release(&in->u.run.cmd);
		for (size_t i = 0; i < in->u.run.n_mounts; i++)
			df_mount_release(&in->u.run.mounts[i]);
		free(in->u.run.mounts);
		break;
	case DF_I_CMD:
	case DF_I_ENTRYPOINT: cmdline_release(&in->u.cmd); break;
	case DF_I_SHELL:
	case DF_I_EXPOSE:
	case DF_I_VOLUME: kiln_strv_release(&in->u.words); break;
	case DF_I_LABEL:
	case DF_I_ENV:
	case DF_I_ARG: kvs_release(in->u.kv.kvs, in->u.kv.n_kvs); break;
	case DF_I_MAINTAINER:
	case DF_I_USER:
	case DF_I_WORKDIR:
	case DF_I_STOPSIGNAL: free(in->u.word); break;
	case DF_I_ADD:
	case DF_I_COPY: copy_release(&in->u.copy); break;
	case DF_I_ONBUILD:
		free(in->u.onbuild.expression);
		free(in->u.onbuild.trigger);
		break;
	case DF_I_HEALTHCHECK: kiln_strv_release(&in->u.health.test); break;
	}
	free(in->original);
	kiln_strv_release(&in->flags);
	memset(in, 0, sizeof(*in));
}

static void mount_copy(struct df_mount *d, const struct df_mount *s)
{
	*d = *s;
	d->spec = dup_or_null(s->spec);
	d->from = dup_or_null(s->from);
	d->source = dup_or_null(s->source);
	d->target = dup_or_null(s->target);
	d->id = dup_or_null(s->id);
	d->size = dup_or_null(s->size);
	d->env = dup_or_null(s->env);
}

static void copy_copy(struct df_copy *d, const struct df_copy *s)
{
	*d = *s;
	memset(&d->srcs, 0, sizeof(d->srcs));
	memset(&d->excludes, 0, sizeof(d->excludes));
	df_strv_copy(&d->srcs, &s->srcs);
	df_strv_copy(&d->excludes, &s->excludes);
	d->contents = df_heredocs_dup(s->contents, s->n_contents);
	d->dest = dup_or_null(s->dest);
	d->from = dup_or_null(s->from);
	d->chown = dup_or_null(s->chown);
	d->chmod = dup_or_null(s->chmod);
	d->checksum = dup_or_null(s->checksum);
}

void df_instr_copy(struct df_instr *d, const struct df_instr *s)
{
	memset(d, 0, sizeof(*d));
	d->kind = s->kind;
	d->start_line = s->start_line;
	d->end_line = s->end_line;
	d->original = dup_or_null(s->original);
	df_strv_copy(&d->flags, &s->flags);
	switch (s->kind) {
	case DF_I_FROM:
		d->u.from.base = dup_or_null(s->u.from.base);
		d->u.from.name = dup_or_null(s->u.from.name);
		d->u.from.platform = dup_or_null(s->u.from.platform);
		break;
	case DF_I_RUN:
		cmdline_copy(&d->u.run.cmd, &s->u.run.cmd);
		d->u.run.network = s->u.run.network;
		d->u.run.security = s->u.run.security;
		d->u.run.n_mounts = s->u.run.n_mounts;
		d->u.run.mounts =
		    s->u.run.n_mounts ? xcalloc(s->u.run.n_mounts, sizeof(struct df_mount)) : NULL;
		for (size_t i = 0; i < s->u.run.n_mounts; i++)
			mount_copy(&d->u.run.mounts[i], &s->u.run.mounts[i]);
		break;
	case DF_I_CMD:
	case DF_I_ENTRYPOINT: cmdline_copy(&d->u.cmd, &s->u.cmd); break;
	case DF_I_SHELL:
	case DF_I_EXPOSE:
	case DF_I_VOLUME: df_strv_copy(&d->u.words, &s->u.words); break;
	case DF_I_LABEL:
	case DF_I_ENV:
	case DF_I_ARG:
		d->u.kv.n_kvs = s->u.kv.n_kvs;
		d->u.kv.kvs = xcalloc(s->u.kv.n_kvs ? s->u.kv.n_kvs : 1, sizeof(struct df_kv));
		for (size_t i = 0; i < s->u.kv.n_kvs; i++) {
			d->u.kv.kvs[i].key = xstrdup(s->u.kv.kvs[i].key);
			d->u.kv.kvs[i].value = dup_or_null(s->u.kv.kvs[i].value);
			d->u.kv.kvs[i].no_delim = s->u.kv.kvs[i].no_delim;
		}
		break;
	case DF_I_MAINTAINER:
	case DF_I_USER:
	case DF_I_WORKDIR:
	case DF_I_STOPSIGNAL: d->u.word = dup_or_null(s->u.word); break;
	case DF_I_ADD:
	case DF_I_COPY: copy_copy(&d->u.copy, &s->u.copy); break;
	case DF_I_ONBUILD:
		d->u.onbuild.expression = dup_or_null(s->u.onbuild.expression);
		d->u.onbuild.trigger = dup_or_null(s->u.onbuild.trigger);
		break;
	case DF_I_HEALTHCHECK:
		d->u.health = s->u.health;
		memset(&d->u.health.test, 0, sizeof(d->u.health.test));
		df_strv_copy(&d->u.health.test, &s->u.health.test);
		break;
	}
}
