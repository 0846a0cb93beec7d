/* Graphs of many stages are built right: 20,000 chained stages with COPY
 * --from edges (pruning, base resolution), and 200,000 chained stages
 * without recursion. Behaviour only, never timing (speed is for bench/):
 * the quadratic version of this took minutes and would hit ctest's
 * timeout rather than an assertion here. */
#include <stdlib.h>
#include <string.h>

#include "parser.h"
#include "tap.h"

#define N_STAGES 20000

/* 200,000 stages, each FROM the one before (4.6 MB): the graph walks were
 * recursive, one frame per stage, and overflowed the stack. */
static void deep_chain(void)
{
	enum { N = 200000 };
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	kiln_buf_addstr(&b, "FROM scratch AS s0\n", NULL);
	for (int i = 1; i < N; i++)
		kiln_buf_addf(&b, NULL, "FROM s%d AS s%d\n", i - 1, i);
	struct df_ast ast;
	struct df_graph g;
	struct kiln_err err = KILN_ERR_INIT;
	int r = df_parse(kiln_buf_str(&b), b.len, "Dockerfile", &ast, &err);
	T_OK(r == 0, "parse a chain of %d stages", N);
	if (r == 0) {
		struct df_graph_opts o = {.build_platform = "linux/amd64"};
		r = df_graph_build(&ast, &o, &g, &err);
		T_OK(r == 0, "graph of a chain of %d stages", N);
		if (r == 0) {
			T_OK(g.stages[0].needed && g.stages[N / 2].needed,
			     "the whole chain is needed");
			df_graph_release(&g);
		}
		df_ast_release(&ast);
	}
	kiln_err_release(&err);
	kiln_buf_release(&b);
}

int main(void)
{
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	kiln_buf_addstr(&b, "FROM scratch AS s0\n", NULL);
	for (int i = 1; i < N_STAGES; i++)
		kiln_buf_addf(&b, NULL, "FROM s%d AS s%d\nCOPY --from=s%d /a /b\n", i - 1, i,
		              i - 1);

	struct df_ast ast;
	struct df_graph g;
	struct kiln_err err = KILN_ERR_INIT;
	int r = df_parse(kiln_buf_str(&b), b.len, "Dockerfile", &ast, &err);
	T_OK(r == 0, "parse %d stages", N_STAGES);
	if (r == 0) {
		struct df_graph_opts o = {.build_platform = "linux/amd64", .target = "s10"};
		r = df_graph_build(&ast, &o, &g, &err);
		T_OK(r == 0, "graph of %d stages", N_STAGES);
		if (r == 0) {
			T_OK(g.n_stages == N_STAGES, "all stages kept");
			T_OK(g.stages[10].needed && g.stages[0].needed && !g.stages[11].needed,
			     "pruning follows the chain");
			T_OK(g.stages[N_STAGES - 1].base_stage == N_STAGES - 2,
			     "last base resolved");
			df_graph_release(&g);
		}
		df_ast_release(&ast);
	}
	kiln_err_release(&err);
	kiln_buf_release(&b);
	deep_chain();
	return tap_done();
}
