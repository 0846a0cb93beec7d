/* Extracting docker cp's tar streams: libarchive reads, every entry is
 * created with *at() calls on a parent opened with RESOLVE_IN_ROOT (the
 * destination directory is the root: an absolute symlink in it, a "..",
 * a symlink planted by the container meanwhile all stay inside), and
 * ownership, modes and times are set through fds of the new inode or
 * without following links. As docker's untar: parents are made as
 * needed, an existing non-directory is replaced, a directory never is
 * (nor becomes one), directory times are set last. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cp-internal.h"

static int proc_dir = -1; /* the host's /proc (a worker), -1: "/proc" */

void rt_cp_set_proc(int proc_dirfd)
{
	proc_dir = proc_dirfd;
}

int rt_cp_fd_link(int fd, char path[64])
{
	snprintf(path, 64, "%sself/fd/%d", proc_dir < 0 ? "/proc/" : "", fd);
	return proc_dir < 0 ? AT_FDCWD : proc_dir;
}

int rt_cp_open_in(int dirfd, const char *path, int flags)
{
	return kiln_open_in_root(dirfd, path, flags);
}

struct dir_time {
	char *rel;
	struct timespec mtime;
};

struct extractor {
	const struct rt_cp_dest *d;
	struct archive *a;
	struct dir_time *dirs;
	size_t n_dirs, cap_dirs;
};

/* The entry's name rebased and cleaned, relative to the root ("." for
 * the root itself); NULL when it would leave it. */
static char *entry_rel(const struct rt_cp_dest *d, const char *name)
{
	_cleanup_free_ char *n = NULL;
	const char *from = d->rebase_from;
	size_t fl = from ? strlen(from) : 0;
	if (from && !strcmp(from, "/") && name[0] == '/')
		n = xasprintf("%s/%s", d->rebase_to, name + 1);
	else if (from && !strncmp(name, from, fl) && (name[fl] == 0 || name[fl] == '/'))
		n = xasprintf("%s%s", d->rebase_to, name + fl);
	else
		n = xstrdup(name);
	_cleanup_free_ char *c = rt_go_clean(n);
	const char *r = c;
	while (*r == '/')
		r++;
	if (!strcmp(r, "..") || !strncmp(r, "../", 3))
		return NULL;
	return xstrdup(*r ? r : ".");
}

/* The parent of rel, made if missing (0755, as docker's MkdirAll). */
static int open_parent(int root, const char *rel, struct kiln_err *err)
{
	_cleanup_free_ char *dir = rt_go_dir(rel);
	int fd = rt_cp_open_in(root, dir, O_PATH | O_DIRECTORY);
	if (fd >= 0 || errno != ENOENT)
		return fd >= 0 ? fd : kiln_err_set(err, errno, "resolving `%s`", dir);
	int cur = rt_cp_open_in(root, "/", O_PATH | O_DIRECTORY);
	char *save = NULL;
	for (char *c = strtok_r(dir, "/", &save); c && cur >= 0; c = strtok_r(NULL, "/", &save)) {
		if (mkdirat(cur, c, 0755) < 0 && errno != EEXIST) {
			kiln_err_set(err, errno, "creating the parents of `%s`", rel);
			close(cur);
			return -1;
		}
		int next = rt_cp_open_in(cur, c, O_PATH | O_DIRECTORY);
		close(cur);
		cur = next;
	}
	if (cur < 0)
		return kiln_err_set(err, errno, "resolving the parent of `%s`", rel);
	return cur;
}

/* docker's NoOverwriteDirNonDir, then the old entry removed unless both
 * are directories. */
static int make_room(int pfd, const char *base, const char *rel, bool is_dir, bool *exists,
                     struct kiln_err *err)
{
	struct stat st;
	*exists = false;
	if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : kiln_err_set(err, errno, "lstat `%s`", rel);
	if (S_ISDIR(st.st_mode) && !is_dir)
		return kiln_err_set(err, KILN_E_CONFLICT,
		                    "cannot overwrite directory \"/%s\" with non-directory", rel);
	if (!S_ISDIR(st.st_mode) && is_dir)
		return kiln_err_set(err, KILN_E_CONFLICT,
		                    "cannot overwrite non-directory \"/%s\" with directory", rel);
	if (is_dir) {
		*exists = true;
		return 0;
	}
	if (unlinkat(pfd, base, 0) < 0)
		return kiln_err_set(err, errno, "replacing `%s`", rel);
	return 0;
}

static void owner_of(const struct rt_cp_dest *d, struct archive_entry *e, uid_t *u, gid_t *g)
{
	*u = d->force_owner ? d->uid : (uid_t)archive_entry_uid(e);
	*g = d->force_owner ? d->gid : (gid_t)archive_entry_gid(e);
}

/* Owner, then mode (a chown clears set-id bits), then times, on fd. */
static int fd_meta(struct extractor *x, int fd, struct archive_entry *e, const char *rel,
                   bool times, struct kiln_err *err)
{
	uid_t u;
	gid_t g;
	owner_of(x->d, e, &u, &g);
	if ((x->d->chown || x->d->force_owner) && fchown(fd, u, g) < 0)
		return kiln_err_set(err, errno, "chown `%s`", rel);
	if (fchmod(fd, archive_entry_perm(e)) < 0)
		return kiln_err_set(err, errno, "chmod `%s`", rel);
	struct timespec ts[2] = {{archive_entry_mtime(e), archive_entry_mtime_nsec(e)},
	                         {archive_entry_mtime(e), archive_entry_mtime_nsec(e)}};
	if (times && futimens(fd, ts) < 0)
		return kiln_err_set(err, errno, "setting the times of `%s`", rel);
	return 0;
}

static int extract_file(struct extractor *x, int pfd, const char *base, const char *rel,
                        struct archive_entry *e, struct kiln_err *err)
{
	_cleanup_close_ int fd =
	    openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return kiln_err_set(err, errno, "creating `%s`", rel);
	int r = archive_read_data_into_fd(x->a, fd);
	if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
		return kiln_err_set(err, archive_errno(x->a) > 0 ? archive_errno(x->a) : 0,
		                    "writing `%s`: %s", rel, archive_error_string(x->a));
	return fd_meta(x, fd, e, rel, true, err);
}

static int extract_dir(struct extractor *x, int pfd, const char *base, const char *rel, bool exists,
                       struct archive_entry *e, struct kiln_err *err)
{
	if (!exists && mkdirat(pfd, base, 0700) < 0)
		return kiln_err_set(err, errno, "creating `%s`", rel);
	_cleanup_close_ int fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return kiln_err_set(err, errno, "opening `%s`", rel);
	KILN_GROW(x->dirs, x->cap_dirs, x->n_dirs + 1);
	x->dirs[x->n_dirs++] = (struct dir_time){
	    .rel = xstrdup(rel), .mtime = {archive_entry_mtime(e), archive_entry_mtime_nsec(e)}};
	return fd_meta(x, fd, e, rel, false, err);
}

static int extract_hardlink(struct extractor *x, int pfd, const char *base, const char *rel,
                            const char *target, struct kiln_err *err)
{
	_cleanup_free_ char *trel = entry_rel(x->d, target);
	if (!trel)
		return kiln_err_set(err, KILN_E_INVALID, "hardlink `%s` points outside: `%s`", rel,
		                    target);
	_cleanup_close_ int tfd = rt_cp_open_in(x->d->dirfd, trel, O_PATH | O_NOFOLLOW);
	if (tfd < 0)
		return kiln_err_set(err, errno, "hardlink `%s` to `%s`", rel, target);
	char proc[64];
	int procdir = rt_cp_fd_link(tfd, proc);
	if (linkat(procdir, proc, pfd, base, AT_SYMLINK_FOLLOW) < 0)
		return kiln_err_set(err, errno, "hardlink `%s` to `%s`", rel, target);
	return 0;
}

/* Symlinks, devices, fifos: made, then owned and timed without following. */
static int extract_special(struct extractor *x, int pfd, const char *base, const char *rel,
                           struct archive_entry *e, struct kiln_err *err)
{
	mode_t type = archive_entry_filetype(e);
	int r;
	if (type == AE_IFLNK) {
		r = symlinkat(archive_entry_symlink(e), pfd, base);
	} else {
		mode_t old = umask(0);
		r = mknodat(pfd, base, type | archive_entry_perm(e), archive_entry_rdev(e));
		umask(old);
	}
	if (r < 0)
		return kiln_err_set(err, errno, "creating `%s`", rel);
	uid_t u;
	gid_t g;
	owner_of(x->d, e, &u, &g);
	if ((x->d->chown || x->d->force_owner) &&
	    fchownat(pfd, base, u, g, AT_SYMLINK_NOFOLLOW) < 0)
		return kiln_err_set(err, errno, "chown `%s`", rel);
	struct timespec ts[2] = {{archive_entry_mtime(e), archive_entry_mtime_nsec(e)},
	                         {archive_entry_mtime(e), archive_entry_mtime_nsec(e)}};
	if (utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return kiln_err_set(err, errno, "setting the times of `%s`", rel);
	return 0;
}

static int extract_entry(struct extractor *x, struct archive_entry *e, struct kiln_err *err)
{
	const char *name = archive_entry_pathname(e);
	_cleanup_free_ char *rel = entry_rel(x->d, name ? name : "");
	if (!rel)
		return kiln_err_set(err, KILN_E_INVALID, "\"%s\" is outside of the destination",
		                    name);
	mode_t type = archive_entry_filetype(e);
	const char *hard = archive_entry_hardlink(e);
	bool is_dir = type == AE_IFDIR && !hard;
	if (type == AE_IFSOCK)
		return 0;
	if (!strcmp(rel, ".")) /* the destination itself: left as it is (docker's untar) */
		return is_dir ? 0
		              : kiln_err_set(err, KILN_E_CONFLICT,
		                             "cannot overwrite directory \"/\" with non-directory");
	_cleanup_close_ int pfd = open_parent(x->d->dirfd, rel, err);
	if (pfd < 0)
		return -1;
	_cleanup_free_ char *base = rt_go_base(rel);
	bool exists;
	if (make_room(pfd, base, rel, is_dir, &exists, err) < 0)
		return -1;
	if (hard)
		return extract_hardlink(x, pfd, base, rel, hard, err);
	if (is_dir)
		return extract_dir(x, pfd, base, rel, exists, e, err);
	if (type == AE_IFREG)
		return extract_file(x, pfd, base, rel, e, err);
	return extract_special(x, pfd, base, rel, e, err);
}

static void set_dir_times(struct extractor *x)
{
	for (size_t i = x->n_dirs; i-- > 0;) {
		struct dir_time *t = &x->dirs[i];
		int fd = rt_cp_open_in(x->d->dirfd, t->rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
		if (fd >= 0) {
			struct timespec ts[2] = {t->mtime, t->mtime};
			futimens(fd, ts);
			close(fd);
		}
		free(t->rel);
	}
	free(x->dirs);
}

int rt_cp_extract(const struct rt_cp_dest *d, int in_fd, struct kiln_err *err)
{
	struct extractor x = {.d = d, .a = archive_read_new()};
	archive_read_support_filter_all(x.a);
	archive_read_support_format_tar(x.a);
	archive_read_support_format_gnutar(x.a);
	int r = 0;
	if (archive_read_open_fd(x.a, in_fd, 128 * 1024) != ARCHIVE_OK)
		r = kiln_err_set(err, KILN_E_INVALID, "reading the archive: %s",
		                 archive_error_string(x.a));
	struct archive_entry *e;
	while (r == 0) {
		int h = archive_read_next_header(x.a, &e);
		if (h == ARCHIVE_EOF)
			break;
		if (h != ARCHIVE_OK && h != ARCHIVE_WARN) {
			r = kiln_err_set(err, KILN_E_INVALID, "reading the archive: %s",
			                 archive_error_string(x.a));
			break;
		}
		r = extract_entry(&x, e, err);
	}
	set_dir_times(&x);
	archive_read_free(x.a);
	return r;
}
