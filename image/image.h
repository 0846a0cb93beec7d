/* image: references, OCI JSON, the content-addressed store, layers.
 * Layer 1: uses common/ only. The only module that includes <jansson.h>
 * (in oci_json.c and config_json.c) and the one that owns libarchive use for
 * layers.
 *
 * On disk, under the kiln root (ROOT):
 *   ROOT/images/          a real OCI image layout (oci-layout, index.json,
 *                         blobs/sha256/<hex>); tags are index entries with the
 *                         org.opencontainers.image.ref.name annotation holding
 *                         the full normalized reference
 *   ROOT/kiln-store       marker: kiln opens only empty or marked dirs
 *   ROOT/snapshots/<hex>/ one unpacked layer per diffID (overlay lower dirs),
 *                         complete once ROOT/snapshots/<hex>.unsynced names
 *                         this boot (or the durable <hex>.complete exists:
 *                         group commit, create of a lasting container):
 *                         snapshot.c
 *   ROOT/layers/<hex>     a layer's size as docker counts it, per diffID
 *                         (a cache: layer_usage.c)
 *   ROOT/quarantine/      what `system check --repair` moved aside
 *   ROOT/tmp/             temp files and partial extractions (flock'ed while
 *                         in use, swept when stale)
 *   ROOT/store.lock       shared by writers, exclusive for garbage collection
 *   ROOT/index.lock       exclusive flock around every index.json
 *                         read-modify-write (tags)
 * The other modules add ROOT/containers, ROOT/cache, ROOT/volumes.
 *
 * Files: ref.c (references), oci_json.c and config_json.c (with
 * json-internal.h, the only files including <jansson.h>: manifest/index and
 * config types), store.c (layout, blobs),
 * index.c (index.json, tags, image commit/load/list/remove), gc.c (garbage
 * collection, fsck, temp sweeping). */
#ifndef KILN_IMAGE_H
#define KILN_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

struct img_store;
struct img_layer;

/* Opens (creating if needed) the store under root. */
int img_store_open(const char *root, struct img_store **out, struct kiln_err *err);
/* Opens the store under root as a read-only store is opened: nothing is
 * created, swept or remembered (shell completion); writes fail. */
int img_store_open_read_only(const char *root, struct img_store **out, struct kiln_err *err);
void img_store_close(struct img_store *s);
const char *img_store_root(const struct img_store *s);
const char *img_store_tmpdir(const struct img_store *s);

/* --- references (ref.c): docker's distribution/reference rules ---------- */
#define IMG_DEFAULT_DOMAIN "docker.io"
#define IMG_DEFAULT_TAG    "latest"

struct img_ref {
	char *domain; /* "docker.io", "localhost:5000" */
	char *path;   /* "library/busybox" */
	char *tag;    /* NULL when absent */
	char *digest; /* "sha256:..." or NULL */
};
enum img_ref_flags {
	IMG_REF_DEFAULT_TAG = 1 << 0, /* add ":latest" when neither tag nor digest */
};
/* Parses and normalizes like docker's ParseNormalizedNamed. Errors are
 * KILN_E_INVALID with docker's message ("invalid reference format", ...). */
int img_ref_parse(const char *s, unsigned flags, struct img_ref *out, struct kiln_err *err);
void img_ref_release(struct img_ref *r);
/* "docker.io/library/busybox:latest" (allocated). */
char *img_ref_string(const struct img_ref *r);
/* "docker.io/library/busybox" */
char *img_ref_name(const struct img_ref *r);
/* docker's short form: "busybox:latest", "myreg:5000/x/y:1" */
char *img_ref_familiar(const struct img_ref *r);
char *img_ref_familiar_name(const struct img_ref *r);
/* Normalizes s (default tag added) to its full string; NULL + err if invalid. */
char *img_ref_normalize(const char *s, struct kiln_err *err);
/* Familiar form of an already normalized string; a copy of s if it does not parse. */
char *img_ref_familiarize(const char *s);

/* --- OCI / Docker JSON types (oci_json.c, config_json.c) --------------- */
#define IMG_MT_OCI_MANIFEST    "application/vnd.oci.image.manifest.v1+json"
#define IMG_MT_OCI_INDEX       "application/vnd.oci.image.index.v1+json"
#define IMG_MT_OCI_CONFIG      "application/vnd.oci.image.config.v1+json"
#define IMG_MT_OCI_LAYER       "application/vnd.oci.image.layer.v1.tar"
#define IMG_MT_OCI_LAYER_GZIP  "application/vnd.oci.image.layer.v1.tar+gzip"
#define IMG_MT_OCI_LAYER_ZSTD  "application/vnd.oci.image.layer.v1.tar+zstd"
#define IMG_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define IMG_MT_DOCKER_LIST     "application/vnd.docker.distribution.manifest.list.v2+json"
#define IMG_MT_DOCKER_CONFIG   "application/vnd.docker.container.image.v1+json"
#define IMG_MT_DOCKER_LAYER    "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define IMG_ANNOT_REF_NAME     "org.opencontainers.image.ref.name"
#define IMG_MAX_JSON           (16u << 20) /* configs, manifests (written and read) */

/* A string map kept sorted by key (Go marshals maps sorted). */
struct img_kv {
	char *key, *value;
};
struct img_map {
	struct img_kv *v;
	size_t n;
};
void img_map_set(struct img_map *m, const char *key, const char *value);
const char *img_map_get(const struct img_map *m, const char *key);
bool img_map_del(struct img_map *m, const char *key);
void img_map_release(struct img_map *m);
void img_map_copy(struct img_map *dst, const struct img_map *src);

struct img_healthcheck {
	char **test; /* NULL-terminated, NULL when absent */
	int64_t interval, timeout, start_period, start_interval; /* nanoseconds */
	int retries;
};

struct img_history {
	char *created, *created_by, *author, *comment; /* NULL when absent */
	bool empty_layer;
};

/* Image config. String vectors are NULL-terminated; NULL means absent (an
 * empty vector is present but empty). ExposedPorts and Volumes are sets:
 * sorted keys. Unknown fields read from elsewhere are kept (opaque) and
 * written back. Serialization is canonical: top-level keys sorted, "config"
 * keys in the OCI ImageConfig order then Docker's extensions (Healthcheck,
 * OnBuild, Shell), maps sorted, empty fields omitted (omitempty). */
struct img_config {
	char *architecture, *os, *variant, *os_version, *created, *author;
	struct {
		char *user;
		char **exposed_ports, **env, **entrypoint, **cmd, **volumes;
		char *working_dir;
		struct img_map labels;
		bool labels_set; /* "Labels" was an object, {} included: written back
		                  * as {} when empty (docker commit writes {}) */
		char *stop_signal;
		bool args_escaped;
		struct img_healthcheck *healthcheck;
		char **on_build, **shell;
	} config;
	bool has_config; /* "config" was present */
	char **diff_ids; /* rootfs.diff_ids, NULL-terminated (never NULL after parse) */
	size_t n_diff_ids;
	char *rootfs_type; /* "layers" */
	struct img_history *history;
	size_t n_history;
	void *extra, *config_extra; /* unknown fields (json objects), or NULL */
	unsigned refs; /* holders beyond the first (shared through the store's cache) */
};
struct img_config *img_config_new(void);
int img_config_from_json(const char *data, size_t len, struct img_config **out,
                         struct kiln_err *err);
/* Canonical JSON (allocated, no trailing newline). */
char *img_config_to_json(const struct img_config *c, size_t *len);
struct img_config *img_config_dup(const struct img_config *c);
void img_config_free(struct img_config *c);
/* Docker's members of "config" that only describe the container it was
 * committed from (Hostname, AttachStdout, Tty, Image...): kept with the
 * unknown members; set replaces, get returns the default when absent. */
void img_config_member_set_str(struct img_config *c, const char *key, const char *value);
void img_config_member_set_bool(struct img_config *c, const char *key, bool value);
const char *img_config_member_str(const struct img_config *c, const char *key);
bool img_config_member_bool(const struct img_config *c, const char *key);
/* A top-level member the image spec does not define (an extension such as
 * the inline build cache `io.kiln.cache.v1`): its JSON text (allocated), or
 * NULL when absent. */
char *img_config_extra_get(const struct img_config *c, const char *key);
/* Sets such a member from JSON text (KILN_E_INVALID if it does not parse);
 * json NULL removes it. */
int img_config_extra_set(struct img_config *c, const char *key, const char *json,
                         struct kiln_err *err);

struct img_platform {
	char *architecture, *os, *os_version, *variant;
	char **os_features;
};

struct img_descriptor {
	char *media_type;
	char *digest; /* "sha256:<hex>" (other algorithms parse but are not stored) */
	int64_t size;
	char **urls;
	struct img_map annotations;
	struct img_platform *platform;
	char *artifact_type;
	void *extra; /* unknown fields */
};
void img_descriptor_release(struct img_descriptor *d);
void img_descriptor_copy(struct img_descriptor *dst, const struct img_descriptor *src);

struct img_manifest {
	int schema_version;
	char *media_type, *artifact_type;
	struct img_descriptor config;
	struct img_descriptor *layers;
	size_t n_layers;
	struct img_descriptor *subject;
	struct img_map annotations;
	void *extra;
	unsigned refs; /* holders beyond the first (shared through the store's cache) */
};
int img_manifest_from_json(const char *data, size_t len, struct img_manifest **out,
                           struct kiln_err *err);
char *img_manifest_to_json(const struct img_manifest *m, size_t *len);
void img_manifest_free(struct img_manifest *m);
/* Frees the fields of a manifest that lives on the stack (no refcount). */
void img_manifest_release(struct img_manifest *m);

struct img_index {
	int schema_version;
	char *media_type, *artifact_type;
	struct img_descriptor *manifests;
	size_t n_manifests;
	struct img_descriptor *subject;
	struct img_map annotations;
	void *extra;
};
int img_index_from_json(const char *data, size_t len, struct img_index **out, struct kiln_err *err);
char *img_index_to_json(const struct img_index *x, size_t *len);
void img_index_free(struct img_index *x);
/* Appends a copy of d. */
void img_index_add(struct img_index *x, const struct img_descriptor *d);
void img_index_remove_at(struct img_index *x, size_t i);

/* --- images (index.c) ----------------------------------------------------- */
/* Stores cfg (its rootfs.diff_ids must match layers, whose blobs are already
 * in the store), then an OCI manifest, then publishes it in index.json
 * tagged with each ref (normalized, default ":latest"; a tag held by another
 * image moves here, leaving that image dangling if it has no other tag).
 * With no refs the image is kept as an untagged (dangling) entry.
 * image_id receives the config digest. */
int img_image_commit(struct img_store *s, const struct img_config *cfg,
                     const struct img_layer *layers, size_t n_layers, const char *const *refs,
                     size_t n_refs, char image_id[KILN_DIGEST_LEN], struct kiln_err *err);

/* The manifest and config of an image are shared with the store handle's
 * cache of parsed blobs (each read and parsed once per process): read-only
 * (img_config_dup to change one); img_image_free drops this holder's
 * reference, and they stay valid after img_store_close. */
struct img_image {
	char id[KILN_DIGEST_LEN];              /* config digest */
	char manifest_digest[KILN_DIGEST_LEN]; /* manifest as listed in index.json */
	struct img_manifest *manifest;
	struct img_config *config;
	char **repo_tags;    /* normalized "docker.io/library/busybox:latest", sorted */
	char **repo_digests; /* normalized "docker.io/library/busybox@sha256:..." */
	size_t n_repo_tags, n_repo_digests;
	char *created; /* config.created or NULL */
	/* when it was last tagged by tag, import, build or commit (docker's
	 * Metadata.LastTagTime; load and pull leave it): RFC 3339 UTC with 9
	 * fraction digits, or NULL (never: Go's zero time) */
	char *last_tag_time;
	int64_t size; /* the layers' img_layer_usage, as docker's Size */
	/* Why the image cannot be used (its manifest or config is missing or
	 * corrupt), or NULL. A damaged image has no config (and no manifest
	 * when that is what is damaged: its id is then the manifest digest). */
	char *damaged;
};
/* Resolves a reference (default ":latest"), name@digest, a full image ID
 * or a unique prefix of one (with or without "sha256:"), like docker.
 * Nothing found or an ambiguous prefix: KILN_E_NOTFOUND "No such image: X". */
int img_image_load(struct img_store *s, const char *name_or_id, struct img_image **out,
                   struct kiln_err *err);
void img_image_free(struct img_image *img);
/* A copy of img (its manifest and config shared: one more reference). */
struct img_image *img_image_dup(const struct img_image *img);
/* img_layer_usage of layer i of an image (cfg gives its diffID; may be
 * NULL); a layer that cannot be counted (its blob missing or damaged:
 * `system check` says so) counts its blob's size. */
uint64_t img_manifest_layer_usage(struct img_store *s, const struct img_manifest *m,
                                  const struct img_config *cfg, size_t i);
/* docker's layer IDs: the chain IDs of c's diffIDs, bottom first, appended
 * to out. */
void img_config_chain_ids(const struct img_config *c, struct kiln_strv *out);
/* Every image (one per image ID, tags merged), newest first. */
int img_image_list(struct img_store *s, struct img_image ***out, size_t *n, struct kiln_err *err);
/* IMG_LIST_DAMAGED: damaged images too (listing, removal); without it
 * img_image_find reports a damaged match as KILN_E_CORRUPT, naming the way
 * out, and img_image_list leaves them out. */
/* IMG_FIND_CONTENT (img_image_find): the caller uses the image's ID,
 * manifest and config only (a build's FROM, COPY --from): a tag is
 * resolved through index.json's entries, reading no other image's
 * manifest or config (a store of many images costs one index read);
 * repo_tags and repo_digests then hold only the entries of the same
 * manifest. Anything else (an ID, a prefix, name@digest, a tag not in the
 * index) is looked up as without it. */
enum img_list_flags { IMG_LIST_DAMAGED = 1 << 0, IMG_FIND_CONTENT = 1 << 1 };
int img_image_list_flags(struct img_store *s, unsigned flags, struct img_image ***out, size_t *n,
                         struct kiln_err *err);
int img_image_find(struct img_store *s, const char *name_or_id, unsigned flags,
                   struct img_image **out, struct kiln_err *err);
void img_image_list_free(struct img_image **v, size_t n);

/* Tags the image `source` resolves to as target_ref (normalized). */
int img_store_tag(struct img_store *s, const char *source, const char *target_ref,
                  struct kiln_err *err);
/* Removes the tag `ref` (normalized). If it was the image's last tag and
 * keep_dangling is false, the image's index entries go too (*deleted true). */
int img_store_untag(struct img_store *s, const char *ref, bool keep_dangling, bool *deleted,
                    struct kiln_err *err);
/* Removes every index entry of image `id` (tags included). */
int img_store_remove_image(struct img_store *s, const char *id, struct kiln_err *err);
/* Removes the entries of image `id` only while it is untagged, under the
 * index lock: a tag given to it meanwhile (kiln tag, another build) keeps
 * it whole. Nothing to remove is no error. */
int img_store_remove_dangling(struct img_store *s, const char *id, struct kiln_err *err);

/* The time an entry was tagged (index.c writes it when tag, import, build
 * or commit publish a tag): "2024-01-02T03:04:05.123456789Z". */
#define IMG_ANNOT_LAST_TAG "io.kiln.image.last-tag-time"

/* --- what registries returned (repo_digest.c) --------------------------- */
/* RepoDigests: every index entry of an image carries, in this annotation,
 * the comma-separated "NAME@sha256:..." digests registries returned for it
 * (pull, push); img_image.repo_digests lists them. */
#define IMG_ANNOT_REPO_DIGESTS "io.kiln.image.repo-digests"
int img_image_add_repo_digest(struct img_store *s, const char *image_id, const char *repo_digest,
                              struct kiln_err *err);
/* Publishes a stored manifest blob (kept verbatim: its digest is the
 * registry's) in index.json, tagged ref (normalized) or, with ref NULL,
 * as an untagged entry. */
int img_image_publish_manifest(struct img_store *s, const char *media_type, const char *digest,
                               int64_t size, const char *ref, struct kiln_err *err);

/* --- garbage collection, checks, temp sweeping (gc.c) ------------------- */
/* GC roots: everything reachable from index.json, plus every digest listed
 * in the files of ROOT/gc-roots/ (one "sha256:..." a line; a manifest or
 * index listed there keeps its children too). This is the seam for the
 * other modules: the cache writes a root file per record, the runtime one per
 * container (ROOT/gc-roots/cache-<key>, ROOT/gc-roots/container-<id>), each
 * written atomically before the record it protects is published.
 * Snapshots (ROOT/snapshots/<diffID hex>) live while a live config lists
 * their diffID. */
#define IMG_GC_ROOTS_DIR "gc-roots"
struct img_gc_result {
	size_t blobs_removed, snapshots_removed, temps_removed;
	uint64_t bytes_reclaimed; /* blob bytes */
};
enum img_gc_flags {
	IMG_GC_TRY = 1 << 0,     /* give up at once (KILN_E_CONFLICT) if the store is busy */
	IMG_GC_DRY_RUN = 1 << 1, /* count only */
};
/* Takes the store lock exclusively (waiting up to 30 s for other kiln
 * processes unless IMG_GC_TRY), marks, sweeps, and returns to shared. */
int img_store_gc(struct img_store *s, unsigned flags, struct img_gc_result *res,
                 struct kiln_err *err);
/* Checks every blob's digest against its name and that every reference from
 * index.json (manifests, configs, layers, nested indexes) resolves. Problems
 * are appended to *problems (one line each); returns -1 with KILN_E_CORRUPT
 * when there is any. */
int img_store_fsck(struct img_store *s, struct kiln_strv *problems, struct kiln_err *err);
/* Repairs what can be repaired, under the exclusive store lock: removes
 * stale temp files, moves corrupt blobs (and a damaged index.json, replaced
 * by one listing every intact image untagged) to ROOT/quarantine/, drops the
 * index entries of damaged images, removes incomplete snapshots and the
 * leftovers of interrupted removals. Appends one line per action to *done. */
int img_store_repair(struct img_store *s, struct kiln_strv *done, struct kiln_err *err);
/* A directory (relative to ROOT) holding files another module writes with
 * img_store_write_durable, besides ROOT/gc-roots: a build killed with a
 * batch open leaves their `.NAME.tmp-*` temps there. The GC and repair
 * remove those under the exclusive store lock only, never by age (a long
 * build's pending records are as old); img_store_leftover_temps lists
 * them. Registered on each store opened (the cache: cache_store_attach). */
void img_store_add_durable_dir(struct img_store *s, const char *subdir);
/* Appends the durable-write temps a killed kiln left (paths relative to
 * ROOT) to *out; lists nothing when another kiln holds the store open
 * (its pending temps look the same). Returns how many it appended. */
size_t img_store_leftover_temps(struct img_store *s, struct kiln_strv *out);
/* Appends the diffID hex of every snapshot whose unsynced marker an
 * earlier boot wrote (its bytes may not have reached the disk before a
 * crash): not damage, the next use unpacks it again from its blob, and
 * `system check --repair` removes it. Returns how many it appended. */
size_t img_store_unsynced_snapshots(struct img_store *s, struct kiln_strv *out);
/* Removes regular temp files older than max_age_sec that nobody holds
 * locked from ROOT/tmp and stale index temp files from ROOT/images. */
size_t img_store_sweep_temps(struct img_store *s, unsigned max_age_sec);
/* Sum of the blob sizes under blobs/sha256. */
uint64_t img_store_blobs_size(struct img_store *s);

/* --- blobs: content-addressed, written atomically ----------------------- */
/* A writer streams into a temp file in the store, hashing as it goes;
 * commit verifies (when expected is non-NULL), fsyncs and renames into
 * blobs/sha256/<hex>, over an existing copy (which may have been damaged). */
struct img_blob_writer;
struct img_blob_writer *img_blob_writer_new(struct img_store *s, struct kiln_err *err);
int img_blob_writer_write(struct img_blob_writer *w, const void *p, size_t n, struct kiln_err *err);
int img_blob_writer_commit(struct img_blob_writer *w, const char *expected,
                           char digest[KILN_DIGEST_LEN], uint64_t *size, struct kiln_err *err);
/* Past its first 8 MiB a blob is written with direct I/O (image/store.c);
 * a caller whose buffers are aligned to IMG_BLOB_DIRECT_ALIGN, with
 * lengths that are multiples of it, has them written without a copy. */
#define IMG_BLOB_DIRECT_ALIGN 4096
/* For a caller that hashes the bytes it writes itself, on another thread
 * beside the writes (before any write): writes are no longer hashed here
 * and commit's expected is the digest, taken as is. */
void img_blob_writer_hash_outside(struct img_blob_writer *w);
/* Frees the writer; removes the temp file if not committed (a partial's
 * only when empty). */
void img_blob_writer_free(struct img_blob_writer *w);
/* A writer for blob digest that survives its process (a pull killed
 * mid-blob): ROOT/tmp/partial-<hex>. What an earlier writer left there is
 * read back, hashed, with img_blob_writer_replay (the caller passes it on:
 * an unpacker needs the stream from byte 0), and the writes append; the
 * first write cuts off what was not replayed. Freed uncommitted, the file
 * stays (swept as a temp once stale, or by prune); a commit that does not
 * verify removes it. Held by another live writer: a plain writer. */
struct img_blob_writer *img_blob_writer_resume(struct img_store *s, const char *digest,
                                               struct kiln_err *err);
/* The next bytes (at most n) of a partial's old content, hashed; 0 once
 * all are read (or for a plain writer, or after a write). */
ssize_t img_blob_writer_replay(struct img_blob_writer *w, void *buf, size_t n,
                               struct kiln_err *err);

int img_store_put_blob(struct img_store *s, const void *p, size_t n, char digest[KILN_DIGEST_LEN],
                       struct kiln_err *err);
bool img_store_has_blob(struct img_store *s, const char *digest);
/* Allocated path of blobs/sha256/<hex>. */
char *img_store_blob_path(struct img_store *s, const char *digest);
int img_store_read_blob(struct img_store *s, const char *digest, size_t max, char **data,
                        size_t *len, struct kiln_err *err);
/* Opens a stored blob for reading (O_CLOEXEC): never blocks on open, and a
 * blob that is not a regular file (a FIFO or device planted there) is a
 * KILN_E_CORRUPT error, a missing one KILN_E_NOTFOUND. Returns the fd. */
int img_store_open_blob(struct img_store *s, const char *digest, struct kiln_err *err);

/* --- group commit (image/batch.c) ------------------------------------------ */
/* Between begin and end (a build), committed blobs and the files written
 * with img_store_write_durable stay under temp names, written but not
 * flushed; img_store_has_blob, img_store_open_blob and
 * img_store_durable_path find them there. A flush syncs the store's
 * filesystem once, then renames them into place in the order they were
 * queued (children before the records naming them). A publication
 * (img_image_commit, img_publish*) flushes the batch and syncs again
 * before index.json is renamed. end flushes and closes the batch. Without
 * a batch every call here writes through at once (fsync, rename, fsync
 * the directory). Thread-safe. */
void img_store_batch_begin(struct img_store *s);
int img_store_batch_flush(struct img_store *s, struct kiln_err *err);
int img_store_batch_end(struct img_store *s, struct kiln_err *err);
/* kiln_write_file_atomic for files that must survive a crash once
 * published (cache records, GC roots), joined to the open batch. */
int img_store_write_durable(struct img_store *s, const char *path, const void *data, size_t len,
                            mode_t mode, struct kiln_err *err);
/* Where the bytes written for path are now: its queued temp, else path
 * (allocated). */
char *img_store_durable_path(struct img_store *s, const char *path);

/* --- layers ---------------------------------------------------------------- */
enum img_compression { IMG_COMPRESS_NONE, IMG_COMPRESS_GZIP, IMG_COMPRESS_ZSTD };

struct img_layer {
	char diff_id[KILN_DIGEST_LEN]; /* sha256 of the uncompressed tar */
	char digest[KILN_DIGEST_LEN];  /* sha256 of the blob as stored */
	uint64_t size;                 /* blob size */
	char *media_type;
};
void img_layer_release(struct img_layer *l);
/* A layer's size as docker shows it (layer_usage.c): the bytes of its
 * files (regular files once per inode, symlinks the length of their
 * target; directories, devices, whiteouts 0), not of its tar. Counted when
 * a layer is written, imported, loaded or pulled and remembered in
 * ROOT/layers/<diffID hex>; a layer without that record (an older store) is
 * counted from its blob once and remembered. l->diff_id may be "" for an
 * uncompressed blob (its digest is the diffID). */
int img_layer_usage(struct img_store *s, const struct img_layer *l, uint64_t *out,
                    struct kiln_err *err);
/* Fills a manifest's layer descriptor (fields allocated; media type
 * defaults to the uncompressed OCI layer). */
void img_layer_descriptor(const struct img_layer *l, struct img_descriptor *d);
/* Layer i of an image (0 = bottom): diffID from the config, digest, size
 * and media type (borrowed from m: not to be released) from the manifest.
 * i must be below both m->n_layers and c->n_diff_ids. */
void img_layer_of_image(const struct img_manifest *m, const struct img_config *c, size_t i,
                        struct img_layer *out);

#define IMG_MT_LAYER      "application/vnd.oci.image.layer.v1.tar"
#define IMG_MT_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define IMG_MT_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"

const char *img_compression_media_type(enum img_compression c);
const char *img_compression_name(enum img_compression c); /* "none", "gzip", "zstd" */
int img_compression_parse(const char *name, enum img_compression *c, struct kiln_err *err);
/* OCI and Docker layer media types; an unknown type is KILN_E_UNSUPPORTED. */
int img_compression_from_media_type(const char *mt, enum img_compression *c, struct kiln_err *err);

/* Layer tars are written in one pass (libarchive, PAX): the uncompressed
 * stream is hashed into the diffID while a compressor feeds the blob writer,
 * which hashes the blob digest. Deterministic: entries depth-first with the
 * names of each directory sorted bytewise, numeric uid/gid only, no
 * atime/ctime, no uname/gname, mtime in whole seconds (clamped when asked),
 * xattrs user.*, security.capability and trusted.* (never trusted.overlay.*),
 * hardlinks by dev+ino (first occurrence carries the data), no root entry.
 * Sockets are skipped. The local store keeps layers uncompressed by default;
 * gzip is the default once an image leaves the machine. */
struct img_layer_opts {
	enum img_compression compression;
	/* dir is an overlayfs upper dir: char device 0/0 -> `.wh.<name>`,
	 * trusted.overlay.opaque=y (or user.overlay.opaque) -> the dir plus
	 * `<dir>/.wh..wh..opq` */
	bool overlay_upper;
	int64_t clamp_mtime; /* -1: none; else later mtimes become this (SOURCE_DATE_EPOCH) */
};
int img_layer_create(struct img_store *s, const char *dir, const struct img_layer_opts *opts,
                     struct img_layer *out, struct kiln_err *err);
/* --- layer writer: a layer from entries given one by one (layer_writer.c) --
 * For producers that know their entries without a directory to walk (the
 * builder's COPY streams context files straight into the layer): the tar,
 * its diffID and the blob are made in the same pass as img_layer_create,
 * with the same determinism rules (PAX, numeric owners, whole-second
 * mtimes clamped by opts->clamp_mtime, no uname/gname). The caller gives
 * the order (parents before children) and never the same path twice. */
struct img_layer_writer;
struct img_layer_entry {
	const char *path; /* relative, '/'-separated, no leading or trailing '/' */
	uint32_t mode;    /* file type and permission bits (S_IFREG | 0644, ...) */
	uint32_t uid, gid;
	int64_t mtime;    /* seconds */
	uint64_t size;    /* regular files: bytes taken from data_fd */
	const char *link; /* symlink target, or for hardlink the earlier entry's path */
	bool hardlink;    /* a regular file that is a hardlink to `link` (no data) */
	uint32_t rdev_major, rdev_minor; /* char and block devices */
	/* user.*, trusted.* (not overlay) and security.capability xattrs
	 * copied from this host path (NULL: none) */
	const char *xattrs_from;
	/* they are read through data_fd, the file at xattrs_from opened
	 * (and checked to be it): no path lookup */
	bool xattrs_via_fd;
	/* NULL, or called with every piece of a regular file's data as it
	 * goes into the tar, in order (holes as their zeros): a caller
	 * hashing the bytes it copies reads them once (cache_ctx_feed) */
	void (*on_data)(void *ud, const void *data, size_t n);
	void *on_data_ud;
};
int img_layer_writer_new(struct img_store *s, const struct img_layer_opts *opts,
                         struct img_layer_writer **out, struct kiln_err *err);
/* Adds one entry; a regular file's data is read from data_fd (exactly
 * e->size bytes: a shorter file is an error naming the path). */
int img_layer_writer_add(struct img_layer_writer *w, const struct img_layer_entry *e, int data_fd,
                         struct kiln_err *err);
/* Adds the whiteout `<dir>/.wh.<name>` hiding path in lower layers. */
int img_layer_writer_whiteout(struct img_layer_writer *w, const char *path, int64_t mtime,
                              struct kiln_err *err);
/* Entries added so far (0: the layer would be an empty tar). */
size_t img_layer_writer_count(const struct img_layer_writer *w);
uint64_t img_layer_writer_bytes(const struct img_layer_writer *w); /* file data so far */
/* fn(ud, n) with the bytes of the tar streamed so far, on the caller's
 * thread, at each MiB handed to the store (a progress display's count). */
void img_layer_writer_set_progress(struct img_layer_writer *w, void (*fn)(void *ud, uint64_t n),
                                   void *ud);
/* Ends the tar and stores the blob (out receives diffID, digest, size). */
int img_layer_writer_commit(struct img_layer_writer *w, struct img_layer *out,
                            struct kiln_err *err);
/* Frees the writer; an uncommitted blob's temp file is removed. */
void img_layer_writer_free(struct img_layer_writer *w);

/* Reads a stored layer blob once (nothing written): its digest and the
 * diffID of its decompressed stream must be l's (KILN_E_CORRUPT). */
int img_layer_verify(struct img_store *s, const struct img_layer *l, struct kiln_err *err);
/* Streams a stored layer blob into a new blob with another compression,
 * verifying the source's digest and diffID on the way. */
int img_layer_recompress(struct img_store *s, const struct img_layer *in, enum img_compression to,
                         struct img_layer *out, struct kiln_err *err);
/* The blob of layer `in` (any stored compression) compressed with `to`,
 * made once and remembered in ROOT/compressed/ (compressed.c): later calls
 * return the same blob while it is stored. */
int img_layer_compressed(struct img_store *s, const struct img_layer *in, enum img_compression to,
                         struct img_layer *out, struct kiln_err *err);
/* Receives output as it is made; returns 0, or -1 (err set) to stop. */
typedef int (*img_chunk_fn)(void *ud, const void *p, size_t n, struct kiln_err *err);
/* img_layer_compressed that, when it has to make the copy and can stream
 * it (gzip of an uncompressed blob), also hands every piece of the
 * compressed blob to fn, in order, as it is made (*streamed then true), so
 * a push uploads while it compresses. The blob is stored either way. */
int img_layer_compressed_stream(struct img_store *s, const struct img_layer *in,
                                enum img_compression to, struct img_layer *out, img_chunk_fn fn,
                                void *ud, bool *streamed, struct kiln_err *err);
/* Stores a tar stream read from fd (plain, gzip, zstd, xz, bzip2:
 * auto-detected) as a layer blob with compression `to`; the diffID is the
 * sha256 of the decompressed stream. Checks that the stream is a tar. */
int img_layer_from_fd(struct img_store *s, int fd, enum img_compression to, struct img_layer *out,
                      struct kiln_err *err);

/* Secure extraction (extract.c). Every entry is resolved under the target
 * as if it were the root (openat2 RESOLVE_IN_ROOT): a leading `/` is
 * dropped (as docker does), a `..` component is refused ("layer entry `x`
 * escapes the root"), symlinks met while resolving parents stay inside the
 * target, the last component is never followed, hardlink targets must name
 * an entry inside the target. trusted.overlay.* xattrs from a layer are
 * never applied. Owners are applied when running as root (else ignored).
 * A target that does not exist yet is built in a temp dir next to the
 * store's tmp and renamed into place, so a failure leaves nothing; applying
 * onto an existing target (flattening) leaves it partial on failure. */
enum img_extract_flags {
	/* create char/block devices (needs CAP_MKNOD); without it they are
	 * skipped silently, as rootless docker does */
	IMG_EXTRACT_DEVICES = 1 << 0,
	/* keep whiteouts in overlay form instead of applying them: `.wh.x` ->
	 * char device 0/0 `x`, `.wh..wh..opq` -> trusted.overlay.opaque=y on
	 * the dir (snapshots; needs root) */
	IMG_EXTRACT_OVERLAY_WHITEOUTS = 1 << 1,
};
/* Extracts a stored blob (verifying its digest while reading). */
int img_layer_extract(struct img_store *s, const char *blob_digest, const char *media_type,
                      const char *target_dir, unsigned flags, struct kiln_err *err);
/* Extracts a (possibly compressed) tar from fd; tmpdir (may be NULL: the
 * target's parent) holds the partial tree. diff_id (may be NULL) receives
 * the sha256 of the decompressed stream. */
int img_layer_extract_fd(int fd, const char *target_dir, const char *tmpdir, unsigned flags,
                         char diff_id[KILN_DIGEST_LEN], struct kiln_err *err);
/* Whether fd, read from its offset, is a tar archive once decompressed
 * (gzip, bzip2, xz, zstd or none) with at least one entry: a compressed
 * file that holds no tar is no archive (BuildKit's isArchivePath). */
bool img_tar_probe(int fd);

/* A layer unpacked into a new snapshot is built in ROOT/tmp/extract-<pid>-*
 * and renamed into place: a process stopped by a signal can remove its own. */
#define IMG_EXTRACT_PREFIX "extract-"
/* Snapshots (snapshot.c): ROOT/snapshots/<diffID hex>, one unpacked layer
 * each, extracted with IMG_EXTRACT_OVERLAY_WHITEOUTS | IMG_EXTRACT_DEVICES
 * into ROOT/tmp and renamed into place; the diffID is verified on the way.
 * Whiteouts stay in overlay form (0/0 char devices, opaque xattr), so the
 * snapshots stack as overlay lower dirs as they are. */
int img_snapshot_ensure(struct img_store *s, const struct img_layer *layer, char **path_out,
                        struct kiln_err *err);
bool img_snapshot_exists(struct img_store *s, const char *diff_id);
/* Unpacks layer's snapshot from its blob streamed on fd (snapshot_stream.c:
 * a pull unpacks while it downloads): blob digest and diffID are verified
 * while reading, and the snapshot is published only if both match. fd is
 * read to its end, even after a failure, so its writer never blocks. */
int img_snapshot_from_fd(struct img_store *s, const struct img_layer *layer, int fd,
                         struct kiln_err *err);
/* Publishes dir, an overlay upper dir that img_layer_create (overlay_upper,
 * clamp_mtime as given here) has just made into `layer`, as that layer's
 * snapshot instead of unpacking the blob again later (snapshot_adopt.c).
 * The tree is first made the one extracting the layer would give: sockets
 * and xattrs the tar does not record go, mtimes become whole seconds
 * clamped to clamp_mtime (-1: none); then it is renamed into place and
 * marked complete (unsynced: trusted in this boot only, see snapshot.c). Nothing may change dir
 * meanwhile. When the snapshot exists already, or on failure, dir may stay: the caller removes it
 * then. */
int img_snapshot_adopt(struct img_store *s, const struct img_layer *layer, const char *dir,
                       int64_t clamp_mtime, struct kiln_err *err);
/* Returns the next run of a blob's bytes (*buf valid until the next call),
 * 0 at the end, -1 with err set. */
typedef ssize_t (*img_read_fn)(void *ud, const void **buf, struct kiln_err *err);
/* img_snapshot_from_fd for a blob read through fn by a caller that stores
 * the same bytes and verifies their digest itself (a pull): the diffID is
 * verified here before the snapshot is published, so what is published
 * is the layer the image config names whatever the compressed bytes. */
int img_snapshot_from_stream(struct img_store *s, const struct img_layer *layer, img_read_fn fn,
                             void *ud, struct kiln_err *err);
/* Makes the snapshots among dirs (ROOT/snapshots/<hex>: the lower dirs of a
 * container that outlives this kiln) durable: each one marked unsynced in
 * this boot gets its durable record in a temp, one syncfs for all, then
 * <hex>.complete replaces its unsynced marker (the group commit's settle
 * path). Nothing, no sync, when all are durable already. KILN_E_CORRUPT
 * when one is neither durable nor complete in this boot. Other dirs are
 * skipped. Call with the store open (its lock keeps them from removal). */
int img_snapshot_make_durable(struct img_store *s, char *const *dirs, struct kiln_err *err);
/* Whether every snapshot among dirs (.../snapshots/<hex>; other dirs are
 * skipped) is trusted in this boot: KILN_E_CORRUPT naming the first that
 * is missing, incomplete or left unsynced by an earlier boot. */
int img_snapshot_check_dirs(char *const *dirs, struct kiln_err *err);
/* Ensures every layer's snapshot; *dirs_out (NULL-terminated, free with
 * kiln_strv_free) lists them TOPMOST FIRST, the order of overlay's
 * lowerdir= option. */
int img_snapshot_dirs(struct img_store *s, const struct img_layer *layers, size_t n,
                      char ***dirs_out, struct kiln_err *err);

/* --- import, save, load (archive_io.c, archive_load.c) ------------------ */
struct img_import_opts {
	const char *source; /* tarball (plain/gzip/zstd/xz/bzip2), directory, or "-" (stdin) */
	const char *ref;    /* NULL: an untagged image */
	/* Edits the new config before it is stored (`--change` instructions,
	 * `--platform`: an os it sets is kept with its architecture and variant;
	 * the builder knows Dockerfiles, the image module does not), or NULL. */
	int (*apply)(struct img_config *cfg, void *ud, struct kiln_err *err);
	void *apply_ud;
	const char *message;              /* history comment (default "Imported from SOURCE") */
	enum img_compression compression; /* of the stored layer (default none) */
};
/* An image config's `created`: RFC 3339 UTC, nanoseconds without trailing
 * zeros; the time epoch (seconds) if >= 0, else now (allocated). */
char *img_time_rfc3339(int64_t epoch);
/* A one-layer image. A tarball's bytes become the layer as they are
 * (decompressed), each entry checked as unpacking would (`..`, hardlinks
 * out of the layer, bad whiteouts are refused) within the decompression
 * limits (KILN_LAYER_MAX_SIZE, KILN_LAYER_MAX_RATIO); the reference is
 * checked before anything is read. A directory is made into a layer
 * (img_layer_create).
 * `created` is now, or SOURCE_DATE_EPOCH when set. */
int img_import(struct img_store *s, const struct img_import_opts *o, char image_id[KILN_DIGEST_LEN],
               struct kiln_err *err);

enum img_archive_format {
	IMG_ARCHIVE_DOCKER, /* docker save: manifest.json + repositories + OCI layout */
	IMG_ARCHIVE_OCI,    /* an OCI image layout in a tar */
};
struct img_save_opts {
	enum img_archive_format format;
	enum img_compression compression; /* OCI only (docker archives are uncompressed) */
};
/* Writes a deterministic tar of the images to fd. Every blob is hashed as
 * it is streamed: one that no longer matches its digest fails the save,
 * naming the image and the blob. A compressed layer saved uncompressed
 * (docker archives) is decompressed on the way, its diffID verified (once
 * to learn its size, once while written); nothing is written to the store.
 * Compressing (OCI output) goes through the store, since the manifest
 * needs the compressed digest first (the extra blobs are unreferenced: gc
 * removes them). */
int img_save(struct img_store *s, char *const *names, size_t n, const struct img_save_opts *o,
             int fd, struct kiln_err *err);
/* Reads a docker archive (manifest.json, old or new style) or an OCI layout
 * tar (plain or compressed) from fd, in one pass. Every blob is verified
 * against its digest, every layer against its diffID and its entries
 * checked as unpacking would, within the decompression limits; layer blobs
 * are stored as they came (a gzip layer stays gzip, with its media type;
 * xz and bzip2 ones decompressed), so the stored manifest's layer digests
 * are the blobs' own. All or nothing: only the blobs the archive's images
 * reference are stored, and only once every image verified. `loaded` receives docker's
 * lines: "Loaded image: busybox:latest" or "Loaded image ID: sha256:...". */
int img_load(struct img_store *s, int fd, struct kiln_strv *loaded, struct kiln_err *err);

#endif
