/* The store handle keeps its shared ROOT/store.lock after a garbage
 * collection that could not take the lock exclusively: a failed flock
 * conversion drops the old lock on Linux, and a writer that went on using
 * its handle would then be unprotected against another process's gc.
 * And the durable-write temps a killed build left are swept only under
 * that exclusive lock. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image.h"
#include "tap.h"

/* Whether some handle holds ROOT/store.lock (shared or exclusive). */
static bool store_locked(const char *root)
{
	_cleanup_free_ char *p = xasprintf("%s/store.lock", root);
	_cleanup_close_ int fd = open(p, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return false;
	return flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
}

static void put(const char *root, const char *rel)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", root, rel);
	kiln_write_file_atomic(p, "x\n", 2, 0600, NULL);
}

static bool exists(const char *root, const char *rel)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", root, rel);
	return access(p, F_OK) == 0;
}

/* The temps img_store_write_durable leaves beside its targets when a build
 * is killed (`.NAME.tmp-*` in ROOT/gc-roots and the registered durable
 * dirs) are listed and swept only under the exclusive store lock: while
 * another handle holds the store open they may be a running build's
 * pending records, so nothing lists or removes them. */
static void durable_temps(const char *root)
{
	struct kiln_err err = KILN_ERR_INIT;
	struct img_store *a = NULL, *b = NULL;
	T_OK(img_store_open(root, &a, &err) == 0, "open a");
	T_OK(img_store_open(root, &b, &err) == 0, "open b");
	img_store_add_durable_dir(b, "cache/records");
	_cleanup_free_ char *rec = xasprintf("%s/cache/records", root);
	_cleanup_free_ char *gcr = xasprintf("%s/gc-roots", root);
	kiln_mkdir_p(rec, 0755, NULL);
	kiln_mkdir_p(gcr, 0755, NULL);
	put(root, "gc-roots/.cache-k.tmp-AbC123");
	put(root, "cache/records/.k.tmp-AbC123");
	put(root, "cache/records/k");
	put(root, "cache/records/.hidden");
	_cleanup_free_ char *dir = xasprintf("%s/cache/records/.d.tmp-x", root);
	mkdir(dir, 0755);

	struct kiln_strv left = KILN_STRV_INIT;
	T_OK(img_store_leftover_temps(b, &left) == 0 && left.n == 0,
	     "nothing listed while another handle holds the store");
	struct img_gc_result res;
	T_OK(img_store_gc(b, IMG_GC_TRY, &res, &err) < 0, "gc skips the busy store");
	kiln_err_release(&err);
	T_OK(exists(root, "gc-roots/.cache-k.tmp-AbC123") &&
	         exists(root, "cache/records/.k.tmp-AbC123"),
	     "a live handle's pending temps are kept");

	img_store_close(a);
	T_OK(img_store_leftover_temps(b, &left) == 2, "alone: both leftovers listed");
	T_OK(left.n == 2 && !strcmp(left.v[0], "gc-roots/.cache-k.tmp-AbC123") &&
	         !strcmp(left.v[1], "cache/records/.k.tmp-AbC123"),
	     "named relative to the root");
	kiln_strv_release(&left);
	T_OK(img_store_gc(b, 0, &res, &err) == 0, "gc runs alone");
	T_OK(res.temps_removed >= 2, "and counts the temps it removed");
	T_OK(!exists(root, "gc-roots/.cache-k.tmp-AbC123") &&
	         !exists(root, "cache/records/.k.tmp-AbC123"),
	     "the leftovers are gone");
	T_OK(exists(root, "cache/records/k") && exists(root, "cache/records/.hidden") &&
	         exists(root, "cache/records/.d.tmp-x"),
	     "records, other dot-files and directories are kept");
	T_OK(img_store_leftover_temps(b, &left) == 0, "nothing left to list");
	kiln_strv_release(&left);
	img_store_close(b);
}

int main(void)
{
	const char *base = getenv("KILN_TEST_TMP") ? getenv("KILN_TEST_TMP") : "/tmp";
	_cleanup_free_ char *root = xasprintf("%s/gclock.XXXXXX", base);
	kiln_mkdir_p(base, 0755, NULL);
	if (!mkdtemp(root))
		tap_skip_all("mkdtemp failed");
	struct kiln_err err = KILN_ERR_INIT;
	struct img_store *a = NULL, *b = NULL;
	T_OK(img_store_open(root, &a, &err) == 0, "open a");
	T_OK(img_store_open(root, &b, &err) == 0, "open b");
	struct img_gc_result res;
	T_OK(img_store_gc(b, IMG_GC_TRY, &res, &err) < 0 && err.code == KILN_E_CONFLICT,
	     "gc fails while another handle is open");
	kiln_err_release(&err);
	img_store_close(a);
	T_OK(store_locked(root), "the failed gc's handle still holds the store lock");
	T_OK(img_store_gc(b, 0, &res, &err) == 0, "gc runs once alone");
	T_OK(store_locked(root), "and returns to the shared lock");
	img_store_close(b);
	T_OK(!store_locked(root), "closed handles hold nothing");
	durable_temps(root);
	kiln_rm_rf(root, NULL);
	return tap_done();
}
