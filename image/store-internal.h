/* Private to image/: the store handle's fields. */
#ifndef KILN_IMAGE_STORE_INTERNAL_H
#define KILN_IMAGE_STORE_INTERNAL_H

#include "image.h"

struct img_store {
	char *root;      /* ROOT */
	char *layout;    /* ROOT/images: the OCI image layout */
	char *blobs;     /* ROOT/images/blobs/sha256 */
	char *snapshots; /* ROOT/snapshots */
	char *tmp;       /* ROOT/tmp */
	int lock_fd;     /* ROOT/store.lock, held shared while open */
};

/* index.c */
int img_index_lock(struct img_store *s, struct kiln_err *err); /* returns the fd */
int img_index_read(struct img_store *s, struct img_index **out, struct kiln_err *err);
int img_index_write(struct img_store *s, const struct img_index *x, struct kiln_err *err);
int img_entry_manifest(struct img_store *s, const struct img_descriptor *d,
                       struct img_manifest **out, char manifest_digest[KILN_DIGEST_LEN],
                       struct kiln_err *err);
int img_publish(struct img_store *s, const struct img_descriptor *d, char *const *refs,
                size_t n_refs, struct kiln_err *err);

#endif
