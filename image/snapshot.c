/* Snapshots: one unpacked layer per diffID under ROOT/snapshots/<hex>,
 * extracted with whiteouts in overlay form and renamed into place once the
 * blob digest and the diffID have been verified; ROOT/snapshots/<hex>.complete
 * is written after that, so a tree without it (a kill during an earlier
 * removal, or a store of an earlier kiln) is redone, never trusted. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layer-internal.h"
#include "store-internal.h"

/* The marker's content: what verification compares the tree with. */
#define SNAPSHOT_RECORD(F) "kiln-snapshot entries=%" F " bytes=%" F

static char *done_name(const char *hex)
{
	return xasprintf("%s%s", hex, IMG_SNAPSHOT_DONE);
}

bool img_snapshot_complete(struct img_store *s, const char *hex)
{
	_cleanup_free_ char *tree = kiln_path_join(s->snapshots, hex);
	_cleanup_free_ char *name = done_name(hex);
	_cleanup_free_ char *done = kiln_path_join(s->snapshots, name);
	struct stat st;
	return lstat(done, &st) == 0 && lstat(tree, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Drops the marker first, then renames the tree out of its name, then
 * deletes it: a kill at any point leaves either no tree under the final
 * name or one without its marker, and trash that the next gc removes. */
int img_snapshot_remove_at(int dfd, const char *hex, struct kiln_err *err)
{
	_cleanup_free_ char *done = done_name(hex);
	_cleanup_free_ char *trash = xasprintf("%s%s", IMG_SNAPSHOT_TRASH, hex);
	if (unlinkat(dfd, done, 0) < 0 && errno != ENOENT)
		return kiln_err_set(err, errno, "remove snapshot marker `%s`", done);
	if (kiln_rm_rf_at(dfd, trash, err) < 0) /* a leftover of a killed removal */
		return -1;
	if (renameat(dfd, hex, dfd, trash) < 0) {
		if (errno == ENOENT)
			return 0;
		return kiln_err_set(err, errno, "rename snapshot `%s`", hex);
	}
	if (fsync(dfd) < 0)
		return kiln_err_set(err, errno, "fsync the snapshots directory");
	return kiln_rm_rf_at(dfd, trash, err);
}

/* What the marker records of a tree: its entries and the bytes of its
 * regular files (per thread: stages of a build unpack in parallel). */
static _Thread_local uint64_t walk_entries, walk_bytes;

static int walk_one(const char *p, const struct stat *st, int type, struct FTW *f)
{
	(void)p;
	if (f->level > 0) {
		walk_entries++;
		if (type != FTW_NS && S_ISREG(st->st_mode))
			walk_bytes += (uint64_t)st->st_size;
	}
	return 0;
}

static int tree_stats(const char *tree, uint64_t *entries, uint64_t *bytes)
{
	walk_entries = walk_bytes = 0;
	if (nftw(tree, walk_one, 16, FTW_PHYS) != 0)
		return -1;
	*entries = walk_entries;
	*bytes = walk_bytes;
	return 0;
}

static char *tree_record(const char *tree, struct kiln_err *err)
{
	uint64_t entries, bytes;
	if (tree_stats(tree, &entries, &bytes) < 0) {
		kiln_err_set(err, errno, "read snapshot `%s`", tree);
		return NULL;
	}
	return xasprintf(SNAPSHOT_RECORD(PRIu64) "\n", entries, bytes);
}

int img_snapshot_mark_complete(struct img_store *s, const char *hex, struct kiln_err *err)
{
	_cleanup_free_ char *name = done_name(hex);
	_cleanup_free_ char *p = kiln_path_join(s->snapshots, name);
	_cleanup_free_ char *tree = kiln_path_join(s->snapshots, hex);
	_cleanup_free_ char *rec = tree_record(tree, err);
	if (!rec)
		return -1;
	_cleanup_close_ int fd =
	    open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return kiln_err_set(err, errno, "create `%s`", p);
	if (kiln_write_all(fd, rec, strlen(rec), err) < 0 || fsync(fd) < 0)
		return kiln_err_set(err, errno, "write `%s`", p);
	return kiln_fsync_dir(s->snapshots, err);
}

/* The marker record of tree in a new temp file of ROOT/tmp (registered;
 * its path returned). */
static char *marker_temp(struct img_store *s, const char *tree, struct kiln_err *err)
{
	_cleanup_free_ char *rec = tree_record(tree, err);
	if (!rec)
		return NULL;
	char *tmp = NULL;
	_cleanup_close_ int fd = kiln_tempfile_create(s->tmp, "kiln-snapmark-", &tmp, err);
	if (fd < 0)
		return NULL;
	if (kiln_write_all(fd, rec, strlen(rec), err) < 0) {
		unlink(tmp);
		kiln_tempfile_forget(tmp);
		free(tmp);
		return NULL;
	}
	return tmp;
}

int img_snapshot_publish(struct img_store *s, int dfd, const char *hex, const char *src,
                         struct kiln_err *err)
{
	_cleanup_free_ char *tree = src ? xstrdup(src) : kiln_path_join(s->snapshots, hex);
	_cleanup_free_ char *mark = marker_temp(s, tree, err);
	if (!mark)
		return -1;
	_cleanup_free_ char *done = done_name(hex);
	int r = 0;
	if (syncfs(dfd) < 0)
		r = kiln_err_set(err, errno, "sync `%s`", tree);
	if (r == 0 && src && renameat(AT_FDCWD, src, dfd, hex) < 0)
		r = kiln_err_set(err, errno, "rename `%s` into the snapshots", src);
	if (r == 0 && renameat(AT_FDCWD, mark, dfd, done) < 0)
		r = kiln_err_set(err, errno, "rename `%s` into the snapshots", mark);
	if (r < 0)
		unlink(mark);
	kiln_tempfile_forget(mark);
	return r;
}

int img_snapshot_verify(struct img_store *s, const char *hex, struct kiln_err *err)
{
	_cleanup_free_ char *name = done_name(hex);
	_cleanup_free_ char *p = kiln_path_join(s->snapshots, name);
	_cleanup_free_ char *tree = kiln_path_join(s->snapshots, hex);
	_cleanup_free_ char *rec = NULL;
	size_t len = 0;
	uint64_t want_e, want_b, entries, bytes;
	if (kiln_read_file(p, 4096, &rec, &len, err) < 0)
		return -1;
	if (len == 0) /* the empty marker of an earlier kiln: nothing recorded */
		return 0;
	if (sscanf(rec, SNAPSHOT_RECORD(SCNu64), &want_e, &want_b) != 2)
		return kiln_err_set(err, KILN_E_CORRUPT, "snapshot marker `%s` is damaged", p);
	if (tree_stats(tree, &entries, &bytes) < 0)
		return kiln_err_set(err, errno, "read snapshot `%s`", tree);
	if (entries != want_e || bytes != want_b)
		return kiln_err_set(err, KILN_E_CORRUPT,
		                    "snapshot %s was changed after it was unpacked: %" PRIu64
		                    " entries and %" PRIu64 " bytes, %" PRIu64 " and %" PRIu64
		                    " when complete",
		                    hex, entries, bytes, want_e, want_b);
	return 0;
}

/* Builds the snapshot hex under ROOT/snapshots.lock: one process at a time
 * decides that a tree is incomplete and replaces it. */
static int build(struct img_store *s, const struct img_layer *layer, const char *hex,
                 const char *path, struct kiln_err *err)
{
	_cleanup_free_ char *lockp = kiln_path_join(s->root, "snapshots.lock");
	_cleanup_close_ int lock = kiln_lock_file(lockp, true, err);
	if (lock < 0)
		return -1;
	if (img_snapshot_complete(s, hex)) /* another process finished it meanwhile */
		return 0;
	_cleanup_close_ int dfd = open(s->snapshots, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return kiln_err_set(err, errno, "open `%s`", s->snapshots);
	if (img_snapshot_remove_at(dfd, hex, err) < 0) /* an incomplete tree */
		return -1;
	/* renamed in unsynced: until the marker, the tree counts as incomplete */
	unsigned flags = IMG_EXTRACT_OVERLAY_WHITEOUTS | IMG_EXTRACT_DEVICES | IMG_EXTRACT_NEW_;
	if (img_layer_extract_verified(s, layer->digest, layer->diff_id, path, flags, err) < 0)
		return -1;
	return img_snapshot_publish(s, dfd, hex, NULL, err);
}

int img_snapshot_ensure(struct img_store *s, const struct img_layer *layer, char **path_out,
                        struct kiln_err *err)
{
	if (!kiln_digest_valid(layer->diff_id))
		return kiln_err_set(err, KILN_E_INVALID, "invalid diffID `%s`", layer->diff_id);
	const char *hex = kiln_digest_hex(layer->diff_id);
	_cleanup_free_ char *path = kiln_path_join(s->snapshots, hex);
	if (!img_snapshot_complete(s, hex) && build(s, layer, hex, path, err) < 0)
		return kiln_err_wrap(err, "unpacking layer %s", layer->diff_id);
	*path_out = TAKE_PTR(path);
	return 0;
}

/* Unpacks every missing snapshot of layers[0..n) under one hold of
 * ROOT/snapshots.lock and marks them all complete after one syncfs (a RUN
 * on a stage of several new layers waits for one flush, not one each). */
static int build_missing(struct img_store *s, const struct img_layer *layers, size_t n,
                         struct kiln_err *err)
{
	_cleanup_free_ char *lockp = kiln_path_join(s->root, "snapshots.lock");
	_cleanup_close_ int lock = kiln_lock_file(lockp, true, err);
	if (lock < 0)
		return -1;
	_cleanup_close_ int dfd = open(s->snapshots, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return kiln_err_set(err, errno, "open `%s`", s->snapshots);
	char **marks = xcalloc(n + 1, sizeof(char *));
	int r = 0;
	size_t made = 0;
	for (size_t i = 0; r == 0 && i < n; i++) {
		const char *hex = kiln_digest_hex(layers[i].diff_id);
		bool twice = false; /* a layer listed twice is made once */
		for (size_t j = 0; j < i && !twice; j++)
			twice = marks[j] && !strcmp(layers[j].diff_id, layers[i].diff_id);
		if (twice || img_snapshot_complete(s, hex))
			continue;
		_cleanup_free_ char *path = kiln_path_join(s->snapshots, hex);
		unsigned flags =
		    IMG_EXTRACT_OVERLAY_WHITEOUTS | IMG_EXTRACT_DEVICES | IMG_EXTRACT_NEW_;
		if (img_snapshot_remove_at(dfd, hex, err) < 0 ||
		    img_layer_extract_verified(s, layers[i].digest, layers[i].diff_id, path, flags,
		                               err) < 0 ||
		    !(marks[i] = marker_temp(s, path, err)))
			r = kiln_err_wrap(err, "unpacking layer %s", layers[i].diff_id);
		made += r == 0;
	}
	if (r == 0 && made && syncfs(dfd) < 0)
		r = kiln_err_set(err, errno, "sync `%s`", s->snapshots);
	for (size_t i = 0; i < n; i++) {
		if (!marks[i])
			continue;
		_cleanup_free_ char *done = done_name(kiln_digest_hex(layers[i].diff_id));
		bool in = r == 0 && renameat(AT_FDCWD, marks[i], dfd, done) == 0;
		if (r == 0 && !in)
			r = kiln_err_set(err, errno, "rename `%s` into the snapshots", marks[i]);
		if (!in)
			unlink(marks[i]);
		kiln_tempfile_forget(marks[i]);
		free(marks[i]);
	}
	free(marks);
	return r;
}

int img_snapshot_dirs(struct img_store *s, const struct img_layer *layers, size_t n,
                      char ***dirs_out, struct kiln_err *err)
{
	size_t missing = 0;
	for (size_t i = 0; i < n; i++)
		missing += kiln_digest_valid(layers[i].diff_id) &&
		           !img_snapshot_complete(s, kiln_digest_hex(layers[i].diff_id));
	if (missing > 1 && build_missing(s, layers, n, err) < 0)
		return -1;
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
