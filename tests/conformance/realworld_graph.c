/* Every real-world Dockerfile under $KILN_CONFORMANCE/real-world/ must go
 * through df_parse, the instruction stage (df_graph_build) and the
 * Dockerfile-only expansion of every stage (df_graph_expand_stage) without
 * error. Files that BuildKit's instruction stage rejects too are listed in
 * known_failures with the reason; they must keep failing. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "parser.h"
#include "tap.h"

static const struct {
	const char *path; /* relative to real-world/ */
	const char *reason;
} known_failures[] = {
    /* none: all 102 files pass */
    {NULL, NULL},
};

static const char *known_reason(const char *rel)
{
	for (size_t i = 0; known_failures[i].path; i++)
		if (!strcmp(known_failures[i].path, rel))
			return known_failures[i].reason;
	return NULL;
}

static int check_graph(const char *data, size_t len, struct kiln_err *err)
{
	struct df_ast ast;
	if (df_parse(data, len, "Dockerfile", &ast, err) < 0)
		return -1;
	struct df_graph g;
	int r = df_graph_build(&ast, NULL, &g, err);
	df_ast_release(&ast);
	if (r < 0)
		return -1;
	for (size_t s = 0; s < g.n_stages && r == 0; s++) {
		struct df_instr *x = NULL;
		r = df_graph_expand_stage(&g, s, &x, err);
		if (r == 0) {
			for (size_t i = 0; i < g.stages[s].n_instrs; i++) {
				char *t = df_instr_format(&x[i]);
				free(t);
				df_instr_release(&x[i]);
			}
			free(x);
		}
	}
	df_graph_release(&g);
	return r;
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* real-world/<repo>/<case>/Dockerfile, sorted. */
static void collect(const char *root, struct kiln_strv *out)
{
	DIR *d = opendir(root);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char *repo = kiln_path_join(root, e->d_name);
		DIR *d2 = opendir(repo);
		struct dirent *e2;
		while (d2 && (e2 = readdir(d2))) {
			if (e2->d_name[0] == '.')
				continue;
			char *df = xasprintf("%s/%s/Dockerfile", repo, e2->d_name);
			if (kiln_path_exists(df))
				kiln_strv_push(out, df + strlen(root) + 1);
			free(df);
		}
		if (d2)
			closedir(d2);
		free(repo);
	}
	if (d)
		closedir(d);
	if (out->n)
		qsort(out->v, out->n, sizeof(char *), cmp);
}

int main(void)
{
	const char *conf = getenv("KILN_CONFORMANCE");
	if (!conf || !*conf)
		tap_skip_all("KILN_CONFORMANCE is not set");
	char *root = kiln_path_join(conf, "real-world");
	if (!kiln_path_exists(root)) {
		printf("# no folder %s\n", root);
		free(root);
		tap_skip_all("real-world conformance data is absent");
	}
	struct kiln_strv files = KILN_STRV_INIT;
	collect(root, &files);
	T_OK(files.n > 0, "found %zu real-world Dockerfiles", files.n);
	size_t passed = 0, expected = 0;
	for (size_t i = 0; i < files.n; i++) {
		char *path = kiln_path_join(root, files.v[i]);
		char *data = NULL;
		size_t len = 0;
		struct kiln_err err = KILN_ERR_INIT;
		int r = kiln_read_file(path, 64u << 20, &data, &len, &err);
		if (r == 0)
			r = check_graph(data, len, &err);
		const char *why = known_reason(files.v[i]);
		if (why) {
			T_OK(r < 0, "%s fails as BuildKit does (%s)", files.v[i], why);
			expected++;
		} else {
			T_OK(r == 0, "%s%s%s", files.v[i], r ? ": " : "", r ? err.msg : "");
			passed += r == 0;
		}
		kiln_err_release(&err);
		free(data);
		free(path);
	}
	printf("# %zu of %zu real-world Dockerfiles built a graph (%zu known failures)\n", passed,
	       files.n - expected, expected);
	kiln_strv_release(&files);
	free(root);
	return tap_done();
}
