/* Private to the progress printers (progress.c, progress_tty.c). */
#ifndef KILN_BUILDER_PROGRESS_INTERNAL_H
#define KILN_BUILDER_PROGRESS_INTERNAL_H

#include <stdint.h>
#include <sys/ioctl.h>

#include "builder.h"

struct bld_progress *bld_progress_tty_new(FILE *out);
void bld_progress_tty_free(struct bld_progress *ops);
/* A byte count as BuildKit's progress shows one (tonistiigi/units Bytes
 * with "%.2f"): "999B", then 1000-based units with two decimals, the unit
 * picked before rounding ("1.00kB", "1.02kB" for 1024, "1000.00kB" for
 * 999999, "1.00MB"). */
void bld_format_bytes(char *buf, size_t len, uint64_t v);

#endif
