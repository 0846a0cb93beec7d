/* Public header of the common module (layer 0). */
#ifndef KILN_COMMON_H
#define KILN_COMMON_H

#include "buf.h"
#include "cleanup.h"
#include "fsutil.h"
#include "hash.h"
#include "kiln_err.h"
#include "log.h"
#include "platform.h"
#include "xalloc.h"

#define KILN_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
