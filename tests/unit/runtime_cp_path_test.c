/* docker cp's path rules: Go's filepath.Clean/Base/Dir/Join and the
 * pkg/archive helpers built on them (trailing "/" and "/.", rebase
 * names), with expectations taken from Go's own tests and docker's. */
#include <stdlib.h>
#include <string.h>

#include "cp-internal.h"
#include "tap.h"

static void check(char *got, const char *want, const char *what)
{
	T_STREQ(got, want, "%s", what);
	free(got);
}

static void test_go(void)
{
	static const char *const clean[][2] = {
	    {"", "."},
	    {"abc", "abc"},
	    {"abc/def/", "abc/def"},
	    {"a//b", "a/b"},
	    {"/", "/"},
	    {"//abc", "/abc"},
	    {"abc/./def", "abc/def"},
	    {"/./abc", "/abc"},
	    {"abc/../def", "def"},
	    {"abc/def/..", "abc"},
	    {"../../abc", "../../abc"},
	    {"/../abc", "/abc"},
	    {"abc/../../x", "../x"},
	    {"/..", "/"},
	    {".", "."},
	    {"a/b/c/../../..", "."},
	    {"/etc/.", "/etc"},
	};
	for (size_t i = 0; i < sizeof(clean) / sizeof(clean[0]); i++)
		check(rt_go_clean(clean[i][0]), clean[i][1], clean[i][0]); /* Clean */
	check(rt_go_base("/etc/"), "etc", "Base strips trailing slashes");
	check(rt_go_base("/"), "/", "Base of /");
	check(rt_go_base(""), ".", "Base of empty");
	check(rt_go_base("/etc/."), ".", "Base of /etc/.");
	check(rt_go_dir("/etc/passwd"), "/etc", "Dir");
	check(rt_go_dir("passwd"), ".", "Dir of a bare name");
	check(rt_go_dir("/etc/"), "/etc", "Dir keeps the element before a trailing slash");
	check(rt_go_join("/", "../../x"), "/x", "Join cannot climb above /");
	check(rt_go_join("a", ""), "a", "Join with an empty element");
}

static void test_archive(void)
{
	check(rt_go_preserve_trailing("/etc", "etc/"), "/etc/", "a trailing slash is kept");
	check(rt_go_preserve_trailing("/etc", "etc/."), "/etc/.", "a trailing /. is kept");
	check(rt_go_preserve_trailing("/", "/."), "/.", "/. stays /.");
	char *d, *b;
	rt_go_split_dir_entry("/etc/.", &d, &b);
	T_OK(!strcmp(d, "/etc") && !strcmp(b, "."), "SplitPathDirEntry keeps the dot");
	free(d), free(b);
	rt_go_split_dir_entry("/etc/", &d, &b);
	T_OK(!strcmp(d, "/") && !strcmp(b, "etc"), "SplitPathDirEntry of a dir with a slash");
	free(d), free(b);
	char *res = xstrdup("/real/target");
	check(rt_go_rebase_name("/link/", &res), "link", "a followed link keeps its name");
	T_STREQ(res, "/real/target/", "and the trailing slash moves to the target");
	free(res);
	res = xstrdup("/etc");
	T_OK(rt_go_rebase_name("/etc", &res) == NULL, "no rebase when the names agree");
	free(res);
	res = xstrdup("/x/dir");
	T_OK(rt_go_rebase_name("/l/.", &res) == NULL, "/. asked: no rebase (both read \".\")");
	T_STREQ(res, "/x/dir/.", "and the target gets /.");
	free(res);
}

int main(void)
{
	test_go();
	test_archive();
	return tap_done();
}
