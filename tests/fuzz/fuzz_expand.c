/* libFuzzer target for the word expander: the first byte picks the flags
 * and the escape character, the rest is the word. Any input must end in a
 * result or an error, within the size, depth and time limits. */
#include <stdint.h>
#include <string.h>

#include "common.h"
#include "parser.h"

static const char *const fuzz_env[] = {
    "PWD=/home", "A=a b  c",   "E=", "P=a/b/c.tar.gz", "N=x\ny", "S=*?\\}",
    "K=한국어",  "R=$0$$${0}", NULL};

static const char *fuzz_lookup(void *ud, const char *name, size_t len)
{
	(void)ud;
	for (const char *const *e = fuzz_env; *e; e++)
		if (strncmp(*e, name, len) == 0 && (*e)[len] == '=')
			return *e + len + 1;
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned flags = data[0] & 0x0F;
	char esc = (data[0] & 0x10) ? '`' : '\\';
	if (data[0] & 0x20)
		flags |= DF_EXPAND_WORDS;
	if (data[0] & 0x40)
		flags |= DF_EXPAND_REPORT;
	struct df_expansion res;
	struct kiln_err err = KILN_ERR_INIT;
	if (df_expand((const char *)data + 1, size - 1, esc, flags, fuzz_lookup, NULL, &res,
	              &err) == 0) {
		if (res.len > DF_EXPAND_MAX || strlen(res.word) > res.len)
			__builtin_trap();
		df_expansion_release(&res);
	} else if (!err.msg) {
		__builtin_trap();
	}
	kiln_err_release(&err);
	return 0;
}
