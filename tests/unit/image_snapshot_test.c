/* Snapshots: completeness markers, removal through a trash name, redoing
 * an incomplete tree, what the check and repair see, and a full disk while
 * unpacking reported as ENOSPC. */
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
	char *done = xasprintf("%s.complete", path), *inside = kiln_path_join(path, "b");
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
