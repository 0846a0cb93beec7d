/* `kiln parse --json`: the graph as JSON, schema in docs/parse-json.md. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmd_parse.h"

static json_t *jstr(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *jstrv(const struct kiln_strv *sv)
{
	json_t *a = json_array();
	for (size_t i = 0; i < sv->n; i++)
		json_array_append_new(a, json_string(sv->v[i]));
	return a;
}

static json_t *jheredocs(const struct df_heredoc *h, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:s, s:i, s:b, s:b, s:s}", "name", h[i].name,
		                                   "fd", h[i].fd, "expand", h[i].expand, "chomp",
		                                   h[i].chomp, "content", h[i].content));
	return a;
}

static void add_cmdline(json_t *o, const struct df_cmdline *c)
{
	json_object_set_new(o, "form", json_string(c->exec_form ? "exec" : "shell"));
	json_object_set_new(o, "args", jstrv(&c->argv));
	if (c->n_files)
		json_object_set_new(o, "heredocs", jheredocs(c->files, c->n_files));
}

static json_t *jmount(const struct df_mount *m)
{
	static const char *const types[] = {"bind", "cache", "tmpfs", "secret", "ssh"};
	static const char *const sharing[] = {NULL, "shared", "private", "locked"};
	json_t *o = json_pack("{s:s, s:s, s:b, s:b}", "spec", m->spec, "type", types[m->type],
	                      "readonly", m->readonly, "required", m->required);
	json_object_set_new(o, "from", jstr(m->from));
	json_object_set_new(o, "from_stage",
	                    m->from_stage >= 0 ? json_integer(m->from_stage) : json_null());
	json_object_set_new(o, "source", jstr(m->source));
	json_object_set_new(o, "target", jstr(m->target));
	json_object_set_new(o, "id", jstr(m->id));
	json_object_set_new(o, "sharing", jstr(sharing[m->sharing]));
	json_object_set_new(o, "size", jstr(m->size));
	json_object_set_new(o, "mode",
	                    m->has_mode ? json_integer((json_int_t)m->mode) : json_null());
	json_object_set_new(o, "uid", m->has_uid ? json_integer((json_int_t)m->uid) : json_null());
	json_object_set_new(o, "gid", m->has_gid ? json_integer((json_int_t)m->gid) : json_null());
	return o;
}

static void add_run(json_t *o, const struct df_run *r)
{
	static const char *const net[] = {NULL, "default", "none", "host"};
	static const char *const sec[] = {NULL, "sandbox", "insecure"};
	add_cmdline(o, &r->cmd);
	json_t *a = json_array();
	for (size_t i = 0; i < r->n_mounts; i++)
		json_array_append_new(a, jmount(&r->mounts[i]));
	json_object_set_new(o, "mounts", a);
	json_object_set_new(o, "network", jstr(net[r->network]));
	json_object_set_new(o, "security", jstr(sec[r->security]));
}

static void add_copy(json_t *o, const struct df_copy *c, bool add)
{
	json_object_set_new(o, "form", json_string(c->exec_form ? "exec" : "shell"));
	json_object_set_new(o, "sources", jstrv(&c->srcs));
	json_object_set_new(o, "heredocs", jheredocs(c->contents, c->n_contents));
	json_object_set_new(o, "dest", json_string(c->dest));
	json_object_set_new(o, "chown", jstr(c->chown));
	json_object_set_new(o, "chmod", jstr(c->chmod));
	json_object_set_new(o, "link", json_boolean(c->link));
	json_object_set_new(o, "excludes", jstrv(&c->excludes));
	if (add) {
		json_object_set_new(o, "checksum", jstr(c->checksum));
		json_object_set_new(o, "keep_git_dir", json_boolean(c->keep_git_dir));
		json_object_set_new(o, "unpack",
		                    c->unpack_set ? json_boolean(c->unpack) : json_null());
	} else {
		json_object_set_new(o, "from", jstr(c->from));
		json_object_set_new(o, "from_stage",
		                    c->from_stage >= 0 ? json_integer(c->from_stage) : json_null());
		json_object_set_new(o, "parents", json_boolean(c->parents));
	}
}

static json_t *jpairs(const struct df_instr *in)
{
	json_t *a = json_array();
	for (size_t i = 0; i < in->u.kv.n_kvs; i++)
		json_array_append_new(a, json_pack("{s:s, s:o}", "key", in->u.kv.kvs[i].key,
		                                   "value", jstr(in->u.kv.kvs[i].value)));
	return a;
}

static void add_health(json_t *o, const struct df_health *h)
{
	json_object_set_new(o, "test", jstrv(&h->test));
	json_object_set_new(o, "interval_ns", json_integer(h->interval));
	json_object_set_new(o, "timeout_ns", json_integer(h->timeout));
	json_object_set_new(o, "start_period_ns", json_integer(h->start_period));
	json_object_set_new(o, "start_interval_ns", json_integer(h->start_interval));
	json_object_set_new(o, "retries", json_integer(h->retries));
}

/* raw: the instruction as written (for original, flags); x: expanded. */
static json_t *jinstr(const struct df_instr *raw, const struct df_instr *x)
{
	char *text = df_instr_format(x);
	json_t *o = json_pack("{s:i, s:i, s:s, s:s, s:o, s:s}", "line", raw->start_line, "end_line",
	                      raw->end_line, "command", df_instr_name(raw->kind), "original",
	                      raw->original, "flags", jstrv(&raw->flags), "expanded", text);
	free(text);
	switch (x->kind) {
	case DF_I_FROM: break;
	case DF_I_RUN: add_run(o, &x->u.run); break;
	case DF_I_CMD:
	case DF_I_ENTRYPOINT: add_cmdline(o, &x->u.cmd); break;
	case DF_I_SHELL: json_object_set_new(o, "args", jstrv(&x->u.words)); break;
	case DF_I_EXPOSE: json_object_set_new(o, "ports", jstrv(&x->u.words)); break;
	case DF_I_VOLUME: json_object_set_new(o, "paths", jstrv(&x->u.words)); break;
	case DF_I_LABEL:
	case DF_I_ENV:
	case DF_I_ARG: json_object_set_new(o, "pairs", jpairs(x)); break;
	case DF_I_MAINTAINER:
	case DF_I_USER:
	case DF_I_WORKDIR:
	case DF_I_STOPSIGNAL: json_object_set_new(o, "value", json_string(x->u.word)); break;
	case DF_I_ADD:
	case DF_I_COPY: add_copy(o, &x->u.copy, x->kind == DF_I_ADD); break;
	case DF_I_ONBUILD:
		json_object_set_new(o, "trigger", json_string(x->u.onbuild.trigger));
		json_object_set_new(o, "expression", json_string(x->u.onbuild.expression));
		break;
	case DF_I_HEALTHCHECK: add_health(o, &x->u.health); break;
	}
	return o;
}

/* Writes o as indented JSON without its closing "\n}" (open) or whole,
 * every line after the first prefixed by indent. */
static void put(FILE *out, json_t *o, const char *indent, bool open)
{
	char *d = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	size_t n = strlen(d);
	if (open && n >= 2)
		n -= 2;
	for (size_t i = 0; i < n; i++) {
		fputc(d[i], out);
		if (d[i] == '\n')
			fputs(indent, out);
	}
	free(d);
}

/* One stage, its instructions written one at a time. */
static void put_stage(FILE *out, const struct df_stage *st, const struct df_instr *x)
{
	json_t *base = st->base_stage >= 0 ? json_pack("{s:i}", "stage", st->base_stage)
	                                   : json_pack("{s:s}", "image", st->base_expanded);
	json_object_set_new(base, "as_written", json_string(st->base));
	json_t *o =
	    json_pack("{s:i, s:o, s:o, s:o, s:o, s:i, s:s, s:b}", "index", st->index, "name",
	              jstr(st->name), "base", base, "platform", jstr(st->platform_expanded),
	              "platform_as_written", jstr(st->platform), "line", st->start_line, "original",
	              st->original, "needed", st->needed);
	put(out, o, "    ", true);
	fputs(",\n      \"instructions\": [", out);
	for (size_t i = 0; i < st->n_instrs; i++) {
		fputs(i ? ",\n        " : "\n        ", out);
		put(out, jinstr(&st->instrs[i], &x[i]), "        ", false);
	}
	fputs(st->n_instrs ? "\n      ]\n    }" : "]\n    }", out);
}

static json_t *jdeps(const struct df_graph *g)
{
	static const char *const kinds[] = {"from", "copy", "mount"};
	json_t *a = json_array();
	for (size_t i = 0; i < g->n_deps; i++) {
		const struct df_dep *d = &g->deps[i];
		json_t *on = d->on_stage >= 0 ? json_pack("{s:i}", "stage", d->on_stage)
		                              : json_pack("{s:s}", "image", d->image);
		json_array_append_new(a, json_pack("{s:s, s:i, s:i, s:o}", "kind", kinds[d->kind],
		                                   "stage", d->stage, "line", d->line, "on", on));
	}
	return a;
}

static json_t *jmeta(const struct df_graph *g)
{
	json_t *a = json_array();
	for (size_t i = 0; i < g->n_meta_args; i++) {
		const struct df_instr *in = &g->meta_args[i];
		for (size_t j = 0; j < in->u.kv.n_kvs; j++) {
			const struct df_kv *kv = &in->u.kv.kvs[j];
			const char *v = NULL;
			for (size_t k = g->meta_env.n; k-- > 0 && !v;) {
				size_t l = strlen(kv->key);
				if (!strncmp(g->meta_env.v[k], kv->key, l) &&
				    g->meta_env.v[k][l] == '=')
					v = g->meta_env.v[k] + l + 1;
			}
			json_array_append_new(a, json_pack("{s:s, s:o, s:o, s:i}", "name", kv->key,
			                                   "default", jstr(kv->value), "value",
			                                   jstr(v), "line", in->start_line));
		}
	}
	return a;
}

int cmd_parse_json(FILE *out, const struct df_graph *g, struct kiln_err *err)
{
	char esc[2] = {g->escape, 0};
	const struct df_stage *t = &g->stages[g->target];
	json_t *head =
	    json_pack("{s:i, s:s, s:s, s:s, s:s}", "version", 1, "file", g->filename, "escape", esc,
	              "build_platform", g->build_platform, "target_platform", g->target_platform);
	json_object_set_new(head, "meta_args", jmeta(g));
	put(out, head, "", true);
	fputs(",\n  \"stages\": [", out);
	for (size_t s = 0; s < g->n_stages; s++) {
		struct df_instr *x;
		if (df_graph_expand_stage(g, s, &x, err) < 0)
			return -1;
		fputs(s ? ",\n    " : "\n    ", out);
		put_stage(out, &g->stages[s], x);
		cmd_parse_free_stage(&g->stages[s], x);
	}
	fputs("\n  ],\n  ", out);
	json_t *tail = json_pack("{s:o, s:o}", "target",
	                         json_pack("{s:i, s:o}", "index", g->target, "name", jstr(t->name)),
	                         "dependencies", jdeps(g));
	char *d = json_dumps(tail, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(tail);
	/* Without its opening "{\n  ": the two keys continue the document. */
	fputs(strlen(d) > 4 ? d + 4 : d, out);
	fputc('\n', out);
	free(d);
	return 0;
}
