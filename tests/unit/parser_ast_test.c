/* Parser stage 1 (bytes -> AST): edge cases of
 * shared/conformance/buildkit/FORMAT.md as small inline Dockerfiles. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "parser.h"
#include "tap.h"

/* Parses s (len bytes) and returns its dump, or "ERR:<message>". */
static char *dump_n(const char *s, size_t len)
{
	struct df_ast ast;
	struct kiln_err err = KILN_ERR_INIT;
	if (df_parse(s, len, "Dockerfile", &ast, &err) < 0) {
		char *r = xasprintf("ERR:%s", err.msg);
		kiln_err_release(&err);
		return r;
	}
	char *d = df_ast_dump(&ast);
	df_ast_release(&ast);
	return d;
}

static void check(const char *df, const char *want, const char *name)
{
	char *got = dump_n(df, strlen(df));
	T_STREQ(got, want, "%s", name);
	free(got);
}

static int parse(const char *df, struct df_ast *ast, struct kiln_err *err)
{
	return df_parse(df, strlen(df), "Dockerfile", ast, err);
}

static void test_lines(void)
{
	check("\xef\xbb\xbf"
	      "FROM a\n",
	      "(from \"a\")\n", "BOM on the first line is dropped");
	check("FROM a\n\xef\xbb\xbfRUN x\n", "(from \"a\")\n(\xef\xbb\xbfrun \"\")\n",
	      "BOM on a later line is text");
	check("FROM a\r\nRUN echo \\\r\n  hi\r\n", "(from \"a\")\n(run \"echo   hi\")\n",
	      "CRLF behaves like LF");
	check("RUN a \\\\\nRUN b\n", "(run \"a \\\\\\\\\")\n(run \"b\")\n",
	      "two trailing escapes do not continue");
	check("RUN a \\\\\\\nRUN b\n", "(run \"a \\\\\\\\\\\\\")\n(run \"b\")\n",
	      "three trailing escapes do not continue either");
	check("RUN a\\ \t\n b\n", "(run \"a b\")\n", "escape then blanks continues");
	check("RUN x \\", "(run \"x\")\n", "continuation at EOF ends the line");
	check("FROM a\n\\", "(from \"a\")\n(\"\")\n", "a lone escape at EOF is an empty line");
	check("RUN foo\\\nRUN bar\n", "(run \"fooRUN bar\")\n", "pieces join with no separator");
	check("RUN a \\\n# comment \\\n  \n b\n", "(run \"a  b\")\n",
	      "comments and blank lines inside continuations are dropped");
	check("  # c\n\t\n   RUN  x # y  \n", "(run \"x # y\")\n", "comments only at line start");
	check("FOOBAR --x y z\n", "(foobar [\"--x\"] \"\")\n", "unknown keyword keeps flags");
	check("rUn x\n", "(run \"x\")\n", "keywords are case-insensitive");
}

static void test_directives(void)
{
	check("# escape=`\nFROM a\nRUN echo `\n  hi\nRUN c:\\path\\\nRUN d\n",
	      "(from \"a\")\n(run \"echo   hi\")\n(run \"c:\\\\path\\\\\")\n(run \"d\")\n",
	      "backtick escape: backtick continues, backslash is text");
	check("# foo=bar\n# escape=`\nRUN a\\\nRUN b`\n c\n", "(run \"aRUN b`\")\n(c \"\")\n",
	      "a directive after another comment is a comment");
	check("#ESCAPE = `\nRUN a`\nb\n", "(run \"ab\")\n", "directive names are case-insensitive");

	struct df_ast ast;
	struct kiln_err err = KILN_ERR_INIT;
	T_OK(parse("# syntax=docker/dockerfile:1\n#check=skip=all\nFROM a\n", &ast, &err) == 0,
	     "syntax and check directives");
	T_INTEQ(ast.n_directives, 2, "two directives recorded");
	T_STREQ(ast.directives[1].name, "check", "check directive name");
	T_STREQ(ast.directives[1].value, "skip=all", "check directive value");
	T_INTEQ(ast.directives[1].line, 2, "directive line");
	df_ast_release(&ast);

	T_OK(parse("# escape=\\\n# ESCAPE=`\nFROM a\n", &ast, &err) < 0,
	     "duplicate directive fails");
	T_STREQ(err.msg, "Dockerfile:2: only one escape parser directive can be used",
	        "duplicate directive message");
	T_OK(parse("# escape=x\nFROM a\n", &ast, &err) < 0 && err.code == KILN_E_INVALID,
	     "bad escape value fails");
	T_STREQ(err.msg, "Dockerfile:1: invalid escape token 'x' does not match ` or \\",
	        "bad escape message");
	kiln_err_release(&err);
}

static void test_args(void)
{
	check("ENV a b c\nENV x=1 y=\"2 3\"\nLABEL \"k\"=v\n",
	      "(env \"a\" \"b c\" \"\")\n(env \"x\" \"1\" \"=\" \"y\" \"\\\"2 3\\\"\" \"=\")\n"
	      "(label \"\\\"k\\\"\" \"v\" \"=\")\n",
	      "ENV legacy and key=value forms");
	check("ARG abc=\"123 456\" def\n", "(arg \"abc=\\\"123 456\\\"\" \"def\")\n",
	      "ARG keeps quotes");
	check("COPY \"a b\" c\nFROM img AS x\nEXPOSE 80\t443\n",
	      "(copy \"\\\"a\" \"b\\\"\" \"c\")\n(from \"img\" \"AS\" \"x\")\n(expose \"80\" "
	      "\"443\")\n",
	      "whitespace-split arguments");
	check("HEALTHCHECK CMD [\"a\", \"b\"]\nHEALTHCHECK NONE\nHEALTHCHECK\n",
	      "(healthcheck \"CMD\" \"a\" \"b\")\n(healthcheck \"NONE\")\n(healthcheck)\n",
	      "HEALTHCHECK forms");
	check(
	    "ONBUILD RUN [\"a\"]\nONBUILD\nONBUILD --x ONBUILD --y z\n",
	    "(onbuild (run \"a\"))\n(onbuild)\n(onbuild [\"--x\"] (onbuild [\"--y\"] (z \"\")))\n",
	    "ONBUILD nests an instruction");
	check("COPY --chown=\"a b\" --from=x -- --y z\nRUN --a='q r'\n",
	      "(copy [\"--chown=a b\" \"--from=x\"] \"--y\" \"z\")\n(run [\"--a=q r\"])\n",
	      "flags with quotes and --");

	struct df_ast ast;
	struct kiln_err err = KILN_ERR_INIT;
	T_OK(parse("FROM a\n\nENV PATH\n", &ast, &err) < 0, "ENV with one word fails");
	T_STREQ(err.msg, "Dockerfile:3: ENV must have two arguments", "ENV error message");
	T_INTEQ(err.code, KILN_E_INVALID, "ENV error code");
	T_OK(parse("LABEL a=b c\n", &ast, &err) < 0, "LABEL key=value with a bare word fails");
	T_STREQ(
	    err.msg,
	    "Dockerfile:1: Syntax error - can't find = in \"c\". Must be of the form: name=value",
	    "LABEL error message");
	kiln_err_release(&err);
}

static void test_json(void)
{
	check("CMD []\nCMD [\"a\\u00e9\", \"\\ud83d\\ude00\", \"\\ud800\"]\n",
	      "(cmd)\n(cmd \"a\xc3\xa9\" \"\xf0\x9f\x98\x80\" \"\xef\xbf\xbd\")\n",
	      "JSON strings decode escapes and surrogates");
	check("CMD ['a']\nCMD [\"a\",]\nCMD [\"a\"] x\nCMD [\"a\"\nRUN [\"a\\x\"]\n",
	      "(cmd \"['a']\")\n(cmd \"[\\\"a\\\",]\")\n(cmd \"[\\\"a\\\"] x\")\n"
	      "(cmd \"[\\\"a\\\"\")\n(run \"[\\\"a\\\\x\\\"]\")\n",
	      "invalid JSON falls back to shell form");
	check("CMD [\"a\", 1e999]\nCOPY [\"a\", {\"b\": -2e400}]\n",
	      "(cmd \"[\\\"a\\\", 1e999]\")\n(copy \"[\\\"a\\\",\" \"{\\\"b\\\":\" \"-2e400}]\")\n",
	      "a number overflowing float64 falls back too");
	check("CMD [\"\\u0000x\"]\n", "(cmd \"\\x00x\")\n", "a JSON NUL survives into the dump");

	struct df_ast ast;
	struct kiln_err err = KILN_ERR_INIT;
	T_OK(parse("CMD [ \"echo\", [ \"nested json\" ] ]\n", &ast, &err) < 0,
	     "a nested array is an error");
	T_STREQ(err.msg,
	        "Dockerfile:1: when using JSON array syntax, arrays must be comprised of strings "
	        "only",
	        "non-string element message");
	T_OK(parse("CMD [\"a\", 1.7976931348623157e308, true]\n", &ast, &err) < 0,
	     "MaxFloat64 still decodes, so the bool is an error");
	kiln_err_release(&err);

	T_OK(parse("RUN [\"a\", \"b\"]\n", &ast, &err) == 0 && ast.nodes[0].json_form,
	     "exec form is flagged");
	df_ast_release(&ast);
}

static void test_heredocs(void)
{
	struct df_ast ast;
	struct kiln_err err = KILN_ERR_INIT;
	const char *df = "FROM a\n"
	                 "RUN 3<<-'EOF' cat <<\"two\" && x <<t\"h\"ree <<four\n"
	                 "\tbody $x\n"
	                 "\tEOF\n"
	                 "2\n"
	                 "two\n"
	                 "three \n"
	                 "three\n"
	                 "four\r\n"
	                 "ONBUILD COPY <<X /x\n"
	                 "x\n"
	                 "X\n"
	                 "RUN [\"<<NO\"]\n"
	                 "USER <<NO\n"
	                 "NO\n";
	T_OK(parse(df, &ast, &err) == 0, "heredoc file parses");
	T_INTEQ(ast.n_nodes, 6, "heredoc bodies are not instructions");
	struct df_node *n = &ast.nodes[1];
	T_INTEQ(n->n_heredocs, 4, "four markers on one line");
	T_STREQ(n->heredocs[0].name, "EOF", "quoted delimiter");
	T_OK(n->heredocs[0].fd == 3 && n->heredocs[0].chomp && !n->heredocs[0].expand,
	     "fd 3, chomp, no expansion");
	T_STREQ(n->heredocs[0].content, "\tbody $x\n", "chomp body keeps its tabs");
	T_STREQ(n->heredocs[1].name, "two", "double-quoted delimiter");
	T_STREQ(n->heredocs[1].content, "2\n", "second body");
	T_OK(!n->heredocs[1].expand, "double quotes stop expansion");
	T_STREQ(n->heredocs[2].name, "three", "partly quoted delimiter");
	T_STREQ(n->heredocs[2].content, "three \n", "delimiter must match exactly");
	T_OK(n->heredocs[3].expand && n->heredocs[3].fd == 0, "plain delimiter expands");
	T_STREQ(n->heredocs[3].content, "", "empty body");
	T_INTEQ(n->start_line, 2, "heredoc instruction start");
	T_INTEQ(n->end_line, 9, "heredoc instruction ends at the last delimiter");
	T_OK(ast.nodes[2].n_heredocs == 1 && !strcmp(ast.nodes[2].heredocs[0].content, "x\n"),
	     "heredoc under ONBUILD");
	T_INTEQ(ast.nodes[3].n_heredocs, 0, "no heredocs in JSON form");
	T_STREQ(ast.nodes[5].cmd, "no", "USER <<NO: the next line is an instruction");
	df_ast_release(&ast);

	T_OK(parse("RUN <<EOF\nabc\n", &ast, &err) < 0, "unterminated heredoc fails");
	T_STREQ(err.msg, "Dockerfile:1: unterminated heredoc", "unterminated heredoc message");
	T_OK(parse("RUN <<'EOF\nEOF\n", &ast, &err) == 0 && ast.n_nodes == 2,
	     "an unbalanced quote means no markers");
	df_ast_release(&ast);
	kiln_err_release(&err);
}

static void test_quoting(void)
{
	check("RUN a\xc2\xa0"
	      "b\xff\x01\x7f\t\xe2\x80\xa8\xee\x80\x80\xf4\x8f\xbf\xbf\xe2\x99\xa5\n",
	      "(run \"a\\u00a0b\\xff\\x01\\x7f\\t\\u2028\\ue000\\U0010ffff\xe2\x99\xa5\")\n",
	      "Go quoting of non-printable and invalid bytes");
	check("\xc3\x84PFEL x\n", "(\xc3\xa4pfel \"\")\n", "keywords are lower-cased as Unicode");
}

static void test_warnings_lines(void)
{
	struct df_ast ast;
	struct kiln_err err = KILN_ERR_INIT;
	T_OK(parse("\n\nFROM a\nRUN x \\\n\n  y\n\n", &ast, &err) == 0, "parses");
	T_INTEQ(ast.warnings.n, 1, "one empty-continuation warning");
	T_STREQ(ast.warnings.v[0], "Empty continuation line found in: RUN x   y", "warning text");
	T_OK(ast.start_line == 3 && ast.end_line == 6, "file range excludes blank lines");
	T_OK(ast.nodes[1].start_line == 4 && ast.nodes[1].end_line == 6, "instruction range");
	T_STREQ(ast.nodes[1].original, "RUN x   y", "original logical line");
	df_ast_release(&ast);

	T_OK(parse("", &ast, &err) < 0, "empty file fails");
	T_OK(parse("# only\n\n", &ast, &err) < 0, "comments only fail");
	T_OK(!strncmp(err.msg, "Dockerfile:", 11), "no-instruction error has a location");
	T_OK(df_parse("FROM a\0\n", 8, "Dockerfile", &ast, &err) < 0, "NUL byte is refused");
	kiln_err_release(&err);
}

static void test_limits(void)
{
	struct df_ast ast;
	struct kiln_err err = KILN_ERR_INIT;
	size_t n = 7 + DF_MAX_LINE + 2;
	char *big = xmalloc(n + 2);
	memcpy(big, "FROM a\n", 7);
	memset(big + 7, 'a', DF_MAX_LINE);
	big[7 + DF_MAX_LINE] = '\n';
	T_OK(df_parse(big, 7 + DF_MAX_LINE + 1, "Dockerfile", &ast, &err) == 0,
	     "a 65,535-byte line is accepted");
	df_ast_release(&ast);
	T_OK(df_parse(big, 7 + DF_MAX_LINE, "Dockerfile", &ast, &err) == 0,
	     "a 65,535-byte last line without newline is accepted");
	df_ast_release(&ast);
	big[7 + DF_MAX_LINE] = 'a';
	big[7 + DF_MAX_LINE + 1] = '\n';
	T_OK(df_parse(big, n, "Dockerfile", &ast, &err) < 0 && err.code == KILN_E_LIMIT,
	     "a 65,536-byte line is refused");
	T_STREQ(err.msg, "Dockerfile:2: dockerfile line greater than max allowed size of 65535",
	        "line limit message");
	free(big);

	/* 100 MB on one line: must fail after reading 64 KiB, not 100 MB. */
	size_t huge = 100u << 20;
	big = xmalloc(huge);
	memset(big, 'x', huge);
	clock_t t0 = clock();
	T_OK(df_parse(big, huge, "Dockerfile", &ast, &err) < 0 && err.code == KILN_E_LIMIT,
	     "a 100 MB line is refused");
	T_OK((double)(clock() - t0) / CLOCKS_PER_SEC < 0.5, "and quickly");
	free(big);

	/* ONBUILD nesting is bounded; deep JSON is just not JSON form. */
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	for (int i = 0; i < 5000; i++)
		kiln_buf_addstr(&b, "ONBUILD ", NULL);
	kiln_buf_addstr(&b, "RUN x\n", NULL);
	T_OK(df_parse(b.data, b.len, "Dockerfile", &ast, &err) < 0 && err.code == KILN_E_LIMIT,
	     "deep ONBUILD nesting is an error");
	kiln_buf_reset(&b);
	kiln_buf_addstr(&b, "CMD ", NULL);
	for (int i = 0; i < 20000; i++)
		kiln_buf_addch(&b, '[', NULL);
	for (int i = 0; i < 20000; i++)
		kiln_buf_addch(&b, ']', NULL);
	T_OK(df_parse(b.data, b.len, "Dockerfile", &ast, &err) == 0 && !ast.nodes[0].json_form,
	     "JSON nested past 10,000 levels is shell form");
	df_ast_release(&ast);
	kiln_buf_reset(&b);
	kiln_buf_addstr(&b, "RUN <<EOF ", NULL);
	for (int i = 0; i < 10000; i++)
		kiln_buf_addstr(&b, "${a:-", NULL);
	for (int i = 0; i < 10000; i++)
		kiln_buf_addch(&b, '}', NULL);
	kiln_buf_addstr(&b, "\nEOF\n", NULL);
	T_OK(df_parse(b.data, b.len, "Dockerfile", &ast, &err) == 0, "deep ${...} nesting parses");
	df_ast_release(&ast);

	/* A million lines, with continuations, parse in linear time. */
	kiln_buf_reset(&b);
	kiln_buf_addstr(&b, "FROM a\n", NULL);
	for (int i = 0; i < 1000000; i++)
		kiln_buf_addf(&b, NULL, i % 2 ? "  %d\n" : "RUN echo %d \\\n", i);
	t0 = clock();
	T_OK(df_parse(b.data, b.len, "Dockerfile", &ast, &err) == 0, "1,000,000 lines parse");
	T_INTEQ(ast.n_nodes, 500001, "one instruction per two lines");
	T_INTEQ(ast.end_line, 1000001, "last line number");
	tap_diag("1,000,000 lines: %.2f s", (double)(clock() - t0) / CLOCKS_PER_SEC);
	df_ast_release(&ast);
	kiln_buf_release(&b);
	kiln_err_release(&err);
}

int main(void)
{
	test_lines();
	test_directives();
	test_args();
	test_json();
	test_heredocs();
	test_quoting();
	test_warnings_lines();
	test_limits();
	return tap_done();
}
