/* The blob writer past its first 8 MiB (O_DIRECT from an aligned buffer
 * where the filesystem allows it, buffered where not): odd write sizes, an
 * unaligned switch point, a long run of zeros kept as a hole and a tail
 * that is no multiple of the block size all read back byte for byte under
 * the right digest, in a store on the test's temp dir and on /dev/shm
 * (tmpfs refuses O_DIRECT). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image.h"
#include "tap.h"

#define MB (1u << 20)

/* Byte i of the blob: zeros in [20 MiB, 24 MiB), a pattern elsewhere. */
static unsigned char byte_at(size_t i)
{
	if (i >= 20 * MB && i < 24 * MB)
		return 0;
	return (unsigned char)(i * 2654435761u >> 13);
}

static void check_store(const char *base)
{
	char *tmpl = xasprintf("%s/kiln-direct-test.XXXXXX", base);
	if (!mkdtemp(tmpl)) {
		T_OK(1, "# skip %s: no temp dir", base);
		free(tmpl);
		return;
	}
	struct kiln_err err = KILN_ERR_INIT;
	struct img_store *s = NULL;
	T_OK(img_store_open(tmpl, &s, &err) == 0, "%s: open a store", base);
	const size_t total = 30 * MB + 1234;
	unsigned char *all = xmalloc(total);
	for (size_t i = 0; i < total; i++)
		all[i] = byte_at(i);
	char want[KILN_DIGEST_LEN];
	kiln_sha256_digest(all, total, want);

	struct img_blob_writer *w = img_blob_writer_new(s, &err);
	int r = 0;
	size_t off = 0;
	/* odd pieces up to 20 MiB, then the zeros in 64 KiB pieces (a hole),
	 * then odd pieces again */
	while (r == 0 && off < 20 * MB) {
		size_t n = 100003 < 20 * MB - off ? 100003 : 20 * MB - off;
		r = img_blob_writer_write(w, all + off, n, &err);
		off += n;
	}
	while (r == 0 && off < 24 * MB) {
		r = img_blob_writer_write(w, all + off, 64u << 10, &err);
		off += 64u << 10;
	}
	while (r == 0 && off < total) {
		size_t n = 777777 < total - off ? 777777 : total - off;
		r = img_blob_writer_write(w, all + off, n, &err);
		off += n;
	}
	char got[KILN_DIGEST_LEN];
	uint64_t size = 0;
	T_OK(r == 0 && img_blob_writer_commit(w, want, got, &size, &err) == 0,
	     "%s: written and committed under the expected digest", base);
	img_blob_writer_free(w);
	T_OK(size == total, "%s: size %llu", base, (unsigned long long)size);

	char *p = img_store_blob_path(s, want);
	struct stat st;
	T_OK(stat(p, &st) == 0 && (uint64_t)st.st_size == total, "%s: the file's size", base);
	char *data = NULL;
	size_t len = 0;
	T_OK(kiln_read_file(p, total + 1, &data, &len, &err) == 0 && len == total &&
	         !memcmp(data, all, total),
	     "%s: reads back byte for byte", base);
	T_OK((uint64_t)st.st_blocks * 512 < total,
	     "%s: the zeros are a hole (%llu bytes allocated)", base,
	     (unsigned long long)st.st_blocks * 512);
	free(data);
	free(p);
	free(all);
	img_store_close(s);
	kiln_rm_rf(tmpl, NULL);
	free(tmpl);
}

int main(void)
{
	const char *t = getenv("TMPDIR");
	check_store(t && *t ? t : "/tmp");
	struct stat st;
	if (stat("/dev/shm", &st) == 0 && access("/dev/shm", W_OK) == 0)
		check_store("/dev/shm");
	return tap_done();
}
