/* Private to builder/step_key.c, step_cache.c and COPY (which reuses the
 * walk its key hashed): the build's cache state between a step's key, its
 * lookup and its record. */
#ifndef KILN_BUILDER_STEP_CACHE_INTERNAL_H
#define KILN_BUILDER_STEP_CACHE_INTERNAL_H

#include "build-internal.h"
#include "cache.h"

/* Hashes a context path (rel, after symlinks) under the build's cache lock.
 * keep_walk: what was hashed is kept for the stage's COPY (bld_cache_walk)
 * until bld_cache_walks_drop. */
int bld_cache_hash_context(struct bld_stage *st, const char *rel, cache_select_fn sel, void *ud,
                           char hex[33], bool keep_walk, struct kiln_err *err);
/* The walk the stage's current COPY key hashed for context path rel (its
 * stats are what the key rests on, cache.h), NULL if none. */
const struct cache_ctx_walk *bld_cache_walk(const struct bld_stage *st, const char *rel);
void bld_cache_walks_drop(struct bld_stage *st);
/* "sha256:..." of the stage's base image, NULL for scratch or a stage. */
const char *bld_cache_stage_base(struct bld_stage *st);
/* Keeps the step's preimage (moved) until its lookup and record. */
void bld_cache_pending(struct bld_stage *st, const struct bld_step *step, struct cache_fields *pre,
                       bool uncacheable);

#endif
