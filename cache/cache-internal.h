/* Private to cache/: the stat cache (statcache.c) and store paths. */
#ifndef KILN_CACHE_INTERNAL_H
#define KILN_CACHE_INTERNAL_H

#include <sys/stat.h>

#include "cache.h"

#define CACHE_DIR       "cache"
#define CACHE_RECORDS   "cache/records"
#define CACHE_STATCACHE "cache/statcache"
#define CACHE_INPUTS    "cache/inputs"
#define CACHE_HISTORY   "cache/history"
#define CACHE_MOUNTS    "cache/mounts"

/* ROOT/<sub>/<name> (name may be NULL), allocated. */
char *cache_path(struct img_store *s, const char *sub, const char *name);

/* Reads a record without marking it used; *last_used from its mtime. */
int cache_record_read(struct img_store *s, const char *key, struct cache_record *out,
                      int64_t *last_used, struct kiln_err *err);

/* The step of b at (stage, step), NULL if none (or b is NULL). */
const struct cache_step_info *cache_build_step(const struct cache_build *b, int stage, int step);
/* Appends s as a JSON string (quoted, escaped). */
void cache_json_str(struct kiln_buf *b, const char *s);

/* The differences between two runs of a step's preimage, most telling
 * first (the first is the miss reason); all: every one, else the first. */
void cache_step_diffs(struct img_store *s, const struct cache_step_info *old,
                      const struct cache_step_info *now, const struct cache_explain_opts *o,
                      bool all, struct kiln_strv *out);

/* A git-index-like table: path -> (stat fields, content hash). The file
 * is binary and mapped (statcache.c): a lookup probes its hash table in
 * place, nothing is parsed or copied at load; entries set in this run live
 * in memory beside it (sc_entry) until written. */
struct sc_entry {
	char *path;
	uint64_t size, ino;
	int64_t mtime_ns, ctime_ns;
	uint32_t mode;
	uint8_t hash[16];
	uint8_t sha[32]; /* the sha256 leaf (shared caches), when has_sha */
	bool has_sha;
	bool seen; /* looked up or set in this run */
};
struct sc_rec; /* one entry in the mapped file */
struct statcache {
	struct sc_entry *v; /* set in this run */
	size_t n, cap;
	uint32_t *tab; /* indices + 1; 0 = empty */
	size_t tab_size;
	/* the mapped file */
	void *map;
	size_t map_len, m_n, m_tab_size;
	const struct sc_rec *m_rec;
	const uint32_t *m_tab;
	const char *m_str;
	uint64_t m_str_len;
	uint8_t *m_flags;   /* per mapped entry: seen, replaced */
	int64_t written_ns; /* mtime of the file it was read from (racy-clean threshold) */
	bool dirty;
};
/* Loads file (a missing or torn file gives an empty cache). */
void sc_load(struct statcache *sc, const char *file);
int sc_write(struct statcache *sc, const char *file, bool only_seen, struct kiln_err *err);
void sc_release(struct statcache *sc);
/* Entries known (mapped and set in this run, each once). */
size_t sc_count(const struct statcache *sc);
/* Copies into hash the content hash of path when its stat matches st and
 * is not racily clean (true), else false. sha non-NULL: the sha256 leaf is
 * wanted too (a shared cache is in use); an entry without one is a miss. */
bool sc_lookup(struct statcache *sc, const char *path, const struct stat *st, uint8_t hash[16],
               uint8_t *sha);
/* sha: the sha256 leaf (32 bytes) or NULL (not computed: none is kept).
 * smudge: the file changed in the clock tick it was read in, so a later
 * change in that tick would keep its mtime: the entry will not match. */
void sc_set(struct statcache *sc, const char *path, const struct stat *st, const uint8_t hash[16],
            const uint8_t *sha, bool smudge);

/* --- context hashing, shared by ctxhash.c and ctxhash_plan.c ------------- */
struct ctx_node {
	char *rel; /* relative to the context root ("" = the root) */
	size_t name_off;
	struct stat st;
	char *link;
	size_t end; /* subtree: [index + 1, end) */
	uint8_t hash[16];
	uint8_t sha[32]; /* the sha256 leaf, when the run wants it */
	bool read;
};
struct ctx_walk {
	struct ctx_node *v;
	size_t n, cap;
};
struct cache_ctx {
	char *dir, *sc_file, *inputs_dir;
	struct statcache sc;
	unsigned threads;
	struct cache_ctx_stats stats;
	bool hashed_root;
	bool want_sha; /* this cache_ctx_hash computes sha256 leaves too */
	int64_t tick;  /* coarse realtime when this run started hashing */
};
#define CTX_READ_BUF   (256u << 10)
#define CTX_MAX_THREAD 8
/* The tree at rel into w (pre-order, selected, sorted; nothing read). */
int ctx_walk_tree(struct cache_ctx *c, const char *rel, cache_select_fn sel, void *ud,
                  struct ctx_walk *w, struct kiln_err *err);
void ctx_walk_release(struct ctx_walk *w);
/* The walk's paths, links and stats into out: moved (w keeps the hashes),
 * or copied when w goes on being used (a plan). */
void ctx_walk_out(struct ctx_walk *w, struct cache_ctx_walk *out, bool copy);
/* Regular files the stat cache vouches for get their leaf; the others
 * are listed in *todo (and marked read). */
void ctx_use_statcache(struct cache_ctx *c, struct ctx_walk *w, size_t **todo, size_t *n_todo);
/* Reads node n (buf: CTX_READ_BUF bytes). expect non-NULL: the file as
 * opened must have that stat (else "changed while being read"); NULL:
 * n->st becomes the stat as opened. */
int ctx_hash_file(const struct cache_ctx *c, struct ctx_node *n, const struct stat *expect,
                  char *buf, uint64_t *bytes, struct kiln_err *err);
/* n's XXH3 leaf from its bytes' hash, size and the xattrs read via fd. */
int ctx_file_leaf_fd(struct ctx_node *n, int fd, uint64_t size, const struct kiln_xxh128 *data,
                     struct kiln_err *err);
/* After the reads: stat cache entries of todo, directory and link leaves,
 * the listing; hex: the root's hash. */
int ctx_finish(struct cache_ctx *c, struct ctx_walk *w, const size_t *todo, size_t n_todo,
               const char *rel, char hex[33], char *sha, struct kiln_err *err);
int64_t ctx_coarse_now(void);

#endif
