/* Layer byte streams: the one-pass sink (diffID + compression + blob
 * digest) and source (blob digest + decompression + diffID). */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layer-internal.h"

#define RBUF_SIZE (128 * 1024)

/* --- media types ------------------------------------------------------- */

const char *img_compression_media_type(enum img_compression c)
{
	switch (c) {
	case IMG_COMPRESS_GZIP: return IMG_MT_LAYER_GZIP;
	case IMG_COMPRESS_ZSTD: return IMG_MT_LAYER_ZSTD;
	case IMG_COMPRESS_NONE: break;
	}
	return IMG_MT_LAYER;
}

const char *img_compression_name(enum img_compression c)
{
	switch (c) {
	case IMG_COMPRESS_GZIP: return "gzip";
	case IMG_COMPRESS_ZSTD: return "zstd";
	case IMG_COMPRESS_NONE: break;
	}
	return "none";
}

int img_compression_parse(const char *name, enum img_compression *c, struct kiln_err *err)
{
	if (!strcmp(name, "none") || !strcmp(name, "uncompressed"))
		*c = IMG_COMPRESS_NONE;
	else if (!strcmp(name, "gzip"))
		*c = IMG_COMPRESS_GZIP;
	else if (!strcmp(name, "zstd"))
		*c = IMG_COMPRESS_ZSTD;
	else
		return kiln_err_set(err, KILN_E_INVALID,
		                    "unknown compression `%s` (none, gzip or zstd)", name);
	return 0;
}

int img_compression_from_media_type(const char *mt, enum img_compression *c, struct kiln_err *err)
{
	static const struct {
		const char *mt;
		enum img_compression c;
	} types[] = {
	    {IMG_MT_LAYER, IMG_COMPRESS_NONE},
	    {IMG_MT_LAYER_GZIP, IMG_COMPRESS_GZIP},
	    {IMG_MT_LAYER_ZSTD, IMG_COMPRESS_ZSTD},
	    {"application/vnd.oci.image.layer.nondistributable.v1.tar", IMG_COMPRESS_NONE},
	    {"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", IMG_COMPRESS_GZIP},
	    {"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", IMG_COMPRESS_ZSTD},
	    {"application/vnd.docker.image.rootfs.diff.tar", IMG_COMPRESS_NONE},
	    {IMG_MT_DOCKER_LAYER, IMG_COMPRESS_GZIP},
	    {"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", IMG_COMPRESS_GZIP},
	};
	for (size_t i = 0; i < KILN_ARRAY_SIZE(types); i++)
		if (!strcmp(mt, types[i].mt)) {
			*c = types[i].c;
			return 0;
		}
	return kiln_err_set(err, KILN_E_UNSUPPORTED, "unsupported layer media type `%s`", mt);
}

/* --- sink ---------------------------------------------------------------- */

static la_ssize_t sink_out(struct archive *a, void *opaque, const void *p, size_t n)
{
	(void)a;
	struct layer_sink *k = opaque;
	if (img_blob_writer_write(k->w, p, n, &k->err) < 0)
		return -1;
	return (la_ssize_t)n;
}

static int sink_archive_err(struct layer_sink *k, struct kiln_err *err, const char *what)
{
	if (k->err.code || k->err.msg) {
		kiln_err_move(err, &k->err);
		return -1;
	}
	return kiln_err_set(err, k->z ? archive_errno(k->z) : 0, "%s: %s", what,
	                    k->z && archive_error_string(k->z) ? archive_error_string(k->z)
	                                                       : "compressor error");
}

int layer_sink_open(struct layer_sink *k, struct img_store *s, enum img_compression comp,
                    struct kiln_err *err)
{
	memset(k, 0, sizeof(*k));
	k->comp = comp;
	k->s = s;
	k->w = img_blob_writer_new(s, err);
	if (!k->w)
		return -1;
	if (comp == IMG_COMPRESS_NONE)
		return 0;
	kiln_sha256_init(&k->diff);
	k->z = archive_write_new();
	int r = comp == IMG_COMPRESS_GZIP ? archive_write_add_filter_gzip(k->z)
	                                  : archive_write_add_filter_zstd(k->z);
	if (r == ARCHIVE_OK && comp == IMG_COMPRESS_GZIP)
		/* no timestamp in the gzip header: same input, same bytes */
		r = archive_write_set_filter_option(k->z, "gzip", "timestamp", NULL);
	if (r == ARCHIVE_OK && comp == IMG_COMPRESS_ZSTD) {
		/* zstd workers compress beside the tar writer; the frame is the same
		 * for any number of workers >= 1, so digests do not depend on the
		 * machine's core count. */
		char threads[16];
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		snprintf(threads, sizeof(threads), "%ld", n < 1 ? 1 : n > 8 ? 8 : n);
		r = archive_write_set_filter_option(k->z, "zstd", "threads", threads);
	}
	if (r == ARCHIVE_OK)
		r = archive_write_set_format_raw(k->z);
	if (r == ARCHIVE_OK)
		r = archive_write_set_bytes_in_last_block(k->z, 1);
	if (r == ARCHIVE_OK)
		r = archive_write_open2(k->z, k, NULL, sink_out, NULL, NULL);
	if (r == ARCHIVE_OK) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_pathname(e, "layer.tar");
		r = archive_write_header(k->z, e);
		archive_entry_free(e);
	}
	if (r != ARCHIVE_OK) {
		sink_archive_err(k, err, "starting the layer compressor");
		layer_sink_release(k);
		return -1;
	}
	return 0;
}

int layer_sink_write(struct layer_sink *k, const void *p, size_t n, struct kiln_err *err)
{
	if (!k->z) /* the blob is the tar: its digest is the diffID */
		return img_blob_writer_write(k->w, p, n, err);
	kiln_sha256_update(&k->diff, p, n);
	const char *c = p;
	while (n) {
		la_ssize_t w = archive_write_data(k->z, c, n);
		if (w <= 0)
			return sink_archive_err(k, err, "compressing layer");
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

int layer_sink_commit(struct layer_sink *k, const char *expected_diff, struct img_layer *out,
                      struct kiln_err *err)
{
	if (k->z && archive_write_close(k->z) != ARCHIVE_OK)
		return sink_archive_err(k, err, "finishing the layer compressor");
	char diff[KILN_DIGEST_LEN] = "";
	if (k->z) {
		kiln_sha256_final(&k->diff, diff);
		if (expected_diff && strcmp(expected_diff, diff) != 0)
			return kiln_err_set(
			    err, KILN_E_CORRUPT,
			    "layer diffID mismatch: expected %s, content hashes to %s",
			    expected_diff, diff);
	}
	memset(out, 0, sizeof(*out));
	/* uncompressed, the blob digest is the diffID: the writer checks it */
	if (img_blob_writer_commit(k->w, k->z ? NULL : expected_diff, out->digest, &out->size,
	                           err) < 0)
		return k->z ? -1 : kiln_err_wrap(err, "layer diffID");
	memcpy(out->diff_id, k->z ? diff : out->digest, KILN_DIGEST_LEN);
	out->media_type = xstrdup(img_compression_media_type(k->comp));
	if (k->counted)
		layer_usage_record(k->s, out->diff_id, k->usage);
	return 0;
}

void layer_sink_release(struct layer_sink *k)
{
	if (k->z)
		archive_write_free(k->z);
	k->z = NULL;
	img_blob_writer_free(k->w);
	k->w = NULL;
	if (k->diff.ctx)
		kiln_sha256_release(&k->diff);
	kiln_err_release(&k->err);
}

/* --- limits ------------------------------------------------------------- */

static int parse_size(const char *name, const char *v, uint64_t *out, struct kiln_err *err)
{
	char *end;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	unsigned shift = 0;
	switch (*end) {
	case 'k':
	case 'K': shift = 10, end++; break;
	case 'm':
	case 'M': shift = 20, end++; break;
	case 'g':
	case 'G': shift = 30, end++; break;
	case 't':
	case 'T': shift = 40, end++; break;
	default: break;
	}
	if (errno || end == v || *end || *v == '-' || (shift && n > (UINT64_MAX >> shift)))
		return kiln_err_set(err, KILN_E_INVALID, "%s=`%s`: not a number of bytes", name, v);
	*out = (uint64_t)n << shift;
	return 0;
}

int layer_limits(uint64_t *max_size, uint64_t *max_ratio, struct kiln_err *err)
{
	*max_size = (uint64_t)64 << 30;
	*max_ratio = 2000;
	const char *v = getenv("KILN_LAYER_MAX_SIZE");
	if (v && *v && parse_size("KILN_LAYER_MAX_SIZE", v, max_size, err) < 0)
		return -1;
	v = getenv("KILN_LAYER_MAX_RATIO");
	if (v && *v && parse_size("KILN_LAYER_MAX_RATIO", v, max_ratio, err) < 0)
		return -1;
	return 0;
}

static int check_limits(struct layer_source *src, struct kiln_err *err)
{
	if (src->max_size && src->diff_size > src->max_size)
		return kiln_err_set(err, KILN_E_LIMIT,
		                    "layer is larger than %llu bytes uncompressed (the limit set "
		                    "by KILN_LAYER_MAX_SIZE)",
		                    (unsigned long long)src->max_size);
	if (src->max_ratio && !src->same && src->diff_size > LAYER_RATIO_FLOOR &&
	    src->diff_size / src->max_ratio > src->blob_size)
		return kiln_err_set(err, KILN_E_LIMIT,
		                    "layer decompresses to more than %llu times its %s size "
		                    "(%llu bytes from %llu: a decompression bomb? the limit is "
		                    "KILN_LAYER_MAX_RATIO)",
		                    (unsigned long long)src->max_ratio, src->filter,
		                    (unsigned long long)src->diff_size,
		                    (unsigned long long)src->blob_size);
	return 0;
}

/* --- source -------------------------------------------------------------- */

static ssize_t fd_input(void *ud, const void **buf, struct kiln_err *err)
{
	struct layer_source *src = ud;
	ssize_t n;
	do
		n = read(src->fd, src->rbuf, RBUF_SIZE);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return kiln_err_set(err, errno, "read layer");
	*buf = src->rbuf;
	return n;
}

/* The next raw bytes, hashed into the blob digest. */
static ssize_t raw_next(struct layer_source *src, const void **buf, struct kiln_err *err)
{
	if (src->raw_eof)
		return 0;
	ssize_t n = src->input(src->input_ud, buf, err);
	if (n < 0)
		return -1;
	if (n == 0)
		src->raw_eof = true;
	if (!src->nohash && !src->noblob)
		kiln_sha256_update(&src->blob, *buf, (size_t)n);
	src->blob_size += (uint64_t)n;
	return n;
}

static la_ssize_t source_in(struct archive *a, void *opaque, const void **buf)
{
	(void)a;
	struct layer_source *src = opaque;
	ssize_t n = raw_next(src, buf, &src->err);
	return n < 0 ? -1 : n;
}

static int source_err(struct layer_source *src, struct kiln_err *err, const char *what)
{
	if (src->err.msg) {
		kiln_err_move(err, &src->err);
		return -1;
	}
	const char *m = archive_error_string(src->raw);
	return kiln_err_set(err, KILN_E_CORRUPT, "%s: %s", what, m ? m : "unreadable data");
}

static int source_open(struct layer_source *src, int fd, layer_input_fn input, void *ud, bool hash,
                       bool noblob, struct kiln_err *err)
{
	memset(src, 0, sizeof(*src));
	src->fd = fd;
	src->nohash = !hash;
	src->noblob = noblob;
	src->input = input;
	src->input_ud = ud ? ud : src;
	if (hash && layer_limits(&src->max_size, &src->max_ratio, err) < 0)
		return -1;
	src->rbuf = xmalloc(RBUF_SIZE);
	kiln_sha256_init(&src->blob);
	kiln_sha256_init(&src->diff);
	src->raw = archive_read_new();
	/* docker's set (DecompressStream); not filter_all, whose uu, rpm,
	 * lrzip, grzip... run external programs or unwrap odd containers */
	archive_read_support_filter_gzip(src->raw);
	archive_read_support_filter_zstd(src->raw);
	archive_read_support_filter_xz(src->raw);
	archive_read_support_filter_bzip2(src->raw);
	archive_read_support_format_raw(src->raw);
	archive_read_support_format_empty(src->raw);
	struct archive_entry *e;
	if (archive_read_open2(src->raw, src, NULL, source_in, NULL, NULL) != ARCHIVE_OK) {
		source_err(src, err, "reading layer");
		layer_source_release(src);
		return -1;
	}
	int r = archive_read_next_header(src->raw, &e);
	if (r == ARCHIVE_EOF) {
		src->eof = true; /* an empty stream */
	} else if (r != ARCHIVE_OK) {
		source_err(src, err, "reading layer");
		layer_source_release(src);
		return -1;
	}
	int nf = archive_filter_count(src->raw);
	src->filter = nf > 1 ? archive_filter_name(src->raw, 0) : "none";
	if (nf > 2) {
		/* gzip in gzip: docker decompresses once and sees no tar */
		kiln_err_set(err, KILN_E_UNSUPPORTED, "layer is compressed twice (%s over %s)",
		             archive_filter_name(src->raw, 0), archive_filter_name(src->raw, 1));
		layer_source_release(src);
		return -1;
	}
	if (nf <= 1) { /* not compressed: the diffID is the blob digest */
		src->same = true;
		if (!src->noblob)
			kiln_sha256_release(&src->diff);
	}
	return 0;
}

int layer_source_open_input(struct layer_source *src, layer_input_fn input, void *ud,
                            struct kiln_err *err)
{
	return source_open(src, -1, input, ud, true, false, err);
}

int layer_source_open_input_diff(struct layer_source *src, layer_input_fn input, void *ud,
                                 struct kiln_err *err)
{
	return source_open(src, -1, input, ud, true, true, err);
}

int layer_source_open(struct layer_source *src, int fd, struct kiln_err *err)
{
	return source_open(src, fd, fd_input, NULL, true, false, err);
}

int layer_source_open_stream(struct layer_source *src, int fd, struct kiln_err *err)
{
	return source_open(src, fd, fd_input, NULL, false, false, err);
}

ssize_t layer_source_read(struct layer_source *src, void *buf, size_t n, struct kiln_err *err)
{
	if (src->eof)
		return 0;
	la_ssize_t r = archive_read_data(src->raw, buf, n);
	if (r < 0)
		return source_err(src, err, "decompressing layer");
	if (r == 0)
		src->eof = true;
	if ((!src->same || src->noblob) && !src->nohash)
		kiln_sha256_update(&src->diff, buf, (size_t)r);
	src->diff_size += (uint64_t)r;
	if (check_limits(src, err) < 0)
		return -1;
	if (r && src->tee && src->tee(src->tee_ud, buf, (size_t)r, err) < 0)
		return -1;
	return r;
}

int layer_source_finish_raw(struct layer_source *src, char blob_digest[KILN_DIGEST_LEN],
                            uint64_t *blob_size, struct kiln_err *err)
{
	const void *p;
	ssize_t n;
	/* bytes after the compressed stream still count for the blob digest */
	while ((n = raw_next(src, &p, err)) > 0)
		;
	if (n < 0)
		return -1;
	char b[KILN_DIGEST_LEN] = "";
	if (!src->noblob)
		kiln_sha256_final(&src->blob, b);
	if (blob_digest)
		memcpy(blob_digest, b, KILN_DIGEST_LEN);
	if (blob_size)
		*blob_size = src->blob_size;
	return 0;
}

int layer_source_finish(struct layer_source *src, char blob_digest[KILN_DIGEST_LEN],
                        char diff_id[KILN_DIGEST_LEN], uint64_t *blob_size, struct kiln_err *err)
{
	char buf[16384];
	ssize_t n;
	while ((n = layer_source_read(src, buf, sizeof(buf), err)) > 0)
		;
	if (n < 0)
		return -1;
	char b[KILN_DIGEST_LEN], d[KILN_DIGEST_LEN];
	if (layer_source_finish_raw(src, b, blob_size, err) < 0)
		return -1;
	if (src->same && !src->noblob)
		memcpy(d, b, KILN_DIGEST_LEN);
	else
		kiln_sha256_final(&src->diff, d);
	if (blob_digest)
		memcpy(blob_digest, b, KILN_DIGEST_LEN);
	if (diff_id)
		memcpy(diff_id, d, KILN_DIGEST_LEN);
	return 0;
}

void layer_source_release(struct layer_source *src)
{
	if (src->raw)
		archive_read_free(src->raw);
	src->raw = NULL;
	if (src->blob.ctx)
		kiln_sha256_release(&src->blob);
	if (src->diff.ctx)
		kiln_sha256_release(&src->diff);
	free(src->rbuf);
	src->rbuf = NULL;
	kiln_err_release(&src->err);
}

/* --- a tar reader over a source ---------------------------------------- */

struct tar_feed {
	struct layer_source *src;
	char buf[RBUF_SIZE];
};

static la_ssize_t tar_in(struct archive *a, void *opaque, const void **buf)
{
	struct tar_feed *f = opaque;
	struct kiln_err e = KILN_ERR_INIT;
	ssize_t n = layer_source_read(f->src, f->buf, sizeof(f->buf), &e);
	if (n < 0) {
		if (!f->src->err.msg)
			kiln_err_move(&f->src->err, &e);
		kiln_err_release(&e);
		archive_set_error(a, EIO, "%s", f->src->err.msg ? f->src->err.msg : "read error");
		return -1;
	}
	*buf = f->buf;
	return n;
}

static int tar_close(struct archive *a, void *opaque)
{
	(void)a;
	free(opaque);
	return ARCHIVE_OK;
}

struct archive *layer_tar_reader_open(void *feed,
                                      ssize_t (*rd)(struct archive *, void *, const void **),
                                      int (*cl)(struct archive *, void *), char **msg)
{
	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	archive_read_support_format_gnutar(a);
	archive_read_support_format_empty(a);
	if (archive_read_open2(a, feed, NULL, rd, NULL, cl) != ARCHIVE_OK) {
		const char *m = archive_error_string(a);
		*msg = xstrdup(m ? m : "unrecognized format");
		archive_read_free(a);
		return NULL;
	}
	return a;
}

int layer_tar_reader_err(struct layer_source *src, const char *msg, struct kiln_err *err)
{
	if (src->err.msg) {
		kiln_err_move(err, &src->err);
		return -1;
	}
	return kiln_err_set(err, KILN_E_INVALID,
	                    "reading layer tar: not a tar archive (compression: %s): %s",
	                    src->filter, msg);
}

struct archive *layer_source_tar_reader(struct layer_source *src, struct kiln_err *err)
{
	struct tar_feed *f = xcalloc(1, sizeof(*f));
	f->src = src;
	_cleanup_free_ char *msg = NULL;
	struct archive *a = layer_tar_reader_open(f, tar_in, tar_close, &msg);
	if (!a)
		layer_tar_reader_err(src, msg, err);
	return a;
}

bool img_tar_probe(int fd)
{
	struct kiln_err err = KILN_ERR_INIT;
	struct layer_source src;
	bool tar = false;
	if (layer_source_open_stream(&src, fd, &err) == 0) {
		struct archive *a = layer_source_tar_reader(&src, &err);
		struct archive_entry *e;
		if (a) {
			int r = archive_read_next_header(a, &e);
			tar = r == ARCHIVE_OK || r == ARCHIVE_WARN;
			archive_read_free(a);
		}
		layer_source_release(&src);
	}
	kiln_err_release(&err);
	return tar;
}
