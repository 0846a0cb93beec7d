/* Private to image/: the store handle's fields. */
#ifndef KILN_IMAGE_STORE_INTERNAL_H
#define KILN_IMAGE_STORE_INTERNAL_H

#include "image.h"

/* Temp files untouched for this long and not flock'ed are stale. */
#define IMG_STALE_TEMP_SEC 600

struct img_store {
	char *root;                   /* ROOT */
	char *layout;                 /* ROOT/images: the OCI image layout */
	char *blobs;                  /* ROOT/images/blobs/sha256 */
	char *snapshots;              /* ROOT/snapshots */
	char *tmp;                    /* ROOT/tmp */
	int lock_fd;                  /* ROOT/store.lock, held shared while open */
	struct img_blob_cache *cache; /* parsed blobs (blob_cache.c), or NULL */
};

/* blob_cache.c: parsed manifests and configs by digest, shared (each call
 * hands out a reference: free it with img_manifest_free/img_config_free). */
struct img_blob_cache;
int img_cache_manifest(struct img_store *s, const char *digest, struct img_manifest **out,
                       struct kiln_err *err);
int img_cache_config(struct img_store *s, const char *digest, struct img_config **out,
                     struct kiln_err *err);
/* The descriptor pick() chooses in the index blob `digest` (cached; owned by
 * the cache), or NULL with err set. */
const struct img_descriptor *
img_cache_index_pick(struct img_store *s, const char *digest,
                     struct img_descriptor *(*pick)(struct img_index *), struct kiln_err *err);
void img_cache_free(struct img_store *s);

/* index.c */
int img_index_lock(struct img_store *s, struct kiln_err *err); /* returns the fd */
int img_index_read(struct img_store *s, struct img_index **out, struct kiln_err *err);
int img_index_write(struct img_store *s, const struct img_index *x, struct kiln_err *err);
int img_entry_manifest(struct img_store *s, const struct img_descriptor *d,
                       struct img_manifest **out, char manifest_digest[KILN_DIGEST_LEN],
                       struct kiln_err *err);
int img_publish(struct img_store *s, const struct img_descriptor *d, char *const *refs,
                size_t n_refs, struct kiln_err *err);

/* compressed.c: adds to blobs the compressed copies of the live diffIDs
 * (hex) and removes the mappings of dead ones (called by gc's mark). */
/* pgzip.c: gzips the uncompressed blob `digest` into a new blob (gzip
 * members made in parallel), verifying the source digest on the way; fn
 * (may be NULL) receives the compressed output as it is written. */
int img_pgzip_blob(struct img_store *s, const char *digest, img_chunk_fn fn, void *ud,
                   char out_digest[KILN_DIGEST_LEN], uint64_t *out_size, struct kiln_err *err);
void img_compressed_mark(struct img_store *s, const struct kiln_strv *live_diff_hex,
                         struct kiln_strv *blobs);

#endif
