/* libFuzzer target: image reference parsing and normalization. Checks that
 * a parsed reference re-parses to the same normalized string and that its
 * familiar form normalizes back to it. */
#include <stdlib.h>
#include <string.h>

#include "image.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char *s = xstrndup((const char *)data, size);
	struct kiln_err err = KILN_ERR_INIT;
	struct img_ref r = {0};
	if (img_ref_parse(s, IMG_REF_DEFAULT_TAG, &r, &err) == 0) {
		char *full = img_ref_string(&r);
		char *fam = img_ref_familiar(&r);
		char *again = img_ref_normalize(full, &err);
		char *from_fam = img_ref_normalize(fam, &err);
		if (!again || strcmp(again, full) != 0)
			abort(); /* normalization is idempotent */
		if (!from_fam || strcmp(from_fam, full) != 0)
			abort(); /* the familiar form means the same image */
		free(full);
		free(fam);
		free(again);
		free(from_fam);
		img_ref_release(&r);
	} else if (!err.msg) {
		abort(); /* a failure always says why */
	}
	kiln_err_release(&err);
	free(s);
	return 0;
}
