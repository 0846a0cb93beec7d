/* Private to image/: byte streams of layers.
 *
 * layer_sink: takes the uncompressed tar stream, hashes it (diffID) and
 * feeds a compressor (libarchive "raw" writer with a filter) whose output
 * goes to a blob writer (which hashes the blob digest): one pass.
 *
 * layer_source: the reverse. Reads a blob from an fd, hashing the bytes as
 * read (blob digest), decompresses with libarchive's "raw" reader (any
 * filter it knows), and hashes the decompressed bytes (diffID). */
#ifndef KILN_IMAGE_LAYER_INTERNAL_H
#define KILN_IMAGE_LAYER_INTERNAL_H

#include <sys/types.h>

#include "image.h"

struct archive;

struct layer_sink {
	struct img_blob_writer *w;
	struct archive *z; /* NULL for IMG_COMPRESS_NONE */
	struct kiln_sha256 diff;
	enum img_compression comp;
	struct kiln_err err; /* error raised inside a libarchive callback */
};
int layer_sink_open(struct layer_sink *k, struct img_store *s, enum img_compression comp,
                    struct kiln_err *err);
int layer_sink_write(struct layer_sink *k, const void *p, size_t n, struct kiln_err *err);
/* expected_diff may be NULL */
int layer_sink_commit(struct layer_sink *k, const char *expected_diff, struct img_layer *out,
                      struct kiln_err *err);
void layer_sink_release(struct layer_sink *k);

struct layer_source {
	int fd; /* not owned */
	struct archive *raw;
	struct kiln_sha256 blob;
	struct kiln_sha256 diff;
	uint64_t blob_size, diff_size;
	struct kiln_err err; /* error raised inside the read callback */
	char *rbuf;
	bool eof;
	bool same;          /* not compressed: diff is not hashed, it equals blob */
	const char *filter; /* name of the detected compression */
};
int layer_source_open(struct layer_source *src, int fd, struct kiln_err *err);
/* Returns decompressed bytes read, 0 at the end, -1 on error. */
ssize_t layer_source_read(struct layer_source *src, void *buf, size_t n, struct kiln_err *err);
/* Drains the rest of the input and returns both digests (either may be NULL). */
int layer_source_finish(struct layer_source *src, char blob_digest[KILN_DIGEST_LEN],
                        char diff_id[KILN_DIGEST_LEN], uint64_t *blob_size, struct kiln_err *err);
void layer_source_release(struct layer_source *src);

/* A tar reader (libarchive) over a layer_source. */
struct archive *layer_source_tar_reader(struct layer_source *src, struct kiln_err *err);

/* extract.c: a path as "a/b/c" ("" for the root), relative to base (NULL:
 * the root) unless it starts with '/': "." and empty components dropped;
 * ".." folded and clamped at the root when fold, else refused ("layer entry
 * `x` escapes the root"). Longer than max: a KILN_E_LIMIT error. */
int img_path_norm(const char *base, const char *p, bool fold, size_t max, char **out,
                  struct kiln_err *err);

/* Private extraction flags (beside enum img_extract_flags). */
enum {
	IMG_EXTRACT_NEW_ = 1u << 29,  /* the target must not exist (KILN_E_CONFLICT) */
	IMG_EXTRACT_SYNC_ = 1u << 30, /* syncfs before renaming a new target in */
};

/* extract.c, shared with snapshot.c: extracts a stored blob verifying its
 * digest and, when expected_diff is given, its diffID. A new target is
 * renamed into place only once both are verified; an existing one is
 * extracted into in place (partial on failure). */
int img_layer_extract_verified(struct img_store *s, const char *blob_digest,
                               const char *expected_diff, const char *target_dir, unsigned flags,
                               struct kiln_err *err);
/* The same from a blob streamed on fd (snapshot_stream.c: a pull). */
int img_layer_extract_verified_fd(struct img_store *s, int fd, const char *blob_digest,
                                  const char *expected_diff, const char *target_dir, unsigned flags,
                                  struct kiln_err *err);

#endif
