/* Snapshots: one unpacked layer per diffID under ROOT/snapshots/<hex>,
 * extracted with whiteouts in overlay form and renamed into place once the
 * blob digest and the diffID have been verified. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "layer-internal.h"
#include "store-internal.h"

int img_snapshot_ensure(struct img_store *s, const struct img_layer *layer, char **path_out,
                        struct kiln_err *err)
{
	if (!kiln_digest_valid(layer->diff_id))
		return kiln_err_set(err, KILN_E_INVALID, "invalid diffID `%s`", layer->diff_id);
	_cleanup_free_ char *path = kiln_path_join(s->snapshots, kiln_digest_hex(layer->diff_id));
	if (kiln_path_exists(path)) {
		*path_out = TAKE_PTR(path);
		return 0;
	}
	/* built in ROOT/tmp, verified, flushed, then renamed into place without
	 * replacing: a concurrent process may win the rename, and its snapshot
	 * is as good as ours */
	unsigned flags = IMG_EXTRACT_OVERLAY_WHITEOUTS | IMG_EXTRACT_DEVICES | IMG_EXTRACT_NEW_ |
	                 IMG_EXTRACT_SYNC_;
	struct kiln_err e = KILN_ERR_INIT;
	if (img_layer_extract_verified(s, layer->digest, layer->diff_id, path, flags, &e) < 0) {
		if (e.code != KILN_E_CONFLICT || !kiln_path_exists(path)) {
			kiln_err_move(err, &e);
			return kiln_err_wrap(err, "unpacking layer %s", layer->diff_id);
		}
		kiln_err_release(&e);
	} else if (kiln_fsync_dir(s->snapshots, err) < 0) {
		return -1;
	}
	*path_out = TAKE_PTR(path);
	return 0;
}

int img_snapshot_dirs(struct img_store *s, const struct img_layer *layers, size_t n,
                      char ***dirs_out, struct kiln_err *err)
{
	char **dirs = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		char *p = NULL;
		if (img_snapshot_ensure(s, &layers[i], &p, err) < 0) {
			for (size_t j = 0; j <= n; j++)
				free(dirs[j]);
			free(dirs);
			return -1;
		}
		dirs[n - 1 - i] = p;
	}
	*dirs_out = dirs;
	return 0;
}
