/* docker cp's tar streams, through libarchive: a path made into a tar by a
 * walk that holds directory fds and never follows a symlink, and a tar
 * extracted with every path resolved inside the destination (openat2
 * RESOLVE_IN_ROOT), so neither a symlink in a container nor a hostile
 * archive reaches outside. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cp-internal.h"

#define CP_MAX_DEPTH 4096 /* recursion, not fds: Linux paths stop near 2,000 levels */
#define CP_FD_LEVELS                                                                               \
	64 /* directory fds held open at most; deeper, a parent is                                 \
	    * closed while its child is walked, then reopened */

static uint64_t mount_id(int dirfd, const char *name)
{
	struct statx sx;
	if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH, STATX_MNT_ID, &sx) < 0)
		return 0;
	return sx.stx_mnt_id;
}

/* --- writing ------------------------------------------------------------------ */
struct tar_writer {
	struct archive *a;
	const struct rt_cp_src *src;
	struct {
		dev_t dev;
		ino_t ino;
		char *name;
	} * links;
	size_t n_links, cap_links;
	char *buf; /* CP_BUF bytes */
};
#define CP_BUF (128 * 1024)

static int ar_fail(struct archive *a, struct kiln_err *err, const char *what, const char *name)
{
	const char *m = archive_error_string(a);
	return kiln_err_set(err, archive_errno(a) > 0 ? archive_errno(a) : 0, "%s `%s`%s%s", what,
	                    name, m ? ": " : "", m ? m : "");
}

static const char *hardlink_seen(struct tar_writer *w, const struct stat *st, const char *name)
{
	if (S_ISDIR(st->st_mode) || st->st_nlink < 2)
		return NULL;
	for (size_t i = 0; i < w->n_links; i++)
		if (w->links[i].dev == st->st_dev && w->links[i].ino == st->st_ino)
			return w->links[i].name;
	KILN_GROW(w->links, w->cap_links, w->n_links + 1);
	w->links[w->n_links].dev = st->st_dev;
	w->links[w->n_links].ino = st->st_ino;
	w->links[w->n_links++].name = xstrdup(name);
	return NULL;
}

/* Copies exactly st_size bytes (zeros if the file shrank meanwhile). */
static int write_data(struct tar_writer *w, int dirfd, const char *name, const struct stat *st,
                      const char *shown, struct kiln_err *err)
{
	/* O_PATH first: a device or fifo swapped in since the lstat is never
	 * opened (a driver's open runs for the host, outside the container's
	 * device cgroup); the checked inode is then reopened for reading */
	_cleanup_close_ int pfd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	struct stat now;
	if (pfd < 0 || fstat(pfd, &now) < 0)
		return kiln_err_set(err, errno, "reading `%s`", shown);
	if (!S_ISREG(now.st_mode) || now.st_ino != st->st_ino || now.st_dev != st->st_dev)
		return kiln_err_set(err, KILN_E_CONFLICT, "`%s` changed while it was copied",
		                    shown);
	char proc[64];
	int procdir = rt_cp_fd_link(pfd, proc);
	_cleanup_close_ int fd = openat(procdir, proc, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return kiln_err_set(err, errno, "reading `%s`", shown);
	char *buf = w->buf;
	for (off_t left = st->st_size; left > 0;) {
		size_t want = left < (off_t)CP_BUF ? (size_t)left : CP_BUF;
		ssize_t r = read(fd, buf, want);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return kiln_err_set(err, errno, "reading `%s`", shown);
		if (r == 0) {
			memset(buf, 0, want);
			r = (ssize_t)want;
		}
		if (archive_write_data(w->a, buf, (size_t)r) != r)
			return ar_fail(w->a, err, "writing", shown);
		left -= r;
	}
	return 0;
}

static int write_entry(struct tar_writer *w, int dirfd, const char *name, const char *arcname,
                       struct stat *st, struct kiln_err *err)
{
	struct archive_entry *e = archive_entry_new();
	char *dirname = S_ISDIR(st->st_mode) && strcmp(arcname, "/") ? xasprintf("%s/", arcname)
	                                                             : xstrdup(arcname);
	archive_entry_set_pathname(e, dirname);
	archive_entry_set_uid(e, st->st_uid);
	archive_entry_set_gid(e, st->st_gid);
	archive_entry_set_mtime(e, st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
	archive_entry_set_mode(e, st->st_mode);
	const char *link = hardlink_seen(w, st, arcname);
	/* on the heap: walk recurses once per level (2,000 deep and more), and
	 * this frame is inlined into it */
	_cleanup_free_ char *target = NULL;
	int r = 0;
	if (link) {
		archive_entry_set_hardlink(e, link);
		archive_entry_set_size(e, 0);
	} else if (S_ISLNK(st->st_mode)) {
		target = xmalloc(PATH_MAX);
		ssize_t n = readlinkat(dirfd, name, target, PATH_MAX - 1);
		if (n < 0)
			r = kiln_err_set(err, errno, "reading the link `%s`", arcname);
		else
			target[n] = 0, archive_entry_set_symlink(e, target);
	} else if (S_ISREG(st->st_mode)) {
		archive_entry_set_size(e, st->st_size);
	} else if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) {
		archive_entry_set_rdev(e, st->st_rdev);
	}
	/* ARCHIVE_WARN: a name libarchive could not turn into UTF-8 in this
	 * locale, written as its bytes (pax hdrcharset=BINARY) as docker cp
	 * writes it */
	int hr = r == 0 ? archive_write_header(w->a, e) : ARCHIVE_OK;
	if (hr != ARCHIVE_OK && hr != ARCHIVE_WARN)
		r = ar_fail(w->a, err, "writing", arcname);
	if (r == 0 && !link && S_ISREG(st->st_mode) && st->st_size > 0)
		r = write_data(w, dirfd, name, st, arcname, err);
	archive_entry_free(e);
	free(dirname);
	return r;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_mount_target(const struct rt_spec *s, const char *path)
{
	for (size_t i = 0; s && i < s->n_mounts; i++) {
		_cleanup_free_ char *t = rt_go_clean(s->mounts[i].target);
		if (!strcmp(t, path))
			return true;
	}
	return false;
}

static int walk(struct tar_writer *w, int *dirfd, const struct stat *dir_st, const char *name,
                const char *arcname, const char *ctr_path, int depth, struct kiln_err *err);

/* fd's entries in name order; fd may be closed and reopened meanwhile
 * (by a child past CP_FD_LEVELS). */
static int walk_children(struct tar_writer *w, int *fd, const struct stat *st, const char *arcname,
                         const char *ctr_path, int depth, struct kiln_err *err)
{
	int dfd = dup(*fd);
	DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return kiln_err_set(err, errno, "listing `%s`", arcname);
	}
	struct kiln_strv names = KILN_STRV_INIT;
	for (struct dirent *e; (e = readdir(d));)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			kiln_strv_push(&names, e->d_name);
	closedir(d);
	if (names.n > 1)
		qsort(names.v, names.n, sizeof(char *), cmp_names);
	int r = 0;
	for (size_t i = 0; r == 0 && i < names.n; i++) {
		_cleanup_free_ char *an = !strcmp(arcname, "/")
		                              ? xasprintf("/%s", names.v[i])
		                              : xasprintf("%s/%s", arcname, names.v[i]);
		_cleanup_free_ char *cp = ctr_path ? rt_go_join(ctr_path, names.v[i]) : NULL;
		r = walk(w, fd, st, names.v[i], an, cp, depth + 1, err);
	}
	kiln_strv_release(&names);
	return r;
}

/* The parent again, through "..": it must be the directory it was. */
static int reopen_parent(int fd, const struct stat *want, const char *arcname, struct kiln_err *err)
{
	int p = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (p >= 0 && fstat(p, &st) == 0 && st.st_dev == want->st_dev && st.st_ino == want->st_ino)
		return p;
	if (p >= 0)
		close(p);
	return kiln_err_set(err, KILN_E_CONFLICT, "the parent of `%s` moved while it was copied",
	                    arcname);
}

/* One entry of *dirfd (whose stat is dir_st; NULL at the top), then its
 * children. */
static int walk(struct tar_writer *w, int *dirfd, const struct stat *dir_st, const char *name,
                const char *arcname, const char *ctr_path, int depth, struct kiln_err *err)
{
	struct stat st;
	if (fstatat(*dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT && depth > 0
		           ? 0 /* gone meanwhile */
		           : kiln_err_set(err, errno, "lstat `%s`", arcname);
	if (depth > CP_MAX_DEPTH)
		return kiln_err_set(err, KILN_E_LIMIT, "`%s`: more than %d levels", arcname,
		                    CP_MAX_DEPTH);
	if (write_entry(w, *dirfd, name, arcname, &st, err) < 0)
		return -1;
	if (!S_ISDIR(st.st_mode))
		return 0;
	_cleanup_close_ int fd =
	    openat(*dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return kiln_err_set(err, errno, "opening `%s`", arcname);
	/* another mount inside a container: only its volumes are copied */
	if (w->src->mounts && depth > 0 && mount_id(fd, "") != mount_id(*dirfd, "") &&
	    !is_mount_target(w->src->mounts, ctr_path))
		return 0;
	bool release = depth > CP_FD_LEVELS && dir_st; /* never the caller's fd */
	if (release) {
		close(*dirfd);
		*dirfd = -1;
	}
	int r = walk_children(w, &fd, &st, arcname, ctr_path, depth, err);
	if (release && r == 0 && (*dirfd = reopen_parent(fd, dir_st, arcname, err)) < 0)
		r = -1;
	return r;
}

int rt_cp_tar_write(const struct rt_cp_src *s, int out_fd, struct kiln_err *err)
{
	struct tar_writer w = {.a = archive_write_new(), .src = s, .buf = xmalloc(CP_BUF)};
	archive_write_set_format_pax_restricted(w.a);
	archive_write_set_bytes_in_last_block(w.a, 1);
	int r = archive_write_open_fd(w.a, out_fd) == ARCHIVE_OK
	            ? 0
	            : ar_fail(w.a, err, "writing the archive of", s->top);
	if (r == 0)
		r = walk(&w, &(int){s->dirfd}, NULL, s->name, s->top, s->ctr_path, 0, err);
	if (r == 0 && archive_write_close(w.a) != ARCHIVE_OK)
		r = ar_fail(w.a, err, "writing the archive of", s->top);
	archive_write_free(w.a);
	for (size_t i = 0; i < w.n_links; i++)
		free(w.links[i].name);
	free(w.links);
	free(w.buf);
	return r;
}
