/* image/: a file that shrinks while layer_copy_data copies it (a `kiln
 * commit` of a running container, a COPY of a file being written) is an
 * error the callers report as "changed while being read", never a tar
 * entry padded with zeros to the size its header promised. The file is
 * truncated at a controlled point: from the archive's write callback, once
 * a given number of its data bytes have gone out. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "layer-internal.h"
#include "tap.h"

#define MIB (1u << 20)
#define BUF (64u * 1024)

struct shrink {
	const char *path;
	uint64_t out;   /* bytes the archive wrote */
	uint64_t after; /* truncate once out reaches this (0: never) */
	off_t to;
};

static la_ssize_t on_write(struct archive *a, void *ud, const void *p, size_t n)
{
	(void)a;
	(void)p;
	struct shrink *s = ud;
	s->out += n;
	if (s->after && s->out >= s->after) {
		if (truncate(s->path, s->to) < 0)
			exit(2);
		s->after = 0;
	}
	return (la_ssize_t)n;
}

/* A file of size bytes with data runs {offset, length} and holes between. */
static void make_file(const char *path, uint64_t size, const uint64_t (*runs)[2], size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		exit(2);
	char *data = xmalloc(MIB);
	memset(data, 'x', MIB);
	for (size_t i = 0; i < n; i++)
		for (uint64_t k = 0; k < runs[i][1]; k += MIB) {
			size_t len = runs[i][1] - k < MIB ? (size_t)(runs[i][1] - k) : MIB;
			if (pwrite(fd, data, len, (off_t)(runs[i][0] + k)) != (ssize_t)len)
				exit(2);
		}
	if (ftruncate(fd, (off_t)size) < 0)
		exit(2);
	close(fd);
	free(data);
}

/* Copies path into a tar entry of its size, truncating it to `to` once
 * `after` of its data bytes went out (after 0: never); the result of
 * layer_copy_data. */
static int copy(const char *path, uint64_t after, off_t to)
{
	struct stat st;
	if (stat(path, &st) < 0)
		exit(2);
	struct shrink s = {.path = path, .to = to};
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	archive_write_set_format_pax_restricted(a);
	archive_write_set_bytes_per_block(a, 0); /* each piece to on_write as it comes */
	archive_write_set_bytes_in_last_block(a, 1);
	int r = -100;
	if (archive_write_open2(a, &s, NULL, on_write, NULL, NULL) == ARCHIVE_OK) {
		archive_entry_set_pathname(e, "f");
		archive_entry_set_mode(e, S_IFREG | 0644);
		archive_entry_set_size(e, st.st_size);
		if (archive_write_header(a, e) == ARCHIVE_OK) {
			s.after = after ? s.out + after : 0;
			int fd = open(path, O_RDONLY | O_CLOEXEC);
			char *buf = xmalloc(BUF);
			r = layer_copy_data(a, fd, (uint64_t)st.st_size, buf, BUF, NULL);
			free(buf);
			close(fd);
		}
	}
	archive_entry_free(e);
	archive_write_free(a);
	return r;
}

int main(void)
{
	const char *t = getenv("KILN_TEST_TMP") ? getenv("KILN_TEST_TMP") : "/tmp";
	kiln_mkdir_p(t, 0755, NULL);
	char *tmpl = xasprintf("%s/shrinktest.XXXXXX", t);
	char *dir = mkdtemp(tmpl);
	if (!dir)
		tap_skip_all("mkdtemp failed");
	char *f = kiln_path_join(dir, "f");
	/* data, a hole, data at the end; data, then a hole to the end */
	static const uint64_t mid[][2] = {{0, MIB}, {6 * MIB, 4096}};
	static const uint64_t tail[][2] = {{0, MIB}};
	const uint64_t mid_size = 6 * MIB + 4096, tail_size = 6 * MIB;

	make_file(f, mid_size, mid, 2);
	struct stat st;
	if (stat(f, &st) == 0 && (uint64_t)st.st_blocks * 512 >= (uint64_t)st.st_size)
		tap_diag("the test file system made no holes: the hole path is not exercised");
	T_INTEQ(copy(f, 0, 0), 0, "a sparse file left alone is copied whole");
	T_INTEQ(copy(f, MIB, 2 * MIB), LAYER_DATA_SHRANK,
	        "shrunk inside its hole while being copied: LAYER_DATA_SHRANK, not zeros");
	make_file(f, mid_size, mid, 2);
	T_INTEQ(copy(f, MIB, 0), LAYER_DATA_SHRANK,
	        "emptied while its hole was being reached: LAYER_DATA_SHRANK");
	make_file(f, mid_size, mid, 2);
	T_INTEQ(copy(f, MIB / 2, MIB / 2 + 4096), LAYER_DATA_SHRANK,
	        "shrunk inside its data while being copied: LAYER_DATA_SHRANK");

	make_file(f, tail_size, tail, 1);
	T_INTEQ(copy(f, 0, 0), 0, "a file that ends in a hole is copied whole");
	T_INTEQ(copy(f, MIB, 3 * MIB), LAYER_DATA_SHRANK,
	        "one that ends in a hole, shrunk inside it: LAYER_DATA_SHRANK");
	make_file(f, tail_size, tail, 1);
	T_INTEQ(copy(f, MIB, (off_t)tail_size), 0,
	        "truncated to the size it had (no change): copied whole");

	struct kiln_err err = KILN_ERR_INIT;
	kiln_rm_rf(dir, &err);
	kiln_err_release(&err);
	free(f);
	free(tmpl);
	return tap_done();
}
