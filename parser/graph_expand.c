/* Expansion of a stage with what the Dockerfile alone defines (for `kiln
 * parse`): meta ARGs re-declared in the stage, stage ARGs and ENVs so far. */
#include <stdlib.h>
#include <string.h>

#include "graph-internal.h"

struct scope {
	const struct df_graph *g;
	struct kiln_strv args; /* "K=V" of declared ARGs with a value */
	struct kiln_strv env;  /* "K=V" of ENV so far */
};

/* ENV wins over ARG (BuildKit: "ENV always overrides ARG"). */
static const char *scope_lookup(void *ud, const char *name, size_t len)
{
	struct scope *s = ud;
	const char *v = df_env_get(&s->env, name, len);
	return v ? v : df_env_get(&s->args, name, len);
}

/* ARG: a build arg wins; else the default; a bare ARG NAME takes the value
 * of the global scope (meta ARG or automatic platform ARG). */
static void apply_arg(struct scope *s, const struct df_instr *x)
{
	for (size_t i = 0; i < x->u.kv.n_kvs; i++) {
		const struct df_kv *kv = &x->u.kv.kvs[i];
		size_t klen = strlen(kv->key);
		const char *v = df_env_get(&s->g->build_args, kv->key, klen);
		if (!v)
			v = kv->value;
		if (!v)
			v = df_env_get(&s->g->meta_env, kv->key, klen);
		if (v)
			kiln_strv_pushf(&s->args, "%s=%s", kv->key, v);
	}
}

static void apply_env(struct scope *s, const struct df_instr *x)
{
	for (size_t i = 0; i < x->u.kv.n_kvs; i++)
		kiln_strv_pushf(&s->env, "%s=%s", x->u.kv.kvs[i].key,
		                x->u.kv.kvs[i].value ? x->u.kv.kvs[i].value : "");
}

int df_graph_expand_stage(const struct df_graph *g, size_t stage, struct df_instr **out,
                          struct kiln_err *err)
{
	if (stage >= g->n_stages)
		return kiln_err_set(err, KILN_E_INVALID, "no stage %zu", stage);
	const struct df_stage *st = &g->stages[stage];
	struct scope s = {.g = g};
	struct df_instr *res = xcalloc(st->n_instrs ? st->n_instrs : 1, sizeof(*res));
	size_t i = 0;
	for (; i < st->n_instrs; i++) {
		const struct df_instr *in = &st->instrs[i];
		if (df_instr_expand(in, g->escape, scope_lookup, &s, &res[i], err) < 0) {
			kiln_err_wrap(err, "%s:%d", g->filename, in->start_line);
			break;
		}
		if (in->kind == DF_I_ARG)
			apply_arg(&s, &res[i]);
		else if (in->kind == DF_I_ENV)
			apply_env(&s, &res[i]);
	}
	kiln_strv_release(&s.args);
	kiln_strv_release(&s.env);
	if (i < st->n_instrs) {
		for (size_t j = 0; j < i; j++)
			df_instr_release(&res[j]);
		free(res);
		return -1;
	}
	*out = res;
	return 0;
}
