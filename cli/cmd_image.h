/* cli/cmd_image*.c: views shared by the image commands. */
#ifndef KILN_CLI_CMD_IMAGE_H
#define KILN_CLI_CMD_IMAGE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "cli.h"
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

/* `system df`'s size of a volume: the bytes of its files. cmd_image_df.c */
uint64_t image_df_volume_size(struct kiln_ctx *ctx, const char *name);

/* The prune filters of docker 20.10 (image, container and system prune).
 * cmd_image_rm.c */
struct prune_filter {
	bool all, has_until;
	int64_t until_ns;
	const char *until; /* as given (build cache wants a duration) */
	struct kiln_strv labels, not_labels;
	struct kiln_strv listed; /* the label, label! and until args (system prune's prompt) */
};
/* images: dangling=BOOL is accepted (image prune). Unknown keys: docker's
 * "Invalid filter 'KEY'"; no '=': a usage error. */
int prune_filter_parse(const struct kiln_strv *args, struct prune_filter *f, bool images,
                       struct kiln_err *e);
void prune_filter_release(struct prune_filter *f);
/* Removes the stopped containers that pass f, printing docker's "Deleted
 * Containers:" section; adds their writable layers' size to *reclaimed. */
int prune_containers(struct kiln_ctx *ctx, const struct prune_filter *f, uint64_t *reclaimed);
/* Removes every local volume no container uses that passes f's label
 * filters, printing docker's "Deleted Volumes:" section; adds their files'
 * size to *reclaimed. */
int prune_volumes(struct kiln_ctx *ctx, const struct prune_filter *f, uint64_t *reclaimed);

#endif
