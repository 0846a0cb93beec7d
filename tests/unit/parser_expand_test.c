/* Unit tests of the word expander (parser/shellwords.c): every ${...} form,
 * BuildKit's quirks, the escape character, raw modes, words, the
 * matched/unmatched report, and the depth, size and time limits. Expected
 * values follow BuildKit's shell lexer (frontend/dockerfile/shell). */
#include <string.h>
#include <time.h>

#include "common.h"
#include "parser.h"
#include "tap.h"

/* Environment: a NULL-terminated list of "NAME=value"; the last wins. */
static const char *lookup(void *ud, const char *name, size_t len)
{
	const char *const *env = ud, *hit = NULL;
	for (; env && *env; env++)
		if (strncmp(*env, name, len) == 0 && (*env)[len] == '=')
			hit = *env + len + 1;
	return hit;
}

struct wcase {
	const char *in;
	const char *const *env;
	unsigned flags;
	char esc;
	const char *want; /* NULL: must fail */
	const char *err;  /* substring of the error message, if any */
};

static void check_word(const struct wcase *c)
{
	struct kiln_err err = KILN_ERR_INIT;
	char *got = NULL;
	int r = df_expand_word(c->in, c->esc ? c->esc : '\\', c->flags, lookup, (void *)c->env,
	                       &got, &err);
	if (!c->want) {
		bool ok = r < 0 && (!c->err || (err.msg && strstr(err.msg, c->err)));
		if (!T_OK(ok, "`%s` fails with `%s`", c->in, c->err ? c->err : "an error"))
			printf("#   got: %s / %s\n", got ? got : "(null)",
			       err.msg ? err.msg : "(no error)");
	} else if (r < 0) {
		T_OK(0, "`%s` -> `%s`", c->in, c->want);
		printf("#   error: %s\n", err.msg);
	} else {
		T_STREQ(got, c->want, "`%s` -> `%s`", c->in, c->want);
	}
	free(got);
	kiln_err_release(&err);
}

static const char *const E_FOO[] = {"FOO=xxyy", "BAR=", NULL};
static const char *const E_PATH[] = {"P=a/b/c.tar.gz", "NL=a\nb", "U=日本語テキスト", NULL};
static const char *const E_MISC[] = {"PWD=/home", "SPACE= x  y ", "한국어=ko", "١٢=arabic-digits",
                                     "_x1=u",     "EMPTY=",       NULL};

static void test_forms(void)
{
	const struct wcase cases[] = {
	    /* defaults, alternatives, errors-if-unset */
	    {"${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}", E_FOO, 0, 0, "xxyy  ccc", NULL},
	    {"${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}", E_FOO, 0, 0, "xxyy bbb ccc", NULL},
	    {"${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}", E_FOO, 0, 0, "aaa bbb ", NULL},
	    {"${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}", E_FOO, 0, 0, "aaa  ", NULL},
	    {"${FOO?aaa}", E_FOO, 0, 0, "xxyy", NULL},
	    {"${BAR?bbb}", E_FOO, 0, 0, "", NULL},
	    {"${BAZ?ccc}", E_FOO, 0, 0, NULL, "failed to process \"${BAZ?ccc}\": BAZ: ccc"},
	    {"${BAZ?}", E_FOO, 0, 0, NULL, "BAZ: is not allowed to be unset"},
	    {"${BAR:?}", E_FOO, 0, 0, NULL, "BAR: is not allowed to be empty"},
	    {"${BAR:?message here$FOO}", E_FOO, 0, 0, NULL, "BAR: message herexxyy"},
	    {"${BAZ:?}", E_FOO, 0, 0, NULL, "BAZ: is not allowed to be unset"},
	    {"${FOO:?x}", E_FOO, 0, 0, "xxyy", NULL},
	    {"${FOO=aaa}", E_FOO, 0, 0, NULL, "unsupported modifier (=) in substitution"},
	    {"${FOO:=aaa}", E_FOO, 0, 0, NULL, "unsupported modifier (:=) in substitution"},
	    {"${FOO:x}", E_FOO, 0, 0, NULL, "unsupported modifier (:x) in substitution"},
	    {"${FOO", E_FOO, 0, 0, NULL, "unsupported modifier"},
	    {"${FOO:-abc", E_FOO, 0, 0, NULL, "syntax error: missing '}'"},
	    {"${", E_FOO, 0, 0, NULL, "syntax error: missing '}'"},
	    {"${}", E_FOO, 0, 0, NULL, "syntax error: bad substitution"},
	    {"${FOO:-'abc}", E_FOO, 0, 0, NULL, "syntax error: missing '}'"},
	    {"${FOO:-'a}'}", E_FOO, 0, 0, "xxyy", NULL},
	    {"${BAZ:-'a}'}", E_FOO, 0, 0, "a}", NULL},
	    {"${BAZ:-\"a b\"}", E_FOO, 0, 0, "a b", NULL},
	    {"${BAZ:-a\\}b}", E_FOO, 0, 0, "a}b", NULL},
	    {"${BAZ:-${BAR:-${FOO}}}", E_FOO, 0, 0, "xxyy", NULL},
	    /* prefix and suffix removal */
	    {"${P#*/}", E_PATH, 0, 0, "b/c.tar.gz", NULL},
	    {"${P##*/}", E_PATH, 0, 0, "c.tar.gz", NULL},
	    {"${P%/*}", E_PATH, 0, 0, "a/b", NULL},
	    {"${P%%/*}", E_PATH, 0, 0, "a", NULL},
	    {"${P%.*}", E_PATH, 0, 0, "a/b/c.tar", NULL},
	    {"${P%%.*}", E_PATH, 0, 0, "a/b/c", NULL},
	    {"${P#a?b}", E_PATH, 0, 0, "/c.tar.gz", NULL},
	    {"${P#x}", E_PATH, 0, 0, "a/b/c.tar.gz", NULL},
	    {"${P:#a/}", E_PATH, 0, 0, "b/c.tar.gz", NULL},
	    {"${U#日本}", E_PATH, 0, 0, "語テキスト", NULL},
	    {"${U%?}", E_PATH, 0, 0, "日本語テキス", NULL},
	    {"${U%%?*}", E_PATH, 0, 0, "", NULL},
	    {"${FOO#*x*y}", E_FOO, 0, 0, "y", NULL},
	    {"${FOO#*}", E_FOO, 0, 0, "xxyy", NULL},
	    {"${FOO##*}", E_FOO, 0, 0, "", NULL},
	    {"${FOO#$BAR}", E_FOO, 0, 0, "xxyy", NULL},
	    {"${FOO#}", E_FOO, 0, 0, "xxyy", NULL},
	    {"${FOO##*x}", E_FOO, 0, 0, "yy", NULL},
	    {"${FOO##}", E_FOO, 0, 0, "xxyy", NULL},
	    {"${FOO%}", E_FOO, 0, 0, "xxyy", NULL},
	    {"${FOO%%y*}", E_FOO, 0, 0, "xx", NULL},
	    {"${FOO%y*}", E_FOO, 0, 0, "xxy", NULL},
	    {"${ABC:-.}${FOO%x}${ABC:-.}", E_FOO, 0, 0, ".xxyy.", NULL},
	    {"${NL#*}", E_PATH, 0, 0, "a\nb", NULL},
	    {"${NL##*}", E_PATH, 0, 0, "\nb", NULL}, /* `*` stops at a newline */
	    {"${NL%%*}", E_PATH, 0, 0, "a\n", NULL},
	    {"${NL#a?b}", E_PATH, 0, 0, "a\nb", NULL}, /* so does `?` */
	    {"${FOO#\\x}", E_FOO, 0, 0, NULL,
	     "invalid pattern (\\x) in substitution: invalid escape '\\x'"},
	    {"${UNSET#*}", E_FOO, 0, 0, "", NULL},
	    /* substitution */
	    {"${P/\\//_}", E_PATH, 0, 0, "a_b/c.tar.gz", NULL},
	    {"${P//\\//_}", E_PATH, 0, 0, "a_b_c.tar.gz", NULL},
	    {"${P//[/x}", E_PATH, 0, 0, "a/b/c.tar.gz", NULL},
	    {"${P/.*/}", E_PATH, 0, 0, "a/b/c", NULL}, /* `.` is literal, `*` greedy */
	    {"${P//?/-}", E_PATH, 0, 0, "------------", NULL},
	    {"${FOO/$BAR/ww}", E_FOO, 0, 0, "wwxxyy", NULL},
	    {"${FOO//$BAR/w}", E_FOO, 0, 0, "wxwxwywyw", NULL},
	    {"${FOO//ww}", E_FOO, 0, 0, NULL, "syntax error: missing '/' in ${}"},
	    {"${FOO//}", E_FOO, 0, 0, NULL, "missing '/'"},
	    {"${FOO///}", E_FOO, 0, 0, "xxyy", NULL},
	    {"${UNSET///}", E_FOO, 0, 0, "", NULL},
	    {"${UNSET/*/z}", E_FOO, 0, 0, "z", NULL},
	    {"${FOO/x/a\\}b}", E_FOO, 0, 0, "a\\}bxyy", NULL},
	    /* Go's ReplaceAllString expands $0 (the match), $$ and ${0} in
	     * the replacement; the single replacement does not */
	    {"${FOO//y/$R}", E_MISC, 0, 0, "", NULL},
	    {NULL, NULL, 0, 0, NULL, NULL},
	};
	for (const struct wcase *c = cases; c->in; c++)
		check_word(c);
	const char *const env[] = {"FOO=abc", "R=<$$>", "R0=[$0]", "R1=[${0}|$1|$00|$x|${0]", NULL};
	const struct wcase repl[] = {
	    {"${FOO//b/$R}", env, 0, 0, "a<$>c", NULL},
	    {"${FOO//b/$R0}", env, 0, 0, "a[b]c", NULL},
	    {"${FOO/b/$R0}", env, 0, 0, "a[$0]c", NULL},
	    {"${FOO//b/$R1}", env, 0, 0, "a[b||||${0]c", NULL},
	    {"${FOO//b/[\\$0]}", env, 0, 0, "a[\\b]c", NULL},
	    {"${FOO//*/x}", env, 0, 0, "x", NULL},
	    {"${FOO//b*/x}", env, 0, 0, "ax", NULL},
	    {NULL, NULL, 0, 0, NULL, NULL},
	};
	for (const struct wcase *c = repl; c->in; c++)
		check_word(c);
}

static void test_lexing(void)
{
	const struct wcase cases[] = {
	    {"$PWD/x", E_MISC, 0, 0, "/home/x", NULL},
	    {"${PWD}x", E_MISC, 0, 0, "/homex", NULL},
	    {"$한국어", E_MISC, 0, 0, "ko", NULL},
	    {"$١٢x", E_MISC, 0, 0, "arabic-digitsx", NULL}, /* a run of Unicode digits */
	    {"$_x1.", E_MISC, 0, 0, "u.", NULL},
	    {"$1$@$*$#$?$-$$$!$0", E_MISC, 0, 0, "", NULL},
	    {"${#}${@:-at}", E_MISC, 0, 0, "at", NULL},
	    {"$", E_MISC, 0, 0, "$", NULL},
	    {"a$ b", E_MISC, 0, 0, "a$ b", NULL},
	    {"}", E_MISC, 0, 0, "}", NULL},
	    {"\xEF\xBB\xBF$PWD", E_MISC, 0, 0, "/home", NULL}, /* leading BOM skipped */
	    {"a\xEF\xBB\xBF", E_MISC, 0, 0, "a\xEF\xBB\xBF", NULL},
	    {"a\xff"
	     "b",
	     E_MISC, 0, 0,
	     "a\xEF\xBF\xBD"
	     "b",
	     NULL}, /* invalid UTF-8 */
	    {"'a\xff'", E_MISC, 0, 0, "a\xEF\xBF\xBD", NULL},
	    {"\"a\\tb\"", E_MISC, 0, 0, "a\\tb", NULL},
	    {"\"a\\\"b\\$c\\\\d\"", E_MISC, 0, 0, "a\"b$c\\d", NULL},
	    {"\"$PWD's\"", E_MISC, 0, 0, "/home's", NULL},
	    {"\"unterminated", E_MISC, 0, 0, NULL,
	     "unexpected end of statement while looking for matching double-quote"},
	    {"'unterminated", E_MISC, 0, 0, NULL,
	     "unexpected end of statement while looking for matching single-quote"},
	    /* backtick as the escape character */
	    {"he`$PWD", E_MISC, 0, '`', "he$PWD", NULL},
	    {"C:\\path\\$PWD", E_MISC, 0, '`', "C:\\path\\/home", NULL},
	    {"a``b`", E_MISC, 0, '`', "a`b", NULL},
	    {"\"a`\"b\\c``\"", E_MISC, 0, '`', "a\"b\\c`", NULL},
	    {"\"a`tb\"", E_MISC, 0, '`', "a`tb", NULL},
	    {"${U:-a`}b}", E_MISC, 0, '`', "a}b", NULL},
	    /* raw modes */
	    {"'a b' \"c\" \\d", E_MISC, DF_EXPAND_KEEP_QUOTES, 0, "'a b' \"c\" \\d", NULL},
	    {"\"a\\tb\\\"\"", E_MISC, DF_EXPAND_KEEP_QUOTES, 0, "\"a\\\\tb\\\"\"", NULL},
	    {"${U:-a\\b}", E_MISC, DF_EXPAND_KEEP_QUOTES, 0, "ab", NULL},
	    {"$A ${B} ${C:-x$PWD} ${D#a} ${E/a/b} ${F//a/b} $PWD", E_MISC, DF_EXPAND_KEEP_UNSET, 0,
	     "$A ${B} ${C:-x/home} ${D#a} ${E/a/b} ${F/a/b} /home", NULL},
	    {"${C:=x}", E_MISC, DF_EXPAND_KEEP_UNSET, 0, "${C:=x}", NULL},
	    {"${PWD:=x}", E_MISC, DF_EXPAND_KEEP_UNSET, 0, NULL, "unsupported modifier (:=)"},
	    {"'$PWD' \"x\"", E_MISC, DF_EXPAND_SKIP_QUOTES, 0, "'/home' \"x\"", NULL},
	    {"a\\ b\\$PWD", E_MISC, DF_EXPAND_RAW_ESCAPES, 0, "a\\ b\\$PWD", NULL},
	    {NULL, NULL, 0, 0, NULL, NULL},
	};
	for (const struct wcase *c = cases; c->in; c++)
		check_word(c);
}

static void check_words(const char *in, const char *const *env, unsigned flags,
                        const char *const *want)
{
	struct kiln_err err = KILN_ERR_INIT;
	struct kiln_strv got = KILN_STRV_INIT;
	int r = df_expand_words(in, '\\', flags, lookup, (void *)env, &got, &err);
	size_t n = 0;
	while (want[n])
		n++;
	bool ok = r == 0 && got.n == n;
	for (size_t i = 0; ok && i < n; i++)
		ok = strcmp(got.v[i], want[i]) == 0;
	if (!T_OK(ok, "words of `%s`", in)) {
		for (size_t i = 0; i < got.n; i++)
			printf("#   got[%zu]: \"%s\"\n", i, got.v[i]);
		if (err.msg)
			printf("#   error: %s\n", err.msg);
	}
	kiln_strv_release(&got);
	kiln_err_release(&err);
}

static void test_words(void)
{
	check_words("a \"b c\" d", E_MISC, 0, (const char *[]){"a", "b c", "d", NULL});
	check_words("x$SPACE.", E_MISC, 0, (const char *[]){"x", "x", "y", ".", NULL});
	check_words("\"$SPACE\"", E_MISC, 0, (const char *[]){" x  y ", NULL});
	check_words("'' \"\" $EMPTY", E_MISC, 0, (const char *[]){NULL});
	check_words("a\\ b c\\", E_MISC, 0, (const char *[]){"a b", "c", NULL});
	check_words("a\xE3\x80\x80"
	            "b\xC2\xA0"
	            "c",
	            E_MISC, 0, (const char *[]){"a", "b", "c", NULL});
	check_words("\t a \n b \r", E_MISC, 0, (const char *[]){"a", "b", NULL});
	check_words("RUN cat <<\"EOF\" '$x' $y ${z:-1}", E_MISC,
	            DF_EXPAND_KEEP_QUOTES | DF_EXPAND_KEEP_UNSET,
	            (const char *[]){"RUN", "cat", "<<\"EOF\"", "'$x'", "$y", "${z:-1}", NULL});
	check_words("a\\ b", E_MISC, DF_EXPAND_KEEP_QUOTES, (const char *[]){"a\\ b", NULL});
	struct kiln_strv sv = KILN_STRV_INIT;
	struct kiln_err err = KILN_ERR_INIT;
	int r1 = df_expand_words("a b", '\\', 0, lookup, NULL, &sv, &err);
	int r2 = df_expand_words("c", '\\', 0, lookup, NULL, &sv, &err);
	T_OK(r1 == 0 && r2 == 0 && sv.n == 3 && !strcmp(sv.v[2], "c") && !sv.v[3],
	     "df_expand_words appends");
	kiln_strv_release(&sv);
}

static void test_report(void)
{
	const char *const env[] = {"FOO=1", "BAR=", NULL};
	const char *rep_in = "$FOO ${BAR:-$BAZ} ${FOO#$QUX} $BAZ $1";
	struct df_expansion res;
	struct kiln_err err = KILN_ERR_INIT;
	int r = df_expand(rep_in, strlen(rep_in), '\\', DF_EXPAND_REPORT | DF_EXPAND_WORDS, lookup,
	                  (void *)env, &res, &err);
	T_OK(r == 0, "df_expand with report succeeds");
	if (r == 0) {
		T_STREQ(res.word, "1  1  ", "report: word");
		T_INTEQ(res.words.n, 2, "report: two words");
		T_INTEQ(res.matched.n, 2, "report: two matched");
		T_OK(res.matched.n == 2 && !strcmp(res.matched.v[0], "BAR") &&
		         !strcmp(res.matched.v[1], "FOO"),
		     "report: matched BAR FOO");
		T_OK(res.unmatched.n == 3 && !strcmp(res.unmatched.v[0], "1") &&
		         !strcmp(res.unmatched.v[1], "BAZ") && !strcmp(res.unmatched.v[2], "QUX"),
		     "report: unmatched 1 BAZ QUX");
		df_expansion_release(&res);
	}
	r = df_expand("a\0b$FOO", 7, '\\', 0, lookup, (void *)env, &res, &err);
	T_OK(r == 0 && res.len == 4 && memcmp(res.word, "a\0b1", 4) == 0, "NUL bytes pass");
	if (r == 0)
		df_expansion_release(&res);
	r = df_expand("${X?}", 5, '\\', 0, lookup, NULL, &res, &err);
	T_OK(r < 0 && err.code == KILN_E_INVALID && res.word == NULL, "errors are KILN_E_INVALID");
	kiln_err_release(&err);
}

static char *repeat(const char *a, size_t n, const char *mid, const char *b)
{
	struct kiln_buf buf;
	kiln_buf_init(&buf, KILN_BUF_NOLIMIT, NULL);
	for (size_t i = 0; i < n; i++)
		kiln_buf_addstr(&buf, a, NULL);
	kiln_buf_addstr(&buf, mid, NULL);
	for (size_t i = 0; i < n; i++)
		kiln_buf_addstr(&buf, b, NULL);
	return kiln_buf_detach(&buf, NULL);
}

static void test_limits(void)
{
	struct kiln_err err = KILN_ERR_INIT;
	char *got = NULL;
	char *w = repeat("${a:-", 200, "x", "}");
	T_OK(df_expand_word(w, '\\', 0, lookup, NULL, &got, &err) == 0 && got && !strcmp(got, "x"),
	     "200 nested ${a:-...} expand");
	free(got);
	got = NULL;
	free(w);
	w = repeat("${a:-", 10000, "x", "}");
	int r = df_expand_word(w, '\\', 0, lookup, NULL, &got, &err);
	T_OK(r < 0 && err.code == KILN_E_LIMIT && strstr(err.msg, "nested too deep"),
	     "10000 nested ${a:-...} is an error: %.80s", err.msg ? err.msg : "");
	kiln_err_release(&err);
	free(w);
	w = repeat("\"${a:-", 10000, "x", "}\"");
	T_OK(df_expand_word(w, '\\', 0, lookup, NULL, &got, &err) < 0, "nested in quotes too");
	kiln_err_release(&err);
	free(w);

	size_t big = 100u << 20;
	w = xmalloc(big + 1);
	memset(w, 'a', big);
	w[big] = '\0';
	clock_t t0 = clock();
	r = df_expand_word(w, '\\', 0, lookup, NULL, &got, &err);
	T_OK(r < 0 && err.code == KILN_E_LIMIT, "a 100 MB word hits the size limit: %.40s",
	     err.msg ? err.msg : "");
	kiln_err_release(&err);
	T_OK(strlen(w) == big, "input untouched");
	free(w);
	w = repeat("$V", 1000, "", "");
	const char *vbig = NULL;
	char *v = xmalloc((1u << 20) + 3);
	memcpy(v, "V=", 2);
	memset(v + 2, 'b', 1u << 20);
	v[(1u << 20) + 2] = '\0';
	vbig = v;
	const char *const env[] = {vbig, NULL};
	T_OK(df_expand_word(w, '\\', 0, lookup, (void *)env, &got, &err) < 0 &&
	         err.code == KILN_E_LIMIT,
	     "1000 x a 1 MB value hits the size limit");
	kiln_err_release(&err);
	free(w);
	/* pathological patterns end quickly */
	w = xstrdup("${V//?*?*?*?*?*?*?*?*?*?*c/x}");
	r = df_expand_word(w, '\\', 0, lookup, (void *)env, &got, &err);
	T_OK(r == 0 && got && !strcmp(got, v + 2), "no-match pattern over 1 MB");
	free(got);
	got = NULL;
	kiln_err_release(&err);
	free(w);
	w = xstrdup("${V%%*b}${V#*b*b*b*b*c}");
	r = df_expand_word(w, '\\', 0, lookup, (void *)env, &got, &err);
	T_OK(r == 0 && got && strlen(got) == 1u << 20, "suffix/prefix over 1 MB");
	free(got);
	got = NULL;
	kiln_err_release(&err);
	free(w);
	free(v);
	double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
	T_OK(secs < 60, "limits tests took %.1f s", secs);
}

int main(void)
{
	test_forms();
	test_lexing();
	test_words();
	test_report();
	test_limits();
	return tap_done();
}
