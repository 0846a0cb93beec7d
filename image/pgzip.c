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

/* Up to nw pieces read (and hashed, in order) into one buffer set. */
struct round {
	unsigned char *in;
	struct piece pc[MAX_WORK];
	int n;
	bool eof, pending; /* pending: compressed, not written yet */
};

static int read_round(int fd, struct round *r, int nw, struct kiln_sha256 *h, struct kiln_err *err)
{
	r->n = 0;
	r->eof = false;
	/* the round after this one is asked of the disk now, so that its read
	 * overlaps this round's compression (a blob past 8 MiB was written
	 * around the page cache and is read from the disk) */
	off_t pos = lseek(fd, 0, SEEK_CUR);
	if (pos >= 0)
		posix_fadvise(fd, pos + (off_t)nw * PIECE, (off_t)nw * PIECE, POSIX_FADV_WILLNEED);
	for (bool eof = false; r->n < nw && !eof; r->n++) {
		size_t got = read_full(fd, r->in + (size_t)r->n * PIECE, PIECE);
		if (got == (size_t)-1)
			return kiln_err_set(err, errno, "reading a layer blob");
		kiln_sha256_update(h, r->in + (size_t)r->n * PIECE, got);
		r->pc[r->n].in = r->in + (size_t)r->n * PIECE;
		r->pc[r->n].in_len = got;
		eof = got < PIECE;
		r->eof = eof;
		if (!got)
			break;
	}
	return 0;
}

static int write_round(struct round *r, struct img_blob_writer *w, img_chunk_fn fn, void *ud,
                       struct kiln_err *err)
{
	if (!r->pending)
		return 0;
	r->pending = false;
	for (int i = 0; i < r->n; i++) {
		if (!r->pc[i].out_len && r->pc[i].in_len)
			return kiln_err_set(err, KILN_E_LIMIT, "gzip output larger than its bound");
		if (!r->pc[i].out_len)
			continue;
		if (img_blob_writer_write(w, r->pc[i].out, r->pc[i].out_len, err) < 0)
			return -1;
		if (fn && fn(ud, r->pc[i].out, r->pc[i].out_len, err) < 0)
			return -1;
	}
	return 0;
}

/* A pipeline of rounds over two buffer sets: while the workers compress
 * round k (one thread per piece), this thread writes round k-1 out (blob,
 * hash, fn) and reads round k+1 in, so reading, compressing and writing
 * overlap and every core compresses. Output stays in order. */
static int pump(int fd, struct img_blob_writer *w, struct round *rs, int nw, struct kiln_sha256 *h,
                img_chunk_fn fn, void *ud, struct kiln_err *err)
{
	if (read_round(fd, &rs[0], nw, h, err) < 0)
		return -1;
	for (int k = 0;; k++) {
		struct round *cur = &rs[k & 1], *other = &rs[(k + 1) & 1];
		if (!cur->n || !cur->pc[0].in_len)
			break;
		pthread_t th[MAX_WORK];
		bool started[MAX_WORK] = {0};
		for (int i = 0; i < cur->n; i++)
			started[i] = pthread_create(&th[i], NULL, compress_piece, &cur->pc[i]) == 0;
		int r = write_round(other, w, fn, ud, err);
		other->n = 0;
		if (r == 0 && !cur->eof)
			r = read_round(fd, other, nw, h, err);
		for (int i = 0; i < cur->n; i++) {
			if (started[i])
				pthread_join(th[i], NULL);
			else
				compress_piece(&cur->pc[i]);
		}
		cur->pending = true;
		if (r < 0)
			return -1;
	}
	return write_round(&rs[0], w, fn, ud, err) < 0 ? -1 : write_round(&rs[1], w, fn, ud, err);
}

static void round_init(struct round *r, int nw)
{
	memset(r, 0, sizeof(*r));
	r->in = xmalloc((size_t)nw * PIECE);
	for (int i = 0; i < nw; i++) {
		struct piece *p = &r->pc[i];
		p->z = libdeflate_alloc_compressor(GZ_LEVEL);
		p->fast = libdeflate_alloc_compressor(1);
		p->store = libdeflate_alloc_compressor(0);
		if (!p->z || !p->fast || !p->store)
			abort(); /* out of memory */
		p->member_bound = libdeflate_gzip_compress_bound(p->store, MEMBER);
		size_t zb = libdeflate_gzip_compress_bound(p->z, MEMBER);
		if (zb > p->member_bound)
			p->member_bound = zb;
		p->out_cap = p->member_bound * (PIECE / MEMBER);
		p->out = xmalloc(p->out_cap);
		p->sample = xmalloc(p->member_bound);
	}
}

static void round_release(struct round *r, int nw)
{
	for (int i = 0; i < nw; i++) {
		libdeflate_free_compressor(r->pc[i].z);
		libdeflate_free_compressor(r->pc[i].fast);
		libdeflate_free_compressor(r->pc[i].store);
		free(r->pc[i].out);
		free(r->pc[i].sample);
	}
	free(r->in);
}

int img_pgzip_blob(struct img_store *s, const char *digest, img_chunk_fn fn, void *ud,
                   char out_digest[KILN_DIGEST_LEN], uint64_t *out_size, struct kiln_err *err)
{
	_cleanup_close_ int fd = img_store_open_blob(s, digest, err);
	if (fd < 0)
		return -1;
	int nw = workers();
	struct round rs[2];
	round_init(&rs[0], nw);
	round_init(&rs[1], nw);
	struct kiln_sha256 h;
	kiln_sha256_init(&h);
	struct img_blob_writer *w = img_blob_writer_new(s, err);
	int ret = w ? pump(fd, w, rs, nw, &h, fn, ud, err) : -1;
	char got[KILN_DIGEST_LEN];
	kiln_sha256_final(&h, got);
	if (ret == 0 && strcmp(got, digest) != 0)
		ret = kiln_err_set(err, KILN_E_CORRUPT,
		                   "blob `%s` is corrupt: its content hashes to %s", digest, got);
	if (ret == 0)
		ret = img_blob_writer_commit(w, NULL, out_digest, out_size, err);
	img_blob_writer_free(w);
	round_release(&rs[0], nw);
	round_release(&rs[1], nw);
	return ret;
}
