/* Layer tars from directories, in one pass: walk -> libarchive PAX writer
 * -> layer_sink (diffID, compressor, blob writer). See image.h for the
 * determinism rules. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "layer-internal.h"

#define XATTR_LIST_MAX_BYTES (64 * 1024)
#define XATTR_VALUE_MAX      (64 * 1024)
#define DATA_BUF             (256 * 1024)

struct hardlink {
	dev_t dev;
	ino_t ino;
	char *path;
};

struct walk {
	struct archive *a;
	struct archive_entry *e;
	struct layer_sink sink;
	const struct img_layer_opts *opts;
	struct hardlink *links;
	size_t n_links, cap_links;
	size_t *slots, n_slots; /* hash of links by inode */
	char *buf;
};

la_ssize_t layer_tar_out(struct archive *a, void *opaque, const void *p, size_t n)
{
	(void)a;
	struct layer_sink *k = opaque;
	struct kiln_err e = KILN_ERR_INIT;
	if (layer_sink_write(k, p, n, &e) < 0) {
		if (!k->err.msg)
			kiln_err_move(&k->err, &e);
		kiln_err_release(&e);
		return -1;
	}
	return (la_ssize_t)n;
}

static int archive_fail(struct walk *w, struct kiln_err *err, const char *path)
{
	if (w->sink.err.msg) {
		kiln_err_move(err, &w->sink.err);
		return kiln_err_wrap(err, "writing `%s`", path);
	}
	const char *m = archive_error_string(w->a);
	return kiln_err_set(err, archive_errno(w->a), "tar entry `%s`: %s", path,
	                    m ? m : "write error");
}

bool layer_xattr_wanted(const char *name)
{
	if (!strncmp(name, "trusted.overlay.", 16) || !strncmp(name, "user.overlay.", 13))
		return false;
	return !strncmp(name, "user.", 5) || !strncmp(name, "trusted.", 8) ||
	       !strcmp(name, "security.capability");
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int layer_entry_xattrs(struct archive_entry *e, int fd, const char *full, struct kiln_err *err)
{
	char list[XATTR_LIST_MAX_BYTES];
	ssize_t n =
	    fd >= 0 ? flistxattr(fd, list, sizeof(list)) : llistxattr(full, list, sizeof(list));
	if (n < 0) {
		if (errno == ENOTSUP || errno == ENODATA)
			return 0;
		return kiln_err_set(err, errno, "list xattrs of `%s`", full);
	}
	struct kiln_strv names = KILN_STRV_INIT;
	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(list + i) + 1)
		if (layer_xattr_wanted(list + i))
			kiln_strv_push(&names, list + i);
	if (names.n)
		qsort(names.v, names.n, sizeof(char *), cmp_str);
	_cleanup_free_ char *val = xmalloc(XATTR_VALUE_MAX);
	for (size_t i = 0; i < names.n; i++) {
		ssize_t vn = fd >= 0 ? fgetxattr(fd, names.v[i], val, XATTR_VALUE_MAX)
		                     : lgetxattr(full, names.v[i], val, XATTR_VALUE_MAX);
		if (vn < 0) {
			if (errno == ENODATA)
				continue;
			kiln_err_set(err, errno, "read xattr `%s` of `%s`", names.v[i], full);
			kiln_strv_release(&names);
			return -1;
		}
		archive_entry_xattr_add_entry(e, names.v[i], val, (size_t)vn);
	}
	kiln_strv_release(&names);
	return 0;
}

static bool is_opaque_dir(int fd)
{
	char v[4];
	ssize_t n = fgetxattr(fd, "trusted.overlay.opaque", v, sizeof(v));
	if (n < 0)
		n = fgetxattr(fd, "user.overlay.opaque", v, sizeof(v));
	return n == 1 && v[0] == 'y';
}

static int64_t clamp(const struct walk *w, int64_t t)
{
	if (w->opts->clamp_mtime >= 0 && t > w->opts->clamp_mtime)
		return w->opts->clamp_mtime;
	return t;
}

/* Writes a header for an empty regular file (whiteouts). */
static int add_marker(struct walk *w, const char *rel, int64_t mtime, struct kiln_err *err)
{
	archive_entry_clear(w->e);
	archive_entry_set_pathname(w->e, rel);
	archive_entry_set_filetype(w->e, AE_IFREG);
	archive_entry_set_perm(w->e, 0);
	archive_entry_set_size(w->e, 0);
	archive_entry_set_mtime(w->e, clamp(w, mtime), 0);
	if (layer_write_header(w->a, w->e) != ARCHIVE_OK)
		return archive_fail(w, err, rel);
	return 0;
}

static size_t inode_hash(dev_t dev, ino_t ino)
{
	uint64_t h = ((uint64_t)dev * 0x9e3779b97f4a7c15ull) ^ (uint64_t)ino;
	return (size_t)(h * 0xff51afd7ed558ccdull >> 17);
}

/* Returns the path of an earlier entry with the same inode, or records this
 * one. A hash table (slots hold index + 1): a tree of 100k hardlinks made
 * by a build step must not cost a quadratic scan. */
static const char *hardlink_of(struct walk *w, const struct stat *st, const char *rel)
{
	size_t mask = w->n_slots - 1,
	       i = w->n_slots ? inode_hash(st->st_dev, st->st_ino) & mask : 0;
	for (; w->n_slots && w->slots[i]; i = (i + 1) & mask) {
		const struct hardlink *l = &w->links[w->slots[i] - 1];
		if (l->dev == st->st_dev && l->ino == st->st_ino)
			return l->path;
	}
	KILN_GROW(w->links, w->cap_links, w->n_links + 1);
	w->links[w->n_links++] = (struct hardlink){st->st_dev, st->st_ino, xstrdup(rel)};
	if (2 * w->n_links > w->n_slots) { /* rehash every link */
		free(w->slots);
		w->n_slots = w->n_slots ? 2 * w->n_slots : 64;
		w->slots = xcalloc(w->n_slots, sizeof(*w->slots));
		mask = w->n_slots - 1;
		for (size_t k = 0; k < w->n_links; k++) {
			size_t j = inode_hash(w->links[k].dev, w->links[k].ino) & mask;
			while (w->slots[j])
				j = (j + 1) & mask;
			w->slots[j] = k + 1;
		}
	} else {
		w->slots[i] = w->n_links;
	}
	return NULL;
}

/* name in directory dfd, opened without following it: still the entry
 * fstatat saw (a regular file or a directory as st says; swapped for a
 * FIFO it would block, for another file it would not match the header). */
static int open_checked(int dfd, const char *name, const char *full, const struct stat *st,
                        struct kiln_err *err)
{
	int flags = S_ISDIR(st->st_mode) ? O_RDONLY | O_DIRECTORY : O_RDONLY | O_NONBLOCK;
	int fd = openat(dfd, name, flags | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return kiln_err_set(err, errno, "open `%s`", full);
	struct stat now;
	if (fstat(fd, &now) < 0) {
		kiln_err_set(err, errno, "stat `%s`", full);
		close(fd);
		return -1;
	}
	if ((now.st_mode & S_IFMT) != (st->st_mode & S_IFMT) || now.st_ino != st->st_ino ||
	    now.st_dev != st->st_dev) {
		close(fd);
		return kiln_err_set(err, KILN_E_CONFLICT, "`%s` changed while being read", full);
	}
	return fd;
}

#define ZEROS_LEN (256 * 1024)
static char zeros[ZEROS_LEN]; /* never written: its pages are the zero page */

static int write_zeros(struct archive *a, uint64_t n, const struct layer_tap *tap)
{
	for (; n > 0;) {
		size_t k = n < ZEROS_LEN ? (size_t)n : ZEROS_LEN;
		if (archive_write_data(a, zeros, k) != (la_ssize_t)k)
			return LAYER_DATA_ARCHIVE;
		if (tap)
			tap->fn(tap->ud, zeros, k);
		n -= k;
	}
	return 0;
}

/* Where the data at or after pos ends (the next hole, clamped to end);
 * end when the file system cannot say. The offset is put back at pos. */
static uint64_t hole_after(int fd, uint64_t pos, uint64_t end)
{
	off_t h = lseek(fd, (off_t)pos, SEEK_HOLE);
	uint64_t r = h < 0 || (uint64_t)h > end ? end : (uint64_t)h;
	return lseek(fd, (off_t)pos, SEEK_SET) < 0 ? end : r;
}

/* SEEK_DATA finds no data after a hole both when the file ends in that
 * hole and when it shrank below the offset: only its size tells them
 * apart (zeros for a file cut short would be bytes it never held). */
static bool size_at_least(int fd, uint64_t end)
{
	struct stat st;
	return fstat(fd, &st) == 0 && (uint64_t)st.st_size >= end;
}

int layer_copy_data(struct archive *a, int fd, uint64_t size, char *buf, size_t buf_size,
                    const struct layer_tap *tap)
{
	off_t start = size > buf_size ? lseek(fd, 0, SEEK_CUR) : -1;
	uint64_t base = start < 0 ? 0 : (uint64_t)start, pos = base, end = base + size;
	bool sparse = start >= 0;
	uint64_t hole = sparse ? hole_after(fd, pos, end) : end;
	sparse = sparse && hole < end;
	while (pos < end) {
		if (sparse && pos >= hole) { /* a hole: zeros up to the next data */
			off_t d = lseek(fd, (off_t)pos, SEEK_DATA);
			if (d < 0 && errno != ENXIO) {
				sparse = false; /* read the rest as it comes */
				if (lseek(fd, (off_t)pos, SEEK_SET) < 0)
					return LAYER_DATA_READ;
				continue;
			}
			if (d < 0 && !size_at_least(fd, end))
				return LAYER_DATA_SHRANK; /* past its end now, not in a hole */
			uint64_t data = d < 0 || (uint64_t)d > end ? end : (uint64_t)d;
			if (write_zeros(a, data - pos, tap) < 0)
				return LAYER_DATA_ARCHIVE;
			pos = data;
			hole = pos < end ? hole_after(fd, pos, end) : end;
			continue;
		}
		uint64_t want = (sparse ? hole : end) - pos;
		ssize_t n = read(fd, buf, want < buf_size ? (size_t)want : buf_size);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return LAYER_DATA_READ;
		if (n == 0) /* shrank: the header promised more */
			return LAYER_DATA_SHRANK;
		if (archive_write_data(a, buf, (size_t)n) != n)
			return LAYER_DATA_ARCHIVE;
		if (tap)
			tap->fn(tap->ud, buf, (size_t)n);
		pos += (uint64_t)n;
	}
	return 0;
}

static int copy_data(struct walk *w, int fd, const char *full, const char *rel,
                     const struct stat *st, struct kiln_err *err)
{
	switch (layer_copy_data(w->a, fd, (uint64_t)st->st_size, w->buf, DATA_BUF, NULL)) {
	case 0: return 0;
	case LAYER_DATA_SHRANK:
		return kiln_err_set(err, KILN_E_CONFLICT, "`%s` changed while being read", full);
	case LAYER_DATA_READ: return kiln_err_set(err, errno, "read `%s`", full);
	default: return archive_fail(w, err, rel);
	}
}

/* The tree is walked by directory fds: a running container (commit
 * --pause=false) or a parallel step (a cache export) that swaps a
 * directory for a symlink meanwhile cannot lead the walk onto the host.
 * Entry name of directory dfd (full: its path, for messages); *dir_fd:
 * a directory's fd, opened for its xattrs and kept for the walk below. */
static int add_entry(struct walk *w, int dfd, const char *name, const char *full, const char *rel,
                     const struct stat *st, int *dir_fd, struct kiln_err *err)
{
	struct archive_entry *e = w->e;
	archive_entry_clear(e);
	archive_entry_set_uid(e, st->st_uid);
	archive_entry_set_gid(e, st->st_gid);
	archive_entry_set_mode(e, st->st_mode);
	archive_entry_set_mtime(e, clamp(w, st->st_mtim.tv_sec), 0);
	bool data = false;
	if (S_ISDIR(st->st_mode)) {
		_cleanup_free_ char *dname = xasprintf("%s/", rel);
		archive_entry_set_pathname(e, dname);
	} else {
		archive_entry_set_pathname(e, rel);
	}
	if (S_ISREG(st->st_mode)) {
		const char *first = st->st_nlink > 1 ? hardlink_of(w, st, rel) : NULL;
		if (first) {
			archive_entry_set_hardlink(e, first);
			archive_entry_set_size(e, 0);
		} else {
			archive_entry_set_size(e, st->st_size);
			data = st->st_size > 0;
		}
	} else if (S_ISLNK(st->st_mode)) {
		char target[PATH_MAX + 1];
		ssize_t n = readlinkat(dfd, name, target, PATH_MAX);
		if (n < 0)
			return kiln_err_set(err, errno, "readlink `%s`", full);
		target[n] = '\0';
		archive_entry_set_symlink(e, target);
	} else if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) {
		archive_entry_set_rdevmajor(e, major(st->st_rdev));
		archive_entry_set_rdevminor(e, minor(st->st_rdev));
	}
	/* opened first: its xattrs are read through the fd (no path lookup);
	 * another entry's through its directory's fd (a magic link that
	 * names that very directory), the entry itself not followed */
	bool opened = data || S_ISDIR(st->st_mode);
	_cleanup_close_ int fd = opened ? open_checked(dfd, name, full, st, err) : -1;
	if (opened && fd < 0)
		return -1;
	char via[64 + NAME_MAX] = "";
	if (fd < 0) /* formatted for the entries read by path only */
		snprintf(via, sizeof(via), "/proc/self/fd/%d/%s", dfd, name);
	if (layer_entry_xattrs(e, fd, fd >= 0 ? full : via, err) < 0)
		return -1;
	if (layer_write_header(w->a, e) != ARCHIVE_OK)
		return archive_fail(w, err, rel);
	w->sink.usage += layer_entry_usage(e);
	if (data && copy_data(w, fd, full, rel, st, err) < 0)
		return -1;
	if (S_ISDIR(st->st_mode))
		*dir_fd = TAKE_FD(fd);
	return 0;
}

static int walk_dir(struct walk *w, int dfd, const char *full, const char *rel,
                    struct kiln_err *err);

static int walk_one(struct walk *w, int dfd, const char *full, const char *rel, const char *name,
                    struct kiln_err *err)
{
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return kiln_err_set(err, errno, "stat `%s`", full);
	if (S_ISSOCK(st.st_mode))
		return 0;
	if (w->opts->overlay_upper && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {
		size_t dl = strlen(rel) - strlen(name);
		_cleanup_free_ char *wh = xasprintf("%.*s.wh.%s", (int)dl, rel, name);
		return add_marker(w, wh, st.st_mtim.tv_sec, err);
	}
	_cleanup_close_ int sub = -1;
	if (add_entry(w, dfd, name, full, rel, &st, &sub, err) < 0)
		return -1;
	if (!S_ISDIR(st.st_mode))
		return 0;
	if (w->opts->overlay_upper && is_opaque_dir(sub)) {
		_cleanup_free_ char *opq = xasprintf("%s/.wh..wh..opq", rel);
		if (add_marker(w, opq, st.st_mtim.tv_sec, err) < 0)
			return -1;
	}
	return walk_dir(w, sub, full, rel, err);
}

static int walk_dir(struct walk *w, int dfd, const char *full, const char *rel,
                    struct kiln_err *err)
{
	struct kiln_strv names = KILN_STRV_INIT;
	{
		int dup_fd = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
		_cleanup_closedir_ DIR *d = dup_fd < 0 ? NULL : fdopendir(dup_fd);
		if (!d && dup_fd >= 0)
			close(dup_fd);
		if (!d)
			return kiln_err_set(err, errno, "open directory `%s`", full);
		struct dirent *de;
		while ((errno = 0, de = readdir(d)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				kiln_strv_push(&names, de->d_name);
		if (errno) {
			kiln_strv_release(&names);
			return kiln_err_set(err, errno, "read directory `%s`", full);
		}
	}
	if (names.n)
		qsort(names.v, names.n, sizeof(char *), cmp_str);
	int r = 0;
	for (size_t i = 0; i < names.n && r == 0; i++) {
		_cleanup_free_ char *cfull = kiln_path_join(full, names.v[i]);
		_cleanup_free_ char *crel =
		    *rel ? xasprintf("%s/%s", rel, names.v[i]) : xstrdup(names.v[i]);
		r = walk_one(w, dfd, cfull, crel, names.v[i], err);
	}
	kiln_strv_release(&names);
	return r;
}

static void walk_release(struct walk *w)
{
	if (w->a)
		archive_write_free(w->a);
	if (w->e)
		archive_entry_free(w->e);
	for (size_t i = 0; i < w->n_links; i++)
		free(w->links[i].path);
	free(w->links);
	free(w->slots);
	free(w->buf);
	layer_sink_release(&w->sink);
}

int layer_write_header(struct archive *a, struct archive_entry *e)
{
	int r = archive_write_header(a, e);
	return r == ARCHIVE_WARN ? ARCHIVE_OK : r;
}

int layer_tar_format(struct archive *a)
{
	int r = archive_write_set_format_pax_restricted(a);
	if (r == ARCHIVE_OK)
		r = archive_write_set_format_option(a, "pax", "xattrheader", "SCHILY");
	if (r == ARCHIVE_OK)
		r = archive_write_set_format_option(a, "pax", "hdrcharset", "BINARY");
	return r;
}

static int tar_writer_open(struct walk *w, struct kiln_err *err)
{
	w->a = archive_write_new();
	int r = layer_tar_format(w->a);
	if (r == ARCHIVE_OK)
		r = archive_write_set_bytes_per_block(w->a, 64 * 1024);
	if (r == ARCHIVE_OK)
		r = archive_write_set_bytes_in_last_block(w->a, 1);
	if (r == ARCHIVE_OK)
		r = archive_write_open2(w->a, &w->sink, NULL, layer_tar_out, NULL, NULL);
	if (r != ARCHIVE_OK)
		return archive_fail(w, err, "(start)");
	return 0;
}

int img_layer_create(struct img_store *s, const char *dir, const struct img_layer_opts *opts,
                     struct img_layer *out, struct kiln_err *err)
{
	struct walk w = {.opts = opts};
	struct stat st;
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		kiln_err_set(err, errno ? errno : ENOTDIR, "layer source `%s`", dir);
		return kiln_err_wrap(err, "creating layer");
	}
	if (layer_sink_open(&w.sink, s, opts->compression, err) < 0)
		return kiln_err_wrap(err, "creating layer from `%s`", dir);
	w.sink.counted = true;
	w.e = archive_entry_new();
	w.buf = xmalloc(DATA_BUF);
	int r = tar_writer_open(&w, err);
	_cleanup_close_ int root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r == 0 && root < 0)
		r = kiln_err_set(err, errno, "open directory `%s`", dir);
	if (r == 0)
		r = walk_dir(&w, root, dir, "", err);
	if (r == 0 && archive_write_close(w.a) != ARCHIVE_OK)
		r = archive_fail(&w, err, "(end)");
	if (r == 0)
		r = layer_sink_commit(&w.sink, NULL, out, err);
	walk_release(&w);
	if (r < 0)
		return kiln_err_wrap(err, "creating layer from `%s`", dir);
	return 0;
}

/* --- re-streaming stored or outside layers ----------------------------- */

/* Copies src's decompressed bytes into a sink. */
static int pump(struct layer_source *src, struct layer_sink *k, struct kiln_err *err)
{
	_cleanup_free_ char *buf = xmalloc(DATA_BUF);
	for (;;) {
		ssize_t n = layer_source_read(src, buf, DATA_BUF, err);
		if (n <= 0)
			return (int)n;
		if (layer_sink_write(k, buf, (size_t)n, err) < 0)
			return -1;
	}
}

static int sink_tee(void *ud, const void *p, size_t n, struct kiln_err *err)
{
	return layer_sink_write(ud, p, n, err);
}

int img_layer_recompress(struct img_store *s, const struct img_layer *in, enum img_compression to,
                         struct img_layer *out, struct kiln_err *err)
{
	if (!kiln_digest_valid(in->digest)) {
		kiln_err_set(err, KILN_E_INVALID, "invalid digest `%s`", in->digest);
		return kiln_err_wrap(err, "recompressing layer");
	}
	_cleanup_close_ int fd = img_store_open_blob(s, in->digest, err);
	if (fd < 0)
		return kiln_err_wrap(err, "recompressing layer");
	struct layer_source src;
	struct layer_sink k;
	if (layer_source_open(&src, fd, err) < 0)
		return kiln_err_wrap(err, "recompressing layer %s", in->digest);
	if (layer_sink_open(&k, s, to, err) < 0) {
		layer_source_release(&src);
		return kiln_err_wrap(err, "recompressing layer %s", in->digest);
	}
	char blob[KILN_DIGEST_LEN];
	int r = pump(&src, &k, err);
	if (r == 0)
		r = layer_source_finish(&src, blob, NULL, NULL, err);
	if (r == 0 && strcmp(blob, in->digest) != 0)
		r = kiln_err_set(err, KILN_E_CORRUPT,
		                 "blob `%s` is corrupt: its content hashes to %s", in->digest,
		                 blob);
	if (r == 0)
		r = layer_sink_commit(&k, in->diff_id[0] ? in->diff_id : NULL, out, err);
	layer_sink_release(&k);
	layer_source_release(&src);
	if (r < 0)
		return kiln_err_wrap(err, "recompressing layer %s", in->digest);
	return 0;
}

int img_layer_from_fd(struct img_store *s, int fd, enum img_compression to, struct img_layer *out,
                      struct kiln_err *err)
{
	struct layer_source src;
	struct layer_sink k;
	if (layer_source_open(&src, fd, err) < 0)
		return -1;
	if (layer_sink_open(&k, s, to, err) < 0) {
		layer_source_release(&src);
		return -1;
	}
	/* the tar is checked entry by entry as it streams into the sink */
	src.tee = sink_tee;
	src.tee_ud = &k;
	/* an empty stream (`import /dev/null`) is an empty layer, as docker's */
	int r = layer_scan(&src, err);
	if (r == 0)
		r = layer_source_finish(&src, NULL, NULL, NULL, err);
	k.counted = true;
	k.usage = src.usage;
	if (r == 0)
		r = layer_sink_commit(&k, NULL, out, err);
	layer_sink_release(&k);
	layer_source_release(&src);
	return r;
}
