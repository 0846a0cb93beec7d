/* The builder's pure formatting: byte counts as BuildKit's progress shows
 * them (tonistiigi/units Bytes, "%.2f") and the file name an ADD of a URL
 * gives its download (dockerfile2llb: path.Base of the parsed URL's path). */
#include <stdint.h>
#include <stdlib.h>

#include "build-internal.h"
#include "progress-internal.h"
#include "tap.h"

static void bytes_is(uint64_t v, const char *want)
{
	char buf[32];
	bld_format_bytes(buf, sizeof(buf), v);
	T_STREQ(buf, want, "%llu bytes: %s", (unsigned long long)v, want);
}

static void test_bytes(void)
{
	bytes_is(0, "0B");
	bytes_is(1, "1B");
	bytes_is(999, "999B");
	bytes_is(1000, "1.00kB");
	bytes_is(1023, "1.02kB");
	bytes_is(1024, "1.02kB");
	bytes_is(999210, "999.21kB");  /* as docker 20.10 printed a context transfer */
	bytes_is(999999, "1000.00kB"); /* the unit is picked before rounding */
	bytes_is(1000000, "1.00MB");
	bytes_is(1048576, "1.05MB");
	bytes_is(10000000, "10.00MB");
	bytes_is(428000000, "428.00MB");
	bytes_is(1000000000, "1.00GB");
	bytes_is(1000000000000ULL, "1.00TB");
	bytes_is(UINT64_MAX, "18.45EB");
}

static void name_is(const char *url, const char *want)
{
	char *got = bld_url_file_name(url);
	T_STREQ(got, want, "%s names %s", url, want);
	free(got);
}

static void test_url_names(void)
{
	name_is("http://127.0.0.1:80/file.txt", "file.txt");
	name_is("http://h/a%20b.txt", "a b.txt");
	name_is("http://h/sub%2Fx", "x"); /* the decoded path's last component */
	name_is("http://h/sub%2fx", "x");
	name_is("http://h/dir%2F", "dir");
	name_is("http://h/q.txt?x=1&y=/2", "q.txt");
	name_is("http://h/q.txt#frag/x", "q.txt");
	name_is("http://h/dir/", "dir");
	name_is("http://h/dir//", "dir");
	name_is("http://h/a/b/c", "c");
	name_is("http://h/p+q", "p+q");
	name_is("http://h/100%25", "100%");
	name_is("http://h/fi%6Ce", "file");
	name_is("http://h/", "__unnamed__");
	name_is("http://h", "__unnamed__");
	name_is("http://h?x=/y", "__unnamed__");
	name_is("http://h/a/%2E", "__unnamed__");
	name_is("http://h/a/..", "__unnamed__");
	name_is("http://h/a%zz", "__unnamed__"); /* Go's url.Parse fails */
	name_is("http://h/a%2", "__unnamed__");
	name_is("http://h/a%00b", "__unnamed__");
}

int main(void)
{
	test_bytes();
	test_url_names();
	return tap_done();
}
