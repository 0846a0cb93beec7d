/* Private to builder/step_key.c and step_cache.c: the build's cache state
 * between a step's key, its lookup and its record. */
#ifndef KILN_BUILDER_STEP_CACHE_INTERNAL_H
#define KILN_BUILDER_STEP_CACHE_INTERNAL_H

#include "build-internal.h"
#include "cache.h"

/* Hashes a context path (rel, after symlinks) under the build's cache lock. */
int bld_cache_hash_context(struct bld_build *b, const char *rel, cache_select_fn sel, void *ud,
                           char hex[33], struct kiln_err *err);
/* "sha256:..." of the stage's base image, NULL for scratch or a stage. */
const char *bld_cache_stage_base(struct bld_stage *st);
/* Keeps the step's preimage (moved) until its lookup and record. */
void bld_cache_pending(struct bld_stage *st, const struct bld_step *step, struct cache_fields *pre,
                       bool uncacheable);

#endif
