/* cli/cmd_image*.c: views shared by the image commands. */
#ifndef KILN_CLI_CMD_IMAGE_H
#define KILN_CLI_CMD_IMAGE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "image.h"

/* What `system df -v` adds to an image's row (docker's SharedSize: the
 * bytes of its layers other images use too; containers using it). */
struct image_df {
	int64_t shared;
	int containers;
};
/* A row of `images` (df NULL: SharedSize, UniqueSize, Containers "N/A")
 * or of `system df -v`: docker's imageContext as JSON. cmd_image.c */
json_t *image_row_json(const struct img_image *img, const char *repo, const char *tag,
                       const char *digest, bool no_trunc, const struct image_df *df);

#endif
