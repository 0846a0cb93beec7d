/* Snapshots adopted from an overlay upper dir: a build step's upper dir,
 * just made into a layer by img_layer_create (overlay_upper), becomes that
 * layer's snapshot without unpacking the blob again. The tree is first
 * made the one an extraction of the layer would give (see
 * img_snapshot_adopt in image.h): what the tar leaves out goes (sockets;
 * xattrs other than user.*, trusted.* and security.capability, overlay's
 * own ones but an opaque mark), mtimes become the tar's whole, clamped
 * seconds. Then the tree is renamed into place under ROOT/snapshots.lock
 * and marked complete, unsynced, as img_snapshot_ensure does after an
 * extraction (trusted in this boot only: snapshot.c). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "layer-internal.h"
#include "store-internal.h"

#define XATTR_LIST_MAX_BYTES (64 * 1024)

/* The walk's state (nftw has no user pointer; stages of a build adopt in
 * parallel threads). */
static _Thread_local int64_t walk_clamp;
static _Thread_local int walk_errno;
static _Thread_local const char *walk_failed;

static bool xattr_is_y(const char *path, const char *name)
{
	char v[4];
	ssize_t n = lgetxattr(path, name, v, sizeof(v));
	return n == 1 && v[0] == 'y';
}

/* Drops what extraction would not set; an opaque dir keeps (or gets) the
 * trusted.overlay.opaque=y an extraction of `.wh..wh..opq` makes. */
static int fix_xattrs(const char *path, bool root, bool dir)
{
	char list[XATTR_LIST_MAX_BYTES];
	ssize_t n = llistxattr(path, list, sizeof(list));
	if (n < 0)
		return errno == ENOTSUP ? 0 : -1;
	bool opaque =
	    dir && !root &&
	    (xattr_is_y(path, "trusted.overlay.opaque") || xattr_is_y(path, "user.overlay.opaque"));
	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(list + i) + 1) {
		const char *name = list + i;
		if (!root && layer_xattr_wanted(name))
			continue;
		if (opaque && !strcmp(name, "trusted.overlay.opaque"))
			continue;
		if (lremovexattr(path, name) < 0 && errno != ENODATA)
			return -1;
	}
	if (opaque && lsetxattr(path, "trusted.overlay.opaque", "y", 1, 0) < 0)
		return -1;
	return 0;
}

/* Post-order (FTW_DEPTH): a directory's mtime is set after its entries,
 * whose removal would change it. */
static int adopt_one(const char *path, const struct stat *st, int type, struct FTW *f)
{
	bool root = f->level == 0;
	if (type == FTW_NS || type == FTW_DNR) {
		walk_errno = EACCES;
		walk_failed = "read";
		return 1;
	}
	if (S_ISSOCK(st->st_mode)) { /* the tar skips sockets */
		if (unlink(path) == 0)
			return 0;
		walk_failed = "remove";
		walk_errno = errno;
		return 1;
	}
	if (S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0))
		return 0; /* a whiteout: extraction makes the same 0/0 device */
	if (fix_xattrs(path, root, S_ISDIR(st->st_mode)) < 0) {
		walk_failed = "set xattrs of";
		walk_errno = errno;
		return 1;
	}
	if (root)
		return 0;
	int64_t sec = st->st_mtim.tv_sec;
	if (walk_clamp >= 0 && sec > walk_clamp)
		sec = walk_clamp;
	if (sec == st->st_mtim.tv_sec && st->st_mtim.tv_nsec == 0)
		return 0;
	struct timespec ts[2] = {{sec, 0}, {sec, 0}};
	if (utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) < 0) {
		walk_failed = "set the mtime of";
		walk_errno = errno;
		return 1;
	}
	return 0;
}

static int normalize(const char *dir, int64_t clamp_mtime, struct kiln_err *err)
{
	walk_clamp = clamp_mtime;
	walk_errno = 0;
	walk_failed = NULL;
	int r = nftw(dir, adopt_one, 16, FTW_PHYS | FTW_DEPTH | FTW_MOUNT);
	if (r == 0)
		return 0;
	if (walk_failed)
		return kiln_err_set(err, walk_errno, "%s an entry of `%s`", walk_failed, dir);
	return kiln_err_set(err, errno, "walk `%s`", dir);
}

/* Under the lock: nothing to do when the snapshot is complete; else dir
 * replaces an incomplete tree (img_snapshot_publish). */
static int publish(struct img_store *s, const char *hex, const char *dir, struct kiln_err *err)
{
	_cleanup_free_ char *lockp = kiln_path_join(s->root, "snapshots.lock");
	_cleanup_close_ int lock = kiln_lock_file(lockp, true, err);
	if (lock < 0)
		return -1;
	if (img_snapshot_complete(s, hex))
		return 0;
	_cleanup_close_ int dfd = open(s->snapshots, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return kiln_err_set(err, errno, "open `%s`", s->snapshots);
	if (img_snapshot_remove_at(dfd, hex, err) < 0)
		return -1;
	return img_snapshot_publish(s, dfd, hex, dir, NULL, err);
}

int img_snapshot_adopt(struct img_store *s, const struct img_layer *layer, const char *dir,
                       int64_t clamp_mtime, struct kiln_err *err)
{
	if (!kiln_digest_valid(layer->diff_id))
		return kiln_err_set(err, KILN_E_INVALID, "invalid diffID `%s`", layer->diff_id);
	const char *hex = kiln_digest_hex(layer->diff_id);
	if (img_snapshot_complete(s, hex))
		return 0;
	if (normalize(dir, clamp_mtime, err) < 0 || publish(s, hex, dir, err) < 0)
		return kiln_err_wrap(err, "keeping the snapshot of layer %s", layer->diff_id);
	return 0;
}
