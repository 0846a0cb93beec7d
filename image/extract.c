/* Secure layer extraction (rules in image.h). Every path is resolved with
 * openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) from an fd of the target,
 * then the last component is created or replaced with *at() calls on that
 * parent fd, never following it.
 *
 * On hostile input (tests: image_layer_test, image_extract_test):
 * - `..` in a name or hardlink target, `.wh..`, `.wh.`: refused, naming the
 *   entry; symlinks met as parents (whiteouts included) resolve inside the
 *   target, or the entry is refused when they lead nowhere inside.
 * - setuid/setgid bits and security.capability are kept (images need
 *   them); trusted.overlay.* and user.overlay.* are never applied; devices
 *   only with IMG_EXTRACT_DEVICES.
 * - a sparse entry stays sparse (a 1 TiB file costs its data blocks only);
 *   data is streamed, so a decompression bomb is bounded by the disk, not
 *   memory, and by KILN_LAYER_MAX_SIZE / KILN_LAYER_MAX_RATIO (layer_limits).
 *   xz streams may ask liblzma for a dictionary of up to 1.5 GiB.
 * - memory grows with the number of entries (the paths this layer created,
 *   for opaque whiteouts; directory modes applied last): ~100 bytes each.
 * - a new target is built in a temp dir and renamed in only once the blob
 *   digest and diffID are verified; a failure removes the temp dir. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "layer-internal.h"
#include "store-internal.h"

/* --- extraction state -------------------------------------------------- */
struct dir_meta {
	char *rel;
	mode_t mode;
	int64_t mtime;
	long mtime_ns;
};

struct xtract {
	int rootfd;
	unsigned flags;
	bool is_root;
	uid_t euid;
	gid_t egid;
	bool plain_ids; /* a new target whose files get euid/egid when created */
	mode_t umask;   /* the process's, read at the start; (mode_t)-1 unknown */
	struct layer_pset created;
	char *cached_rel; /* parent dir cache */
	int cached_fd;
	bool cache_stale;              /* something was removed: re-resolve before reuse */
	struct layer_tree_count count; /* what was made (valid: nothing removed) */
	struct dir_meta *dirs;
	size_t n_dirs, cap_dirs;
	char *buf;
};

int img_path_norm(const char *base, const char *p, bool fold, size_t max, char **out,
                  struct kiln_err *err)
{
	const char *name = p;
	struct kiln_buf b;
	kiln_buf_init(&b, max, "layer entry name");
	if (base && *p != '/' && kiln_buf_addstr(&b, base, err) < 0)
		goto fail;
	while (*p) {
		while (*p == '/')
			p++;
		const char *end = strchrnul(p, '/');
		size_t n = (size_t)(end - p);
		if (n == 2 && !memcmp(p, "..", 2)) {
			if (!fold) {
				kiln_err_set(err, KILN_E_INVALID,
				             "layer entry `%s` escapes the root", name);
				goto fail;
			}
			char *sl = b.len ? memrchr(b.data, '/', b.len) : NULL;
			b.len = sl ? (size_t)(sl - b.data) : 0;
		} else if (n && !(n == 1 && *p == '.')) {
			if ((b.len && kiln_buf_addch(&b, '/', err) < 0) ||
			    kiln_buf_add(&b, p, n, err) < 0)
				goto fail;
		}
		p = end;
	}
	if (b.data)
		b.data[b.len] = '\0';
	*out = kiln_buf_detach(&b, NULL);
	return 0;
fail:
	kiln_buf_release(&b);
	return -1;
}

static int open_in_root(int rootfd, const char *rel, int oflags)
{
	return kiln_open_in_root(rootfd, *rel ? rel : ".", oflags);
}

static void cache_drop(struct xtract *x)
{
	free(x->cached_rel);
	x->cached_rel = NULL;
	if (x->cached_fd >= 0)
		close(x->cached_fd);
	x->cached_fd = -1;
}

/* Opens the directory rel (inside the root), creating missing components
 * with mode 0755. Returns an fd owned by the cache (do not close). */
static int open_dir(struct xtract *x, const char *rel, const char *entry, struct kiln_err *err)
{
	if (x->cache_stale) {
		cache_drop(x);
		x->cache_stale = false;
	}
	if (x->cached_rel && !strcmp(x->cached_rel, rel))
		return x->cached_fd;
	int fd = open_in_root(x->rootfd, rel, O_RDONLY | O_DIRECTORY);
	if (fd < 0 && errno == ENOENT && *rel) {
		/* create the missing chain, one component at a time */
		_cleanup_free_ char *p = xstrdup(rel);
		for (char *c = p;; c++) {
			bool last = !*c;
			if (*c != '/' && !last)
				continue;
			*c = '\0';
			char *slash = strrchr(p, '/');
			const char *base = slash ? slash + 1 : p;
			int pfd = slash ? (*slash = '\0',
			                   open_in_root(x->rootfd, p, O_RDONLY | O_DIRECTORY))
			                : dup(x->rootfd);
			if (slash)
				*slash = '/';
			if (pfd < 0)
				return kiln_err_set(err, errno, "parent of layer entry `%s`",
				                    entry);
			if (mkdirat(pfd, base, 0755) == 0) {
				x->count.entries++;
			} else if (errno != EEXIST) {
				int e = errno;
				close(pfd);
				return kiln_err_set(
				    err, e, "create directory `%s` for layer entry `%s`", p, entry);
			}
			close(pfd);
			if (last)
				break;
			*c = '/';
		}
		fd = open_in_root(x->rootfd, rel, O_RDONLY | O_DIRECTORY);
	}
	if (fd < 0)
		return kiln_err_set(err, errno, "parent directory `%s` of layer entry `%s`", rel,
		                    entry);
	cache_drop(x);
	x->cached_rel = xstrdup(rel);
	x->cached_fd = fd;
	return fd;
}

/* Removes whatever is at name (a tree for a directory). */
static int remove_at(struct xtract *x, int pfd, const char *name, struct kiln_err *err)
{
	struct stat st;
	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : kiln_err_set(err, errno, "stat `%s`", name);
	x->count.valid = false; /* what was counted changes: the walk counts */
	if (S_ISDIR(st.st_mode)) {
		x->cache_stale = true; /* pfd stays open until the next entry */
		return kiln_rm_rf_at(pfd, name, err);
	}
	if (unlinkat(pfd, name, 0) < 0 && errno != ENOENT)
		return kiln_err_set(err, errno, "remove `%s`", name);
	return 0;
}

static bool xattr_allowed(const char *name)
{
	return strncmp(name, "trusted.overlay.", 16) != 0 && strncmp(name, "user.overlay.", 13);
}

static void set_xattrs(int fd, struct archive_entry *e)
{
	const char *name;
	const void *val;
	size_t len;
	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &name, &val, &len) == ARCHIVE_OK)
		if (xattr_allowed(name) && fsetxattr(fd, name, val, len, 0) < 0)
			kiln_debug("xattr `%s` not set: %s", name, strerror(errno));
}

static int set_owner(struct xtract *x, int pfd, const char *name, struct archive_entry *e,
                     struct kiln_err *err)
{
	if (!x->is_root)
		return 0;
	if (fchownat(pfd, name, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e),
	             AT_SYMLINK_NOFOLLOW) < 0)
		return kiln_err_set(err, errno, "chown `%s`", archive_entry_pathname(e));
	return 0;
}

static void set_mtime(int pfd, const char *name, int64_t sec, long nsec)
{
	struct timespec ts[2] = {{sec, nsec}, {sec, nsec}};
	utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW);
}

static int write_data(struct archive *a, int fd, struct archive_entry *e, struct kiln_err *err)
{
	const void *blk;
	size_t n;
	la_int64_t off;
	int64_t end = 0; /* past the last byte written */
	int r;
	while ((r = archive_read_data_block(a, &blk, &n, &off)) == ARCHIVE_OK) {
		/* a short write is not an error yet: the next call says why
		 * (ENOSPC, EDQUOT...), where errno would still hold an old one */
		for (size_t done = 0; done < n;) {
			ssize_t w =
			    pwrite(fd, (const char *)blk + done, n - done, off + (off_t)done);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return kiln_err_set(err, errno, "write `%s`",
				                    archive_entry_pathname(e));
			if (w == 0)
				return kiln_err_set(err, EIO, "write `%s`",
				                    archive_entry_pathname(e));
			done += (size_t)w;
		}
		if (n && off + (int64_t)n > end)
			end = off + (int64_t)n;
	}
	if (r != ARCHIVE_EOF)
		return kiln_err_set(err, KILN_E_CORRUPT, "layer entry `%s`: %s",
		                    archive_entry_pathname(e), archive_error_string(a));
	/* a new file is empty: only a hole at its end needs the size set */
	if (end < archive_entry_size(e) && ftruncate(fd, archive_entry_size(e)) < 0)
		return kiln_err_set(err, errno, "truncate `%s`", archive_entry_pathname(e));
	return 0;
}

/* The umask, read without changing it (umask(2) would, for every thread). */
static mode_t read_umask(void)
{
	_cleanup_free_ char *st = NULL;
	if (kiln_read_file("/proc/self/status", 1u << 16, &st, NULL, NULL) < 0)
		return (mode_t)-1;
	const char *u = strstr(st, "\nUmask:");
	char *end;
	unsigned long v = u ? strtoul(u + 8, &end, 8) : 0;
	return u && end != u + 8 ? (mode_t)(v & 0777) : (mode_t)-1;
}

/* Creates regular file name (replacing what an earlier entry put there). */
static int make_file(struct xtract *x, struct archive *a, int pfd, const char *name,
                     struct archive_entry *e, struct kiln_err *err)
{
	/* in a new target no directory is setgid yet (modes come last), so a
	 * new file already has the caller's ids */
	uid_t uid = (uid_t)archive_entry_uid(e);
	gid_t gid = (gid_t)archive_entry_gid(e);
	bool owned = x->plain_ids && uid == x->euid && gid == x->egid;
	bool chown_it = x->is_root && !owned;
	/* created with its mode when the umask leaves it whole and no chown
	 * (which clears setuid/setgid) follows: no fchmod */
	mode_t perm = archive_entry_perm(e);
	bool mode_at_open = !chown_it && x->umask != (mode_t)-1 && !(perm & x->umask) &&
	                    !(perm & (S_ISUID | S_ISGID | S_ISVTX));
	const int oflags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
	mode_t cmode = mode_at_open ? perm : 0600;
	_cleanup_close_ int fd = openat(pfd, name, oflags, cmode);
	if (fd < 0 && errno == EEXIST) {
		if (remove_at(x, pfd, name, err) < 0)
			return -1;
		fd = openat(pfd, name, oflags, cmode);
	}
	if (fd < 0)
		return kiln_err_set(err, errno, "create `%s`", archive_entry_pathname(e));
	x->count.entries++;
	x->count.bytes += (uint64_t)archive_entry_size(e);
	if (write_data(a, fd, e, err) < 0)
		return -1;
	if (chown_it && fchown(fd, uid, gid) < 0)
		return kiln_err_set(err, errno, "chown `%s`", archive_entry_pathname(e));
	if (!mode_at_open && fchmod(fd, perm) < 0)
		return kiln_err_set(err, errno, "chmod `%s`", archive_entry_pathname(e));
	set_xattrs(fd, e);
	struct timespec ts[2] = {{archive_entry_mtime(e), archive_entry_mtime_nsec(e)},
	                         {archive_entry_mtime(e), archive_entry_mtime_nsec(e)}};
	futimens(fd, ts);
	return 0;
}

static int make_dir(struct xtract *x, int pfd, const char *name, const char *rel,
                    struct archive_entry *e, struct kiln_err *err)
{
	struct stat st;
	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode)) {
		if (remove_at(x, pfd, name, err) < 0)
			return -1;
	}
	if (mkdirat(pfd, name, 0700) == 0)
		x->count.entries++;
	else if (errno != EEXIST)
		return kiln_err_set(err, errno, "mkdir `%s`", archive_entry_pathname(e));
	if (set_owner(x, pfd, name, e, err) < 0)
		return -1;
	int fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		set_xattrs(fd, e);
		close(fd);
	}
	KILN_GROW(x->dirs, x->cap_dirs, x->n_dirs + 1);
	x->dirs[x->n_dirs++] =
	    (struct dir_meta){xstrdup(rel), archive_entry_perm(e), archive_entry_mtime(e),
	                      archive_entry_mtime_nsec(e)};
	return 0;
}

static int make_hardlink(struct xtract *x, int pfd, const char *name, struct archive_entry *e,
                         char *t, struct kiln_err *err)
{
	const char *target = archive_entry_hardlink(e);
	char *slash = strrchr(t, '/');
	const char *tbase = slash ? slash + 1 : t;
	if (slash)
		*slash = '\0';
	_cleanup_close_ int tpfd = open_in_root(x->rootfd, slash ? t : "", O_RDONLY | O_DIRECTORY);
	if (tpfd < 0)
		return kiln_err_set(err, errno, "hardlink `%s`: target `%s`",
		                    archive_entry_pathname(e), target);
	struct stat st;
	if (fstatat(tpfd, tbase, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return kiln_err_set(err, errno, "hardlink `%s`: target `%s`",
		                    archive_entry_pathname(e), target);
	if (S_ISDIR(st.st_mode))
		return kiln_err_set(err, KILN_E_INVALID, "hardlink `%s` to directory `%s`",
		                    archive_entry_pathname(e), target);
	struct stat cur;
	if (fstatat(pfd, name, &cur, AT_SYMLINK_NOFOLLOW) == 0 && cur.st_dev == st.st_dev &&
	    cur.st_ino == st.st_ino)
		return 0; /* already that file */
	if (remove_at(x, pfd, name, err) < 0)
		return -1;
	if (linkat(tpfd, tbase, pfd, name, 0) < 0)
		return kiln_err_set(err, errno, "hardlink `%s` -> `%s`", archive_entry_pathname(e),
		                    target);
	x->count.entries++;
	x->count.bytes += S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
	return 0;
}

static int make_special(struct xtract *x, int pfd, const char *name, struct archive_entry *e,
                        struct kiln_err *err)
{
	mode_t type = archive_entry_filetype(e);
	const char *path = archive_entry_pathname(e);
	if (type == AE_IFLNK) {
		if (symlinkat(archive_entry_symlink(e), pfd, name) < 0)
			return kiln_err_set(err, errno, "symlink `%s`", path);
	} else if (type == AE_IFIFO) {
		if (mkfifoat(pfd, name, 0600) < 0)
			return kiln_err_set(err, errno, "mkfifo `%s`", path);
	} else {
		dev_t dev = makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
		if (mknodat(pfd, name, type | 0600, dev) < 0)
			return kiln_err_set(err, errno, "mknod `%s`", path);
	}
	x->count.entries++;
	if (set_owner(x, pfd, name, e, err) < 0)
		return -1;
	if (type != AE_IFLNK && fchmodat(pfd, name, archive_entry_perm(e), 0) < 0)
		return kiln_err_set(err, errno, "chmod `%s`", path);
	set_mtime(pfd, name, archive_entry_mtime(e), archive_entry_mtime_nsec(e));
	return 0;
}

/* .wh..wh..opq in apply mode: removes what the dir held before this layer. */
static int apply_opaque(struct xtract *x, int dfd, const char *dirrel, struct kiln_err *err)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return kiln_err_set(err, errno, "open `%s`", dirrel);
	_cleanup_closedir_ DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return kiln_err_set(err, errno, "open `%s`", dirrel);
	}
	struct kiln_strv doomed = KILN_STRV_INIT;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		_cleanup_free_ char *rel =
		    *dirrel ? xasprintf("%s/%s", dirrel, de->d_name) : xstrdup(de->d_name);
		if (!layer_pset_has(&x->created, rel, strlen(rel)))
			kiln_strv_push(&doomed, de->d_name);
	}
	int r = 0;
	for (size_t i = 0; i < doomed.n && r == 0; i++)
		r = remove_at(x, dfd, doomed.v[i], err);
	kiln_strv_release(&doomed);
	return r;
}

static int do_whiteout(struct xtract *x, int pfd, const char *dirrel, const char *base,
                       struct kiln_err *err)
{
	bool overlay = x->flags & IMG_EXTRACT_OVERLAY_WHITEOUTS;
	if (!strcmp(base, LAYER_WH_OPQ)) {
		if (!overlay)
			return apply_opaque(x, pfd, dirrel, err);
		if (fsetxattr(pfd, "trusted.overlay.opaque", "y", 1, 0) < 0)
			return kiln_err_set(err, errno, "mark `%s` opaque", dirrel);
		return 0;
	}
	const char *victim = base + 4; /* a valid name: layer_entry_check */
	if (remove_at(x, pfd, victim, err) < 0)
		return -1;
	if (overlay && mknodat(pfd, victim, S_IFCHR | 0, makedev(0, 0)) < 0)
		return kiln_err_set(err, errno, "create whiteout for `%s/%s`", dirrel, victim);
	x->count.entries += overlay;
	return 0;
}

static int do_entry(struct xtract *x, struct archive *a, struct archive_entry *e,
                    struct kiln_err *err)
{
	const char *path = archive_entry_pathname(e);
	_cleanup_free_ char *rel = NULL, *link = NULL;
	if (layer_entry_check(e, &rel, &link, err) < 0)
		return -1;
	mode_t type = archive_entry_filetype(e);
	if (!*rel) { /* the root itself: only its metadata */
		if (type == AE_IFDIR) {
			KILN_GROW(x->dirs, x->cap_dirs, x->n_dirs + 1);
			x->dirs[x->n_dirs++] = (struct dir_meta){xstrdup(""), archive_entry_perm(e),
			                                         archive_entry_mtime(e), 0};
		}
		return 0;
	}
	char *slash = strrchr(rel, '/');
	const char *base = slash ? slash + 1 : rel;
	_cleanup_free_ char *dirrel = slash ? xstrndup(rel, (size_t)(slash - rel)) : xstrdup("");
	int pfd = open_dir(x, dirrel, path, err);
	if (pfd < 0)
		return -1;
	if (!strncmp(base, ".wh.", 4))
		return do_whiteout(x, pfd, dirrel, base, err);
	if ((type == AE_IFCHR || type == AE_IFBLK) && !(x->flags & IMG_EXTRACT_DEVICES)) {
		kiln_debug("skipping device `%s`", path);
		return 0;
	}
	layer_pset_add_path(&x->created, rel);
	if (type == AE_IFDIR)
		return make_dir(x, pfd, base, rel, e, err);
	if (archive_entry_hardlink(e))
		return make_hardlink(x, pfd, base, e, link, err);
	if (type == AE_IFREG)
		return make_file(x, a, pfd, base, e, err);
	if (remove_at(x, pfd, base, err) < 0)
		return -1;
	if (type == AE_IFLNK || type == AE_IFIFO || type == AE_IFCHR || type == AE_IFBLK)
		return make_special(x, pfd, base, e, err);
	kiln_debug("skipping `%s` of unsupported type %o", path, (unsigned)type);
	return 0;
}

/* Directory modes and mtimes last, deepest first, so that writing children
 * changes neither. */
static void finish_dirs(struct xtract *x)
{
	for (size_t i = x->n_dirs; i-- > 0;) {
		struct dir_meta *m = &x->dirs[i];
		int fd = *m->rel
		             ? open_in_root(x->rootfd, m->rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
		             : dup(x->rootfd);
		if (fd < 0)
			continue;
		fchmod(fd, m->mode);
		struct timespec ts[2] = {{m->mtime, m->mtime_ns}, {m->mtime, m->mtime_ns}};
		futimens(fd, ts);
		close(fd);
	}
}

static void xtract_release(struct xtract *x)
{
	cache_drop(x);
	for (size_t i = 0; i < x->n_dirs; i++)
		free(x->dirs[i].rel);
	free(x->dirs);
	layer_pset_release(&x->created);
}

static int extract_tar(struct layer_source *src, int rootfd, unsigned flags,
                       struct layer_tree_count *count, struct kiln_err *err)
{
	struct layer_prefetch *pf = NULL;
	struct archive *a = (flags & IMG_EXTRACT_PREFETCH_)
	                        ? layer_prefetch_tar_reader(src, &pf, err)
	                        : layer_source_tar_reader(src, err);
	if (!a) {
		layer_prefetch_free(pf);
		return -1;
	}
	struct xtract x = {.rootfd = rootfd, .flags = flags, .cached_fd = -1};
	x.count.valid = true;
	x.euid = geteuid();
	x.egid = getegid();
	x.is_root = x.euid == 0;
	x.umask = read_umask();
	struct stat st;
	x.plain_ids = (flags & IMG_EXTRACT_NEW_) && fstat(rootfd, &st) == 0 &&
	              !(st.st_mode & S_ISGID) && st.st_gid == x.egid;
	struct archive_entry *e;
	int r = 0, ar;
	while (r == 0 && (ar = archive_read_next_header(a, &e)) != ARCHIVE_EOF) {
		if (ar != ARCHIVE_OK && ar != ARCHIVE_WARN) {
			layer_prefetch_stop(pf); /* src->err is ours again */
			if (src->err.msg)
				kiln_err_move(err, &src->err);
			else
				kiln_err_set(err, KILN_E_CORRUPT, "reading layer tar: %s",
				             archive_error_string(a));
			r = -1;
			break;
		}
		src->usage += layer_entry_usage(e);
		r = do_entry(&x, a, e, err);
	}
	if (r == 0)
		finish_dirs(&x);
	else
		layer_prefetch_stop(pf);
	if (count)
		*count = x.count;
	xtract_release(&x);
	archive_read_free(a);
	layer_prefetch_free(pf); /* reads the source to its end: finish_check hashes it */
	return r;
}

/* What the stream must hash to (either may be NULL), checked before a new
 * target is renamed into place. */
struct want {
	const char *blob, *diff;
};

static int finish_check(struct layer_source *src, const struct want *w,
                        char diff_out[KILN_DIGEST_LEN], struct kiln_err *err)
{
	char blob[KILN_DIGEST_LEN], diff[KILN_DIGEST_LEN];
	if (layer_source_finish(src, blob, diff, NULL, err) < 0)
		return -1;
	if (w->blob && strcmp(blob, w->blob) != 0)
		return kiln_err_set(err, KILN_E_CORRUPT,
		                    "blob `%s` is corrupt: its content hashes to %s", w->blob,
		                    blob);
	if (w->diff && strcmp(diff, w->diff) != 0)
		return kiln_err_set(
		    err, KILN_E_CORRUPT,
		    "layer `%s`: diffID mismatch: expected %s, content hashes to %s",
		    w->blob ? w->blob : "(stream)", w->diff, diff);
	if (diff_out)
		memcpy(diff_out, diff, KILN_DIGEST_LEN);
	return 0;
}

/* rename without replacing: an empty dir at target would be replaced */
static int rename_new(const char *from, const char *to)
{
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	return rename(from, to);
}

/* Builds a new target in a temp dir of tmpdir, verifies the stream, and
 * renames it into place; a failure removes the temp dir. */
static int extract_new(struct layer_source *src, const char *target, const char *tmpdir,
                       unsigned flags, const struct want *w, char diff_out[KILN_DIGEST_LEN],
                       struct layer_tree_count *count, struct kiln_err *err)
{
	_cleanup_free_ char *parent = NULL;
	if (!tmpdir) {
		const char *sl = strrchr(target, '/');
		parent =
		    sl ? (sl == target ? xstrdup("/") : xstrndup(target, (size_t)(sl - target)))
		       : xstrdup(".");
		tmpdir = parent;
	}
	/* the pid names the process, so its interrupt handler can find its own
	 * (builder/interrupt.c) */
	_cleanup_free_ char *tmp =
	    xasprintf("%s/" IMG_EXTRACT_PREFIX "%ld-XXXXXX", tmpdir, (long)getpid());
	if (!mkdtemp(tmp))
		return kiln_err_set(err, errno, "create temporary directory in `%s`", tmpdir);
	int r;
	{
		_cleanup_close_ int fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		r = fd < 0 ? kiln_err_set(err, errno, "open `%s`", tmp) : 0;
		if (r == 0 && fchmod(fd, 0755) < 0)
			r = kiln_err_set(err, errno, "chmod `%s`", tmp);
		if (r == 0)
			r = extract_tar(src, fd, flags, count, err);
		if (r == 0)
			r = finish_check(src, w, diff_out, err);
	}
	if (r == 0 && rename_new(tmp, target) < 0) {
		if (errno == EEXIST || errno == ENOTEMPTY)
			r = kiln_err_set(err, KILN_E_CONFLICT, "`%s` appeared while extracting",
			                 target);
		else
			r = kiln_err_set(err, errno, "rename into `%s`", target);
	}
	if (r < 0) {
		struct kiln_err e2 = KILN_ERR_INIT;
		if (kiln_rm_rf(tmp, &e2) < 0)
			kiln_warn("removing partial extraction `%s`: %s", tmp, e2.msg);
		kiln_err_release(&e2);
	}
	return r;
}

/* Extracts src into target: a new target through extract_new, an existing
 * one in place (left partial on failure; refused with IMG_EXTRACT_NEW_). */
static int extract_to(struct layer_source *src, const char *target, const char *tmpdir,
                      unsigned flags, const struct want *w, char diff_out[KILN_DIGEST_LEN],
                      struct layer_tree_count *count, struct kiln_err *err)
{
	struct stat st;
	if (count)
		count->valid = false;
	if (stat(target, &st) < 0)
		return extract_new(src, target, tmpdir, flags, w, diff_out, count, err);
	if (flags & IMG_EXTRACT_NEW_)
		return kiln_err_set(err, KILN_E_CONFLICT, "`%s` exists", target);
	if (!S_ISDIR(st.st_mode))
		return kiln_err_set(err, ENOTDIR, "extract target `%s`", target);
	_cleanup_close_ int fd = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return kiln_err_set(err, errno, "open `%s`", target);
	if (extract_tar(src, fd, flags, NULL, err) < 0)
		return -1;
	return finish_check(src, w, diff_out, err);
}

int img_layer_extract_fd(int fd, const char *target_dir, const char *tmpdir, unsigned flags,
                         char diff_id[KILN_DIGEST_LEN], struct kiln_err *err)
{
	struct layer_source src;
	if (layer_source_open(&src, fd, err) < 0)
		return kiln_err_wrap(err, "extracting into `%s`", target_dir);
	const struct want w = {NULL, NULL};
	int r = extract_to(&src, target_dir, tmpdir, flags, &w, diff_id, NULL, err);
	layer_source_release(&src);
	if (r < 0)
		return kiln_err_wrap(err, "extracting into `%s`", target_dir);
	return 0;
}

int img_layer_extract_verified(struct img_store *s, const char *blob_digest,
                               const char *expected_diff, const char *target_dir, unsigned flags,
                               struct layer_tree_count *count, struct kiln_err *err)
{
	if (!kiln_digest_valid(blob_digest))
		return kiln_err_set(err, KILN_E_INVALID, "invalid digest `%s`", blob_digest);
	_cleanup_close_ int fd = img_store_open_blob(s, blob_digest, err);
	if (fd < 0)
		return -1;
	return img_layer_extract_verified_fd(s, fd, blob_digest, expected_diff, target_dir, flags,
	                                     count, err);
}

int img_layer_extract_verified_fd(struct img_store *s, int fd, const char *blob_digest,
                                  const char *expected_diff, const char *target_dir, unsigned flags,
                                  struct layer_tree_count *count, struct kiln_err *err)
{
	struct layer_source src;
	if (layer_source_open(&src, fd, err) < 0)
		return -1;
	const struct want w = {blob_digest, expected_diff};
	int r = extract_to(&src, target_dir, s->tmp, flags, &w, NULL, count, err);
	if (r == 0 && expected_diff) /* a pull's layers are counted here */
		layer_usage_record(s, expected_diff, src.usage);
	layer_source_release(&src);
	return r;
}

int img_layer_extract_verified_input(struct img_store *s, layer_input_fn input, void *ud,
                                     const char *expected_diff, const char *target_dir,
                                     unsigned flags, struct layer_tree_count *count,
                                     struct kiln_err *err)
{
	struct layer_source src;
	if (layer_source_open_input_diff(&src, input, ud, err) < 0)
		return -1;
	const struct want w = {NULL, expected_diff};
	int r = extract_to(&src, target_dir, s->tmp, flags | IMG_EXTRACT_PREFETCH_, &w, NULL, count,
	                   err);
	layer_source_release(&src);
	return r;
}

int img_layer_extract(struct img_store *s, const char *blob_digest, const char *media_type,
                      const char *target_dir, unsigned flags, struct kiln_err *err)
{
	enum img_compression c;
	if (media_type && img_compression_from_media_type(media_type, &c, err) < 0)
		return kiln_err_wrap(err, "extracting layer %s", blob_digest);
	if (img_layer_extract_verified(s, blob_digest, NULL, target_dir, flags, NULL, err) < 0)
		return kiln_err_wrap(err, "extracting layer %s", blob_digest);
	return 0;
}
