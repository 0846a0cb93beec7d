/* image: references, OCI JSON, the content-addressed store, layers.
 * Layer 1: uses common/ only. The only module that includes <jansson.h>
 * (in oci_json.c) and the one that owns libarchive use for layers.
 *
 * On disk, under the kiln root (ROOT):
 *   ROOT/images/          a real OCI image layout (oci-layout, index.json,
 *                         blobs/sha256/<hex>); tags are index entries with the
 *                         org.opencontainers.image.ref.name annotation holding
 *                         the full normalized reference
 *   ROOT/snapshots/<hex>/ one unpacked layer per diffID (overlay lower dirs)
 *   ROOT/tmp/             temp files and partial extractions (flock'ed while
 *                         in use, swept when stale)
 *   ROOT/store.lock       shared by writers, exclusive for garbage collection
 * The other modules add ROOT/containers, ROOT/cache, ROOT/volumes. */
#ifndef KILN_IMAGE_H
#define KILN_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

struct img_store;

/* Opens (creating if needed) the store under root. */
int img_store_open(const char *root, struct img_store **out, struct kiln_err *err);
void img_store_close(struct img_store *s);
const char *img_store_root(const struct img_store *s);
const char *img_store_tmpdir(const struct img_store *s);

/* --- blobs: content-addressed, written atomically ----------------------- */
/* A writer streams into a temp file in the store, hashing as it goes;
 * commit verifies (when expected is non-NULL), fsyncs and renames into
 * blobs/sha256/<hex>. An existing blob counts as success. */
struct img_blob_writer;
struct img_blob_writer *img_blob_writer_new(struct img_store *s, struct kiln_err *err);
int img_blob_writer_write(struct img_blob_writer *w, const void *p, size_t n, struct kiln_err *err);
int img_blob_writer_commit(struct img_blob_writer *w, const char *expected,
                           char digest[KILN_DIGEST_LEN], uint64_t *size, struct kiln_err *err);
/* Frees the writer; removes the temp file if not committed. */
void img_blob_writer_free(struct img_blob_writer *w);

int img_store_put_blob(struct img_store *s, const void *p, size_t n, char digest[KILN_DIGEST_LEN],
                       struct kiln_err *err);
bool img_store_has_blob(struct img_store *s, const char *digest);
/* Allocated path of blobs/sha256/<hex>. */
char *img_store_blob_path(struct img_store *s, const char *digest);
int img_store_read_blob(struct img_store *s, const char *digest, size_t max, char **data,
                        size_t *len, struct kiln_err *err);

/* --- layers ---------------------------------------------------------------- */
enum img_compression { IMG_COMPRESS_NONE, IMG_COMPRESS_GZIP, IMG_COMPRESS_ZSTD };

struct img_layer {
	char diff_id[KILN_DIGEST_LEN]; /* sha256 of the uncompressed tar */
	char digest[KILN_DIGEST_LEN];  /* sha256 of the blob as stored */
	uint64_t size;                 /* blob size */
	char *media_type;
};
void img_layer_release(struct img_layer *l);

#define IMG_MT_LAYER      "application/vnd.oci.image.layer.v1.tar"
#define IMG_MT_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define IMG_MT_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
/* docker-archive / Docker v2 manifests */
#define IMG_MT_DOCKER_LAYER "application/vnd.docker.image.rootfs.diff.tar.gzip"

const char *img_compression_media_type(enum img_compression c);
const char *img_compression_name(enum img_compression c); /* "none", "gzip", "zstd" */
int img_compression_parse(const char *name, enum img_compression *c, struct kiln_err *err);
/* OCI and Docker layer media types; an unknown type is KILN_E_UNSUPPORTED. */
int img_compression_from_media_type(const char *mt, enum img_compression *c,
                                    struct kiln_err *err);

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
/* Streams a stored layer blob into a new blob with another compression,
 * verifying the source's digest and diffID on the way. */
int img_layer_recompress(struct img_store *s, const struct img_layer *in, enum img_compression to,
                         struct img_layer *out, struct kiln_err *err);
/* Stores a tar stream read from fd (plain, gzip, zstd, xz, bzip2:
 * auto-detected) as a layer blob with compression `to`; the diffID is the
 * sha256 of the decompressed stream. Checks that the stream is a tar. */
int img_layer_from_fd(struct img_store *s, int fd, enum img_compression to,
                      struct img_layer *out, struct kiln_err *err);

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

/* Snapshots (snapshot.c): ROOT/snapshots/<diffID hex>, one unpacked layer
 * each, extracted with IMG_EXTRACT_OVERLAY_WHITEOUTS | IMG_EXTRACT_DEVICES
 * into ROOT/tmp and renamed into place; the diffID is verified on the way.
 * Whiteouts stay in overlay form (0/0 char devices, opaque xattr), so the
 * snapshots stack as overlay lower dirs as they are. */
int img_snapshot_ensure(struct img_store *s, const struct img_layer *layer, char **path_out,
                        struct kiln_err *err);
/* Ensures every layer's snapshot; *dirs_out (NULL-terminated, free with
 * kiln_strv_free) lists them TOPMOST FIRST, the order of overlay's
 * lowerdir= option. */
int img_snapshot_dirs(struct img_store *s, const struct img_layer *layers, size_t n,
                      char ***dirs_out, struct kiln_err *err);

#endif
