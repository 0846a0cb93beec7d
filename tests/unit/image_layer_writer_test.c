/* The layer writer: entries given one by one become a deterministic PAX tar
 * whose diffID and blob digest are computed in the same pass. */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "image.h"
#include "tap.h"

static int data_fd(const char *s)
{
	int fd = memfd_create("data", MFD_CLOEXEC);
	if (fd < 0 || write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		exit(2);
	lseek(fd, 0, SEEK_SET);
	return fd;
}

static int write_layer(struct img_store *s, int64_t clamp, struct img_layer *out,
                       struct kiln_err *err)
{
	struct img_layer_opts o = {IMG_COMPRESS_NONE, false, clamp};
	struct img_layer_writer *w;
	if (img_layer_writer_new(s, &o, &w, err) < 0)
		return -1;
	int fd = data_fd("hello");
	struct img_layer_entry d = {
	    .path = "a", .mode = S_IFDIR | 0750, .uid = 5, .gid = 6, .mtime = 2000000000};
	struct img_layer_entry f = {.path = "a/f", .mode = S_IFREG | 0644, .mtime = 100, .size = 5};
	struct img_layer_entry l = {.path = "a/l", .mode = S_IFLNK | 0777, .link = "f"};
	struct img_layer_entry h = {
	    .path = "a/h", .mode = S_IFREG | 0644, .link = "a/f", .hardlink = true};
	int r = img_layer_writer_add(w, &d, -1, err);
	if (r == 0)
		r = img_layer_writer_add(w, &f, fd, err);
	if (r == 0)
		r = img_layer_writer_add(w, &h, -1, err);
	if (r == 0)
		r = img_layer_writer_add(w, &l, -1, err);
	if (r == 0)
		r = img_layer_writer_whiteout(w, "a/gone", 0, err);
	if (r == 0 && img_layer_writer_count(w) != 5)
		r = kiln_err_set(err, 0, "count %zu", img_layer_writer_count(w));
	if (r == 0)
		r = img_layer_writer_commit(w, out, err);
	img_layer_writer_free(w);
	close(fd);
	return r;
}

static void check_entries(struct img_store *s, const struct img_layer *l)
{
	char *path = img_store_blob_path(s, l->digest);
	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	T_OK(archive_read_open_filename(a, path, 10240) == ARCHIVE_OK, "blob is a tar");
	struct archive_entry *e;
	const char *want[] = {"a/", "a/f", "a/h", "a/l", "a/.wh.gone"};
	size_t i = 0;
	bool order = true;
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname(e);
		if (i >= 5 || strcmp(name, want[i]))
			order = false;
		if (i == 0) {
			T_INTEQ(archive_entry_mode(e), S_IFDIR | 0750, "dir mode");
			T_INTEQ(archive_entry_uid(e), 5, "dir uid");
			T_INTEQ(archive_entry_gid(e), 6, "dir gid");
			T_INTEQ(archive_entry_mtime(e), 1700000000, "mtime clamped");
		} else if (i == 1) {
			char buf[16] = "";
			T_INTEQ(archive_read_data(a, buf, sizeof(buf)), 5, "file data length");
			T_STREQ(buf, "hello", "file data");
			T_INTEQ(archive_entry_mtime(e), 100, "an older mtime is kept");
		} else if (i == 2) {
			T_STREQ(archive_entry_hardlink(e), "a/f", "hardlink target");
		} else if (i == 3) {
			T_STREQ(archive_entry_symlink(e), "f", "symlink target");
		}
		i++;
	}
	T_OK(order && i == 5, "entries in the order given");
	archive_read_free(a);
	free(path);
}

/* A layer of several MiB (many buffers, a tail that is no multiple of the
 * direct I/O alignment, a zero run the blob writer skips as a hole): the
 * blob on disk hashes to its digest, and the same tar through gzip has
 * the same diffID (the split hash/write threads and the single compressed
 * sink thread see the same stream). */
static int big_layer(struct img_store *s, enum img_compression c, struct img_layer *out,
                     struct kiln_err *err)
{
	struct img_layer_opts o = {c, false, -1};
	struct img_layer_writer *w;
	if (img_layer_writer_new(s, &o, &w, err) < 0)
		return -1;
	size_t n = (11u << 20) + 777;
	char *data = calloc(1, n);
	uint32_t x = 12345;
	for (size_t i = 0; i < n; i++) /* 4..6 MiB stays zero */
		if (i < (4u << 20) || i >= (6u << 20))
			data[i] = (char)((x = x * 1103515245u + 12345u) >> 24);
	int fd = memfd_create("big", MFD_CLOEXEC);
	if (!data || fd < 0 || write(fd, data, n) != (ssize_t)n)
		exit(2);
	lseek(fd, 0, SEEK_SET);
	struct img_layer_entry f = {.path = "big", .mode = S_IFREG | 0644, .size = n};
	int r = img_layer_writer_add(w, &f, fd, err);
	if (r == 0)
		r = img_layer_writer_commit(w, out, err);
	img_layer_writer_free(w);
	close(fd);
	free(data);
	return r;
}

static void check_blob_on_disk(struct img_store *s, const char *digest, const char *what)
{
	char *path = img_store_blob_path(s, digest);
	struct kiln_sha256 h;
	kiln_sha256_init(&h);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	static char buf[1 << 16];
	ssize_t n;
	while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0)
		kiln_sha256_update(&h, buf, (size_t)n);
	char got[KILN_DIGEST_LEN];
	kiln_sha256_final(&h, got);
	T_STREQ(got, digest, "%s", what);
	if (fd >= 0)
		close(fd);
	free(path);
}

/* One file with a user xattr, its xattrs read by path or through its
 * open fd (xattrs_via_fd): the layer records the xattr either way, and
 * both layers are the same bytes. */
static int xattr_layer(struct img_store *s, const char *file, bool via_fd, struct img_layer *out,
                       struct kiln_err *err)
{
	struct img_layer_opts o = {IMG_COMPRESS_NONE, false, -1};
	struct img_layer_writer *w;
	if (img_layer_writer_new(s, &o, &w, err) < 0)
		return -1;
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	struct img_layer_entry f = {.path = "x",
	                            .mode = S_IFREG | 0644,
	                            .size = 2,
	                            .xattrs_from = file,
	                            .xattrs_via_fd = via_fd};
	int r = img_layer_writer_add(w, &f, fd, err);
	if (r == 0)
		r = img_layer_writer_commit(w, out, err);
	img_layer_writer_free(w);
	close(fd);
	return r;
}

static void check_xattrs(struct img_store *s, const char *dir)
{
	char *file = kiln_path_join(dir, "xattr-file");
	int fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	bool made = fd >= 0 && write(fd, "hi", 2) == 2;
	if (fd >= 0)
		close(fd);
	if (!made || setxattr(file, "user.kiln.t", "v1", 2, 0) < 0) {
		printf("# user xattrs unsupported in %s: xattr checks skipped\n", dir);
		free(file);
		return;
	}
	struct kiln_err err = KILN_ERR_INIT;
	struct img_layer by_path = {0}, by_fd = {0};
	T_OK(xattr_layer(s, file, false, &by_path, &err) == 0, "xattrs by path (%s)",
	     err.msg ? err.msg : "ok");
	T_OK(xattr_layer(s, file, true, &by_fd, &err) == 0, "xattrs through the fd (%s)",
	     err.msg ? err.msg : "ok");
	T_STREQ(by_fd.digest, by_path.digest, "the same layer either way");
	char *path = img_store_blob_path(s, by_fd.digest);
	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	struct archive_entry *e;
	const char *name = NULL, *val = NULL;
	size_t n = 0;
	if (archive_read_open_filename(a, path, 10240) == ARCHIVE_OK &&
	    archive_read_next_header(a, &e) == ARCHIVE_OK && archive_entry_xattr_reset(e) == 1)
		archive_entry_xattr_next(e, &name, (const void **)&val, &n);
	T_OK(name && !strcmp(name, "user.kiln.t") && n == 2 && !memcmp(val, "v1", 2),
	     "the xattr read through the fd is in the tar");
	archive_read_free(a);
	free(path);
	img_layer_release(&by_path);
	img_layer_release(&by_fd);
	kiln_err_release(&err);
	free(file);
}

int main(void)
{
	char tmpl[] = "/tmp/kiln-lw-XXXXXX";
	if (!mkdtemp(tmpl))
		return 2;
	struct kiln_err err = KILN_ERR_INIT;
	struct img_store *s;
	if (img_store_open(tmpl, &s, &err) < 0) {
		printf("# %s\n", err.msg);
		return 2;
	}
	struct img_layer l1 = {0}, l2 = {0};
	T_OK(write_layer(s, 1700000000, &l1, &err) == 0, "layer written");
	T_OK(write_layer(s, 1700000000, &l2, &err) == 0, "written again");
	T_STREQ(l1.digest, l2.digest, "deterministic");
	T_STREQ(l1.diff_id, l1.digest, "uncompressed: diffID is the blob digest");
	T_OK(img_store_has_blob(s, l1.digest), "blob stored");
	check_entries(s, &l1);

	/* a file shorter than promised is an error naming it */
	struct img_layer_writer *w;
	struct img_layer_opts o = {IMG_COMPRESS_NONE, false, -1};
	T_OK(img_layer_writer_new(s, &o, &w, &err) == 0, "second writer");
	int fd = data_fd("abc");
	struct img_layer_entry f = {.path = "short", .mode = S_IFREG | 0600, .size = 10};
	T_OK(img_layer_writer_add(w, &f, fd, &err) < 0, "short data refused");
	T_OK(err.msg && strstr(err.msg, "short"), "error names the entry");
	close(fd);
	img_layer_writer_free(w);
	kiln_err_release(&err);

	struct img_layer b1 = {0}, b2 = {0};
	T_OK(big_layer(s, IMG_COMPRESS_NONE, &b1, &err) == 0, "big layer written");
	check_blob_on_disk(s, b1.digest, "big layer: the blob on disk hashes to its digest");
	T_OK(big_layer(s, IMG_COMPRESS_GZIP, &b2, &err) == 0, "big layer written gzipped");
	T_STREQ(b2.diff_id, b1.diff_id, "gzipped: same diffID");
	check_blob_on_disk(s, b2.digest, "gzipped: the blob on disk hashes to its digest");
	kiln_err_release(&err);

	check_xattrs(s, tmpl);

	img_layer_release(&b1);
	img_layer_release(&b2);
	img_layer_release(&l1);
	img_layer_release(&l2);
	img_store_close(s);
	kiln_rm_rf(tmpl, &err);
	return tap_done();
}
