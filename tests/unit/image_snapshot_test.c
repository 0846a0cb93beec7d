/* Snapshots: completeness markers, removal through a trash name, redoing
 * an incomplete tree, what the check and repair see, unsynced markers
 * trusted in their own boot only, and a full disk while unpacking
 * reported as ENOSPC. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image.h"
#include "tap.h"

static void write_file(const char *path, size_t size, unsigned seed)
{
	FILE *f = fopen(path, "w");
	srand(seed);
	for (size_t i = 0; f && i < size; i++)
		fputc(rand() & 0xff, f);
	if (f)
		fclose(f);
}

static bool has_problem(struct img_store *s, const char *needle)
{
	struct kiln_strv probs = KILN_STRV_INIT;
	struct kiln_err err = KILN_ERR_INIT;
	img_store_fsck(s, &probs, &err);
	bool found = false;
	for (size_t i = 0; i < probs.n; i++)
		found |= strstr(probs.v[i], needle) != NULL;
	kiln_strv_release(&probs);
	kiln_err_release(&err);
	return found;
}

static bool lists_unsynced(struct img_store *s, const char *hex)
{
	struct kiln_strv v = KILN_STRV_INIT;
	img_store_unsynced_snapshots(s, &v);
	bool found = v.n == 1 && !strcmp(v.v[0], hex);
	kiln_strv_release(&v);
	return found;
}

/* Whether file (inside the snapshot tree) survives ensure: a trusted
 * snapshot is reused as it is, an untrusted one unpacked again. */
static bool ensure_keeps(struct img_store *s, const struct img_layer *l, const char *file)
{
	struct kiln_err err = KILN_ERR_INIT;
	kiln_write_file_atomic(file, "x", 1, 0600, NULL);
	char *path = NULL;
	bool ok = img_snapshot_ensure(s, l, &path, &err) == 0;
	bool kept = kiln_path_exists(file);
	unlink(file);
	free(path);
	kiln_err_release(&err);
	return ok && kept;
}

/* Whether a reader of boot reuses the snapshot and the check finds
 * nothing to say about it. */
static bool trusted_in(const char *boot, struct img_store *s, const struct img_layer *l,
                       const char *sentinel)
{
	setenv("KILN_TEST_BOOT_ID", boot, 1);
	bool ok = ensure_keeps(s, l, sentinel) && !has_problem(s, "snapshot");
	unsetenv("KILN_TEST_BOOT_ID");
	return ok;
}

/* The marker of a snapshot written without a sync names its boot: a
 * reader of another boot (KILN_TEST_BOOT_ID) unpacks it again, a reader
 * of the same boot reuses it; a torn marker is never trusted, the durable
 * marker of an earlier kiln always is. */
static void boot_case(struct img_store *s, const struct img_layer *l, const char *path)
{
	struct kiln_err err = KILN_ERR_INIT;
	const char *hex = kiln_digest_hex(l->diff_id);
	char *mark = xasprintf("%s.unsynced", path), *legacy = xasprintf("%s.complete", path);
	char *sentinel = kiln_path_join(path, "sentinel"), *rec = NULL;
	char *boot = NULL;
	kiln_read_file("/proc/sys/kernel/random/boot_id", 64, &boot, NULL, NULL);
	if (boot)
		boot[strcspn(boot, "\n")] = '\0';
	kiln_read_file(mark, 4096, &rec, NULL, NULL);
	T_OK(rec && boot && strstr(rec, boot) && strstr(rec, "entries="),
	     "the marker names this boot and records the tree: %s", rec ? rec : "(none)");
	free(rec);
	T_OK(ensure_keeps(s, l, sentinel), "this boot: the snapshot is reused");

	setenv("KILN_TEST_BOOT_ID", "another-boot", 1);
	T_OK(!has_problem(s, "snapshot") && lists_unsynced(s, hex),
	     "another boot: no problem for the check, listed as unsynced");
	T_OK(!ensure_keeps(s, l, sentinel), "another boot: ensure unpacks it again");
	rec = NULL;
	kiln_read_file(mark, 4096, &rec, NULL, NULL);
	T_OK(rec && strstr(rec, "boot=another-boot\n"), "... and marks it for that boot");
	free(rec);
	T_OK(ensure_keeps(s, l, sentinel) && !lists_unsynced(s, hex),
	     "... where it is reused from then on");
	unsetenv("KILN_TEST_BOOT_ID");

	T_OK(lists_unsynced(s, hex), "back in the real boot: the other boot's marker is listed");
	struct kiln_strv acts = KILN_STRV_INIT;
	T_OK(img_store_repair(s, &acts, &err) == 0 && !kiln_path_exists(path) &&
	         !kiln_path_exists(mark),
	     "repair removes a snapshot an earlier boot left unsynced: %s", err.msg ? err.msg : "");
	kiln_strv_release(&acts);
	char *p = NULL;
	T_OK(img_snapshot_ensure(s, l, &p, &err) == 0 && ensure_keeps(s, l, sentinel),
	     "unpacked again, trusted again");
	free(p);

	/* a marker a crash or kill left torn (empty, zeros, cut short) names
	 * no boot: incomplete, redone */
	static const char *const torn[] = {"", "\0\0\0\0", "kiln-snapshot entries=3 bytes=3 boot="};
	for (size_t i = 0; i < 3; i++) {
		kiln_write_file_atomic(mark, torn[i], i == 1 ? 4 : strlen(torn[i]), 0600, NULL);
		T_OK(has_problem(s, "incomplete snapshot") && !ensure_keeps(s, l, sentinel),
		     "torn marker %zu: incomplete, unpacked again", i);
	}
	/* the durable marker of an earlier kiln: trusted in any boot */
	unlink(mark);
	kiln_write_file_atomic(legacy, "", 0, 0600, NULL);
	T_OK(trusted_in("a-third-boot", s, l, sentinel),
	     "an earlier kiln's durable marker is trusted in any boot");
	free(boot);
	free(sentinel);
	free(legacy);
	free(mark);
	kiln_err_release(&err);
}

/* Whether the durable marker done records the tree (and names no boot)
 * and no unsynced marker mark is left beside it. */
static bool durable_only(const char *done, const char *mark)
{
	char *rec = NULL;
	kiln_read_file(done, 4096, &rec, NULL, NULL);
	bool ok =
	    rec && !kiln_path_exists(mark) && strstr(rec, "entries=") && !strstr(rec, "boot=");
	if (!ok)
		printf("# marker: %s\n", rec ? rec : "(none)");
	free(rec);
	return ok;
}

/* A build's group commit syncs the file system anyway: the snapshots
 * marked unsynced before that syncfs get durable markers after it, which
 * any boot trusts. Where the boot id cannot be read (KILN_TEST_BOOT_ID=
 * unknown, tests only), no unsynced marker could ever be trusted: the
 * snapshot is synced and marked durable at once, and reused from then on. */
static void durable_cases(struct img_store *s, const struct img_layer *l, const char *path)
{
	struct kiln_err err = KILN_ERR_INIT;
	char *mark = xasprintf("%s.unsynced", path), *done = xasprintf("%s.complete", path);
	char *sentinel = kiln_path_join(path, "sentinel"), *p = NULL;
	unlink(done);
	T_OK(img_snapshot_ensure(s, l, &p, &err) == 0 && kiln_path_exists(mark) &&
	         !kiln_path_exists(done),
	     "unpacked again: marked unsynced");
	free(p);
	img_store_batch_begin(s);
	char d[KILN_DIGEST_LEN];
	T_OK(img_store_put_blob(s, "queued", 6, d, &err) == 0 &&
	         img_store_batch_flush(s, &err) == 0,
	     "a group commit flushes a blob: %s", err.msg ? err.msg : "");
	img_store_batch_end(s, &err);
	T_OK(durable_only(done, mark), "... and makes the unsynced marker durable");
	T_OK(trusted_in("after-a-crash", s, l, sentinel),
	     "another boot trusts it and the check verifies it");

	unlink(done);
	setenv("KILN_TEST_BOOT_ID", "unknown", 1);
	p = NULL;
	T_OK(img_snapshot_ensure(s, l, &p, &err) == 0 && durable_only(done, mark),
	     "unknown boot: unpacked again, marked durable at once: %s", err.msg ? err.msg : "");
	T_OK(ensure_keeps(s, l, sentinel) && !has_problem(s, "snapshot"),
	     "... reused as it is, and the check verifies it");
	unsetenv("KILN_TEST_BOOT_ID");
	T_OK(trusted_in("another-boot", s, l, sentinel), "any boot trusts it");
	free(p);
	free(sentinel);
	free(done);
	free(mark);
	kiln_err_release(&err);
}

/* The lowers of a container that outlives kiln: made durable at create
 * (one syncfs; nothing when durable already); a start checks them and
 * refuses one another boot left unsynced, or one that is gone. */
static void lasting_case(struct img_store *s, const struct img_layer *l, const char *path)
{
	struct kiln_err err = KILN_ERR_INIT;
	char *mark = xasprintf("%s.unsynced", path), *done = xasprintf("%s.complete", path);
	char *p = NULL, *rec = NULL;
	char *dirs[] = {"/nowhere/init", (char *)path, NULL};
	unlink(done);
	T_OK(img_snapshot_ensure(s, l, &p, &err) == 0 && kiln_path_exists(mark), "unsynced again");
	free(p);
	T_OK(img_snapshot_make_durable(s, dirs, &err) == 0 && durable_only(done, mark),
	     "make_durable: the lower's marker becomes durable: %s", err.msg ? err.msg : "");
	T_OK(img_snapshot_make_durable(s, dirs, &err) == 0 && durable_only(done, mark),
	     "... and again: nothing to do");
	setenv("KILN_TEST_BOOT_ID", "after-a-crash", 1);
	T_OK(img_snapshot_check_dirs(dirs, &err) == 0, "another boot's start trusts it");
	kiln_read_file(done, 4096, &rec, NULL, NULL);
	char *old = xasprintf("%.*s boot=before-the-crash\n", (int)strcspn(rec ? rec : "", "\n"),
	                      rec ? rec : "");
	unlink(done);
	kiln_write_file_atomic(mark, old, strlen(old), 0600, NULL);
	T_OK(img_snapshot_check_dirs(dirs, &err) < 0 && err.msg &&
	         strstr(err.msg, "written in an earlier boot without a flush"),
	     "a lower an earlier boot left unsynced fails the start: %s", err.msg ? err.msg : "");
	kiln_err_release(&err);
	T_OK(img_snapshot_make_durable(s, dirs, &err) < 0 && !kiln_path_exists(done),
	     "... and is never made durable: %s", err.msg ? err.msg : "");
	kiln_err_release(&err);
	unsetenv("KILN_TEST_BOOT_ID");
	char *gone[] = {"/nowhere/snapshots/"
	                "0000000000000000000000000000000000000000000000000000000000000000",
	                NULL};
	T_OK(img_snapshot_check_dirs(gone, &err) < 0 && err.msg && strstr(err.msg, "is missing"),
	     "a missing lower fails the start: %s", err.msg ? err.msg : "");
	kiln_err_release(&err);
	p = NULL;
	T_OK(img_snapshot_ensure(s, l, &p, &err) == 0, "unpacked again");
	free(p);
	free(old);
	free(rec);
	free(done);
	free(mark);
	kiln_err_release(&err);
}

/* One tar entry: type, path, target (hardlink or symlink), size of a
 * regular file's content. */
struct tent {
	mode_t type;
	const char *path, *target;
	size_t size;
};

/* The snapshot of a layer made of ents: its marker must record what a
 * walk of the tree counts (the extraction counts as it goes; a layer that
 * replaces or removes what it made is walked). */
static void count_case(struct img_store *s, const char *what, const struct tent *ents, size_t n)
{
	size_t cap = 1 << 20, used = 0;
	char *tar = xmalloc(cap), data[3000];
	memset(data, 'd', sizeof(data));
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	archive_write_open_memory(a, tar, cap, &used);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, ents[i].path);
		archive_entry_set_mode(e, ents[i].type | 0644);
		if (ents[i].type == AE_IFLNK)
			archive_entry_set_symlink(e, ents[i].target);
		else if (ents[i].target)
			archive_entry_set_hardlink(e, ents[i].target);
		archive_entry_set_size(e, (la_int64_t)ents[i].size);
		archive_write_header(a, e);
		if (ents[i].size)
			archive_write_data(a, data, ents[i].size);
		archive_entry_free(e);
	}
	archive_write_close(a);
	archive_write_free(a);
	struct kiln_err err = KILN_ERR_INIT;
	struct img_layer l = {0};
	char d[KILN_DIGEST_LEN];
	char *path = NULL;
	T_OK(img_store_put_blob(s, tar, used, d, &err) == 0, "%s: a layer", what);
	snprintf(l.digest, sizeof(l.digest), "%s", d);
	snprintf(l.diff_id, sizeof(l.diff_id), "%s", d);
	T_OK(img_snapshot_ensure(s, &l, &path, &err) == 0 && !has_problem(s, "snapshot"),
	     "%s: the marker records what the tree holds: %s", what, err.msg ? err.msg : "");
	free(path);
	free(tar);
	kiln_err_release(&err);
}

static void count_cases(struct img_store *s)
{
	static const struct tent plain[] = {
	    {AE_IFDIR, "d", NULL, 0},           {AE_IFREG, "d/f", NULL, 3000},
	    {AE_IFREG, "x/y/z/deep", NULL, 10}, {AE_IFLNK, "d/sym", "f", 0},
	    {AE_IFREG, "d/hard", "d/f", 0},     {AE_IFIFO, "d/fifo", NULL, 0},
	    {AE_IFREG, "d/.wh.gone", NULL, 0},  {AE_IFREG, "x/.wh..wh..opq", NULL, 0},
	    {AE_IFREG, "empty", NULL, 0},       {AE_IFDIR, "x/y", NULL, 0},
	};
	count_case(s, "files, dirs made on the way, links, a fifo, whiteouts", plain,
	           KILN_ARRAY_SIZE(plain));
	static const struct tent replaced[] = {
	    {AE_IFREG, "a", NULL, 100},  {AE_IFREG, "a", NULL, 7},     {AE_IFDIR, "b", NULL, 0},
	    {AE_IFREG, "b/in", NULL, 5}, {AE_IFREG, ".wh.b", NULL, 0}, {AE_IFREG, "c", NULL, 1},
	    {AE_IFDIR, "c", NULL, 0},    {AE_IFREG, "h", "a", 0},
	};
	count_case(s, "a path written twice, a dir whited out, a file made a dir", replaced,
	           KILN_ARRAY_SIZE(replaced));
}

static void enospc_case(const char *base)
{
	if (geteuid() != 0) {
		printf("ok %d - # SKIP the ENOSPC case needs root (tmpfs)\n", ++tap_n);
		return;
	}
	char *mnt = kiln_path_join(base, "small");
	mkdir(mnt, 0700);
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=4m") < 0) {
		printf("ok %d - # SKIP cannot mount a tmpfs\n", ++tap_n);
		free(mnt);
		return;
	}
	struct kiln_err err = KILN_ERR_INIT;
	struct img_store *s = NULL;
	char *root = kiln_path_join(mnt, "root"), *src = kiln_path_join(base, "big");
	char *f = kiln_path_join(src, "r"), *fill = kiln_path_join(mnt, "fill");
	kiln_mkdir_p(src, 0755, NULL);
	write_file(f, 1500 * 1024, 7);
	struct img_layer_opts o = {.compression = IMG_COMPRESS_GZIP, .clamp_mtime = -1};
	struct img_layer l = {0};
	char *path = NULL;
	T_OK(img_store_open(root, &s, &err) == 0 && img_layer_create(s, src, &o, &l, &err) == 0,
	     "a 1.5 MB layer on a 4 MB file system");
	write_file(fill, 2200 * 1024, 8); /* leaves well under 1.5 MB */
	int r = img_snapshot_ensure(s, &l, &path, &err);
	T_OK(r < 0, "unpacking on a full disk fails: %s", err.msg ? err.msg : "(succeeded)");
	T_OK(err.code == ENOSPC, "unpacking on a full disk says ENOSPC (code %d)", err.code);
	char *snaps = kiln_path_join(root, "snapshots"), *tmpd = kiln_path_join(root, "tmp");
	char *cmd = xasprintf("test -z \"$(find %s %s -mindepth 1)\"", snaps, tmpd);
	T_OK(system(cmd) == 0, "the failure leaves no tree, marker or temp behind");
	free(cmd);
	free(snaps);
	free(tmpd);
	kiln_err_release(&err);
	unlink(fill);
	r = img_snapshot_ensure(s, &l, &path, &err);
	T_OK(r == 0, "with space again it works: %s", err.msg ? err.msg : "");
	kiln_err_release(&err);
	free(path);
	img_layer_release(&l);
	img_store_close(s);
	umount2(mnt, MNT_DETACH);
	kiln_rm_rf(src, NULL);
	free(root);
	free(src);
	free(f);
	free(fill);
	free(mnt);
}

int main(void)
{
	char tmpl[] = "/tmp/kiln-snap-test.XXXXXX";
	char *base = mkdtemp(tmpl);
	struct kiln_err err = KILN_ERR_INIT;
	struct img_store *s = NULL;
	char *root = kiln_path_join(base, "root"), *src = kiln_path_join(base, "src");
	char *f1 = kiln_path_join(src, "a"), *f2 = kiln_path_join(src, "b");
	kiln_mkdir_p(src, 0755, NULL);
	write_file(f1, 1000, 1);
	write_file(f2, 2000, 2);
	struct img_layer_opts o = {.compression = IMG_COMPRESS_NONE, .clamp_mtime = -1};
	struct img_layer l = {0};
	T_OK(img_store_open(root, &s, &err) == 0 && img_layer_create(s, src, &o, &l, &err) == 0,
	     "a layer");
	char *path = NULL;
	T_OK(img_snapshot_ensure(s, &l, &path, &err) == 0, "ensure unpacks it");
	char *done = xasprintf("%s.unsynced", path), *inside = kiln_path_join(path, "b");
	T_OK(kiln_path_exists(done), "the snapshot carries its completeness marker");
	T_OK(!has_problem(s, "snapshot"), "check: nothing to say about a complete snapshot");

	/* part of a complete tree deleted by hand: the marker records what
	 * the tree held, so the check sees it and repair drops it */
	unlink(inside);
	T_OK(has_problem(s, "damaged snapshot"), "check reports a complete tree changed since");
	struct kiln_strv fixed = KILN_STRV_INIT;
	T_OK(img_store_repair(s, &fixed, &err) == 0 && !kiln_path_exists(done) &&
	         !kiln_path_exists(path),
	     "repair removes the damaged snapshot: %s", err.msg ? err.msg : "");
	kiln_strv_release(&fixed);
	free(path);
	T_OK(img_snapshot_ensure(s, &l, &path, &err) == 0 && kiln_path_exists(inside) &&
	         !has_problem(s, "snapshot"),
	     "the next use unpacks it again");

	/* what an interrupted removal of an earlier kiln left: a partial tree
	 * under the final name, no marker */
	unlink(done);
	unlink(inside);
	T_OK(has_problem(s, "incomplete snapshot"), "check reports the incomplete snapshot");
	free(path);
	T_OK(img_snapshot_ensure(s, &l, &path, &err) == 0 && kiln_path_exists(inside) &&
	         kiln_path_exists(done),
	     "ensure redoes an incomplete snapshot instead of reusing it");

	/* a kill between the rename to trash and the deletion */
	char *trash = xasprintf("%s/snapshots/.trash-%s", root, kiln_digest_hex(l.diff_id));
	T_OK(rename(path, trash) == 0 && unlink(done) == 0, "simulate a killed removal");
	T_OK(!has_problem(s, "snapshot"), "leftover trash is no inconsistency: no live name");
	struct kiln_strv acts = KILN_STRV_INIT;
	T_OK(img_store_repair(s, &acts, &err) == 0 && !kiln_path_exists(trash),
	     "repair removes the trash");
	kiln_strv_release(&acts);
	T_OK(!has_problem(s, "snapshot"), "check is clean again");

	/* gc removes a dead snapshot through the trash: nothing under the
	 * final name, no marker, no trash */
	free(path);
	T_OK(img_snapshot_ensure(s, &l, &path, &err) == 0, "unpack again");
	struct img_gc_result gr;
	T_OK(img_store_gc(s, 0, &gr, &err) == 0 && gr.snapshots_removed == 1,
	     "gc removes the unreferenced snapshot");
	T_OK(!kiln_path_exists(path) && !kiln_path_exists(done) && !kiln_path_exists(trash),
	     "no tree, marker or trash left");
	/* a marker whose tree is gone */
	T_OK(kiln_write_file_atomic(done, "", 0, 0600, NULL) == 0 &&
	         has_problem(s, "without its tree"),
	     "check reports a marker without its tree");
	T_OK(img_store_gc(s, 0, &gr, &err) == 0 && !kiln_path_exists(done),
	     "gc removes the stray marker");

	/* a snapshot unpacked as its blob streams in (pull) is complete too:
	 * no marker would make the next use throw it away and unpack again */
	img_layer_release(&l); /* gc took its blob too */
	T_OK(img_layer_create(s, src, &o, &l, &err) == 0, "the layer again");
	char *blob = img_store_blob_path(s, l.digest);
	int bfd = open(blob, O_RDONLY | O_CLOEXEC);
	T_OK(bfd >= 0 && img_snapshot_from_fd(s, &l, bfd, &err) == 0 && kiln_path_exists(path),
	     "unpack from a stream: %s", err.msg ? err.msg : "");
	T_OK(kiln_path_exists(done), "a snapshot unpacked from a stream carries its marker");
	T_OK(!has_problem(s, "snapshot"), "check: nothing to say about it");
	if (bfd >= 0)
		close(bfd);
	free(blob);
	boot_case(s, &l, path);
	durable_cases(s, &l, path);
	lasting_case(s, &l, path);
	count_cases(s);

	free(path);
	free(trash);
	free(done);
	free(inside);
	img_layer_release(&l);
	img_store_close(s);
	enospc_case(base);
	kiln_rm_rf(base, NULL);
	free(root);
	free(src);
	free(f1);
	free(f2);
	return tap_done();
}
