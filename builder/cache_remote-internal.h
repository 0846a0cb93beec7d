/* Private to builder/: the build cache shared through registries
 * (docs/cache-format.md). cache_remote.c: --cache-from (import, remote
 * lookups, lazy layer pulls, explanations against imported preimages);
 * cache_remote_export.c: --cache-to (registry and inline). The hooks into
 * the step loop are the bld_remote_* calls below; all take b->remote NULL
 * (no --cache-from or --cache-to) as "nothing to do". */
#ifndef KILN_BUILDER_CACHE_REMOTE_INTERNAL_H
#define KILN_BUILDER_CACHE_REMOTE_INTERNAL_H

#include "build-internal.h"
#include "cache.h"
#include "registry.h"

#define BLD_INLINE_CACHE_KEY   "io.kiln.cache.v1"
#define BLD_BUILDKIT_CACHE_KEY "moby.buildkit.cache.v0"

struct bld_cache_to {
	bool is_inline;
	char *ref;
	bool max, mounts;
	bool ignore_error; /* ignore-error=true: a failed export is a warning */
	enum img_compression comp;
};

/* One imported cache (a --cache-from ref). */
struct remote_src {
	char *ref;
	struct reg_repo *repo;
	struct cache_remote_config cfg;
};

/* What the build noted of a step: its keys and where it is. */
struct remote_step {
	char local[CACHE_KEY_MAX], remote[CACHE_KEY_MAX];
	struct cache_fields pre; /* the remote preimage */
	int stage, step, line;
	char *name, *instr;
	int src; /* >= 0: hit in srcs[src], record rec */
	const struct cache_remote_record *rec;
	bool pulled;                   /* its layer is in the store now */
	struct cache_fields local_pre; /* for the local record made once pulled */
};

struct bld_remote {
	pthread_mutex_t mu;
	struct bld_cache_to *to;
	size_t n_to;
	struct remote_src *srcs;
	size_t n_srcs;
	struct remote_step *steps;
	size_t n_steps, cap;
	struct kiln_strv mount_ids; /* cache mounts the build's RUN steps used */
	/* context inputs: XXH3 hex -> sha256 hex ("" when two contents met
	 * under one XXH3 hash: such an input never leaves the machine) */
	struct kiln_strv in_xxh, in_sha;
	bool failed; /* an imported layer failed verification */
	bool have_prev;
	struct cache_build prev; /* the imported records as "the previous build" */
};

/* Parses --cache-to and --cache-from, imports every --cache-from (a cache
 * that cannot be used is a warning). Leaves b->remote NULL when neither
 * is given or disabled is set. */
int bld_remote_open(struct bld_build *b, bool disabled, struct kiln_err *err);
void bld_remote_free(struct bld_build *b);
/* Notes the sha256 content hash (64 hex) of a context input this build
 * hashed as hex (XXH3): the remote preimage carries "sha256:<sha>" in its
 * place. bld_cache_hash_context asks for it whenever b->remote is set. */
void bld_remote_note_input(struct bld_build *b, const char *hex, const char *sha);
/* Notes a step's keys (every step looked up), and, when usable, looks its
 * remote key up: true with *rec filled (layer as pushed) on a hit. */
bool bld_remote_lookup(struct bld_stage *st, const struct bld_step *step, const char *key,
                       const struct cache_fields *pre, bool usable, struct cache_record *rec);
/* Why a step missed, against the imported records (NULL: no imported
 * previous build, use the local explanation). */
char *bld_remote_explain(struct bld_stage *st, const struct cache_step_info *now,
                         const char *missed_parent);
/* Before a step runs: pulls the remote-hit layers it builds on (its
 * stage's and the stages it reads from) and restores its cache mounts. */
int bld_remote_need_step(struct bld_stage *st, const struct bld_step *step, struct kiln_err *err);
/* Pulls the remote-hit layers among layers, verified; unpack: also their
 * snapshots, while they download (a step will run on them). */
int bld_remote_need(struct bld_build *b, const struct img_layer *layers, size_t n, bool unpack,
                    struct kiln_err *err);
/* A failure of bld_remote_need* that calls for building again without the
 * imported cache. */
bool bld_remote_failed(const struct bld_build *b);

/* cache_remote_export.c: type=inline sets the image config's field
 * before it is stored; type=registry pushes after the build. Failures are
 * warnings. */
void bld_remote_inline(struct bld_build *b, struct img_config *cfg);
int bld_remote_export(struct bld_build *b, struct kiln_err *err);
/* The records to export (mode=min: the target's FROM chain), in order. */
void bld_remote_collect(struct bld_build *b, bool max, bool for_inline,
                        struct cache_remote_config *out);
/* Seconds since t0 (CLOCK_MONOTONIC), for the progress vertices. */
double bld_remote_since(const struct timespec *t0);
/* ROOT/cache/mounts/<xxh128 of id> (as run_mounts.c makes it) and its lock. */
char *bld_remote_mount_path(struct bld_build *b, const char *id, bool lock);

#endif
