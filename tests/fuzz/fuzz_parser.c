/* libFuzzer target for the whole parser: df_parse + df_ast_dump, then the
 * graph (df_graph_build) and the expansion of every stage, then release.
 * Build: CC=clang cmake -S . -B build-fuzz -DKILN_FUZZ=ON && cmake --build build-fuzz
 * Run:   build-fuzz/tests/fuzz_parser CORPUS_DIR -max_len=100000 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Stage 3: a graph error names its file (and line when it has one). */
static void graph(const struct df_ast *ast)
{
	static const char *const args[] = {"A=1", "B=x y", NULL};
	struct df_graph_opts o = {
	    .build_args = args, .build_platform = "linux/amd64", .target_platform = "linux/arm/v7"};
	struct df_graph g;
	struct kiln_err err = KILN_ERR_INIT;
	if (df_graph_build(ast, &o, &g, &err) < 0) {
		if (!err.msg || strncmp(err.msg, "Dockerfile", 10))
			abort();
		kiln_err_release(&err);
		return;
	}
	for (size_t s = 0; s < g.n_stages; s++) {
		struct df_instr *x = NULL;
		if (df_graph_expand_stage(&g, s, &x, &err) < 0) {
			kiln_err_release(&err);
			continue;
		}
		for (size_t i = 0; i < g.stages[s].n_instrs; i++) {
			free(df_instr_format(&x[i]));
			df_instr_release(&x[i]);
		}
		free(x);
	}
	df_graph_release(&g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct df_ast ast;
	struct kiln_err err = KILN_ERR_INIT;

	if (df_parse((const char *)data, size, "Dockerfile", &ast, &err) < 0) {
		/* Every error names its location. */
		if (!err.msg || strncmp(err.msg, "Dockerfile:", 11))
			abort();
		kiln_err_release(&err);
		return 0;
	}
	if (!ast.n_nodes || ast.start_line < 1 || ast.end_line < ast.start_line)
		abort();
	char *dump = df_ast_dump(&ast);
	size_t lines = 0;
	for (const char *p = dump; *p; p++)
		lines += *p == '\n';
	if (lines != ast.n_nodes)
		abort();
	for (size_t i = 0; i < ast.n_nodes; i++) {
		const struct df_node *n = &ast.nodes[i];
		if (n->start_line > n->end_line || !n->args || !n->flags || !n->original)
			abort();
		free(df_node_dump(n));
	}
	free(dump);
	graph(&ast);
	df_ast_release(&ast);
	return 0;
}
