/* kiln parse: Dockerfile -> instruction graph, printed as text or JSON. */
#include "cmd_parse.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "parser.h"

#define PARSE_MAX_DOCKERFILE (64u << 20) /* 64 MiB */

static int read_dockerfile(const char *file, const char *context, char **path_out, char **data,
                           size_t *len, struct kiln_err *err)
{
	if (file && !strcmp(file, "-")) {
		*path_out = xstrdup("-");
		return kiln_read_fd(0, PARSE_MAX_DOCKERFILE, "Dockerfile from stdin", data, len,
		                    err);
	}
	*path_out = file ? xstrdup(file) : kiln_path_join(context, "Dockerfile");
	return kiln_read_file(*path_out, PARSE_MAX_DOCKERFILE, data, len, err);
}

/* Appends a framed excerpt of the offending line to a "FILE:N: message"
 * error, as BuildKit shows it. */
static void add_error_excerpt(const char *file, const char *buf, size_t len, struct kiln_err *err)
{
	size_t fl = strlen(file);
	const char *msg = err->msg;
	if (!msg || strncmp(msg, file, fl) || msg[fl] != ':' ||
	    !isdigit((unsigned char)msg[fl + 1]))
		return;
	int line = (int)strtol(msg + fl + 1, NULL, 10);
	_cleanup_free_ char *excerpt = df_source_excerpt(buf, len, line, line);
	if (!excerpt)
		return;
	_cleanup_free_ char *head = xstrdup(msg); /* kiln_err_set frees err->msg */
	kiln_err_set(err, err->code, "%s\n%s", head, excerpt);
}

static void stage_label(const struct df_stage *st, char *buf, size_t n)
{
	if (st->name)
		snprintf(buf, n, "%s", st->name);
	else
		snprintf(buf, n, "stage-%d", st->index);
}

void cmd_parse_free_stage(const struct df_stage *st, struct df_instr *x)
{
	for (size_t i = 0; i < st->n_instrs; i++)
		df_instr_release(&x[i]);
	free(x);
}

static int print_text(const struct df_graph *g, struct kiln_err *err)
{
	char lab[128], lab2[128];
	printf("file: %s (escape %c)\n", g->filename, g->escape);
	if (g->n_meta_args) {
		printf("meta ARGs:\n");
		for (size_t i = 0; i < g->n_meta_args; i++) {
			char *t = df_instr_format(&g->meta_args[i]);
			printf("  %s  (line %d)\n", t, g->meta_args[i].start_line);
			free(t);
		}
	}
	printf("stages:\n");
	for (size_t s = 0; s < g->n_stages; s++) {
		const struct df_stage *st = &g->stages[s];
		printf("  %d  %-12s FROM %s", st->index, st->name ? st->name : "-",
		       st->base_expanded);
		if (st->base_stage >= 0)
			printf(" (stage %d)", st->base_stage);
		if (st->platform_expanded)
			printf(" --platform=%s", st->platform_expanded);
		printf("  (line %d)%s%s\n", st->start_line, (int)s == g->target ? "  [target]" : "",
		       st->needed ? "" : "  [skipped]");
	}
	for (size_t s = 0; s < g->n_stages; s++) {
		const struct df_stage *st = &g->stages[s];
		if (!st->needed)
			continue;
		struct df_instr *x;
		if (df_graph_expand_stage(g, s, &x, err) < 0)
			return -1;
		stage_label(st, lab, sizeof(lab));
		printf("[%s] FROM %s  (line %d)\n", lab, st->base_expanded, st->start_line);
		for (size_t i = 0; i < st->n_instrs; i++) {
			char *t = df_instr_format(&x[i]);
			printf("[%s %zu/%zu] %s  (line %d)\n", lab, i + 1, st->n_instrs, t,
			       st->instrs[i].start_line);
			free(t);
		}
		cmd_parse_free_stage(st, x);
	}
	if (g->n_deps)
		printf("dependencies:\n");
	static const char *const kinds[] = {"FROM", "COPY --from", "RUN --mount from"};
	for (size_t i = 0; i < g->n_deps; i++) {
		const struct df_dep *d = &g->deps[i];
		stage_label(&g->stages[d->stage], lab, sizeof(lab));
		if (d->on_stage >= 0) {
			stage_label(&g->stages[d->on_stage], lab2, sizeof(lab2));
			printf("  %s -> stage %s (%s, line %d)\n", lab, lab2, kinds[d->kind],
			       d->line);
		} else {
			printf("  %s -> image %s (%s, line %d)\n", lab, d->image, kinds[d->kind],
			       d->line);
		}
	}
	return 0;
}

/* "K" alone takes K's value from the environment (docker does the same). */
static void resolve_build_args(const struct kiln_strv *in, struct kiln_strv *out)
{
	for (size_t i = 0; i < in->n; i++) {
		if (strchr(in->v[i], '=')) {
			kiln_strv_push(out, in->v[i]);
		} else {
			const char *v = getenv(in->v[i]);
			if (v)
				kiln_strv_pushf(out, "%s=%s", in->v[i], v);
		}
	}
}

/* Expands every stage once, keeping nothing, so that an expansion error
 * is found before anything is printed. */
static int check_expansion(const struct df_graph *g, struct kiln_err *err)
{
	for (size_t s = 0; s < g->n_stages; s++) {
		struct df_instr *x;
		if (df_graph_expand_stage(g, s, &x, err) < 0)
			return -1;
		cmd_parse_free_stage(&g->stages[s], x);
	}
	return 0;
}

static int parse_and_print(const char *file, const char *buf, size_t len,
                           const struct df_graph_opts *gopts, bool json, struct kiln_err *err)
{
	struct df_ast ast;
	struct df_graph g;
	if (df_parse(buf, len, file, &ast, err) < 0)
		return -1;
	int r = df_graph_build(&ast, gopts, &g, err);
	df_ast_release(&ast);
	if (r < 0)
		return -1;
	r = check_expansion(&g, err);
	if (r == 0)
		r = json ? cmd_parse_json(stdout, &g, err) : print_text(&g, err);
	df_graph_release(&g);
	return r;
}

int cmd_parse(int argc, char **argv, struct kiln_ctx *ctx)
{
	const char *file = NULL, *target = NULL, *platform = NULL;
	struct kiln_strv build_args = KILN_STRV_INIT, resolved = KILN_STRV_INIT;
	bool json = false;
	const struct kiln_opt opts[] = {
	    OPT_STRING('f', "file", &file, "string",
	               "Name of the Dockerfile (default: \"CONTEXT/Dockerfile\", \"-\": stdin)"),
	    OPT_STRING(0, "target", &target, "string", "Select the target build stage"),
	    OPT_STRV(0, "build-arg", &build_args, "list", "Set build-time variables (K=V)"),
	    OPT_STRING(0, "platform", &platform, "string",
	               "Set the target platform (os/arch[/variant]): TARGETPLATFORM, TARGETOS, "
	               "TARGETARCH, TARGETVARIANT"),
	    OPT_BOOL(0, "json", &json, "Print the graph as JSON (docs/parse-json.md)"),
	    OPT_END,
	};
	const struct kiln_usage usage = {
	    "[OPTIONS] [CONTEXT]", "Parse a Dockerfile and show its stages and steps", 0, 1, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	const char *context = argc > 1 ? argv[1] : ".";

	struct kiln_err err = KILN_ERR_INIT;
	_cleanup_free_ char *path = NULL, *buf = NULL;
	size_t len = 0;
	if (read_dockerfile(file, context, &path, &buf, &len, &err) < 0) {
		kiln_strv_release(&build_args);
		kiln_err_move(&ctx->err, &err);
		return 1;
	}
	const char *base = strrchr(path, '/');
	const char *name = !strcmp(path, "-") ? "Dockerfile" : base ? base + 1 : path;
	resolve_build_args(&build_args, &resolved);
	struct df_graph_opts gopts = {
	    .target = target,
	    .build_args = (const char *const *)resolved.v,
	    .target_platform = platform,
	};
	int r = parse_and_print(name, buf, len, &gopts, json, &err);
	kiln_strv_release(&build_args);
	kiln_strv_release(&resolved);
	if (r < 0) {
		fflush(stdout);
		add_error_excerpt(name, buf, len, &err);
		kiln_err_move(&ctx->err, &err);
		return 1;
	}
	return 0;
}
