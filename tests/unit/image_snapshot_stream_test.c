/* Snapshots unpacked from a stream (a pull), where one thread decompresses
 * and hashes while another makes the files: the tree and its modes come
 * out right, and a wrong diffID, a cut stream, a failing input and a size
 * limit each fail with their own error and publish nothing. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image.h"
#include "tap.h"

#define BIG (1536u << 10)

struct mem {
	unsigned char *p;
	size_t n;
};

static void add(struct archive *a, const char *path, mode_t type, mode_t perm, const void *data,
                size_t n, const char *link)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, perm);
	archive_entry_set_size(e, type == AE_IFREG ? (la_int64_t)n : 0);
	archive_entry_set_mtime(e, 1000000000, 0);
	if (link)
		archive_entry_set_symlink(e, link);
	archive_write_header(a, e);
	if (n)
		archive_write_data(a, data, n);
	archive_entry_free(e);
}

/* The layer as a tar (its diffID's bytes) or gzipped (the blob). */
static struct mem layer(bool gzip, const unsigned char *big)
{
	struct mem m = {xmalloc(4u << 20), 0};
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	if (gzip)
		archive_write_add_filter_gzip(a);
	archive_write_set_bytes_in_last_block(a, 1);
	archive_write_open_memory(a, m.p, 4u << 20, &m.n);
	add(a, "a", AE_IFDIR, 0755, NULL, 0, NULL);
	add(a, "a/big", AE_IFREG, 0644, big, BIG, NULL);
	add(a, "a/small", AE_IFREG, 0444, "hello", 5, NULL);
	add(a, "a/suid", AE_IFREG, 04755, "#!", 2, NULL);
	add(a, "a/link", AE_IFLNK, 0777, NULL, 0, "small");
	archive_write_close(a);
	archive_write_free(a);
	return m;
}

struct feed {
	const struct mem *m;
	size_t off, cut, fail_at, step;
};

static ssize_t feed(void *ud, const void **buf, struct kiln_err *err)
{
	struct feed *f = ud;
	if (f->fail_at && f->off >= f->fail_at)
		return kiln_err_set(err, ECANCELED, "the download was abandoned");
	size_t end = f->cut ? f->cut : f->m->n;
	size_t n = end - f->off < f->step ? end - f->off : f->step;
	*buf = f->m->p + f->off;
	f->off += n;
	return (ssize_t)n;
}

static int temps(const char *root)
{
	char *p = kiln_path_join(root, "tmp");
	DIR *d = opendir(p);
	int n = 0;
	struct dirent *de;
	while (d && (de = readdir(d)))
		n += !strncmp(de->d_name, "extract-", 8);
	if (d)
		closedir(d);
	free(p);
	return n;
}

static int unpack(struct img_store *s, const char *diff, struct feed *f, struct kiln_err *err)
{
	struct img_layer l = {0};
	snprintf(l.diff_id, sizeof(l.diff_id), "%s", diff);
	return img_snapshot_from_stream(s, &l, feed, f, err);
}

int main(void)
{
	char tmpl[] = "/tmp/kiln-snapshot-stream-test.XXXXXX";
	char *root = mkdtemp(tmpl);
	struct kiln_err err = KILN_ERR_INIT;
	struct img_store *s = NULL;
	T_OK(img_store_open(root, &s, &err) == 0, "open the store");
	unsigned char *big = xmalloc(BIG);
	srand(7);
	for (size_t i = 0; i < BIG; i++)
		big[i] = (unsigned char)(rand() & 0xff);
	struct mem tar = layer(false, big), gz = layer(true, big);
	char diff[KILN_DIGEST_LEN], wrong[KILN_DIGEST_LEN];
	kiln_sha256_digest(tar.p, tar.n, diff);
	kiln_sha256_digest("other", 5, wrong);

	struct feed f = {.m = &gz, .step = 100000};
	int r = unpack(s, wrong, &f, &err);
	T_OK(r < 0 && err.msg && strstr(err.msg, "diffID mismatch"), "a wrong diffID fails: %s",
	     err.msg);
	kiln_err_release(&err);
	T_OK(!img_snapshot_exists(s, wrong), "... and publishes nothing");

	f = (struct feed){.m = &gz, .step = 100000, .cut = gz.n / 2};
	r = unpack(s, diff, &f, &err);
	T_OK(r < 0, "a stream cut in half fails: %s", err.msg);
	kiln_err_release(&err);
	T_OK(!img_snapshot_exists(s, diff), "... and publishes nothing");

	f = (struct feed){.m = &gz, .step = 100000, .fail_at = 300000};
	r = unpack(s, diff, &f, &err);
	T_OK(r < 0 && err.msg && strstr(err.msg, "abandoned"),
	     "the input's error comes through: %s", err.msg);
	kiln_err_release(&err);
	T_OK(!img_snapshot_exists(s, diff), "... and nothing is published");

	setenv("KILN_LAYER_MAX_SIZE", "1m", 1);
	f = (struct feed){.m = &gz, .step = 100000};
	r = unpack(s, diff, &f, &err);
	T_OK(r < 0 && err.msg && strstr(err.msg, "KILN_LAYER_MAX_SIZE"), "the size limit holds: %s",
	     err.msg);
	kiln_err_release(&err);
	unsetenv("KILN_LAYER_MAX_SIZE");
	T_INTEQ(temps(root), 0, "no partial extraction is left behind");

	f = (struct feed){.m = &gz, .step = 65536};
	r = unpack(s, diff, &f, &err);
	T_OK(r == 0, "the layer unpacks (%s)", err.msg ? err.msg : "");
	T_OK(img_snapshot_exists(s, diff), "... into its snapshot");
	char *dir = xasprintf("%s/snapshots/%s/a", root, kiln_digest_hex(diff));
	char *p = kiln_path_join(dir, "big"), *data = NULL;
	size_t n = 0;
	T_OK(kiln_read_file(p, 4u << 20, &data, &n, &err) == 0 && n == BIG && !memcmp(data, big, n),
	     "a file over many buffers is whole");
	free(p);
	free(data);
	struct stat st;
	p = kiln_path_join(dir, "small");
	memset(&st, 0, sizeof(st));
	stat(p, &st);
	T_OK((st.st_mode & 07777) == 0444 && st.st_mtime == 1000000000,
	     "a read-only file keeps its mode and mtime (%o)", (unsigned)(st.st_mode & 07777));
	free(p);
	p = kiln_path_join(dir, "suid");
	memset(&st, 0, sizeof(st));
	stat(p, &st);
	T_OK(geteuid() != 0 || (st.st_mode & 07777) == 04755, "a setuid file keeps it as root (%o)",
	     (unsigned)(st.st_mode & 07777));
	free(p);
	free(dir);

	free(big);
	free(tar.p);
	free(gz.p);
	img_store_close(s);
	kiln_rm_rf(root, NULL);
	return tap_done();
}
