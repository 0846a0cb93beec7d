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

#endif
