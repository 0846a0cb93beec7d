/* Snapshots: one unpacked layer per diffID under ROOT/snapshots/<hex>,
 * extracted with whiteouts in overlay form and renamed into place once the
 * blob digest and the diffID have been verified; a marker beside it is
 * written after that, so a tree without one (a kill during an earlier
 * removal, or a store of an earlier kiln) is redone, never trusted.
 *
 * The marker is ROOT/snapshots/<hex>.unsynced, written without any sync
 * (no flush on the critical path of a pull or a RUN step): it records the
 * boot it was written in (/proc/sys/kernel/random/boot_id), and only a
 * reader of the same boot trusts it (the page cache is coherent; only a
 * crash or power loss can tear unflushed bytes, and a crash changes the
 * boot id). In another boot the snapshot counts as incomplete and is
 * unpacked again from its verified blob. ROOT/snapshots/<hex>.complete is
 * the durable marker (written after a syncfs): trusted in any boot;
 * earlier kilns wrote it, a build's group commit upgrades this boot's
 * unsynced markers to it, so does the create of a container that outlives
 * kiln for its lowers (img_snapshot_make_durable: one syncfs, none when
 * they are durable already), and it is what a kiln writes when the boot id
 * cannot be read (/proc/sys hidden or masked): then every marker costs a
 * syncfs, as before unsynced markers. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layer-internal.h"
#include "store-internal.h"

/* The marker's content: what verification compares the tree with (an
 * unsynced marker adds " boot=<boot id>"). */
#define SNAPSHOT_RECORD(F) "kiln-snapshot entries=%" F " bytes=%" F
#define BOOT_ID_MAX        64

static char *done_name(const char *hex)
{
	return xasprintf("%s%s", hex, IMG_SNAPSHOT_DONE);
}

static char *unsynced_name(const char *hex)
{
	return xasprintf("%s%s", hex, IMG_SNAPSHOT_UNSYNCED);
}

static char proc_boot[BOOT_ID_MAX + 1];
static pthread_once_t proc_boot_once = PTHREAD_ONCE_INIT;

static void read_proc_boot(void)
{
	_cleanup_free_ char *b = NULL;
	size_t len = 0;
	if (kiln_read_file("/proc/sys/kernel/random/boot_id", BOOT_ID_MAX, &b, &len, NULL) < 0)
		return; /* unknown: no unsynced marker is ever trusted */
	len = strcspn(b, "\n");
	if (len > 0 && len <= BOOT_ID_MAX)
		memcpy(proc_boot, b, len);
}

/* This boot's id: $KILN_TEST_BOOT_ID (tests only: another boot, or
 * "unknown" for a host whose /proc/sys is hidden) or the kernel's; ""
 * when unknown. */
static const char *boot_id(void)
{
	const char *t = getenv("KILN_TEST_BOOT_ID");
	if (t && !strcmp(t, "unknown"))
		return "";
	if (t && *t && strlen(t) <= BOOT_ID_MAX && !strpbrk(t, " \n"))
		return t;
	pthread_once(&proc_boot_once, read_proc_boot);
	return proc_boot;
}

/* What an unsynced marker's content says: written in this boot, in
 * another one (it names a boot), or nothing trustworthy (torn, cut short:
 * a crash or kill while it was written). A torn marker never names this
 * boot, nor does any marker a boot before a crash wrote. */
static enum img_snap_state marker_state(const char *rec, size_t len)
{
	const char *b = rec ? memmem(rec, len, " boot=", 6) : NULL;
	if (!b || rec[len - 1] != '\n' || (size_t)(rec + len - b) < 8)
		return IMG_SNAP_INCOMPLETE;
	b += 6;
	const char *me = boot_id();
	size_t n = strlen(me);
	if (*me && (size_t)(rec + len - b) == n + 1 && !memcmp(b, me, n))
		return IMG_SNAP_COMPLETE;
	return IMG_SNAP_OTHER_BOOT;
}

/* Whether the snapshot hex under the snapshots dir snapdir has its durable
 * marker. */
static bool durable_at(const char *snapdir, const char *hex)
{
	_cleanup_free_ char *name = done_name(hex);
	_cleanup_free_ char *done = kiln_path_join(snapdir, name);
	struct stat st;
	return lstat(done, &st) == 0;
}

static enum img_snap_state state_at(const char *snapdir, const char *hex)
{
	_cleanup_free_ char *tree = kiln_path_join(snapdir, hex);
	struct stat st;
	if (lstat(tree, &st) < 0 || !S_ISDIR(st.st_mode))
		return IMG_SNAP_NONE;
	if (durable_at(snapdir, hex))
		return IMG_SNAP_COMPLETE;
	_cleanup_free_ char *uname = unsynced_name(hex);
	_cleanup_free_ char *unsynced = kiln_path_join(snapdir, uname);
	/* never blocked on: a FIFO planted there is no marker */
	_cleanup_close_ int fd = open(unsynced, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	_cleanup_free_ char *rec = NULL;
	size_t len = 0;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    kiln_read_fd(fd, 4096, "snapshot marker", &rec, &len, NULL) < 0)
		return IMG_SNAP_INCOMPLETE;
	return marker_state(rec, len);
}

enum img_snap_state img_snapshot_state(struct img_store *s, const char *hex)
{
	return state_at(s->snapshots, hex);
}

bool img_snapshot_complete(struct img_store *s, const char *hex)
{
	return img_snapshot_state(s, hex) == IMG_SNAP_COMPLETE;
}

bool img_snapshot_is_marker(const char *name)
{
	size_t len = strlen(name);
	if (len <= KILN_SHA256_HEXLEN)
		return false;
	_cleanup_free_ char *hex = xstrndup(name, KILN_SHA256_HEXLEN);
	const char *sfx = name + KILN_SHA256_HEXLEN;
	return img_is_hex64(hex) &&
	       (!strcmp(sfx, IMG_SNAPSHOT_DONE) || !strcmp(sfx, IMG_SNAPSHOT_UNSYNCED));
}

size_t img_store_unsynced_snapshots(struct img_store *s, struct kiln_strv *out)
{
	_cleanup_closedir_ DIR *d = opendir(s->snapshots);
	struct dirent *de;
	size_t n = 0;
	while (d && (de = readdir(d)))
		if (img_is_hex64(de->d_name) &&
		    img_snapshot_state(s, de->d_name) == IMG_SNAP_OTHER_BOOT) {
			kiln_strv_push(out, de->d_name);
			n++;
		}
	return n;
}

/* Queues on st the durable record of the snapshot hex (under dfd, the
 * snapshots dir) written to a temp, if its unsynced marker names this
 * boot: 0, else -1. */
static int settle_one(struct img_store *s, int dfd, const char *hex, struct img_snapshot_settle *st)
{
	_cleanup_free_ char *name = unsynced_name(hex);
	_cleanup_free_ char *rec = NULL;
	size_t n = 0;
	_cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) ||
	    kiln_read_fd(fd, 4096, "snapshot marker", &rec, &n, NULL) < 0 ||
	    marker_state(rec, n) != IMG_SNAP_COMPLETE)
		return -1;
	*(char *)memmem(rec, n, " boot=", 6) = '\0'; /* a durable record names no boot */
	char *tmp = NULL;
	_cleanup_close_ int tfd = kiln_tempfile_create(s->tmp, "kiln-snapmark-", &tmp, NULL);
	if (tfd < 0)
		return -1;
	if (kiln_write_all(tfd, rec, strlen(rec), NULL) < 0 ||
	    kiln_write_all(tfd, "\n", 1, NULL) < 0) {
		unlink(tmp);
		kiln_tempfile_forget(tmp);
		free(tmp);
		return -1;
	}
	kiln_strv_push(&st->hex, hex);
	kiln_strv_push(&st->tmp, tmp);
	free(tmp);
	return 0;
}

void img_snapshot_settle_begin(struct img_store *s, struct img_snapshot_settle *st)
{
	memset(st, 0, sizeof(*st));
	_cleanup_closedir_ DIR *d = opendir(s->snapshots);
	struct dirent *de;
	size_t sl = strlen(IMG_SNAPSHOT_UNSYNCED);
	while (d && (de = readdir(d))) {
		size_t len = strlen(de->d_name);
		if (len != KILN_SHA256_HEXLEN + sl || !img_snapshot_is_marker(de->d_name) ||
		    strcmp(de->d_name + KILN_SHA256_HEXLEN, IMG_SNAPSHOT_UNSYNCED) != 0)
			continue;
		_cleanup_free_ char *hex = xstrndup(de->d_name, KILN_SHA256_HEXLEN);
		settle_one(s, dirfd(d), hex, st);
	}
}

void img_snapshot_settle_end(struct img_store *s, struct img_snapshot_settle *st, bool synced)
{
	_cleanup_close_ int dfd = open(s->snapshots, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	for (size_t i = 0; i < st->hex.n; i++) {
		_cleanup_free_ char *done = done_name(st->hex.v[i]);
		_cleanup_free_ char *unsynced = unsynced_name(st->hex.v[i]);
		if (synced && dfd >= 0 && renameat(AT_FDCWD, st->tmp.v[i], dfd, done) == 0)
			unlinkat(dfd, unsynced, 0); /* lost in a crash: the durable one wins */
		else
			unlink(st->tmp.v[i]);
		kiln_tempfile_forget(st->tmp.v[i]);
	}
	kiln_strv_release(&st->hex);
	kiln_strv_release(&st->tmp);
}

/* Drops the markers first, then renames the tree out of its name, then
 * deletes it: a kill at any point leaves either no tree under the final
 * name or one without its marker, and trash that the next gc removes. */
int img_snapshot_remove_at(int dfd, const char *hex, struct kiln_err *err)
{
	_cleanup_free_ char *done = done_name(hex);
	_cleanup_free_ char *unsynced = unsynced_name(hex);
	_cleanup_free_ char *trash = xasprintf("%s%s", IMG_SNAPSHOT_TRASH, hex);
	if (unlinkat(dfd, done, 0) < 0 && errno != ENOENT)
		return kiln_err_set(err, errno, "remove snapshot marker `%s`", done);
	if (unlinkat(dfd, unsynced, 0) < 0 && errno != ENOENT)
		return kiln_err_set(err, errno, "remove snapshot marker `%s`", unsynced);
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

/* The durable marker, for a host whose boot id is unknown (an unsynced
 * marker could never be trusted there): the record goes to a temp in
 * ROOT/tmp, one syncfs flushes it with the tree, then it is renamed in as
 * <hex>.complete, trusted in any boot. */
static int write_durable_marker(struct img_store *s, int dfd, const char *hex, const char *rec,
                                struct kiln_err *err)
{
	char *tmp = NULL;
	_cleanup_close_ int fd = kiln_tempfile_create(s->tmp, "kiln-snapmark-", &tmp, err);
	if (fd < 0)
		return -1;
	_cleanup_free_ char *done = done_name(hex);
	int r = kiln_write_all(fd, rec, strlen(rec), err);
	if (r == 0 && syncfs(dfd) < 0)
		r = kiln_err_set(err, errno, "sync snapshot `%s`", hex);
	if (r == 0 && renameat(AT_FDCWD, tmp, dfd, done) < 0)
		r = kiln_err_set(err, errno, "rename `%s` into the snapshots", tmp);
	if (r < 0)
		unlink(tmp);
	kiln_tempfile_forget(tmp);
	free(tmp);
	return r;
}

/* Writes the marker of the tree hex (in place under dfd), its record what
 * the extraction counted or else a walk of tree: unsynced, naming this
 * boot (see the top of this file; a kill while it is written leaves a
 * marker that names no boot: incomplete), or durable when the boot id is
 * unknown. */
static int write_marker(struct img_store *s, int dfd, const char *hex, const char *tree,
                        const struct layer_tree_count *count, struct kiln_err *err)
{
	uint64_t entries, bytes;
	if (count && count->valid) {
		entries = count->entries;
		bytes = count->bytes;
	} else if (tree_stats(tree, &entries, &bytes) < 0) {
		return kiln_err_set(err, errno, "read snapshot `%s`", tree);
	}
	const char *me = boot_id();
	if (!*me) {
		_cleanup_free_ char *rec = xasprintf(SNAPSHOT_RECORD(PRIu64) "\n", entries, bytes);
		return write_durable_marker(s, dfd, hex, rec, err);
	}
	_cleanup_free_ char *rec =
	    xasprintf(SNAPSHOT_RECORD(PRIu64) " boot=%s\n", entries, bytes, me);
	_cleanup_free_ char *name = unsynced_name(hex);
	_cleanup_close_ int fd =
	    openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return kiln_err_set(err, errno, "create snapshot marker `%s`", name);
	if (kiln_write_all(fd, rec, strlen(rec), err) < 0)
		return kiln_err_wrap(err, "write snapshot marker `%s`", name);
	return 0;
}

int img_snapshot_mark_complete(struct img_store *s, const char *hex,
                               const struct layer_tree_count *count, struct kiln_err *err)
{
	_cleanup_free_ char *tree = kiln_path_join(s->snapshots, hex);
	_cleanup_close_ int dfd = open(s->snapshots, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return kiln_err_set(err, errno, "open `%s`", s->snapshots);
	return write_marker(s, dfd, hex, tree, count, err);
}

int img_snapshot_publish(struct img_store *s, int dfd, const char *hex, const char *src,
                         const struct layer_tree_count *count, struct kiln_err *err)
{
	_cleanup_free_ char *tree = kiln_path_join(s->snapshots, hex);
	if (src && renameat(AT_FDCWD, src, dfd, hex) < 0)
		return kiln_err_set(err, errno, "rename `%s` into the snapshots", src);
	return write_marker(s, dfd, hex, tree, count, err);
}

int img_snapshot_verify(struct img_store *s, const char *hex, struct kiln_err *err)
{
	_cleanup_free_ char *name = done_name(hex);
	_cleanup_free_ char *p = kiln_path_join(s->snapshots, name);
	_cleanup_free_ char *tree = kiln_path_join(s->snapshots, hex);
	_cleanup_free_ char *rec = NULL;
	size_t len = 0;
	uint64_t want_e, want_b, entries, bytes;
	if (!kiln_path_exists(p)) {
		free(p);
		free(name);
		name = unsynced_name(hex);
		p = kiln_path_join(s->snapshots, name);
	}
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
	/* renamed in once verified: until its marker it counts as incomplete */
	unsigned flags = IMG_EXTRACT_OVERLAY_WHITEOUTS | IMG_EXTRACT_DEVICES | IMG_EXTRACT_NEW_;
	struct layer_tree_count count;
	if (img_layer_extract_verified(s, layer->digest, layer->diff_id, path, flags, &count, err) <
	    0)
		return -1;
	return img_snapshot_publish(s, dfd, hex, NULL, &count, err);
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

/* The snapshots dir and hex of dir when it is a snapshot tree
 * (.../snapshots/<hex>), else NULL. */
static char *snapshot_parts(const char *dir, const char **hex)
{
	const char *slash = strrchr(dir, '/');
	static const char parent[] = "/snapshots";
	size_t pl = sizeof(parent) - 1;
	if (!slash || !img_is_hex64(slash + 1) || (size_t)(slash - dir) < pl ||
	    memcmp(slash - pl, parent, pl) != 0)
		return NULL;
	*hex = slash + 1;
	return xstrndup(dir, (size_t)(slash - dir));
}

int img_snapshot_make_durable(struct img_store *s, char *const *dirs, struct kiln_err *err)
{
	struct img_snapshot_settle st;
	memset(&st, 0, sizeof(st));
	_cleanup_close_ int dfd = open(s->snapshots, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return kiln_err_set(err, errno, "open `%s`", s->snapshots);
	for (size_t i = 0; dirs && dirs[i]; i++) {
		const char *hex = NULL;
		_cleanup_free_ char *parent = snapshot_parts(dirs[i], &hex);
		if (!parent || strcmp(parent, s->snapshots) != 0 || durable_at(s->snapshots, hex))
			continue;
		/* a concurrent group commit may have settled it meanwhile */
		if (settle_one(s, dfd, hex, &st) < 0 && !durable_at(s->snapshots, hex)) {
			img_snapshot_settle_end(s, &st, false);
			return kiln_err_set(err, KILN_E_CORRUPT,
			                    "snapshot `%s` is not complete in this boot", hex);
		}
	}
	if (st.hex.n == 0)
		return 0; /* all durable already: no sync */
	bool synced = syncfs(dfd) == 0;
	int e = errno;
	img_snapshot_settle_end(s, &st, synced);
	if (!synced)
		return kiln_err_set(err, e, "sync the snapshots in `%s`", s->snapshots);
	return 0;
}

int img_snapshot_check_dirs(char *const *dirs, struct kiln_err *err)
{
	for (size_t i = 0; dirs && dirs[i]; i++) {
		const char *hex = NULL;
		_cleanup_free_ char *parent = snapshot_parts(dirs[i], &hex);
		if (!parent)
			continue;
		enum img_snap_state st = state_at(parent, hex);
		if (st == IMG_SNAP_COMPLETE)
			continue;
		return kiln_err_set(err, KILN_E_CORRUPT, "layer snapshot `%s` %s", hex,
		                    st == IMG_SNAP_NONE ? "is missing"
		                    : st == IMG_SNAP_OTHER_BOOT
		                        ? "was written in an earlier boot without a flush"
		                        : "is incomplete");
	}
	return 0;
}
