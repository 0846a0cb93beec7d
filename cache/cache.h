/* cache: the build cache (layer 2: uses image and common only).
 *
 * Files: fields.c (field lists: preimages and the records' text format,
 * keys, secrets masked), ctxhash.c (context content hashing: a Merkle hash
 * of the selected paths, a persistent stat cache, worker threads for the
 * reads), record.c (key -> record, GC roots), explain.c (build history,
 * miss explanations, the JSON report), history.c (diff of two builds,
 * trace JSON), prune.c (du and prune), remote_json.c (the shared cache's
 * config, docs/cache-format.md).
 *
 * On disk, under the kiln root (ROOT):
 *   ROOT/cache/records/<key>        one record per step result
 *   ROOT/gc-roots/cache-<key>       the blobs a record keeps (written first)
 *   ROOT/cache/statcache/<ctx-key>  stat cache of one context directory
 *   ROOT/cache/inputs/<hash>        the file listing behind an input hash
 *                                   (path, mode, hash), for explanations
 *   ROOT/cache/history/builds/<id>  one record per build (steps, preimages)
 *   ROOT/cache/history/last-<tk>    the id of the last build of a target
 *   ROOT/cache/mounts/<id>/         RUN --mount=type=cache directories */
#ifndef KILN_CACHE_H
#define KILN_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "common.h"
#include "image.h"

/* --- field lists (fields.c) ----------------------------------------------
 * An ordered list of named fields. A step's preimage is one: its fields in
 * a fixed order (format, parent, op, instr, env..., arg..., workdir, user,
 * shell, network, mount..., src..., input...), so that two preimages can
 * be compared field by field. Serialized as "NAME LEN:VALUE\n" lines
 * (values may hold any byte). */
struct cache_field {
	char *name, *value;
};
struct cache_fields {
	struct cache_field *v;
	size_t n, cap;
};
#define CACHE_KEY_FORMAT "kiln-cache-key-v1"
void cache_fields_add(struct cache_fields *f, const char *name, const char *value);
__attribute__((format(printf, 3, 4))) void
cache_fields_addf(struct cache_fields *f, const char *name, const char *fmt, ...);
/* The first value of `name` (NULL if none). */
const char *cache_fields_get(const struct cache_fields *f, const char *name);
void cache_fields_release(struct cache_fields *f);
char *cache_fields_serialize(const struct cache_fields *f, size_t *len);
/* Parses what cache_fields_serialize wrote (KILN_E_CORRUPT otherwise). */
int cache_fields_parse(const char *buf, size_t len, struct cache_fields *out, struct kiln_err *err);

/* Build args and env: a variable whose name says it holds a secret
 * (PASSWORD, TOKEN, SECRET, API_KEY, ..., BuildKit's SecretsUsedInArgOrEnv
 * words) or a proxy (HTTP_PROXY..., whose URL may carry a password) never
 * enters a preimage in clear: its value is replaced by "<secret sha256:12
 * hex>" (a change still changes the key; the value cannot be read back).
 * The predefined proxy args a Dockerfile does not declare never reach a
 * step's fields at all (the builder leaves them out, as docker does). */
bool cache_name_is_proxy(const char *name, size_t len);
bool cache_name_is_secret(const char *name, size_t len);
/* Adds "K=V" as field `name` (masked when secret or proxy). */
void cache_fields_add_var(struct cache_fields *f, const char *name, const char *kv);

/* The key of a preimage, hex: XXH3-128 (32 digits) for the local cache,
 * sha256 (64 digits) for a cache shared with other machines (decision 5). */
enum cache_hash { CACHE_HASH_XXH128, CACHE_HASH_SHA256 };
#define CACHE_KEY_MAX 65
void cache_key(const struct cache_fields *pre, enum cache_hash h, char key[CACHE_KEY_MAX]);
bool cache_key_valid(const char *key);

/* --- context content hashing (ctxhash.c) ---------------------------------
 * A path's hash covers its type and permission bits, size, link target,
 * xattrs (user.*, security.capability) and bytes; never mtime, owners
 * taken as 0. A directory hashes as the ordered list of (name, hash) of
 * its selected children. Symlinks are hashed as links, never followed.
 * Files whose stat (size, mtime ns, ctime ns, inode, mode) matches the
 * stat cache are not read, unless racily clean: changed at or after the
 * stat cache file was written (git's rule). Files that need reading are
 * hashed on worker threads, streamed in fixed-size pieces. */
struct cache_ctx;
/* Called for every entry under a hashed path (rel: relative to the
 * context root, '/'-separated): CACHE_SEL_NO leaves it out (and, for a
 * directory, everything under it); CACHE_SEL_IF_ANY walks a directory
 * that an ignore file excludes but one of its exceptions may reach into,
 * and keeps it only when something under it is kept (docker's fsutil). May be called from several
 * threads at once (the subdirectories of a hashed directory are walked in parallel). */
enum cache_sel {
	CACHE_SEL_NO,    /* left out, and everything under it */
	CACHE_SEL_YES,   /* in */
	CACHE_SEL_IF_ANY /* a directory that is in only if something under it is */
};
typedef enum cache_sel (*cache_select_fn)(void *ud, const char *rel, bool is_dir);
/* The stat cache of dir lives at ROOT/cache/statcache/<hash of dir>. */
int cache_ctx_open(const char *root, const char *dir, struct cache_ctx **out, struct kiln_err *err);
/* Writes the stat cache back (atomically) if it changed, and frees. */
int cache_ctx_close(struct cache_ctx *c, struct kiln_err *err);
void cache_ctx_free(struct cache_ctx *c); /* without writing */
/* Hashes rel ("" = the root) into hex (32 digits). Fails naming the path
 * for fifos, sockets and devices inside (unless the selection drops them).
 * The listing of what was hashed is stored under ROOT/cache/inputs/<hex>
 * for explanations. sha (NULL or 65 bytes): also the same Merkle hash with
 * sha256 leaves (64 hex digits; the file leaf is the sha256 of the text
 * "file PERM SIZE XATTRS sha256:<sha256 of the bytes>", see ctxhash.c), for
 * keys shared with other machines (decision 5); its listing is stored
 * under its hex too. The stat cache keeps both hashes of a file; one
 * without the sha256 leaf is read again when sha is asked for. */
#define CACHE_SHA_HEX_MAX 65
int cache_ctx_hash(struct cache_ctx *c, const char *rel, cache_select_fn sel, void *ud,
                   char hex[33], char *sha, struct kiln_err *err);
/* What cache_ctx_hash_walk hashed, in pre-order: a directory's selected
 * children follow it, sorted bytewise, its subtree is [index + 1, end).
 * st is the stat the hash rests on (the stat cache matched it, or the
 * file was read through an fd with that stat), so a copy of the tree needs
 * no stat of its own and can check that what it reads is what was hashed
 * (builder/copy_items.c). */
struct cache_ctx_node {
	char *rel;  /* relative to the context root ("" = the root) */
	char *link; /* symlink target, else NULL */
	struct stat st;
	size_t end;
};
struct cache_ctx_walk {
	struct cache_ctx_node *v;
	size_t n;
};
void cache_ctx_walk_release(struct cache_ctx_walk *w);
/* cache_ctx_hash that also hands the walk over (*walk released first). */
int cache_ctx_hash_walk(struct cache_ctx *c, const char *rel, cache_select_fn sel, void *ud,
                        char hex[33], char *sha, struct cache_ctx_walk *walk, struct kiln_err *err);
struct cache_ctx_stats {
	size_t entries, files_read, stat_hits;
	uint64_t bytes_read;
};
void cache_ctx_stats(const struct cache_ctx *c, struct cache_ctx_stats *out);
/* Whether a file's stat now equals the stat a hash rests on (device,
 * inode, size, mode, mtime, ctime): any write or replacement in between
 * changes one of them. The check of every "changed while being read". */
bool cache_stat_unchanged(const struct stat *now, const struct stat *was);
/* Worker threads used for reads (default: online CPUs, at most 8). */
void cache_ctx_set_threads(struct cache_ctx *c, unsigned n);

/* Hashing while copying (ctxhash_plan.c): for a step sure to miss, the
 * copy reads each file once, for its layer and its key together.
 * cache_ctx_plan_begin walks rel as cache_ctx_hash_walk does (walk gets
 * the same entries and stats) and takes what it can from the stat cache,
 * reading nothing. The caller streams the bytes of every node i that
 * cache_ctx_plan_wants into a cache_ctx_feed (cache_ctx_feed fits
 * img_layer_entry.on_data) while it copies it, checks that the file's
 * stat after the read is still walk->v[i].st, and hands the feed to
 * cache_ctx_plan_fed with the file's fd (its xattrs are read through it).
 * cache_ctx_plan_end reads the files nobody fed (failing if one is no
 * longer what the walk saw), updates the stat cache, folds and stores the
 * listing: hex is what cache_ctx_hash gives for the same tree. XXH3 only
 * (not for keys shared with other machines). begin and end use the
 * handle (the caller serialises them as any cache_ctx call); feeding
 * uses the plan only. */
struct cache_ctx_plan;
struct cache_ctx_feed {
	struct kiln_xxh128_state x;
	uint64_t size;
};
int cache_ctx_plan_begin(struct cache_ctx *c, const char *rel, cache_select_fn sel, void *ud,
                         struct cache_ctx_walk *walk, struct cache_ctx_plan **out,
                         struct kiln_err *err);
bool cache_ctx_plan_wants(const struct cache_ctx_plan *p, size_t i);
void cache_ctx_feed_init(struct cache_ctx_feed *f);
void cache_ctx_feed(void *feed, const void *data, size_t n);
void cache_ctx_feed_release(struct cache_ctx_feed *f); /* one never handed over */
/* Ends the feed (always); node i's leaf from it and fd's xattrs. */
int cache_ctx_plan_fed(struct cache_ctx_plan *p, size_t i, int fd, struct cache_ctx_feed *f,
                       struct kiln_err *err);
int cache_ctx_plan_end(struct cache_ctx *c, struct cache_ctx_plan *p, char hex[33],
                       struct kiln_err *err);
void cache_ctx_plan_free(struct cache_ctx_plan *p);

/* --- records (record.c) ----------------------------------------------------
 * key -> the result of a step: its layer (or none), an opaque config
 * change for the builder, when it was made, how long it took, and its
 * preimage. Written atomically after ROOT/gc-roots/cache-<key> (listing
 * the layer blob) so GC never takes a recorded layer. */
struct cache_record {
	char key[CACHE_KEY_MAX];
	bool has_layer;
	struct img_layer layer;
	char *config;    /* opaque to the cache (may be NULL) */
	int64_t created; /* unix seconds */
	double duration; /* seconds the step took */
	struct cache_fields preimage;
};
void cache_record_release(struct cache_record *r);
int cache_record_store(struct img_store *s, const struct cache_record *r, struct kiln_err *err);
/* *hit true with *out filled when the record exists and its blob is still
 * in the store. A record whose blob is gone is dropped (with its root) and
 * is a miss (*gone true), not an error. A hit marks the record used. */
int cache_record_lookup(struct img_store *s, const char *key, struct cache_record *out, bool *hit,
                        bool *gone, struct kiln_err *err);
int cache_record_remove(struct img_store *s, const char *key, struct kiln_err *err);

/* --- build history and explanations (explain.c) ----------------------------
 * Each build keeps the story of its steps; a miss is explained against the
 * last build of the same target (Dockerfile path + --target + context). */
enum cache_step_result { CACHE_STEP_HIT, CACHE_STEP_MISS, CACHE_STEP_NONE };
struct cache_step_info {
	char *name;      /* "[2/4] COPY . /app" */
	char *instr;     /* expanded instruction text */
	int line;        /* Dockerfile line */
	int stage, step; /* stage index, step number in the stage */
	char key[CACHE_KEY_MAX];
	enum cache_step_result result;
	char *reason; /* one line, for a miss */
	double secs;  /* time spent */
	double saved; /* for a hit: the recorded duration */
	double start; /* seconds from the start of the build (0 in records before it was kept) */
	struct cache_fields preimage;
};
struct cache_build {
	char id[33];
	char target_key[33];
	char *dockerfile, *target, *context, *tags; /* tags comma-separated */
	int64_t started;
	double secs;
	char image_id[KILN_DIGEST_LEN];
	bool no_cache;
	struct cache_step_info *steps;
	size_t n_steps, cap;
};
/* Starts a build record (id from the time and target). */
void cache_build_init(struct cache_build *b, const char *context, const char *dockerfile,
                      const char *target, const char *tags);
void cache_build_release(struct cache_build *b);
/* Appends a step (fields copied; preimage moved) and returns it. */
struct cache_step_info *cache_build_add(struct cache_build *b, const struct cache_step_info *s);
/* The last build of the same target (*found false if none). */
int cache_build_load_last(struct img_store *s, const char *target_key, struct cache_build *out,
                          bool *found, struct kiln_err *err);
int cache_build_load(struct img_store *s, const char *id, struct cache_build *out,
                     struct kiln_err *err);
/* Stores the build and makes it the last of its target; only the newest
 * CACHE_HISTORY_KEEP build records are kept. */
#define CACHE_HISTORY_KEEP 100
int cache_build_store(struct img_store *s, const struct cache_build *b, struct kiln_err *err);
/* Ids of stored builds, oldest first. */
int cache_build_list(struct img_store *s, struct kiln_strv *ids, struct kiln_err *err);

/* Why a step missed: its preimage against the one of the same step in
 * prev (NULL: no previous build), with missed_parent naming the earlier
 * step that missed (NULL if none). Allocated one-line reason. */
char *cache_explain(struct img_store *s, const struct cache_build *prev,
                    const struct cache_step_info *now, const char *missed_parent);
/* The same with more context (additive; cache_explain is this with
 * missed_parent only). stage_why, when set, says why the stage that a
 * "stage:KEY" input names (COPY --from, RUN --mount from=) has the new key:
 * an allocated phrase such as "source stage `build` changed: #4 ... missed
 * (files changed: ...)", or NULL when it cannot tell. */
typedef char *(*cache_stage_why_fn)(void *ud, const char *new_key);
struct cache_explain_opts {
	const char *missed_parent;
	cache_stage_why_fn stage_why;
	void *ud;
};
char *cache_explain_with(struct img_store *s, const struct cache_build *prev,
                         const struct cache_step_info *now, const struct cache_explain_opts *o);
/* Files behind two input hashes: "a.txt (content), +new (added), -old
 * (removed), run.sh (mode 644 -> 755) and 3 more (6 files)". */
char *cache_explain_inputs(struct img_store *s, const char *old_hash, const char *new_hash);
/* The build as JSON (--cache-report): steps with Dockerfile line, key,
 * hit or miss, reason, time spent and saved. */
char *cache_build_report_json(const struct cache_build *b);

/* --- comparing and drawing builds (history.c) -----------------------------
 * `build history diff A B`: each step of b against the same step (stage,
 * number) of a: "= NAME" same key, "~ NAME" with every difference of the
 * preimages indented below it, "+ NAME" only in b, "- NAME" only in a,
 * then a count. `build history trace`: Chrome trace-event JSON (loads in
 * Perfetto and chrome://tracing): one complete ("X") slice per step on a
 * track per stage, category "hit" or "miss", with line, key and reason. */
char *cache_build_diff(struct img_store *s, const struct cache_build *a,
                       const struct cache_build *b);
char *cache_build_trace_json(const struct cache_build *b);
/* --- the shared cache's config (remote_json.c) ------------------------------
 * What `--cache-to type=registry|inline` exports and `--cache-from`
 * imports (docs/cache-format.md): records keyed by their remote key, the
 * sha256 of a preimage whose step references are remote keys too (decision
 * 5); layers as pushed; cache mounts by id; input listings for
 * explanations. */
#define CACHE_REMOTE_MEDIA_TYPE "application/vnd.kiln.cache.config.v1+json"
/* v2: context inputs are sha256 content hashes ("sha256:<64 hex>"); a v1
 * config (XXH3 inputs) is refused, so the importer warns and ignores it. */
#define CACHE_REMOTE_FORMAT "kiln-cache-v2"
/* The format field of a remote (translated) preimage. */
#define CACHE_REMOTE_KEY_FORMAT "kiln-remote-key-v2"
struct cache_remote_record {
	struct cache_record rec; /* key: remote key; preimage: the remote one */
	int stage, step, line;   /* where it was in the exporting build */
	char *name, *instr;
};
struct cache_remote_mount {
	char *id; /* RUN --mount=type=cache id (or target) */
	struct img_layer layer;
};
struct cache_remote_config {
	char *mode; /* "min" or "max" */
	struct cache_remote_record *recs;
	size_t n_recs;
	struct cache_remote_mount *mounts;
	size_t n_mounts;
	struct kiln_strv listing_hashes, listings; /* input hash -> listing text */
};
void cache_remote_release(struct cache_remote_config *c);
/* Records whose preimage is not UTF-8 are left out; listings past 4 MiB
 * in total too. */
char *cache_remote_to_json(const struct cache_remote_config *c, size_t *len);
/* Parses and checks (KILN_E_CORRUPT): the format, every record's key is
 * the sha256 of its preimage, every digest is valid. */
int cache_remote_from_json(const char *data, size_t len, struct cache_remote_config *out,
                           struct kiln_err *err);
/* The file listing behind an input hash (ROOT/cache/inputs/<hash>);
 * *found false when it is not kept. */
int cache_listing_get(struct img_store *s, const char *hash, char **data, size_t *len, bool *found,
                      struct kiln_err *err);
/* Stores an imported listing (checked to be well-formed) unless one is
 * kept already. */
int cache_listing_put(struct img_store *s, const char *hash, const char *data, size_t len,
                      struct kiln_err *err);

/* --- maintenance (prune.c) ------------------------------------------------- */
struct cache_du_entry {
	char *id;      /* record key or "mount:<id>" */
	uint64_t size; /* bytes (layer blob, or the mount's files) */
	int64_t last_used;
	bool shared; /* its layer is also used by a stored image */
	bool is_mount;
};
struct cache_du {
	struct cache_du_entry *v;
	size_t n;
	uint64_t total, reclaimable;
};
int cache_du(struct img_store *s, struct cache_du *out, struct kiln_err *err);
/* Registers ROOT/cache/records with img_store_add_durable_dir: the temps a
 * killed build left there are swept by every GC (under the exclusive lock)
 * and listed by `system check`. Called once a command opens the store. */
void cache_store_attach(struct img_store *s);
void cache_du_release(struct cache_du *d);
struct cache_prune_opts {
	bool all;              /* also records whose layer an image uses */
	int64_t until;         /* only entries unused for this many seconds (0: any) */
	uint64_t keep_storage; /* stop once the cache is at most this big (0: no limit) */
};
struct cache_prune_result {
	size_t records, mounts;
	uint64_t bytes; /* reclaimed, once GC ran */
};
/* Removes records (and their roots), cache mounts and stale listings,
 * then collects the store's garbage. */
int cache_prune(struct img_store *s, const struct cache_prune_opts *o,
                struct cache_prune_result *res, struct kiln_err *err);
/* ROOT/cache/mounts/<id> for RUN --mount=type=cache (made if absent). */
char *cache_mount_dir(struct img_store *s, const char *id, struct kiln_err *err);

#endif
