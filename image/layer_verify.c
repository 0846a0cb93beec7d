/* img_layer_verify: a stored layer blob read once, decompressed and hashed,
 * nothing written (a layer from a shared build cache is checked against
 * the diffID its record claims before an image lists it). */
#include <string.h>

#include "layer-internal.h"

int img_layer_verify(struct img_store *s, const struct img_layer *l, struct kiln_err *err)
{
	_cleanup_close_ int fd = img_store_open_blob(s, l->digest, err);
	if (fd < 0)
		return -1;
	struct layer_source src;
	if (layer_source_open(&src, fd, err) < 0)
		return kiln_err_wrap(err, "layer %s", l->digest);
	char blob[KILN_DIGEST_LEN], diff[KILN_DIGEST_LEN];
	int r = layer_source_finish(&src, blob, diff, NULL, err);
	layer_source_release(&src);
	if (r < 0)
		return kiln_err_wrap(err, "layer %s", l->digest);
	if (strcmp(blob, l->digest))
		return kiln_err_set(err, KILN_E_CORRUPT,
		                    "blob %s is corrupt: its content hashes to %s", l->digest,
		                    blob);
	if (strcmp(diff, l->diff_id))
		return kiln_err_set(err, KILN_E_CORRUPT,
		                    "layer %s: diffID mismatch: %s expected, content hashes to %s",
		                    l->digest, l->diff_id, diff);
	return 0;
}
