/* Unit tests of the .dockerignore matcher (parser/dockerignore.c). The
 * expectations follow moby/patternmatcher and BuildKit's ignorefile reader
 * (their documented behaviour and test tables) and Go's filepath.Match
 * syntax rules. */
#include <string.h>

#include "common.h"
#include "parser.h"
#include "tap.h"

/* 1 excluded, 0 kept, -1 the ignore text does not parse. */
static int excluded(const char *text, const char *path)
{
	struct kiln_err err = KILN_ERR_INIT;
	struct df_ignore *ig;
	if (df_ignore_parse(text, strlen(text), &ig, &err) < 0) {
		kiln_err_release(&err);
		return -1;
	}
	int r = df_ignore_match(ig, path);
	df_ignore_free(ig);
	return r;
}

/* The text with newlines shown as "\n", for one-line TAP names. */
static char *oneline(const char *s)
{
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	for (; *s; s++) {
		if (*s == '\n' || *s == '\r')
			kiln_buf_addstr(&b, *s == '\n' ? "\\n" : "\\r", NULL);
		else
			kiln_buf_addch(&b, *s, NULL);
	}
	return kiln_buf_detach(&b, NULL);
}

static void check(const char *text, const char *path, int want)
{
	int got = excluded(text, path);
	char *t = oneline(text);
	if (!T_OK(got == want, "patterns `%s` / path `%s` -> %s", t, path,
	          want < 0 ? "error"
	          : want   ? "excluded"
	                   : "kept"))
		printf("#   got %d\n", got);
	free(t);
}

/* patternmatcher's TestMatches table: one pattern, MatchesOrParentMatches. */
static void test_single_patterns(void)
{
	static const struct {
		const char *pat, *path;
		int want;
	} t[] = {
	    {"**", "file", 1},
	    {"**", "file/", 1},
	    {"**/", "file", 1},
	    {"**/", "file/", 1},
	    {"**", "/", 1},
	    {"**/", "/", 1},
	    {"**", "dir/file", 1},
	    {"**/", "dir/file", 1},
	    {"**", "dir/file/", 1},
	    {"**/**", "dir/file", 1},
	    {"**/**", "dir/file/", 1},
	    {"dir/**", "dir/file", 1},
	    {"dir/**", "dir/file/", 1},
	    {"dir/**", "dir/dir2/file", 1},
	    {"dir/**", "dir/dir2/file/", 1},
	    {"**/dir", "dir", 1},
	    {"**/dir", "dir/file", 1},
	    {"**/dir2/*", "dir/dir2/file", 1},
	    {"**/dir2/*", "dir/dir2/file/", 1},
	    {"**/dir2/**", "dir/dir2/dir3/file", 1},
	    {"**/dir2/**", "dir/dir2/dir3/file/", 1},
	    {"**file", "file", 1},
	    {"**file", "dir/file", 1},
	    {"**/file", "dir/file", 1},
	    {"**file", "dir/dir/file", 1},
	    {"**/file", "dir/dir/file", 1},
	    {"**/file*", "dir/dir/file", 1},
	    {"**/file*", "dir/dir/file.txt", 1},
	    {"**/file*txt", "dir/dir/file.txt", 1},
	    {"**/file*.txt", "dir/dir/file.txt", 1},
	    {"**/file*.txt*", "dir/dir/file.txt", 1},
	    {"**/**/*.txt", "dir/dir/file.txt", 1},
	    {"**/**/*.txt2", "dir/dir/file.txt", 0},
	    {"**/*.txt", "file.txt", 1},
	    {"**/**/*.txt", "file.txt", 1},
	    {"a**/*.txt", "a/file.txt", 1},
	    {"a**/*.txt", "a/dir/file.txt", 1},
	    {"a**/*.txt", "a/dir/dir/file.txt", 1},
	    {"a/*.txt", "a/dir/file.txt", 0},
	    {"a/*.txt", "a/file.txt", 1},
	    {"a/*.txt**", "a/file.txt", 1},
	    {"a[b-d]e", "ae", 0},
	    {"a[b-d]e", "ace", 1},
	    {"a[b-d]e", "aae", 0},
	    {"a[^b-d]e", "aze", 1},
	    {".*", ".foo", 1},
	    {".*", "foo", 0},
	    {"abc.def", "abcdef", 0},
	    {"abc.def", "abc.def", 1},
	    {"abc.def", "abcZdef", 0},
	    {"abc?def", "abcZdef", 1},
	    {"abc?def", "abcdef", 0},
	    {"**/foo/bar", "foo/bar", 1},
	    {"**/foo/bar", "dir/foo/bar", 1},
	    {"**/foo/bar", "dir/dir2/foo/bar", 1},
	    {"abc/**", "abc", 0},
	    {"abc/**", "abc/def", 1},
	    {"abc/**", "abc/def/ghi", 1},
	    {"**/.foo", ".foo", 1},
	    {"**/.foo", "bar.foo", 0},
	    {"a(b)c/def", "a(b)c/def", 1},
	    {"a(b)c/def", "a(b)c/xyz", 0},
	    {"a.|)$(}+{bc", "a.|)$(}+{bc", 1},
	    {"dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
	     "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", 1},
	    {"dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", 1},
	    {"a\\\\", "a\\", 1},
	    {"a\\*b", "a*b", 1},
	    /* Go's filepath.Match table, as patternmatcher runs it */
	    {"abc", "abc", 1},
	    {"*", "abc", 1},
	    {"*c", "abc", 1},
	    {"a*", "a", 1},
	    {"a*", "abc", 1},
	    {"a*", "ab/c", 1},
	    {"a*/b", "abc/b", 1},
	    {"a*/b", "a/c/b", 0},
	    {"a*b*c*d*e*/f", "axbxcxdxe/f", 1},
	    {"a*b*c*d*e*/f", "axbxcxdxexxx/f", 1},
	    {"a*b*c*d*e*/f", "axbxcxdxe/xxx/f", 0},
	    {"a*b*c*d*e*/f", "axbxcxdxexxx/fff", 0},
	    {"a*b?c*x", "abxbbxdbxebxczzx", 1},
	    {"a*b?c*x", "abxbbxdbxebxczzy", 0},
	    {"ab[c]", "abc", 1},
	    {"ab[b-d]", "abc", 1},
	    {"ab[e-g]", "abc", 0},
	    {"ab[^c]", "abc", 0},
	    {"ab[^b-d]", "abc", 0},
	    {"ab[^e-g]", "abc", 1},
	    {"a\\*b", "ab", 0},
	    {"a?b", "a☺b", 1},
	    {"a[^a]b", "a☺b", 1},
	    {"a???b", "a☺b", 0},
	    {"a[^a][^a][^a]b", "a☺b", 0},
	    {"[a-ζ]*", "α", 1},
	    {"*[a-ζ]", "A", 0},
	    {"a?b", "a/b", 0},
	    {"a*b", "a/b", 0},
	    {"[\\]a]", "]", 1},
	    {"[\\-]", "-", 1},
	    {"[x\\-]", "x", 1},
	    {"[x\\-]", "-", 1},
	    {"[x\\-]", "z", 0},
	    {"[\\-x]", "x", 1},
	    {"[\\-x]", "-", 1},
	    {"[\\-x]", "a", 0},
	    {"*x", "xxx", 1},
	    {"[]a]", "]", -1},
	    {"[-]", "-", -1},
	    {"[x-]", "x", -1},
	    {"[-x]", "x", -1},
	    {"\\", "a", -1},
	    {"[a-b-c]", "a", -1},
	    {"[", "a", -1},
	    {"[^", "a", -1},
	    {"[^bc", "a", -1},
	    {"a[", "a", -1},
	    {"a[", "ab", -1},
	    /* more: parents, anchoring, classes */
	    {"*.go", "main.go", 1},
	    {"*.go", "cmd/main.go", 0}, /* `*` stays in one directory */
	    {"**/*.go", "cmd/main.go", 1},
	    {"node_modules", "node_modules/x/y.js", 1},
	    {"node_modules", "a/node_modules/x", 0},
	    {"*/temp*", "somedir/temporary.txt", 1},
	    {"*/temp*", "somedir/temp", 1},
	    {"*/temp*", "temp", 0},
	    {"*/*/temp*", "a/b/temp.txt", 1},
	    {"temp?", "tempa", 1},
	    {"temp?", "temp/a", 0},
	    {"a[!b]c", "a!c", 1}, /* `!` is not a negation in Go */
	    {"a[!b]c", "axc", 0},
	    {"a[^x]c", "a/c", 1}, /* a regexp class may match '/' */
	    {"a[^/]c", "a/c", 0},
	    {"x[.]y", "x.y", 1},
	    {"x[.]y", "xzy", 0},
	    {"foo^bar*", "foo^bar", 0}, /* a bare ^ is an anchor in the regexp */
	    {"^foo*", "foo1", 1},
	    {"^foo", "^foo", 1}, /* but an exact pattern compares text */
	    {"dir/", "dir/file", 1},
	    {"./dir", "dir/file", 1},
	    {"/dir/../other", "other/x", 1},
	    {"dir/./sub//", "dir/sub/x", 1},
	    {"[[:digit:]]x", "7x", 1},
	    {"[[:digit:]]x", "ax", 0},
	    {"a\\.b", "a.b", 1},
	    {"a\\.b", "axb", 0},
	    {"\\[x\\]", "[x]", 1},
	    {"[z-a]", "a", -1},
	};
	for (size_t i = 0; i < KILN_ARRAY_SIZE(t); i++)
		check(t[i].pat, t[i].path, t[i].want);
}

static void test_multi(void)
{
	check("**\n!util/docker/web", "util/docker/web/foo", 0);
	check("**\n!util/docker/web\nutil/docker/web/foo", "util/docker/web/foo", 1);
	check("**\n!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
	      "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", 0);
	check("**\n!dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", 0);
	check("!fileutils.go\n*.go", "fileutils.go", 1);
	check("docs\n!docs/README.md", "docs/README.md", 0);
	check("docs/\n!docs/README.md", "docs/README.md", 0);
	check("docs/*\n!docs/README.md", "docs/README.md", 0);
	check("docs\n!docs/README.md", "docs/other.md", 1);
	check("docs\n!docs/README.md", "docs", 1);
	check("*.go\n!fileutils.go", "fileutils.go", 0);
	check("*.md\n!README*.md\nREADME-secret.md", "README-secret.md", 1);
	check("*.md\n!README*.md\nREADME-secret.md", "README.md", 0);
	check("*.md\n!README*.md\nREADME-secret.md", "CHANGES.md", 1);
	/* last match wins, and an exception cannot bring back a file whose
	 * directory a later pattern excludes */
	check("*\n!src\nsrc/gen", "src/gen/x.c", 1);
	check("*\n!src\nsrc/gen", "src/main.c", 0);
	check("*\n!src", "README", 1);
	check("", "anything", 0);
	check("x", ".", 0);
	check("x", "", 0);
}

static void test_reader(void)
{
	const char *text = "test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n"
	                   "! /inverted/abs/path\n";
	const char *want[] = {"test1", "test2", "a/file/here", "lastfile", "inverted/abs/path"};
	struct kiln_err err = KILN_ERR_INIT;
	struct df_ignore *ig = NULL;
	T_OK(df_ignore_parse(text, strlen(text), &ig, &err) == 0, "ReadAll sample parses");
	if (ig) {
		T_INTEQ(df_ignore_count(ig), 5, "five patterns");
		for (size_t i = 0; i < 5 && i < df_ignore_count(ig); i++) {
			bool ex;
			int line;
			const char *p = df_ignore_pattern(ig, i, &ex, &line);
			T_STREQ(p, want[i], "pattern %zu", i);
			T_OK(ex == (i == 4), "pattern %zu exclusion flag", i);
		}
		int line = 0;
		df_ignore_pattern(ig, 4, NULL, &line);
		T_INTEQ(line, 7, "exception comes from line 7");
		df_ignore_free(ig);
	}
	const char *bad[] = {"!\n", "! \n", "a\n!/\n", "ok\n\n  [abc\n"};
	for (size_t i = 0; i < KILN_ARRAY_SIZE(bad); i++) {
		ig = NULL;
		char *t = oneline(bad[i]);
		T_OK(df_ignore_parse(bad[i], strlen(bad[i]), &ig, &err) < 0 && !ig,
		     "`%s` is rejected", t);
		free(t);
		if (i == 3)
			T_OK(err.msg && strstr(err.msg, "line 3") && strstr(err.msg, "`[abc`"),
			     "error names line and pattern: %s", err.msg ? err.msg : "");
		kiln_err_release(&err);
	}
	/* BOM, CRLF, comments only when '#' is the first byte, Unicode spaces */
	check("\xEF\xBB\xBF*.tmp\r\n", "a.tmp", 1);
	/* a BOM on a later line stays, but the regexp scanner skips it */
	check("x\n\xEF\xBB\xBF*.tmp\n", "a.tmp", 1);
	check("x\n\xEF\xBB\xBF"
	      "exact\n",
	      "exact", 0);
	check("# comment\n", "# comment", 0);
	check(" # not a comment\n", "# not a comment", 1);
	check("\xC2\xA0secret\xE3\x80\x80\n", "secret", 1);
	check("a\\ \n", "a ", -1); /* trailing space trimmed first: `a\` is malformed */
	check("file with spaces.txt", "file with spaces.txt", 1);
	/* a huge line fails like bufio.Scanner */
	char *big = xmalloc(70000);
	memset(big, 'a', 69999);
	big[69999] = '\0';
	ig = NULL;
	T_OK(df_ignore_parse(big, strlen(big), &ig, &err) < 0 && err.code == KILN_E_LIMIT,
	     "a 70000-byte line is rejected");
	kiln_err_release(&err);
	free(big);
}

static bool reinclude(const char *text, const char *dir)
{
	struct kiln_err err = KILN_ERR_INIT;
	struct df_ignore *ig;
	if (df_ignore_parse(text, strlen(text), &ig, &err) < 0) {
		kiln_err_release(&err);
		return false;
	}
	bool r = df_ignore_may_reinclude_under(ig, dir);
	df_ignore_free(ig);
	return r;
}

static void test_walk(void)
{
	T_OK(!reinclude("node_modules", "node_modules"), "no exceptions: skip the directory");
	T_OK(reinclude("docs\n!docs/README.md", "docs"), "exception inside: descend");
	T_OK(reinclude("*\n!src/main", "src"), "exception below: descend");
	T_OK(reinclude("*\n!src/main", "src/main"), "exception is the directory: descend");
	T_OK(!reinclude("*\n!src/main", "srcx"), "exception elsewhere: skip");
	T_OK(!reinclude("*\n!src/main", "lib"), "exception elsewhere: skip (2)");
	T_OK(reinclude("*\n!src/**", "src"), "trailing /** is a prefix");
	T_OK(reinclude("*\n!src/*", "src"), "trailing /* is a prefix");
	T_OK(reinclude("*\n!**/keep", "anything"), "wildcard exception: descend everywhere");
	T_OK(reinclude("*\n!a/[bc]", "zzz"), "class in exception: descend everywhere");
	T_OK(!reinclude("*", "x"), "`*` alone: skip");
	T_OK(!df_ignore_may_reinclude_under(NULL, "x"), "NULL matcher");
	T_OK(!df_ignore_match(NULL, "x"), "NULL matcher excludes nothing");
}

static void test_candidates(void)
{
	struct kiln_strv sv = KILN_STRV_INIT;
	df_ignore_candidates("build/app.Dockerfile", "ctx", &sv);
	T_OK(sv.n == 2 && !strcmp(sv.v[0], "build/app.Dockerfile.dockerignore") &&
	         !strcmp(sv.v[1], "ctx/.dockerignore"),
	     "Dockerfile-specific ignore file first, then the context's");
	kiln_strv_release(&sv);
	df_ignore_candidates("-", "ctx/", &sv);
	T_OK(sv.n == 1 && !strcmp(sv.v[0], "ctx/.dockerignore"), "stdin Dockerfile: context only");
	kiln_strv_release(&sv);
	df_ignore_candidates(NULL, NULL, &sv);
	T_OK(sv.n == 1 && !strcmp(sv.v[0], ".dockerignore"), "no context dir: relative name");
	kiln_strv_release(&sv);
}

int main(void)
{
	test_single_patterns();
	test_multi();
	test_reader();
	test_walk();
	test_candidates();
	return tap_done();
}
