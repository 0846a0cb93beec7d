/* libFuzzer target for the .dockerignore matcher: the input is split at the
 * first NUL into ignore-file text and a path to match (and to ask the walk
 * helper about). */
#include <stdint.h>
#include <string.h>

#include "common.h"
#include "parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	const char *nul = memchr(text, '\0', size);
	size_t tlen = nul ? (size_t)(nul - text) : size;
	char *path = nul ? xstrndup(nul + 1, size - tlen - 1) : xstrdup("a/b/c");
	struct df_ignore *ig = NULL;
	struct kiln_err err = KILN_ERR_INIT;
	if (df_ignore_parse(text, tlen, &ig, &err) == 0) {
		(void)df_ignore_match(ig, path);
		(void)df_ignore_may_reinclude_under(ig, path);
		df_ignore_free(ig);
	} else if (!err.msg) {
		__builtin_trap();
	}
	kiln_err_release(&err);
	free(path);
	return 0;
}
