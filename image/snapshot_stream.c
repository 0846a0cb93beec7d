/* Snapshots unpacked from a blob as it streams in (a registry pull): the
 * same checks as img_snapshot_ensure (blob digest and diffID verified
 * before the snapshot is renamed into place), without a second read. */
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layer-internal.h"
#include "store-internal.h"

bool img_snapshot_exists(struct img_store *s, const char *diff_id)
{
	if (!kiln_digest_valid(diff_id))
		return false;
	_cleanup_free_ char *path = kiln_path_join(s->snapshots, kiln_digest_hex(diff_id));
	return kiln_path_exists(path);
}

static void drain(int fd)
{
	char buf[65536];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
		;
}

/* Publishes the outcome of an unpacking into path: marked complete when
 * it is in place (by this process, or another that then marks it). */
static int snapshot_publish(struct img_store *s, const struct img_layer *layer, const char *path,
                            int r, const struct layer_tree_count *count, struct kiln_err *e,
                            struct kiln_err *err)
{
	if (r < 0) {
		if (e->code != KILN_E_CONFLICT || !kiln_path_exists(path)) {
			kiln_err_move(err, e);
			return kiln_err_wrap(err, "unpacking layer %s", layer->diff_id);
		}
		kiln_err_release(e); /* another process made it: it marks it */
		return 0;
	}
	/* verified and in place: marked complete, or the next use (a tree
	 * without its marker is never trusted) would unpack it again */
	_cleanup_free_ char *lockp = kiln_path_join(s->root, "snapshots.lock");
	_cleanup_close_ int lock = kiln_lock_file(lockp, true, err);
	if (lock < 0)
		return kiln_err_wrap(err, "unpacking layer %s", layer->diff_id);
	struct stat st; /* gone meanwhile: an ensure under the lock redid it */
	if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		return 0;
	if (img_snapshot_mark_complete(s, kiln_digest_hex(layer->diff_id), count, err) < 0)
		return kiln_err_wrap(err, "unpacking layer %s", layer->diff_id);
	return 0;
}

#define STREAM_FLAGS (IMG_EXTRACT_OVERLAY_WHITEOUTS | IMG_EXTRACT_DEVICES | IMG_EXTRACT_NEW_)

int img_snapshot_from_fd(struct img_store *s, const struct img_layer *layer, int fd,
                         struct kiln_err *err)
{
	if (!kiln_digest_valid(layer->diff_id) || !kiln_digest_valid(layer->digest)) {
		drain(fd);
		return kiln_err_set(err, KILN_E_INVALID, "invalid layer `%s`", layer->diff_id);
	}
	_cleanup_free_ char *path = kiln_path_join(s->snapshots, kiln_digest_hex(layer->diff_id));
	struct kiln_err e = KILN_ERR_INIT;
	struct layer_tree_count count;
	int r = img_layer_extract_verified_fd(s, fd, layer->digest, layer->diff_id, path,
	                                      STREAM_FLAGS, &count, &e);
	drain(fd); /* the writer never blocks on a reader that gave up */
	return snapshot_publish(s, layer, path, r, &count, &e, err);
}

int img_snapshot_from_stream(struct img_store *s, const struct img_layer *layer, img_read_fn fn,
                             void *ud, struct kiln_err *err)
{
	if (!kiln_digest_valid(layer->diff_id))
		return kiln_err_set(err, KILN_E_INVALID, "invalid layer `%s`", layer->diff_id);
	_cleanup_free_ char *path = kiln_path_join(s->snapshots, kiln_digest_hex(layer->diff_id));
	struct kiln_err e = KILN_ERR_INIT;
	struct layer_tree_count count;
	int r = img_layer_extract_verified_input(s, fn, ud, layer->diff_id, path, STREAM_FLAGS,
	                                         &count, &e);
	return snapshot_publish(s, layer, path, r, &count, &e, err);
}
