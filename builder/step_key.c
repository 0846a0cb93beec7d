/* The cache seam (ARCHITECTURE.md decision 2). The step loop in stage.c is
 * key -> lookup -> execute -> record; the cache issue (13) fills in the
 * content part of the preimage (COPY/ADD sources hashed by cache/) and the
 * records. What is here: a versioned preimage over what the step sees
 * (parent key, op kind, the expanded instruction, env, workdir, user,
 * shell; proxy args never enter it), hashed with XXH3-128; lookups miss
 * and nothing is recorded yet. */
#include <string.h>

#include "build-internal.h"

#define KEY_FORMAT "kiln-step-key-v0"

static void add_field(struct kiln_buf *b, const char *name, const char *value)
{
	kiln_buf_addf(b, NULL, "%s %zu:%s\n", name, value ? strlen(value) : 0, value ? value : "");
}

static void add_list(struct kiln_buf *b, const char *name, char *const *v)
{
	for (size_t i = 0; v && v[i]; i++)
		add_field(b, name, v[i]);
}

int bld_step_key(struct bld_stage *st, const struct bld_step *step, char key[65],
                 struct kiln_err *err)
{
	(void)err;
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	add_field(&b, "format", KEY_FORMAT);
	add_field(&b, "parent", st->key);
	add_field(&b, "op", df_instr_name(step->x.kind));
	_cleanup_free_ char *op = df_instr_format(&step->x);
	add_field(&b, "instr", op);
	add_list(&b, "env", st->cfg->config.env);
	for (size_t i = 0; i < st->args.n; i++) {
		size_t kl = strcspn(st->args.v[i], "=");
		_cleanup_free_ char *k = xstrndup(st->args.v[i], kl);
		if (!df_arg_is_predefined(k))
			add_field(&b, "arg", st->args.v[i]);
	}
	add_field(&b, "workdir", st->cfg->config.working_dir);
	add_field(&b, "user", st->cfg->config.user);
	add_list(&b, "shell", st->cfg->config.shell);
	struct kiln_xxh128 h;
	kiln_xxh128(kiln_buf_str(&b), b.len, &h);
	char hex[33];
	kiln_xxh128_hex(&h, hex);
	snprintf(key, 65, "%s", hex);
	kiln_buf_release(&b);
	return 0;
}

bool bld_cache_lookup(struct bld_stage *st, const char *key, struct bld_step *step)
{
	(void)st;
	(void)key;
	(void)step;
	return false;
}

void bld_cache_record(struct bld_stage *st, const char *key, const struct bld_step *step)
{
	(void)st;
	(void)key;
	(void)step;
}
