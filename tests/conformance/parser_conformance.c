/* Parser conformance against shared/conformance (README.md there):
 *  - every directory with Dockerfile + result under buildkit/parser/testfiles,
 *    buildkit/derived and real-world/<repo>: the dump equals result;
 *  - buildkit/parser/testfiles-negative: parsing fails;
 *  - buildkit/parser/testfile-line: the line ranges;
 *  - every ast.json: escape token, ranges, warnings, and per instruction the
 *    dump, command, lines, flags, JSON form and heredocs.
 * Data comes from $KILN_CONFORMANCE; skipped (77) when it is absent. */
#include <dirent.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common.h"
#include "parser.h"

#define MAX_FILE (64u << 20)

static int n_pass, n_fail;

static char *slurp(const char *path, size_t *len)
{
	char *data = NULL;
	struct kiln_err err = KILN_ERR_INIT;
	if (kiln_read_file(path, MAX_FILE, &data, len, &err) < 0) {
		kiln_err_release(&err);
		return NULL;
	}
	return data;
}

static void fail(const char *path, const char *fmt, ...)
{
	va_list ap;
	n_fail++;
	printf("FAIL %s: ", path);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/* Prints the first differing line of two dumps. */
static void diff_dump(const char *path, const char *got, const char *want)
{
	int line = 1;
	const char *g = got, *w = want;
	while (*g && *w) {
		const char *ge = strchr(g, '\n'), *we = strchr(w, '\n');
		size_t gl = ge ? (size_t)(ge - g) : strlen(g),
		       wl = we ? (size_t)(we - w) : strlen(w);
		if (gl != wl || memcmp(g, w, gl)) {
			fail(path, "dump differs at line %d\n    got:  %.*s\n    want: %.*s", line,
			     (int)gl, g, (int)wl, w);
			return;
		}
		g += gl + (ge ? 1 : 0);
		w += wl + (we ? 1 : 0);
		line++;
	}
	fail(path, "dump differs at line %d (one side ends)\n    got:  %.60s\n    want: %.60s",
	     line, g, w);
}

static bool json_str_eq(json_t *j, const char *s)
{
	return json_is_string(j) && s && strlen(s) == json_string_length(j) &&
	       !memcmp(json_string_value(j), s, json_string_length(j));
}

static int check_instr(const char *path, size_t i, json_t *ji, const struct df_node *node)
{
	_cleanup_free_ char *dump = df_node_dump(node);
	const struct df_node *jf = node->sub && !strcmp(node->cmd, "onbuild") ? node->sub : node;
	if (!json_str_eq(json_object_get(ji, "dump"), dump))
		return fail(path, "instruction %zu dump\n    got:  %s\n    want: %s", i, dump,
		            json_string_value(json_object_get(ji, "dump"))),
		       -1;
	if (!json_str_eq(json_object_get(ji, "command"), node->cmd_orig))
		return fail(path, "instruction %zu command %s", i, node->cmd_orig), -1;
	if (json_integer_value(json_object_get(ji, "start_line")) != node->start_line ||
	    json_integer_value(json_object_get(ji, "end_line")) != node->end_line)
		return fail(path, "instruction %zu lines got (%d,%d) want (%lld,%lld)", i,
		            node->start_line, node->end_line,
		            json_integer_value(json_object_get(ji, "start_line")),
		            json_integer_value(json_object_get(ji, "end_line"))),
		       -1;
	json_t *flags = json_object_get(ji, "flags");
	if (json_array_size(flags) != node->n_flags)
		return fail(path, "instruction %zu: %zu flags, want %zu", i, node->n_flags,
		            json_array_size(flags)),
		       -1;
	for (size_t k = 0; k < node->n_flags; k++)
		if (!json_str_eq(json_array_get(flags, k), node->flags[k]))
			return fail(path, "instruction %zu flag %zu: %s", i, k, node->flags[k]), -1;
	if (json_is_true(json_object_get(ji, "json_form")) != jf->json_form)
		return fail(path, "instruction %zu json_form %d", i, jf->json_form), -1;
	json_t *hd = json_object_get(ji, "heredocs");
	if (json_array_size(hd) != node->n_heredocs)
		return fail(path, "instruction %zu: %zu heredocs, want %zu", i, node->n_heredocs,
		            json_array_size(hd)),
		       -1;
	for (size_t k = 0; k < node->n_heredocs; k++) {
		json_t *h = json_array_get(hd, k);
		const struct df_heredoc *d = &node->heredocs[k];
		if (!json_str_eq(json_object_get(h, "name"), d->name) ||
		    json_integer_value(json_object_get(h, "fd")) != d->fd ||
		    json_is_true(json_object_get(h, "expand")) != d->expand ||
		    json_is_true(json_object_get(h, "chomp")) != d->chomp ||
		    !json_str_eq(json_object_get(h, "content"), d->content))
			return fail(path,
			            "instruction %zu heredoc %zu: got name=%s fd=%d expand=%d "
			            "chomp=%d content=\"%s\"",
			            i, k, d->name, d->fd, d->expand, d->chomp, d->content),
			       -1;
	}
	return 0;
}

static void check_ast_json(const char *dir, const char *path, const struct df_ast *ast)
{
	json_error_t jerr;
	json_t *root = json_load_file(path, 0, &jerr);
	if (!root) {
		fail(path, "cannot read: %s", jerr.text);
		return;
	}
	char esc[2] = {ast->escape, 0};
	json_t *warn = json_object_get(root, "warnings");
	json_t *ins = json_object_get(root, "instructions");
	if (!json_str_eq(json_object_get(root, "escape_token"), esc)) {
		fail(dir, "escape_token %s", esc);
	} else if (json_integer_value(json_object_get(root, "start_line")) != ast->start_line ||
	           json_integer_value(json_object_get(root, "end_line")) != ast->end_line) {
		fail(dir, "file range (%d,%d)", ast->start_line, ast->end_line);
	} else if (json_array_size(warn) != ast->warnings.n) {
		fail(dir, "%zu warnings, want %zu", ast->warnings.n, json_array_size(warn));
	} else if (json_array_size(ins) != ast->n_nodes) {
		fail(dir, "%zu instructions, want %zu", ast->n_nodes, json_array_size(ins));
	} else {
		for (size_t i = 0; i < ast->warnings.n; i++)
			if (!json_str_eq(json_array_get(warn, i), ast->warnings.v[i])) {
				fail(dir, "warning %zu: %s", i, ast->warnings.v[i]);
				goto out;
			}
		for (size_t i = 0; i < ast->n_nodes; i++)
			if (check_instr(dir, i, json_array_get(ins, i), &ast->nodes[i]) < 0)
				goto out;
		n_pass++;
	}
out:
	json_decref(root);
}

static void run_positive(const char *dir)
{
	_cleanup_free_ char *df_path = kiln_path_join(dir, "Dockerfile");
	_cleanup_free_ char *res_path = kiln_path_join(dir, "result");
	_cleanup_free_ char *json_path = kiln_path_join(dir, "ast.json");
	size_t dlen, rlen;
	_cleanup_free_ char *df = slurp(df_path, &dlen);
	_cleanup_free_ char *want = slurp(res_path, &rlen);
	if (!df || !want)
		return;
	struct df_ast ast;
	struct kiln_err err = KILN_ERR_INIT;
	if (df_parse(df, dlen, "Dockerfile", &ast, &err) < 0) {
		fail(dir, "parse error: %s", err.msg);
		kiln_err_release(&err);
		return;
	}
	_cleanup_free_ char *got = df_ast_dump(&ast);
	if (strcmp(got, want))
		diff_dump(dir, got, want);
	else
		n_pass++;
	if (kiln_path_exists(json_path))
		check_ast_json(dir, json_path, &ast);
	df_ast_release(&ast);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Calls fn on every subdirectory of dir, in name order. */
static void each_dir(const char *dir, void (*fn)(const char *))
{
	DIR *d = opendir(dir);
	struct kiln_strv names = KILN_STRV_INIT;
	struct dirent *e;
	if (!d) {
		fail(dir, "cannot open");
		return;
	}
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			kiln_strv_push(&names, e->d_name);
	closedir(d);
	qsort(names.v, names.n, sizeof(*names.v), cmp_names);
	for (size_t i = 0; i < names.n; i++) {
		_cleanup_free_ char *p = kiln_path_join(dir, names.v[i]);
		struct stat st;
		if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
			fn(p);
	}
	kiln_strv_release(&names);
}

static void run_negative(const char *dir)
{
	_cleanup_free_ char *path = kiln_path_join(dir, "Dockerfile");
	size_t len;
	_cleanup_free_ char *df = slurp(path, &len);
	struct df_ast ast;
	struct kiln_err err = KILN_ERR_INIT;
	if (!df) {
		fail(dir, "no Dockerfile");
	} else if (df_parse(df, len, "Dockerfile", &ast, &err) == 0) {
		fail(dir, "parsed, but must fail");
		df_ast_release(&ast);
	} else if (!err.msg || strncmp(err.msg, "Dockerfile:", 11)) {
		fail(dir, "error message lacks the location: %s", err.msg);
	} else {
		n_pass++;
	}
	kiln_err_release(&err);
}

static void run_line_numbers(const char *base)
{
	_cleanup_free_ char *path =
	    kiln_path_join(base, "buildkit/parser/testfile-line/Dockerfile");
	size_t len;
	_cleanup_free_ char *df = slurp(path, &len);
	struct df_ast ast;
	struct kiln_err err = KILN_ERR_INIT;
	static const int want[][2] = {{5, 5}, {11, 12}, {17, 31}};
	if (!df || df_parse(df, len, "Dockerfile", &ast, &err) < 0) {
		fail(path, "parse: %s", err.msg ? err.msg : "unreadable");
		kiln_err_release(&err);
		return;
	}
	bool ok = ast.start_line == 5 && ast.end_line == 31 && ast.n_nodes == 3;
	for (size_t i = 0; ok && i < 3; i++)
		ok = ast.nodes[i].start_line == want[i][0] && ast.nodes[i].end_line == want[i][1];
	if (ok)
		n_pass++;
	else
		fail(path, "file range (%d,%d), %zu instructions", ast.start_line, ast.end_line,
		     ast.n_nodes);
	df_ast_release(&ast);
}

static void run_real_world_repo(const char *dir)
{
	each_dir(dir, run_positive);
}

int main(void)
{
	const char *base = getenv("KILN_CONFORMANCE");
	struct stat st;
	if (!base || stat(base, &st) < 0 || !S_ISDIR(st.st_mode)) {
		printf("1..0 # SKIP conformance data not found (KILN_CONFORMANCE=%s)\n",
		       base ? base : "unset");
		return 77;
	}
	_cleanup_free_ char *pos = kiln_path_join(base, "buildkit/parser/testfiles");
	_cleanup_free_ char *neg = kiln_path_join(base, "buildkit/parser/testfiles-negative");
	_cleanup_free_ char *der = kiln_path_join(base, "buildkit/derived");
	_cleanup_free_ char *rw = kiln_path_join(base, "real-world");
	each_dir(pos, run_positive);
	each_dir(der, run_positive);
	each_dir(rw, run_real_world_repo);
	each_dir(neg, run_negative);
	run_line_numbers(base);
	printf("%d passed, %d failed\n", n_pass, n_fail);
	return n_fail ? 1 : 0;
}
