/* image: references, OCI JSON, the content-addressed store, layers.
 * Layer 1: uses common/ only. The only module that includes <jansson.h>
 * (in oci_json.c) and the one that owns libarchive use for layers.
 *
 * On disk, under the kiln root (ROOT):
 *   ROOT/images/          a real OCI image layout (oci-layout, index.json,
 *                         blobs/sha256/<hex>); tags are index entries with the
 *                         org.opencontainers.image.ref.name annotation holding
 *                         the full normalized reference
 *   ROOT/snapshots/<hex>/ one unpacked layer per diffID (overlay lower dirs)
 *   ROOT/tmp/             temp files and partial extractions (flock'ed while
 *                         in use, swept when stale)
 *   ROOT/store.lock       shared by writers, exclusive for garbage collection
 * The other modules add ROOT/containers, ROOT/cache, ROOT/volumes. */
#ifndef KILN_IMAGE_H
#define KILN_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

struct img_store;

/* Opens (creating if needed) the store under root. */
int img_store_open(const char *root, struct img_store **out, struct kiln_err *err);
void img_store_close(struct img_store *s);
const char *img_store_root(const struct img_store *s);
const char *img_store_tmpdir(const struct img_store *s);

/* --- blobs: content-addressed, written atomically ----------------------- */
/* A writer streams into a temp file in the store, hashing as it goes;
 * commit verifies (when expected is non-NULL), fsyncs and renames into
 * blobs/sha256/<hex>. An existing blob counts as success. */
struct img_blob_writer;
struct img_blob_writer *img_blob_writer_new(struct img_store *s, struct kiln_err *err);
int img_blob_writer_write(struct img_blob_writer *w, const void *p, size_t n, struct kiln_err *err);
int img_blob_writer_commit(struct img_blob_writer *w, const char *expected,
                           char digest[KILN_DIGEST_LEN], uint64_t *size, struct kiln_err *err);
/* Frees the writer; removes the temp file if not committed. */
void img_blob_writer_free(struct img_blob_writer *w);

int img_store_put_blob(struct img_store *s, const void *p, size_t n, char digest[KILN_DIGEST_LEN],
                       struct kiln_err *err);
bool img_store_has_blob(struct img_store *s, const char *digest);
/* Allocated path of blobs/sha256/<hex>. */
char *img_store_blob_path(struct img_store *s, const char *digest);
int img_store_read_blob(struct img_store *s, const char *digest, size_t max, char **data,
                        size_t *len, struct kiln_err *err);

/* --- layers ---------------------------------------------------------------- */
enum img_compression { IMG_COMPRESS_NONE, IMG_COMPRESS_GZIP, IMG_COMPRESS_ZSTD };

struct img_layer {
	char diff_id[KILN_DIGEST_LEN]; /* sha256 of the uncompressed tar */
	char digest[KILN_DIGEST_LEN];  /* sha256 of the blob as stored */
	uint64_t size;                 /* blob size */
	char *media_type;
};
void img_layer_release(struct img_layer *l);

#endif
