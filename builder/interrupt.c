/* A build stopped by SIGINT, SIGTERM, SIGHUP or SIGQUIT outside a RUN (the
 * container run of a RUN catches them itself: runtime/launch.c) removes
 * its scratch dirs before it dies: this build's ROOT/tmp/build-*, the
 * run-step-* dir of a step being prepared or committed (secrets are never
 * in a dir: memfds, run_mounts.c).
 * bld_scratch_mkdir registers a dir before it makes it and
 * bld_scratch_remove forgets it only once it is gone, so no moment of a
 * step leaves one behind (SIGKILL aside: `builder prune` and `system check
 * --repair` sweep run-step-* under the exclusive store lock).
 * The handler makes async-signal-safe calls only (open, getdents64,
 * unlinkat, close), then hands the signal to the handler that was there
 * before (common's temp-file registry unlinks its files and re-raises). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build-internal.h"

#define MAX_DIRS 32
static char dirs[MAX_DIRS][PATH_MAX];
static volatile sig_atomic_t used[MAX_DIRS];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
static struct sigaction old[KILN_ARRAY_SIZE(sigs)];
static bool installed[KILN_ARRAY_SIZE(sigs)];
static int users;

/* rm -rf of name under dirfd with syscalls only; depth-bounded. 0 when it
 * is gone. */
static int remove_at(int dirfd, const char *name, int depth)
{
	if (unlinkat(dirfd, name, 0) == 0 || depth > 64)
		return depth > 64 ? -1 : 0;
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	char buf[2048];
	for (bool progress = true; progress;) {
		progress = false; /* a pass that removes nothing ends it */
		lseek(fd, 0, SEEK_SET);
		ssize_t n;
		while ((n = getdents64(fd, buf, sizeof(buf))) > 0) {
			for (ssize_t off = 0; off < n;) {
				struct dirent64 *d = (struct dirent64 *)(buf + off);
				off += d->d_reclen;
				if (strcmp(d->d_name, ".") && strcmp(d->d_name, "..") &&
				    remove_at(fd, d->d_name, depth + 1) == 0)
					progress = true;
			}
		}
	}
	close(fd);
	return unlinkat(dirfd, name, AT_REMOVEDIR);
}

/* ROOT/tmp and "extract-<pid>-": the snapshots this process is unpacking
 * (image/extract.c) are removed too. */
static char sweep_dir[PATH_MAX], sweep_prefix[64];
static volatile sig_atomic_t sweep_set;

static void sweep_prefixed(void)
{
	int fd = open(sweep_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	char buf[2048];
	size_t pl = strlen(sweep_prefix);
	ssize_t n;
	while ((n = getdents64(fd, buf, sizeof(buf))) > 0)
		for (ssize_t off = 0; off < n;) {
			struct dirent64 *d = (struct dirent64 *)(buf + off);
			off += d->d_reclen;
			if (!strncmp(d->d_name, sweep_prefix, pl))
				remove_at(fd, d->d_name, 0);
		}
	close(fd);
}

void bld_scratch_sweep_own(const char *tmpdir)
{
	pthread_mutex_lock(&mu);
	if (!sweep_set && strlen(tmpdir) < sizeof(sweep_dir)) {
		memcpy(sweep_dir, tmpdir, strlen(tmpdir) + 1);
		snprintf(sweep_prefix, sizeof(sweep_prefix), "%s%ld-", IMG_EXTRACT_PREFIX,
		         (long)getpid());
		sweep_set = 1;
	}
	pthread_mutex_unlock(&mu);
}

static void on_signal(int sig)
{
	for (int i = 0; i < MAX_DIRS; i++)
		if (used[i])
			remove_at(AT_FDCWD, dirs[i], 0);
	if (sweep_set)
		sweep_prefixed();
	for (size_t i = 0; i < KILN_ARRAY_SIZE(sigs); i++) {
		if (sigs[i] != sig)
			continue;
		if (old[i].sa_handler != SIG_DFL && old[i].sa_handler != SIG_IGN &&
		    !(old[i].sa_flags & SA_SIGINFO)) {
			old[i].sa_handler(sig);
			return;
		}
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

void bld_interrupt_begin(void)
{
	pthread_mutex_lock(&mu);
	if (users++ == 0) {
		/* the temp-file registry's hooks go in first, so that ours
		 * chain to them instead of being replaced when a temp file is
		 * registered later */
		kiln_tempfile_register("/nonexistent/kiln-hook");
		kiln_tempfile_forget("/nonexistent/kiln-hook");
		for (size_t i = 0; i < KILN_ARRAY_SIZE(sigs); i++) {
			struct sigaction sa = {.sa_handler = on_signal};
			sigemptyset(&sa.sa_mask);
			installed[i] = sigaction(sigs[i], NULL, &old[i]) == 0 &&
			               old[i].sa_handler != SIG_IGN &&
			               sigaction(sigs[i], &sa, NULL) == 0;
		}
	}
	pthread_mutex_unlock(&mu);
}

void bld_interrupt_end(void)
{
	pthread_mutex_lock(&mu);
	if (--users == 0) {
		for (size_t i = 0; i < KILN_ARRAY_SIZE(sigs); i++)
			if (installed[i])
				sigaction(sigs[i], &old[i], NULL);
		sweep_set = 0;
	}
	pthread_mutex_unlock(&mu);
}

int bld_scratch_add(const char *path)
{
	if (!path || strlen(path) >= PATH_MAX)
		return -1;
	pthread_mutex_lock(&mu);
	int slot = -1;
	for (int i = 0; i < MAX_DIRS && slot < 0; i++)
		if (!used[i]) {
			memcpy(dirs[i], path, strlen(path) + 1);
			used[i] = 1;
			slot = i;
		}
	pthread_mutex_unlock(&mu);
	return slot; /* full: the next build's sweep removes it */
}

void bld_scratch_forget(int slot)
{
	if (slot >= 0 && slot < MAX_DIRS)
		used[slot] = 0;
}

char *bld_scratch_mkdir(const char *parent, const char *prefix, int *slot, struct kiln_err *err)
{
	for (int tries = 0; tries < 16; tries++) {
		uint64_t rnd;
		if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
			kiln_err_set(err, errno, "random name for a scratch dir");
			return NULL;
		}
		char *path = xasprintf("%s/%s-%016" PRIx64, parent, prefix, rnd);
		*slot = bld_scratch_add(path); /* first: a signal from here on removes it */
		if (mkdir(path, 0700) == 0) {
			bld_test_stop(prefix);
			return path;
		}
		int e = errno;
		bld_scratch_forget(*slot);
		free(path);
		if (e != EEXIST) {
			kiln_err_set(err, e, "creating a scratch dir under `%s`", parent);
			return NULL;
		}
	}
	kiln_err_set(err, EEXIST, "creating a scratch dir under `%s`", parent);
	return NULL;
}

void bld_scratch_remove(const char *path, int slot)
{
	struct kiln_err e = KILN_ERR_INIT;
	if (kiln_rm_rf(path, &e) < 0)
		kiln_debug("%s", e.msg);
	kiln_err_release(&e);
	bld_scratch_forget(slot); /* after: a signal meanwhile finishes the removal */
}

void bld_test_stop(const char *point)
{
	const char *want = getenv("KILN_TEST_STOP");
	if (want && !strcmp(want, point))
		raise(SIGSTOP);
}
