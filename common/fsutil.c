#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"
#include "xalloc.h"

int kiln_read_fd(int fd, size_t max, const char *what, char **data, size_t *len,
                 struct kiln_err *err)
{
	size_t cap = max < 4096 ? max : 4096, n = 0;
	char *buf = xmalloc(cap + 1);
	for (;;) {
		if (n == cap && cap < max) {
			cap = cap > max / 2 ? max : cap * 2;
			buf = xrealloc(buf, cap + 1);
		}
		char probe;
		/* At the limit, one more byte decides between "done" and "too big". */
		char *dst = n < cap ? buf + n : &probe;
		ssize_t r = read(fd, dst, n < cap ? cap - n : 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			free(buf);
			return kiln_err_set(err, errno, "read %s", what);
		}
		if (r == 0)
			break;
		if (dst == &probe) {
			free(buf);
			return kiln_err_set(err, KILN_E_LIMIT,
			                    "%s is larger than the limit of %zu bytes", what, max);
		}
		n += (size_t)r;
	}
	buf[n] = '\0';
	*data = buf;
	if (len)
		*len = n;
	return 0;
}

int kiln_read_file(const char *path, size_t max, char **data, size_t *len, struct kiln_err *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kiln_err_set(err, errno, "open `%s`", path);
	_cleanup_free_ char *what = xasprintf("`%s`", path);
	return kiln_read_fd(fd, max, what, data, len, err);
}

int kiln_write_all(int fd, const void *buf, size_t len, struct kiln_err *err)
{
	const char *p = buf;
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return kiln_err_set(err, errno, "write");
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int kiln_fsync_dir(const char *dir, struct kiln_err *err)
{
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return kiln_err_set(err, errno, "open directory `%s`", dir);
	if (fsync(fd) < 0 && errno != EINVAL)
		return kiln_err_set(err, errno, "fsync directory `%s`", dir);
	return 0;
}

static char *dir_of(const char *path)
{
	_cleanup_free_ char *copy = xstrdup(path);
	return xstrdup(dirname(copy));
}

int kiln_tempfile_create(const char *dir, const char *prefix, char **path_out, struct kiln_err *err)
{
	char *tmpl = xasprintf("%s/%sXXXXXX", dir, prefix);
	int fd = mkostemp(tmpl, O_CLOEXEC);
	if (fd < 0) {
		kiln_err_set(err, errno, "create temporary file in `%s`", dir);
		free(tmpl);
		return -1;
	}
	kiln_tempfile_register(tmpl);
	*path_out = tmpl;
	return fd;
}

static int write_replace(const char *path, const void *data, size_t len, mode_t mode, bool sync,
                         struct kiln_err *err)
{
	_cleanup_free_ char *dir = dir_of(path);
	_cleanup_free_ char *base = xstrdup(path + strlen(dir) + (strcmp(dir, "/") ? 1 : 0));
	_cleanup_free_ char *prefix = xasprintf(".%s.tmp-", base);
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int fd = kiln_tempfile_create(dir, prefix, &tmp, err);
	if (fd < 0)
		return -1;
	int failed = kiln_write_all(fd, data, len, err) < 0;
	if (!failed && (fchmod(fd, mode) < 0 || (sync && fsync(fd) < 0)))
		failed = kiln_err_set(err, errno, "write `%s`", tmp) < 0;
	if (failed) {
		unlink(tmp);
		kiln_tempfile_forget(tmp);
		return kiln_err_wrap(err, "writing `%s`", path);
	}
	if (rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		kiln_tempfile_forget(tmp);
		return kiln_err_set(err, e, "rename `%s` to `%s`", tmp, path);
	}
	kiln_tempfile_forget(tmp);
	return sync ? kiln_fsync_dir(dir, err) : 0;
}

int kiln_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                           struct kiln_err *err)
{
	return write_replace(path, data, len, mode, true, err);
}

int kiln_write_file_replace(const char *path, const void *data, size_t len, mode_t mode,
                            struct kiln_err *err)
{
	return write_replace(path, data, len, mode, false, err);
}

int kiln_mkdir_p(const char *path, mode_t mode, struct kiln_err *err)
{
	_cleanup_free_ char *p = xstrdup(path);
	size_t len = strlen(p);
	for (size_t i = 1; i <= len; i++) {
		if (p[i] != '/' && p[i] != '\0')
			continue;
		char saved = p[i];
		p[i] = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return kiln_err_set(err, errno, "mkdir `%s`", p);
		p[i] = saved;
	}
	struct stat st;
	if (stat(path, &st) < 0)
		return kiln_err_set(err, errno, "stat `%s`", path);
	if (!S_ISDIR(st.st_mode))
		return kiln_err_set(err, ENOTDIR, "mkdir `%s`", path);
	return 0;
}

/* One level of the descent: the directory's name in its parent and its
 * identity, to check that ".." leads back where we came from. */
struct rm_level {
	char *name;
	dev_t dev;
	ino_t ino;
};

/* The filesystem and mount a removal must stay on: same-filesystem bind
 * mounts share st_dev, so the mount ID (statx) decides where available. */
struct rm_where {
	dev_t dev;
	uint64_t mnt_id;
	bool has_mnt_id;
};

static bool rm_same_mount(int fd, const struct stat *st, const struct rm_where *w)
{
	if (st->st_dev != w->dev)
		return false;
	struct statx stx;
	if (!w->has_mnt_id || statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) < 0 ||
	    !(stx.stx_mask & STATX_MNT_ID))
		return true;
	return stx.stx_mnt_id == w->mnt_id;
}

/* Opens the directory `name` under dirfd for removal (no symlink, same
 * mount as w), making it writable and searchable for us. */
static int rm_open_dir(int dirfd_, const char *name, const struct rm_where *w, struct stat *st,
                       struct kiln_err *err)
{
	int fd = openat(dirfd_, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return kiln_err_set(err, errno, "open `%s`", name);
	if (fstat(fd, st) < 0) {
		int e = errno;
		close(fd);
		return kiln_err_set(err, e, "stat `%s`", name);
	}
	if (w && !rm_same_mount(fd, st, w)) {
		close(fd);
		return kiln_err_set(err, EBUSY, "`%s` is a mount point", name);
	}
	if ((st->st_mode & 0700) != 0700)
		fchmod(fd, st->st_mode | 0700);
	return fd;
}

/* Empties the directory open as fd of everything but subdirectories and
 * returns the name of one subdirectory (allocated), or NULL when it is
 * empty; -1 in *failed on error. */
static char *rm_clear_files(int fd, int *failed, struct kiln_err *err)
{
	int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	DIR *d = dup_fd < 0 ? NULL : fdopendir(dup_fd);
	if (!d) {
		if (dup_fd >= 0)
			close(dup_fd);
		*failed = kiln_err_set(err, errno, "opendir");
		return NULL;
	}
	rewinddir(d);
	char *subdir = NULL;
	struct dirent *de;
	while (!subdir && (errno = 0, de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		struct stat st;
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;
			*failed = kiln_err_set(err, errno, "stat `%s`", de->d_name);
			break;
		}
		if (S_ISDIR(st.st_mode))
			subdir = xstrdup(de->d_name);
		else if (unlinkat(fd, de->d_name, 0) < 0 && errno != ENOENT) {
			*failed = kiln_err_set(err, errno, "unlink `%s`", de->d_name);
			break;
		}
	}
	if (!subdir && !*failed && errno)
		*failed = kiln_err_set(err, errno, "readdir");
	closedir(d);
	if (*failed) {
		free(subdir);
		return NULL;
	}
	return subdir;
}

/* Depth-first without recursion and with one directory open at a time, so
 * neither the stack nor the fd limit bounds the depth of a tree (a hostile
 * layer may nest thousands of levels). */
int kiln_rm_rf_at(int parent, const char *name, struct kiln_err *err)
{
	struct stat st;
	if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : kiln_err_set(err, errno, "stat `%s`", name);
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(parent, name, 0) < 0 && errno != ENOENT)
			return kiln_err_set(err, errno, "unlink `%s`", name);
		return 0;
	}
	int fd = rm_open_dir(parent, name, NULL, &st, err);
	if (fd < 0)
		return kiln_err_wrap(err, "removing `%s`", name);
	struct rm_where where = {.dev = st.st_dev};
	struct statx stx;
	if (statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) == 0 &&
	    (stx.stx_mask & STATX_MNT_ID)) {
		where.mnt_id = stx.stx_mnt_id;
		where.has_mnt_id = true;
	}
	struct rm_level *stack = NULL;
	size_t depth = 0, cap = 0;
	int failed = 0;
	for (;;) {
		char *sub = rm_clear_files(fd, &failed, err);
		if (failed)
			break;
		if (sub) {
			struct stat cst;
			int child = rm_open_dir(fd, sub, &where, &cst, err);
			if (child < 0) {
				free(sub);
				failed = -1;
				break;
			}
			KILN_GROW(stack, cap, depth + 1);
			stack[depth++] = (struct rm_level){sub, cst.st_dev, cst.st_ino};
			close(fd);
			fd = child;
			continue;
		}
		if (depth == 0)
			break;
		/* Back up one level and remove the directory just emptied. */
		struct rm_level done = stack[--depth];
		int up = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		struct stat ust;
		dev_t want_dev = depth ? stack[depth - 1].dev : st.st_dev;
		ino_t want_ino = depth ? stack[depth - 1].ino : st.st_ino;
		if (up < 0 || fstat(up, &ust) < 0 || ust.st_dev != want_dev ||
		    ust.st_ino != want_ino) {
			failed = kiln_err_set(err, up < 0 ? errno : ESTALE,
			                      "`%s` moved while it was being removed", done.name);
			if (up >= 0)
				close(up);
			free(done.name);
			break;
		}
		close(fd);
		fd = up;
		if (unlinkat(fd, done.name, AT_REMOVEDIR) < 0 && errno != ENOENT) {
			failed = kiln_err_set(err, errno, "rmdir `%s`", done.name);
			free(done.name);
			break;
		}
		free(done.name);
	}
	close(fd);
	for (size_t i = 0; i < depth; i++)
		free(stack[i].name);
	free(stack);
	if (failed)
		return kiln_err_wrap(err, "removing `%s`", name);
	if (unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return kiln_err_set(err, errno, "rmdir `%s`", name);
	return 0;
}

int kiln_rm_rf(const char *path, struct kiln_err *err)
{
	return kiln_rm_rf_at(AT_FDCWD, path, err);
}

int kiln_lock_file(const char *path, bool exclusive, struct kiln_err *err)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return kiln_err_set(err, errno, "open lock `%s`", path);
	while (flock(fd, exclusive ? LOCK_EX : LOCK_SH) < 0) {
		if (errno == EINTR)
			continue;
		int e = errno;
		close(fd);
		return kiln_err_set(err, e, "lock `%s`", path);
	}
	return fd;
}

/* *named: whether fd is the file path names now (not one unlinked or replaced). */
static int lock_still_named(int fd, const char *path, bool *named, struct kiln_err *err)
{
	struct stat a, b;
	if (fstat(fd, &a) < 0)
		return kiln_err_set(err, errno, "stat lock `%s`", path);
	if (stat(path, &b) < 0) {
		*named = false;
		return errno == ENOENT ? 0 : kiln_err_set(err, errno, "stat lock `%s`", path);
	}
	*named = a.st_dev == b.st_dev && a.st_ino == b.st_ino;
	return 0;
}

int kiln_lock_file_removable(const char *path, int how, bool *busy, struct kiln_err *err)
{
	if (busy)
		*busy = false;
	for (;;) {
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0)
			return kiln_err_set(err, errno, "open lock `%s`", path);
		int r;
		while ((r = flock(fd, how)) < 0 && errno == EINTR)
			;
		if (r < 0) {
			int e = errno;
			close(fd);
			if (e == EWOULDBLOCK && (how & LOCK_NB) && busy) {
				*busy = true;
				return -1;
			}
			return kiln_err_set(err, e, "lock `%s`", path);
		}
		bool named = false;
		if (lock_still_named(fd, path, &named, err) < 0) {
			close(fd);
			return -1;
		}
		if (named)
			return fd;
		close(fd); /* removed while this waited for it: lock the one there now */
	}
}

bool kiln_path_exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

char *kiln_path_join(const char *a, const char *b)
{
	size_t la = strlen(a);
	while (la > 1 && a[la - 1] == '/')
		la--;
	while (*b == '/')
		b++;
	if (!*b)
		return xstrndup(a, la);
	if (la == 1 && a[0] == '/')
		return xasprintf("/%s", b);
	return xasprintf("%.*s/%s", (int)la, a, b);
}

/* --- temp-file registry ------------------------------------------------- */

#define KILN_MAX_TEMPFILES 256
static char *volatile tempfiles[KILN_MAX_TEMPFILES];
static int tempfile_hooks_installed;
/* Threads (the builder's stages) register and forget concurrently; the
 * signal handler only reads the slots. */
static pthread_mutex_t tempfile_mu = PTHREAD_MUTEX_INITIALIZER;

static void tempfile_cleanup_all(void)
{
	for (int i = 0; i < KILN_MAX_TEMPFILES; i++) {
		char *p = tempfiles[i];
		if (p) {
			unlink(p);
			tempfiles[i] = NULL;
			free(p);
		}
	}
}

static void tempfile_on_signal(int sig)
{
	for (int i = 0; i < KILN_MAX_TEMPFILES; i++) {
		char *p = tempfiles[i];
		if (p)
			unlink(p); /* async-signal-safe; no free here */
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static void tempfile_install_hooks(void)
{
	if (tempfile_hooks_installed)
		return;
	tempfile_hooks_installed = 1;
	atexit(tempfile_cleanup_all);
	int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE};
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		struct sigaction sa, old;
		if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
			continue;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = tempfile_on_signal;
		sigemptyset(&sa.sa_mask);
		sigaction(sigs[i], &sa, NULL);
	}
}

void kiln_tempfile_register(const char *path)
{
	pthread_mutex_lock(&tempfile_mu);
	tempfile_install_hooks();
	for (int i = 0; i < KILN_MAX_TEMPFILES; i++) {
		if (!tempfiles[i]) {
			tempfiles[i] = xstrdup(path);
			pthread_mutex_unlock(&tempfile_mu);
			return;
		}
	}
	/* Table full: the file is still swept by the next store cleanup. */
	pthread_mutex_unlock(&tempfile_mu);
}

void kiln_tempfile_forget(const char *path)
{
	pthread_mutex_lock(&tempfile_mu);
	for (int i = 0; i < KILN_MAX_TEMPFILES; i++) {
		char *p = tempfiles[i];
		if (p && strcmp(p, path) == 0) {
			tempfiles[i] = NULL;
			free(p);
			pthread_mutex_unlock(&tempfile_mu);
			return;
		}
	}
	pthread_mutex_unlock(&tempfile_mu);
}

int kiln_openat2(int dirfd, const char *path, int flags, uint64_t resolve)
{
	struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC), .resolve = resolve};
	int fd;
	do
		fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
	while (fd < 0 && errno == EAGAIN);
	return fd;
}

int kiln_open_in_root(int rootfd, const char *path, int flags)
{
	return kiln_openat2(rootfd, path, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
}
