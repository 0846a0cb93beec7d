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
 * stats are what the key rests on, cache.h), NULL if none; *plan: NULL,
 * or the plan its files are hashed by while the COPY copies them. */
const struct cache_ctx_walk *bld_cache_walk(const struct bld_stage *st, const char *rel,
                                            struct cache_ctx_plan **plan);
/* Drops the stage's walks; a deferred key's (all false) stay until
 * bld_cache_deferred_key. */
void bld_cache_walks_drop(struct bld_stage *st, bool all);
/* Whether the stage's next step cannot hit: --no-cache, or an earlier
 * step of the stage (or of the stage it is built on) missed with a key no
 * record had (so no record can name it as parent, but for one whose parent
 * was pruned: the lookup after the copy still finds that). Never with a
 * shared cache (its keys need sha256 leaves). */
bool bld_cache_sure_miss(struct bld_stage *st);
/* For a step sure to miss: walks a context path and keeps the walk with
 * a plan (cache.h cache_ctx_plan_begin) for the COPY to hash the files
 * while it copies them; the key takes the input BLD_INPUT_DEFERRED until
 * bld_cache_deferred_key, after the copy, puts the hashes in (in the
 * order the inputs were planned) and makes the key. */
#define BLD_INPUT_DEFERRED "deferred:"
int bld_cache_plan_context(struct bld_stage *st, const char *rel, cache_select_fn sel, void *ud,
                           struct kiln_err *err);
int bld_cache_deferred_key(struct bld_stage *st, const struct bld_step *step, char key[65],
                           struct kiln_err *err);
/* "sha256:..." of the stage's base image, NULL for scratch or a stage. */
const char *bld_cache_stage_base(struct bld_stage *st);
/* Keeps the step's preimage (moved) until its lookup and record. */
void bld_cache_pending(struct bld_stage *st, const struct bld_step *step, struct cache_fields *pre,
                       bool uncacheable);

#endif
