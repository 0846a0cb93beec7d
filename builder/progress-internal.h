/* Private to the progress printers (progress.c, progress_tty.c). */
#ifndef KILN_BUILDER_PROGRESS_INTERNAL_H
#define KILN_BUILDER_PROGRESS_INTERNAL_H

#include <sys/ioctl.h>

#include "builder.h"

struct bld_progress *bld_progress_tty_new(FILE *out);
void bld_progress_tty_free(struct bld_progress *ops);

#endif
