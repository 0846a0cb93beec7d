/* The store handle keeps its shared ROOT/store.lock after a garbage
 * collection that could not take the lock exclusively: a failed flock
 * conversion drops the old lock on Linux, and a writer that went on using
 * its handle would then be unprotected against another process's gc. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
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
	kiln_rm_rf(root, NULL);
	return tap_done();
}
