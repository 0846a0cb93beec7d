/* The instruction graph: meta ARGs, stages, bases, dependency edges,
 * target selection and pruning (dockerfile2llb's toDispatchState without
 * image lookups). */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "graph-internal.h"

static const char *const proxy_args[] = {"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy",
                                         "FTP_PROXY",  "ftp_proxy",  "NO_PROXY",    "no_proxy",
                                         "ALL_PROXY",  "all_proxy"};

bool df_arg_is_predefined(const char *name)
{
	for (size_t i = 0; i < KILN_ARRAY_SIZE(proxy_args); i++)
		if (!strcmp(name, proxy_args[i]))
			return true;
	return false;
}

/* Lookup in a "K=V" vector, last definition wins. */
const char *df_env_get(const struct kiln_strv *env, const char *name, size_t len)
{
	for (size_t i = env->n; i-- > 0;)
		if (!strncmp(env->v[i], name, len) && env->v[i][len] == '=')
			return env->v[i] + len + 1;
	return NULL;
}

static const char *lookup_env(void *ud, const char *name, size_t len)
{
	return df_env_get(ud, name, len);
}

static void push_platform(struct kiln_strv *env, const char *prefix, const char *plat)
{
	const char *s1 = strchr(plat, '/');
	const char *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
	kiln_strv_pushf(env, "%sPLATFORM=%s", prefix, plat);
	kiln_strv_pushf(env, "%sOS=%.*s", prefix, (int)(s1 ? s1 - plat : (long)strlen(plat)), plat);
	if (s1)
		kiln_strv_pushf(env, "%sARCH=%.*s", prefix,
		                (int)(s2 ? s2 - s1 - 1 : (long)strlen(s1 + 1)), s1 + 1);
	else
		kiln_strv_pushf(env, "%sARCH=", prefix);
	kiln_strv_pushf(env, "%sVARIANT=%s", prefix, s2 ? s2 + 1 : "");
}

static const char *build_arg(const struct df_graph *g, const char *key)
{
	return df_env_get(&g->build_args, key, strlen(key));
}

/* The global scope: platform ARGs, then meta ARGs (build arg wins over the
 * default; a default is expanded against what came before). */
static int meta_scope(struct df_graph *g, struct kiln_err *err)
{
	push_platform(&g->meta_env, "BUILD", g->build_platform);
	push_platform(&g->meta_env, "TARGET", g->target_platform);
	for (size_t i = 0; i < g->n_meta_args; i++) {
		const struct df_instr *a = &g->meta_args[i];
		for (size_t j = 0; j < a->u.kv.n_kvs; j++) {
			const struct df_kv *kv = &a->u.kv.kvs[j];
			const char *ba = build_arg(g, kv->key);
			char *val = NULL;
			if (ba) {
				val = xstrdup(ba);
			} else if (kv->value) {
				if (df_expand_word(kv->value, g->escape, 0, lookup_env,
				                   &g->meta_env, &val, err) < 0)
					return kiln_err_wrap(err, "%s:%d", g->filename,
					                     a->start_line);
			} else {
				continue;
			}
			kiln_strv_pushf(&g->meta_env, "%s=%s", kv->key, val);
			free(val);
		}
	}
	return 0;
}

static int find_by_name(const struct df_graph *g, const char *name, size_t limit)
{
	for (size_t i = 0; i < limit && i < g->n_stages; i++)
		if (g->stages[i].name && !strcasecmp(g->stages[i].name, name))
			return (int)i;
	return -1;
}

/* The stage names sorted (then by index), so that lookups during the build
 * are logarithmic: names are stored lower-case, a query is lower-cased. */
struct name_ix {
	const char *name;
	int idx;
};

struct names {
	struct name_ix *v;
	size_t n;
};

static int cmp_name_ix(const void *a, const void *b)
{
	const struct name_ix *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

static void names_build(const struct df_graph *g, struct names *nx)
{
	nx->v = xcalloc(g->n_stages ? g->n_stages : 1, sizeof(*nx->v));
	nx->n = 0;
	for (size_t i = 0; i < g->n_stages; i++)
		if (g->stages[i].name)
			nx->v[nx->n++] = (struct name_ix){g->stages[i].name, (int)i};
	qsort(nx->v, nx->n, sizeof(*nx->v), cmp_name_ix);
}

/* find_by_name through the index. */
static int names_find(const struct names *nx, const char *name, size_t limit)
{
	_cleanup_free_ char *low = xstrdup(name);
	for (char *p = low; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	size_t lo = 0, hi = nx->n;
	while (lo < hi) { /* first entry >= (low, -1) */
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(nx->v[mid].name, low) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < nx->n && !strcmp(nx->v[lo].name, low) && (size_t)nx->v[lo].idx < limit)
		return nx->v[lo].idx;
	return -1;
}

const struct df_stage *df_graph_find_stage(const struct df_graph *g, const char *s)
{
	char *end;
	errno = 0;
	long idx = strtol(s, &end, 10);
	if (*s && !*end && !errno)
		return idx >= 0 && (size_t)idx < g->n_stages ? &g->stages[idx] : NULL;
	int i = find_by_name(g, s, g->n_stages);
	return i < 0 ? NULL : &g->stages[i];
}

/* Room for element n of an array whose capacity is implicit: a power of
 * two, so that appending one at a time stays linear. */
static void *grow_for(void *p, size_t n, size_t size)
{
	if (n && (n & (n - 1)))
		return p;
	return xreallocarray(p, n ? n * 2 : 1, size);
}

static void add_dep(struct df_graph *g, enum df_dep_kind kind, int stage, int instr, int on,
                    const char *image, int line)
{
	g->deps = grow_for(g->deps, g->n_deps, sizeof(*g->deps));
	g->deps[g->n_deps++] =
	    (struct df_dep){kind, stage, instr, on, image ? xstrdup(image) : NULL, line};
}

static void stage_add(struct df_graph *g, struct df_instr *from)
{
	g->stages = grow_for(g->stages, g->n_stages, sizeof(*g->stages));
	struct df_stage *st = &g->stages[g->n_stages];
	memset(st, 0, sizeof(*st));
	st->index = (int)g->n_stages++;
	st->name = TAKE_PTR(from->u.from.name);
	st->base = TAKE_PTR(from->u.from.base);
	st->platform = TAKE_PTR(from->u.from.platform);
	st->original = TAKE_PTR(from->original);
	st->start_line = from->start_line;
	st->end_line = from->end_line;
	st->base_stage = -1;
	df_instr_release(from);
}

/* Pass 1: typed instructions sorted into meta ARGs and stages. */
static int collect(struct df_graph *g, const struct df_ast *ast, struct kiln_err *err)
{
	for (size_t i = 0; i < ast->n_nodes; i++) {
		struct df_instr in;
		if (df_instr_from_node(&ast->nodes[i], g->filename, &in, err) < 0)
			return -1;
		if (in.kind == DF_I_FROM) {
			stage_add(g, &in);
			continue;
		}
		if (g->n_stages == 0 && in.kind == DF_I_ARG) {
			g->meta_args = grow_for(g->meta_args, g->n_meta_args, sizeof(in));
			g->meta_args[g->n_meta_args++] = in;
			continue;
		}
		if (g->n_stages == 0) {
			int line = in.start_line;
			df_instr_release(&in);
			return kiln_err_set(err, KILN_E_INVALID,
			                    "%s:%d: no build stage in current context", g->filename,
			                    line);
		}
		struct df_stage *st = &g->stages[g->n_stages - 1];
		st->instrs = grow_for(st->instrs, st->n_instrs, sizeof(in));
		st->instrs[st->n_instrs++] = in;
	}
	if (g->n_stages == 0)
		return kiln_err_set(err, KILN_E_INVALID,
		                    "%s:%d: dockerfile contains no stages to build", g->filename,
		                    ast->n_nodes ? ast->nodes[0].start_line : 1);
	return 0;
}

/* Pass 2: names, bases (meta ARGs expanded), FROM edges. */
static int resolve_bases(struct df_graph *g, const struct names *nx, struct kiln_err *err)
{
	for (size_t i = 0; i < g->n_stages; i++) {
		struct df_stage *st = &g->stages[i];
		if (st->name && names_find(nx, st->name, i) >= 0)
			return kiln_err_set(err, KILN_E_INVALID,
			                    "%s:%d: duplicate stage name \"%s\"", g->filename,
			                    st->start_line, st->name);
		if (df_expand_word(st->base, g->escape, 0, lookup_env, &g->meta_env,
		                   &st->base_expanded, err) < 0)
			return kiln_err_wrap(err, "%s:%d", g->filename, st->start_line);
		if (!*st->base_expanded)
			return kiln_err_set(err, KILN_E_INVALID,
			                    "%s:%d: base name (%s) should not be blank",
			                    g->filename, st->start_line, st->base);
		if (st->platform && df_expand_word(st->platform, g->escape, 0, lookup_env,
		                                   &g->meta_env, &st->platform_expanded, err) < 0)
			return kiln_err_wrap(err, "%s:%d", g->filename, st->start_line);
		st->base_stage = names_find(nx, st->base_expanded, i);
		add_dep(g, DF_DEP_FROM, (int)i, -1, st->base_stage,
		        st->base_stage < 0 ? st->base_expanded : NULL, st->start_line);
	}
	return 0;
}

/* Go strconv.Atoi on a --from value: an optional sign and digits. */
static bool parse_index(const char *s, long *out)
{
	const char *p = s + (*s == '+' || *s == '-');
	if (!*p)
		return false;
	for (const char *q = p; *q; q++)
		if (!isdigit((unsigned char)*q))
			return false;
	errno = 0;
	*out = strtol(s, NULL, 10);
	return errno == 0;
}

static const char *lookup_none(void *ud, const char *name, size_t len)
{
	(void)ud, (void)name, (void)len;
	return NULL;
}

/* BuildKit (dockerfile2llb toCommand) runs a --from value through the shell
 * lexer with no variables at all and refuses it when that changes it:
 * stage names are never expanded, with meta ARGs or otherwise. */
static int check_copy_from(const struct df_graph *g, const struct df_instr *in,
                           struct kiln_err *err)
{
	_cleanup_free_ char *res = NULL;
	if (df_expand_word(in->u.copy.from, g->escape, 0, lookup_none, NULL, &res, err) < 0)
		return kiln_err_wrap(err, "%s:%d", g->filename, in->start_line);
	if (strcmp(res, in->u.copy.from))
		return kiln_err_set(
		    err, KILN_E_INVALID,
		    "%s:%d: variable expansion is not supported for --from, define a "
		    "new stage with FROM using ARG from global scope as a workaround",
		    g->filename, in->start_line);
	return 0;
}

static int copy_edge(struct df_graph *g, const struct names *nx, size_t si, size_t ii,
                     struct kiln_err *err)
{
	struct df_instr *in = &g->stages[si].instrs[ii];
	struct df_copy *c = &in->u.copy;
	if (!c->from)
		return 0;
	if (check_copy_from(g, in, err) < 0)
		return -1;
	long idx;
	if (parse_index(c->from, &idx)) {
		if (idx < 0 || (size_t)idx >= g->n_stages)
			return kiln_err_set(err, KILN_E_INVALID, "%s:%d: invalid stage index %ld",
			                    g->filename, in->start_line, idx);
		c->from_stage = (int)idx;
	} else {
		c->from_stage = names_find(nx, c->from, g->n_stages);
	}
	add_dep(g, DF_DEP_COPY, (int)si, (int)ii, c->from_stage, c->from_stage < 0 ? c->from : NULL,
	        in->start_line);
	return 0;
}

static void mount_edges(struct df_graph *g, const struct names *nx, size_t si, size_t ii)
{
	struct df_instr *in = &g->stages[si].instrs[ii];
	for (size_t m = 0; m < in->u.run.n_mounts; m++) {
		struct df_mount *mt = &in->u.run.mounts[m];
		if (!mt->from || mt->type == DF_MOUNT_TMPFS)
			continue;
		mt->from_stage = names_find(nx, mt->from, g->n_stages);
		add_dep(g, DF_DEP_MOUNT, (int)si, (int)ii, mt->from_stage,
		        mt->from_stage < 0 ? mt->from : NULL, in->start_line);
	}
}

static const char *stage_label(const struct df_stage *st, char *buf, size_t n)
{
	if (st->name)
		return st->name;
	snprintf(buf, n, "stage-%d", st->index);
	return buf;
}

/* The stage edges grouped by stage: the stages stage s depends on are
 * on[first[s]] .. on[first[s + 1] - 1]. */
struct adj {
	size_t *first;
	int *on;
};

static void adj_build(const struct df_graph *g, struct adj *a)
{
	a->first = xcalloc(g->n_stages + 1, sizeof(*a->first));
	a->on = xcalloc(g->n_deps ? g->n_deps : 1, sizeof(*a->on));
	for (size_t i = 0; i < g->n_deps; i++)
		if (g->deps[i].on_stage >= 0)
			a->first[g->deps[i].stage + 1]++;
	for (size_t s = 0; s < g->n_stages; s++)
		a->first[s + 1] += a->first[s];
	size_t *fill = xcalloc(g->n_stages ? g->n_stages : 1, sizeof(*fill));
	for (size_t i = 0; i < g->n_deps; i++) {
		int s = g->deps[i].stage;
		if (g->deps[i].on_stage >= 0)
			a->on[a->first[s] + fill[s]++] = g->deps[i].on_stage;
	}
	free(fill);
}

/* Depth-first search for cycles from s; state: 0 new, 1 on the path, 2
 * done. Iterative (a chain of stages can be as long as the file allows):
 * path[k] is a stage on the path and at[k] the next of its edges to try. */
static int visit(const struct df_graph *g, const struct adj *a, int s, unsigned char *state,
                 int *path, size_t *at, struct kiln_err *err)
{
	size_t depth = 0;
	if (state[s] == 2)
		return 0;
	state[s] = 1;
	path[0] = s;
	at[0] = a->first[s];
	while (depth < (size_t)-1) {
		int cur = path[depth];
		if (at[depth] == a->first[cur + 1]) {
			state[cur] = 2;
			depth--; /* wraps below 0 when the start is done */
			continue;
		}
		int on = a->on[at[depth]++];
		if (state[on] == 2)
			continue;
		if (state[on] == 1) {
			char buf[32];
			return kiln_err_set(
			    err, KILN_E_INVALID, "%s: circular dependency detected on stage: %s",
			    g->filename, stage_label(&g->stages[on], buf, sizeof(buf)));
		}
		state[on] = 1;
		depth++;
		path[depth] = on;
		at[depth] = a->first[on];
	}
	return 0;
}

/* Marks s and every stage it depends on, directly or not (iterative). */
static void mark_needed(struct df_graph *g, const struct adj *a, int s)
{
	int *todo = xcalloc(g->n_stages, sizeof(*todo));
	size_t n = 0;
	g->stages[s].needed = true;
	todo[n++] = s;
	while (n) {
		int cur = todo[--n];
		for (size_t i = a->first[cur]; i < a->first[cur + 1]; i++)
			if (!g->stages[a->on[i]].needed) {
				g->stages[a->on[i]].needed = true;
				todo[n++] = a->on[i];
			}
	}
	free(todo);
}

static int select_target(struct df_graph *g, const struct adj *a, const char *target,
                         struct kiln_err *err)
{
	g->target = (int)g->n_stages - 1;
	if (target && *target) {
		g->target = find_by_name(g, target, g->n_stages);
		if (g->target < 0) {
			struct kiln_buf b;
			kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
			for (size_t i = 0; i < g->n_stages; i++)
				if (g->stages[i].name)
					kiln_buf_addf(&b, NULL, "%s%s", b.len ? ", " : "",
					              g->stages[i].name);
			kiln_err_set(err, KILN_E_INVALID,
			             "target stage \"%s\" could not be found (%s%s)", target,
			             b.len ? "valid stage names: "
			                   : "the Dockerfile names no stages",
			             kiln_buf_str(&b));
			kiln_buf_release(&b);
			return -1;
		}
	}
	mark_needed(g, a, g->target);
	return 0;
}

static int build(struct df_graph *g, const struct df_ast *ast, const struct df_graph_opts *o,
                 struct kiln_err *err)
{
	if (collect(g, ast, err) < 0 || meta_scope(g, err) < 0)
		return -1;
	struct names nx;
	names_build(g, &nx);
	int r = resolve_bases(g, &nx, err);
	for (size_t s = 0; s < g->n_stages && r == 0; s++) {
		for (size_t i = 0; i < g->stages[s].n_instrs && r == 0; i++) {
			enum df_instr_kind k = g->stages[s].instrs[i].kind;
			if (k == DF_I_COPY)
				r = copy_edge(g, &nx, s, i, err);
			if (k == DF_I_RUN)
				mount_edges(g, &nx, s, i);
		}
	}
	free(nx.v);
	if (r < 0)
		return -1;
	struct adj a;
	adj_build(g, &a);
	unsigned char *state = xcalloc(g->n_stages, 1);
	int *path = xcalloc(g->n_stages, sizeof(*path));
	size_t *at = xcalloc(g->n_stages, sizeof(*at));
	for (size_t s = 0; s < g->n_stages && r == 0; s++)
		r = visit(g, &a, (int)s, state, path, at, err);
	free(state);
	free(path);
	free(at);
	if (r == 0)
		r = select_target(g, &a, o ? o->target : NULL, err);
	free(a.first);
	free(a.on);
	return r;
}

int df_platform_check(const char *platform, struct kiln_err *err)
{
	size_t parts = 1, len = 0;
	bool ok = true;
	for (const char *p = platform; *p && ok; p++) {
		if (*p == '/') {
			ok = len > 0;
			parts++;
			len = 0;
		} else {
			ok = isalnum((unsigned char)*p) || strchr("._-", *p);
			len++;
		}
	}
	if (ok && len && parts >= 2 && parts <= 3)
		return 0;
	return kiln_err_set(err, KILN_E_INVALID,
	                    "invalid platform `%s`: expected os/arch[/variant]", platform);
}

int df_graph_build(const struct df_ast *ast, const struct df_graph_opts *opts, struct df_graph *g,
                   struct kiln_err *err)
{
	if (opts &&
	    ((opts->build_platform && df_platform_check(opts->build_platform, err) < 0) ||
	     (opts->target_platform && df_platform_check(opts->target_platform, err) < 0))) {
		memset(g, 0, sizeof(*g));
		return -1;
	}
	memset(g, 0, sizeof(*g));
	g->filename = xstrdup(ast->filename ? ast->filename : "Dockerfile");
	g->escape = ast->escape ? ast->escape : '\\';
	g->build_platform =
	    xstrdup(opts && opts->build_platform ? opts->build_platform : "linux/" KILN_HOST_ARCH);
	g->target_platform =
	    xstrdup(opts && opts->target_platform ? opts->target_platform : g->build_platform);
	for (const char *const *b = opts ? opts->build_args : NULL; b && *b; b++)
		if (strchr(*b, '='))
			kiln_strv_push(&g->build_args, *b);
	if (build(g, ast, opts, err) < 0) {
		df_graph_release(g);
		return -1;
	}
	return 0;
}

void df_graph_release(struct df_graph *g)
{
	for (size_t i = 0; i < g->n_meta_args; i++)
		df_instr_release(&g->meta_args[i]);
	free(g->meta_args);
	for (size_t s = 0; s < g->n_stages; s++) {
		struct df_stage *st = &g->stages[s];
		for (size_t i = 0; i < st->n_instrs; i++)
			df_instr_release(&st->instrs[i]);
		free(st->instrs);
		free(st->name);
		free(st->base);
		free(st->base_expanded);
		free(st->platform);
		free(st->platform_expanded);
		free(st->original);
	}
	free(g->stages);
	for (size_t i = 0; i < g->n_deps; i++)
		free(g->deps[i].image);
	free(g->deps);
	kiln_strv_release(&g->meta_env);
	kiln_strv_release(&g->build_args);
	free(g->filename);
	free(g->build_platform);
	free(g->target_platform);
	memset(g, 0, sizeof(*g));
}
