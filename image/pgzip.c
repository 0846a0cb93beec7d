/* Parallel gzip of an uncompressed layer blob (libdeflate): the tar is cut
 * into fixed 4 MiB pieces, one per core at a time, each made of 256 KiB gzip
 * members written in order. A member whose first 16 KiB do not shrink at
 * level 1 is stored (deflate level 0: incompressible assets cost a copy,
 * not a compression pass); the others are compressed at GZ_LEVEL. Concatenated members
 * form one valid gzip stream (RFC 1952, 2.2), which every gzip reader
 * (Go's, zlib's, libarchive's) reads through; the output depends on the
 * piece size only, never on the number of cores, so digests do not vary
 * between machines. */
#include <errno.h>
#include <fcntl.h>
#include <libdeflate.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store-internal.h"

#define PIECE    (4u << 20)
#define MEMBER   (256u << 10)
#define SAMPLE   (16u << 10)
#define MAX_WORK 8
#define GZ_LEVEL 4

struct piece {
	const unsigned char *in;
	size_t in_len;
	unsigned char *out, *sample;
	size_t out_cap, out_len, member_bound;
	struct libdeflate_compressor *z, *fast, *store;
};

/* out_len 0 on failure (the bound was wrong) */
static void *compress_piece(void *arg)
{
	struct piece *p = arg;
	p->out_len = 0;
	for (size_t off = 0; off < p->in_len; off += MEMBER) {
		size_t n = p->in_len - off < MEMBER ? p->in_len - off : MEMBER;
		size_t sn = n < SAMPLE ? n : SAMPLE;
		size_t st =
		    libdeflate_gzip_compress(p->fast, p->in + off, sn, p->sample, p->member_bound);
		struct libdeflate_compressor *z = (!st || st + st / 16 >= sn) ? p->store : p->z;
		size_t got = libdeflate_gzip_compress(z, p->in + off, n, p->out + p->out_len,
		                                      p->out_cap - p->out_len);
		if (!got) {
			p->out_len = 0;
			return NULL;
		}
		p->out_len += got;
	}
	return NULL;
}

static size_t read_full(int fd, unsigned char *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? (size_t)-1 : got;
		got += (size_t)r;
	}
	return got;
}

static int workers(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > MAX_WORK ? MAX_WORK : (int)n;
}

/* Compresses rounds of up to nw pieces, in parallel, written in order. */
static int pump(int fd, struct img_blob_writer *w, struct piece *pc, int nw, unsigned char *in,
                struct kiln_sha256 *h, img_chunk_fn fn, void *ud, struct kiln_err *err)
{
	for (;;) {
		int n = 0;
		bool eof = false;
		for (; n < nw && !eof; n++) {
			size_t got = read_full(fd, in + (size_t)n * PIECE, PIECE);
			if (got == (size_t)-1)
				return kiln_err_set(err, errno, "reading a layer blob");
			kiln_sha256_update(h, in + (size_t)n * PIECE, got);
			pc[n].in = in + (size_t)n * PIECE;
			pc[n].in_len = got;
			eof = got < PIECE;
			if (!got)
				break;
		}
		pthread_t th[MAX_WORK];
		bool started[MAX_WORK] = {0};
		for (int i = 1; i < n; i++)
			started[i] = pthread_create(&th[i], NULL, compress_piece, &pc[i]) == 0;
		if (n > 0)
			compress_piece(&pc[0]);
		for (int i = 1; i < n; i++) {
			if (started[i])
				pthread_join(th[i], NULL);
			else
				compress_piece(&pc[i]);
		}
		for (int i = 0; i < n; i++) {
			if (!pc[i].out_len)
				return kiln_err_set(err, KILN_E_LIMIT,
				                    "gzip output larger than its bound");
			if (img_blob_writer_write(w, pc[i].out, pc[i].out_len, err) < 0)
				return -1;
			if (fn && fn(ud, pc[i].out, pc[i].out_len, err) < 0)
				return -1;
		}
		if (eof || n == 0)
			return 0;
	}
}

int img_pgzip_blob(struct img_store *s, const char *digest, img_chunk_fn fn, void *ud,
                   char out_digest[KILN_DIGEST_LEN], uint64_t *out_size, struct kiln_err *err)
{
	_cleanup_close_ int fd = img_store_open_blob(s, digest, err);
	if (fd < 0)
		return -1;
	int nw = workers();
	struct piece pc[MAX_WORK] = {0};
	unsigned char *in = xmalloc((size_t)nw * PIECE);
	for (int i = 0; i < nw; i++) {
		pc[i].z = libdeflate_alloc_compressor(GZ_LEVEL);
		pc[i].fast = libdeflate_alloc_compressor(1);
		pc[i].store = libdeflate_alloc_compressor(0);
		if (!pc[i].z || !pc[i].fast || !pc[i].store)
			abort(); /* out of memory */
		pc[i].member_bound = libdeflate_gzip_compress_bound(pc[i].store, MEMBER);
		size_t zb = libdeflate_gzip_compress_bound(pc[i].z, MEMBER);
		if (zb > pc[i].member_bound)
			pc[i].member_bound = zb;
		pc[i].out_cap = pc[i].member_bound * (PIECE / MEMBER);
		pc[i].out = xmalloc(pc[i].out_cap);
		pc[i].sample = xmalloc(pc[i].member_bound);
	}
	struct kiln_sha256 h;
	kiln_sha256_init(&h);
	struct img_blob_writer *w = img_blob_writer_new(s, err);
	int ret = w ? pump(fd, w, pc, nw, in, &h, fn, ud, err) : -1;
	char got[KILN_DIGEST_LEN];
	kiln_sha256_final(&h, got);
	if (ret == 0 && strcmp(got, digest) != 0)
		ret = kiln_err_set(err, KILN_E_CORRUPT,
		                   "blob `%s` is corrupt: its content hashes to %s", digest, got);
	if (ret == 0)
		ret = img_blob_writer_commit(w, NULL, out_digest, out_size, err);
	img_blob_writer_free(w);
	for (int i = 0; i < nw; i++) {
		libdeflate_free_compressor(pc[i].z);
		libdeflate_free_compressor(pc[i].fast);
		libdeflate_free_compressor(pc[i].store);
		free(pc[i].out);
		free(pc[i].sample);
	}
	free(in);
	return ret;
}
