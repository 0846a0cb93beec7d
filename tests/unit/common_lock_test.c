/* common/: kiln_lock_file_removable, the lock of something that is
 * removed together with its lock file (a RUN --mount=type=cache dir): a
 * waiter that opened the file before it was removed must not end up
 * holding a lock on the removed file while a newcomer locks the new one. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "tap.h"

struct waiter {
	const char *path;
	int fd;
	struct kiln_err err;
};

static void *take(void *arg)
{
	struct waiter *w = arg;
	w->fd = kiln_lock_file_removable(w->path, LOCK_EX, NULL, &w->err);
	return NULL;
}

/* True once /proc/locks shows a process blocked on the file ino (a line
 * "N: -> FLOCK ADVISORY WRITE PID MAJ:MIN:INO 0 EOF"). */
static bool has_waiter(ino_t ino)
{
	FILE *f = fopen("/proc/locks", "re");
	if (!f)
		return false;
	char line[256], want[64];
	snprintf(want, sizeof(want), ":%lu ", (unsigned long)ino);
	bool found = false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, "->") && strstr(line, want);
	fclose(f);
	return found;
}

static bool same_file(int fd, const char *path)
{
	struct stat a, b;
	return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino &&
	       a.st_dev == b.st_dev && a.st_nlink > 0;
}

/* The remover holds the lock, a waiter blocks on the same file, the
 * remover unlinks it and lets go: the waiter's lock is on the file the
 * path names now, which excludes a newcomer. */
static void test_removed_while_waiting(const char *dir)
{
	struct kiln_err err = KILN_ERR_INIT;
	char *path = kiln_path_join(dir, "c.lock");
	int held = kiln_lock_file_removable(path, LOCK_EX, NULL, &err);
	T_OK(held >= 0, "the remover takes the lock");
	struct stat st;
	fstat(held, &st);
	struct waiter w = {.path = path, .fd = -1, .err = KILN_ERR_INIT};
	pthread_t t;
	pthread_create(&t, NULL, take, &w);
	/* a condition, not a delay: the waiter is blocked in flock */
	bool blocked = false;
	for (int i = 0; i < 20000 && !(blocked = has_waiter(st.st_ino)); i++)
		usleep(1000);
	T_OK(blocked, "the waiter blocks on the held lock");
	T_OK(unlink(path) == 0, "the remover unlinks the lock file while holding it");
	close(held);
	pthread_join(t, NULL);
	T_OK(w.fd >= 0, "the waiter gets a lock");
	T_OK(w.fd >= 0 && same_file(w.fd, path), "the waiter's lock is on the file the path names");
	int other = open(path, O_RDWR | O_CLOEXEC);
	T_OK(other >= 0 && flock(other, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK,
	     "a newcomer's lock on the path is excluded by the waiter's");
	if (other >= 0)
		close(other);
	if (w.fd >= 0)
		close(w.fd);
	kiln_err_release(&w.err);
	free(path);
}

static void test_busy(const char *dir)
{
	struct kiln_err err = KILN_ERR_INIT;
	char *path = kiln_path_join(dir, "b.lock");
	int sh = kiln_lock_file_removable(path, LOCK_SH, NULL, &err);
	T_OK(sh >= 0, "a shared lock");
	bool busy = false;
	int fd = kiln_lock_file_removable(path, LOCK_EX | LOCK_NB, &busy, &err);
	T_OK(fd < 0 && busy && !err.msg, "LOCK_NB on a held lock: busy, no error");
	int sh2 = kiln_lock_file_removable(path, LOCK_SH | LOCK_NB, &busy, &err);
	T_OK(sh2 >= 0 && !busy, "a second shared lock is not busy");
	close(sh);
	close(sh2);
	fd = kiln_lock_file_removable(path, LOCK_EX | LOCK_NB, &busy, &err);
	T_OK(fd >= 0 && !busy, "free again once both let go");
	close(fd);
	char *missing = kiln_path_join(dir, "no/such/dir.lock");
	T_OK(kiln_lock_file_removable(missing, LOCK_EX, NULL, &err) < 0 && err.code == ENOENT,
	     "a lock in a missing directory is an error");
	kiln_err_release(&err);
	free(missing);
	free(path);
}

int main(void)
{
	const char *t = getenv("KILN_TEST_TMP") ? getenv("KILN_TEST_TMP") : "/tmp";
	kiln_mkdir_p(t, 0755, NULL);
	char *tmpl = xasprintf("%s/locktest.XXXXXX", t);
	char *dir = mkdtemp(tmpl);
	if (!dir)
		tap_skip_all("mkdtemp failed");
	test_removed_while_waiting(dir);
	test_busy(dir);
	struct kiln_err err = KILN_ERR_INIT;
	kiln_rm_rf(dir, &err);
	kiln_err_release(&err);
	free(tmpl);
	return tap_done();
}
