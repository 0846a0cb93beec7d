/* Private to image/: the store handle's fields. */
#ifndef KILN_IMAGE_STORE_INTERNAL_H
#define KILN_IMAGE_STORE_INTERNAL_H

#include <errno.h>
#include <stdatomic.h>
#include <sys/stat.h>

#include "image.h"

/* Temp files untouched for this long and not flock'ed are stale. */
#define IMG_STALE_TEMP_SEC 600
/* ROOT/tmp/partial-<hex>: the bytes of a blob a killed pull left, which
 * the next pull of it resumes from; stale after a day (or at any gc,
 * prune or `system check --repair`), not after IMG_STALE_TEMP_SEC, so a
 * pull run again after a pause still finds them. */
#define IMG_PARTIAL_PREFIX   "partial-"
#define IMG_PARTIAL_KEEP_SEC (24 * 3600)

/* ROOT/kiln-store: written first when a store is created; kiln opens a
 * directory as its store only if it is empty, carries this marker, or is a
 * store of an earlier kiln (images/oci-layout, images/index.json and
 * store.lock: the marker is added). */
#define IMG_STORE_MARKER "kiln-store"
/* The only names the temp sweepers remove from ROOT/tmp: every temp file or
 * directory kiln makes there starts with one of these. */
#define IMG_TEMP_PREFIXES                                                                          \
	{                                                                                          \
		"blob-", "extract-", "kiln-", IMG_PARTIAL_PREFIX, "run-step-", NULL                \
	}
/* ROOT/quarantine/: corrupt blobs and a damaged index.json moved aside by
 * `system check --repair` (never read by kiln again; the user's to delete). */
#define IMG_QUARANTINE_DIR "quarantine"
/* ROOT/snapshots/<hex>.unsynced: written, unsynced, after the tree <hex> is
 * in place, naming the boot it was written in; trusted in that boot only.
 * ROOT/snapshots/<hex>.complete: the durable marker of earlier kilns
 * (written after a syncfs), trusted in any boot. A tree without a trusted
 * marker is incomplete and redone. A snapshot is removed by dropping its
 * markers, renaming the tree to ROOT/snapshots/.trash-<hex>, then deleting
 * that. */
#define IMG_SNAPSHOT_DONE     ".complete"
#define IMG_SNAPSHOT_UNSYNCED ".unsynced"
#define IMG_SNAPSHOT_TRASH    ".trash-"
/* Stored index.json: reads up to IMG_INDEX_READ_MAX; a write that would
 * grow it past IMG_INDEX_WRITE_MAX (about 160,000 tags) is refused. */
#define IMG_INDEX_READ_MAX  (256u << 20)
#define IMG_INDEX_WRITE_MAX (32u << 20)

struct img_index_memo;

struct img_store {
	char *root;                    /* ROOT */
	char *layout;                  /* ROOT/images: the OCI image layout */
	char *blobs;                   /* ROOT/images/blobs/sha256 */
	char *snapshots;               /* ROOT/snapshots */
	char *tmp;                     /* ROOT/tmp */
	int lock_fd;                   /* ROOT/store.lock, held shared while open (or -1) */
	bool read_only;                /* a read-only mount or no write permission */
	struct img_blob_cache *cache;  /* parsed blobs (blob_cache.c), or NULL */
	struct img_batch *batch;       /* an open group commit (batch.c), or NULL */
	struct kiln_strv durable_dirs; /* img_store_add_durable_dir, relative to ROOT */
	/* index.c: the parsed index.json a reader kept, or NULL */
	_Atomic(struct img_index_memo *) index_memo;
};

/* batch.c: with a batch open, queues a committed blob (its temp *tmp and
 * the fd holding its flock; both taken: set to NULL and -1) and returns
 * true; without one, returns false and takes nothing. */
bool img_batch_queue_blob(struct img_store *s, const char *digest, char **tmp, int *fd);
/* Where blob digest's bytes are now: its queued temp, else its path. */
char *img_batch_blob_source(struct img_store *s, const char *digest);
/* One syncfs of the store's filesystem. */
int img_batch_sync(struct img_store *s, struct kiln_err *err);
/* SIGKILLs the process when $KILN_TEST_CRASH names point (crash tests). */
void img_batch_crash_point(const char *point);

/* blob_cache.c: parsed manifests and configs by digest, shared (each call
 * hands out a reference: free it with img_manifest_free/img_config_free). */
struct img_blob_cache;
int img_cache_manifest(struct img_store *s, const char *digest, struct img_manifest **out,
                       struct kiln_err *err);
int img_cache_config(struct img_store *s, const char *digest, struct img_config **out,
                     struct kiln_err *err);
/* The descriptor pick() chooses in the index blob `digest` (cached; owned by
 * the cache), or NULL with err set. */
const struct img_descriptor *
img_cache_index_pick(struct img_store *s, const char *digest,
                     struct img_descriptor *(*pick)(struct img_index *), struct kiln_err *err);
void img_cache_free(struct img_store *s);

/* index.c */
/* Sets IMG_ANNOT_LAST_TAG on d to now. */
void img_descriptor_stamp_tag_time(struct img_descriptor *d);
int img_index_lock(struct img_store *s, struct kiln_err *err); /* returns the fd */
/* Reads and parses index.json, or takes the parsed copy a reader kept
 * while the file is still the one it was parsed from (same inode, size,
 * mtime and ctime: index.json is only ever replaced by a rename). */
int img_index_read(struct img_store *s, struct img_index **out, struct kiln_err *err);
/* The same, with *id the identity of the file x was parsed from. */
int img_index_read_id(struct img_store *s, struct img_index **out, struct stat *id,
                      struct kiln_err *err);
/* A reader that did not change x hands it back (taken) for the next read
 * of the same file: a lookup then a publish parse index.json once. */
void img_index_keep(struct img_store *s, struct img_index *x, const struct stat *id);
void img_index_memo_drop(struct img_store *s);
int img_index_write(struct img_store *s, const struct img_index *x, struct kiln_err *err);
int img_entry_manifest(struct img_store *s, const struct img_descriptor *d,
                       struct img_manifest **out, char manifest_digest[KILN_DIGEST_LEN],
                       struct kiln_err *err);
int img_publish(struct img_store *s, const struct img_descriptor *d, char *const *refs,
                size_t n_refs, struct kiln_err *err);
int img_publish_many(struct img_store *s, const struct img_descriptor *d, char *const *const *refs,
                     const size_t *n_refs, size_t n, struct kiln_err *err);

/* repo_digest.c */
/* Untags the registry digest reference rd ("NAME@sha256:...") recorded on
 * x's entries; when its image has no tag or digest reference left, its
 * entries go too (*deleted). -1 when no entry records rd. */
int img_index_untag_digest(struct img_store *s, struct img_index *x, const char *rd, bool *deleted);

/* Whether a failure to read a stored object means the object is damaged
 * (missing, corrupt, unparsable, over a limit), as opposed to a failure to
 * read it now (EIO, EACCES, EMFILE...), which must never lead to removal. */
static inline bool img_err_is_damage(int code)
{
	return code == KILN_E_NOTFOUND || code == KILN_E_CORRUPT || code == KILN_E_LIMIT ||
	       code == KILN_E_INVALID || code == EISDIR || code == ENOTDIR || code == ELOOP;
}

/* store.c: fails with EROFS naming the store when it was opened read-only. */
int img_store_writable(struct img_store *s, struct kiln_err *err);

/* gc.c */
bool img_is_temp_name(const char *name);
/* 64 lower-case hex digits: a sha256 blob or snapshot name. */
bool img_is_hex64(const char *s);
/* sha256 of the regular file name in dirfd ("sha256:<hex>"); -1 for a
 * FIFO, device or symlink there (never blocked on) or a read error. */
int img_hash_file_at(int dirfd, const char *name, char out[KILN_DIGEST_LEN]);
/* The exclusive store lock (IMG_GC_TRY: fail at once when busy), and back
 * to shared. */
int img_gc_lock(struct img_store *s, unsigned flags, int *gc_fd, struct kiln_err *err);
void img_gc_unlock(struct img_store *s, int gc_fd);
/* Every kiln temp name in ROOT/tmp, and every durable-write temp
 * (`.NAME.tmp-*`) in ROOT/gc-roots and the registered durable dirs: only
 * under the exclusive lock, when no writer can be using one. */
size_t img_store_sweep_all_temps(struct img_store *s);
/* Moves ROOT/<dir>/<name> into ROOT/quarantine (a unique name). */
int img_quarantine(struct img_store *s, const char *dir, const char *name, struct kiln_err *err);
/* snapshot.c: the state of the snapshot <hex>: no tree, a tree without a
 * trusted marker, one whose unsynced marker an earlier boot wrote (its
 * bytes may be torn: unpacked again when next needed), complete. */
enum img_snap_state {
	IMG_SNAP_NONE,
	IMG_SNAP_INCOMPLETE,
	IMG_SNAP_OTHER_BOOT,
	IMG_SNAP_COMPLETE,
};
enum img_snap_state img_snapshot_state(struct img_store *s, const char *hex);
/* Whether the snapshot <hex> is complete; removing one (under
 * ROOT/snapshots.lock or the exclusive store lock). */
bool img_snapshot_complete(struct img_store *s, const char *hex);
/* Whether name is a snapshot marker (<hex>.complete or <hex>.unsynced). */
bool img_snapshot_is_marker(const char *name);
int img_snapshot_remove_at(int snapdir_fd, const char *hex, struct kiln_err *err);
/* Writes the marker of the verified tree <hex>, in place: its entries and
 * bytes (count, when valid, else a walk of the tree counts them) and this
 * boot's id, unsynced. */
struct layer_tree_count;
int img_snapshot_mark_complete(struct img_store *s, const char *hex,
                               const struct layer_tree_count *count, struct kiln_err *err);
/* Marks the snapshot hex complete (dfd: ROOT/snapshots, under
 * ROOT/snapshots.lock): src (a finished tree elsewhere on the same
 * filesystem, or NULL when the tree is in place) is renamed in, then the
 * unsynced marker written. No sync: the marker is trusted in this boot
 * only, so a crash can cost the snapshot (made again when needed), never
 * leave a trusted marker beside a tree that was not flushed. */
int img_snapshot_publish(struct img_store *s, int dfd, const char *hex, const char *src,
                         const struct layer_tree_count *count, struct kiln_err *err);
/* Around a syncfs of the store's filesystem that happens anyway (a
 * build's group commit, batch.c): begin writes, for every snapshot marked
 * unsynced in this boot, its durable marker to a temp in ROOT/tmp (such a
 * tree was written before its marker, so before the syncfs starts); end,
 * when the syncfs succeeded, renames them in as <hex>.complete and drops
 * the unsynced markers, else removes the temps. No other kiln can remove
 * a snapshot complete in this boot meanwhile but under the exclusive
 * store lock, which the syncing process's open store excludes. */
struct img_snapshot_settle {
	struct kiln_strv hex, tmp;
};
void img_snapshot_settle_begin(struct img_store *s, struct img_snapshot_settle *st);
void img_snapshot_settle_end(struct img_store *s, struct img_snapshot_settle *st, bool synced);
/* A complete snapshot's tree against its marker's record (an empty marker
 * of an earlier kiln records nothing): KILN_E_CORRUPT when they differ. */
int img_snapshot_verify(struct img_store *s, const char *hex, struct kiln_err *err);
/* compressed.c: adds to blobs the compressed copies of the live diffIDs
 * (hex) and removes the mappings of dead ones (called by gc's mark). */
/* pgzip.c: gzips the uncompressed blob `digest` into a new blob (gzip
 * members made in parallel), verifying the source digest on the way; fn
 * (may be NULL) receives the compressed output as it is written. */
int img_pgzip_blob(struct img_store *s, const char *digest, img_chunk_fn fn, void *ud,
                   char out_digest[KILN_DIGEST_LEN], uint64_t *out_size, struct kiln_err *err);
void img_compressed_mark(struct img_store *s, const struct kiln_strv *live_diff_hex,
                         struct kiln_strv *blobs);

#endif
