/* Private to image/: byte streams of layers.
 *
 * layer_sink: takes the uncompressed tar stream, hashes it (diffID) and
 * feeds a compressor (libarchive "raw" writer with a filter) whose output
 * goes to a blob writer (which hashes the blob digest): one pass.
 *
 * layer_source: the reverse. Reads a blob from an fd, hashing the bytes as
 * read (blob digest), decompresses with libarchive's "raw" reader (any
 * filter it knows), and hashes the decompressed bytes (diffID). */
#ifndef KILN_IMAGE_LAYER_INTERNAL_H
#define KILN_IMAGE_LAYER_INTERNAL_H

#include <archive.h>
#include <stdint.h>
#include <sys/types.h>

#include "image.h"

struct archive;
struct archive_entry;

struct layer_sink {
	struct img_blob_writer *w;
	struct archive *z; /* NULL for IMG_COMPRESS_NONE */
	struct kiln_sha256 diff;
	enum img_compression comp;
	struct kiln_err err; /* error raised inside a libarchive callback */
	struct img_store *s;
	/* the layer's usage (layer_usage.c), when the writer counted it
	 * (counted): remembered at commit */
	bool counted;
	uint64_t usage;
};
int layer_sink_open(struct layer_sink *k, struct img_store *s, enum img_compression comp,
                    struct kiln_err *err);
int layer_sink_write(struct layer_sink *k, const void *p, size_t n, struct kiln_err *err);
/* expected_diff may be NULL */
int layer_sink_commit(struct layer_sink *k, const char *expected_diff, struct img_layer *out,
                      struct kiln_err *err);
void layer_sink_release(struct layer_sink *k);

/* libarchive write callback (layer_tar.c): opaque is a struct layer_sink;
 * an error is kept in its err. */
la_ssize_t layer_tar_out(struct archive *a, void *opaque, const void *p, size_t n);
/* A layer's tar format on writer a (layer_tar.c): pax restricted (ustar
 * headers, pax only where needed), xattrs as SCHILY.xattr (docker and
 * containers/storage read those), names and link targets as their raw
 * bytes (hdrcharset=BINARY where a pax header is written: non-ASCII names
 * need no locale, and bytes that are no UTF-8 stay as they are, as Go's
 * archive/tar writes them). An ARCHIVE_* status. */
int layer_tar_format(struct archive *a);
/* archive_write_header for a layer entry: ARCHIVE_WARN (a name libarchive
 * could not turn into UTF-8, written as its bytes under hdrcharset=BINARY,
 * as docker writes it) is ARCHIVE_OK. */
int layer_write_header(struct archive *a, struct archive_entry *e);

/* Adds the xattrs a layer keeps (user.*, trusted.* but overlay's,
 * security.capability) of host path full to e, sorted by name; read
 * through fd when it is >= 0 (full open: no path lookup per call). */
struct archive_entry;
int layer_entry_xattrs(struct archive_entry *e, int fd, const char *full, struct kiln_err *err);
/* Writes size bytes of the regular file fd, from its offset, as the data
 * of the tar entry being written to a (buf: a buffer of buf_size for the
 * reads). In a sparse file bigger than buf_size (fd seekable, the file
 * system answers SEEK_HOLE) the holes go in as zeros without being read:
 * the tar holds every byte (docker layers are plain tars, BuildKit's too),
 * the kernel is spared copying them out. 0; LAYER_DATA_SHRANK when the
 * file ended early (also inside a hole: a file now shorter than size is
 * never padded with zeros to it, callers report "changed while being
 * read"); LAYER_DATA_READ (errno set) or LAYER_DATA_ARCHIVE
 * (libarchive's error) for the caller to report. */
enum { LAYER_DATA_SHRANK = -1, LAYER_DATA_READ = -2, LAYER_DATA_ARCHIVE = -3 };
/* tap (NULL: none) sees every piece written, holes as their zeros. */
struct layer_tap {
	void (*fn)(void *ud, const void *data, size_t n);
	void *ud;
};
int layer_copy_data(struct archive *a, int fd, uint64_t size, char *buf, size_t buf_size,
                    const struct layer_tap *tap);
/* The xattrs a layer tar records (and extraction applies): user.*,
 * trusted.* but trusted.overlay.*, security.capability. */
bool layer_xattr_wanted(const char *name);

/* Where a source's raw (possibly compressed) bytes come from: returns the
 * bytes available (*buf points at them, valid until the next call), 0 at
 * the end, -1 with err set. */
typedef ssize_t (*layer_input_fn)(void *ud, const void **buf, struct kiln_err *err);
/* Receives each run of decompressed bytes as it is read (a sink, a file). */
typedef int (*layer_tee_fn)(void *ud, const void *p, size_t n, struct kiln_err *err);

struct layer_source {
	int fd; /* not owned; -1 with an input function */
	layer_input_fn input;
	void *input_ud;
	layer_tee_fn tee; /* NULL, or set after open */
	void *tee_ud;
	struct archive *raw;
	struct kiln_sha256 blob;
	struct kiln_sha256 diff;
	uint64_t blob_size, diff_size;
	uint64_t usage;               /* of the entries layer_scan read (layer_usage.c) */
	uint64_t max_size, max_ratio; /* layer_limits() at open; 0: none */
	struct kiln_err err;          /* error raised inside the read callback */
	char *rbuf;
	bool eof, raw_eof;
	bool same;          /* not compressed: diff is not hashed, it equals blob */
	bool nohash;        /* an archive, not a layer: no digests, no limits */
	bool noblob;        /* the caller hashes the blob: diff only (same or not) */
	const char *filter; /* name of the detected compression */
};
int layer_source_open(struct layer_source *src, int fd, struct kiln_err *err);
int layer_source_open_input(struct layer_source *src, layer_input_fn input, void *ud,
                            struct kiln_err *err);
/* layer_source_open_input for a caller that verifies the blob digest
 * itself (it stores the same bytes): only the diffID is computed, the blob
 * digest reported by finish is empty. */
int layer_source_open_input_diff(struct layer_source *src, layer_input_fn input, void *ud,
                                 struct kiln_err *err);
/* An archive's stream (load's input): decompressed, neither hashed nor limited. */
int layer_source_open_stream(struct layer_source *src, int fd, struct kiln_err *err);
/* Returns decompressed bytes read, 0 at the end, -1 on error. Past a limit
 * of layer_limits(): a KILN_E_LIMIT error that names it. */
ssize_t layer_source_read(struct layer_source *src, void *buf, size_t n, struct kiln_err *err);
/* Drains the rest of the input and returns both digests (either may be NULL). */
int layer_source_finish(struct layer_source *src, char blob_digest[KILN_DIGEST_LEN],
                        char diff_id[KILN_DIGEST_LEN], uint64_t *blob_size, struct kiln_err *err);
/* Drains the rest of the raw input without decompressing it (after a
 * decompression or tar error) and returns the blob digest. */
int layer_source_finish_raw(struct layer_source *src, char blob_digest[KILN_DIGEST_LEN],
                            uint64_t *blob_size, struct kiln_err *err);
void layer_source_release(struct layer_source *src);

/* Limits on a layer's decompressed stream (decompression bombs), from the
 * environment: KILN_LAYER_MAX_SIZE (bytes, with an optional k/m/g/t
 * suffix; default 64g) and KILN_LAYER_MAX_RATIO (decompressed bytes per
 * compressed byte, checked past LAYER_RATIO_FLOOR; default 2000, above
 * gzip's maximum of about 1032). 0 turns a limit off. */
#define LAYER_RATIO_FLOOR (16u << 20)
int layer_limits(uint64_t *max_size, uint64_t *max_ratio, struct kiln_err *err);

/* A tar reader (libarchive) over a layer_source. */
struct archive *layer_source_tar_reader(struct layer_source *src, struct kiln_err *err);
/* Its parts: a tar reader over rd(feed) (NULL, with libarchive's message
 * in *msg, allocated), and the error of one that did not open. */
struct archive *layer_tar_reader_open(void *feed,
                                      ssize_t (*rd)(struct archive *, void *, const void **),
                                      int (*cl)(struct archive *, void *), char **msg);
int layer_tar_reader_err(struct layer_source *src, const char *msg, struct kiln_err *err);

/* extract_prefetch.c: a tar reader over src whose bytes a thread of its own
 * reads (decompresses, hashes, checks against the limits) ahead of the
 * caller; src is that thread's until layer_prefetch_stop (abandons the
 * rest) or layer_prefetch_free (reads src to its end unless stopped, then
 * frees; call it after archive_read_free). */
struct layer_prefetch;
struct archive *layer_prefetch_tar_reader(struct layer_source *src, struct layer_prefetch **pf,
                                          struct kiln_err *err);
void layer_prefetch_stop(struct layer_prefetch *pf);
void layer_prefetch_free(struct layer_prefetch *pf);

/* extract.c: a path as "a/b/c" ("" for the root), relative to base (NULL:
 * the root) unless it starts with '/': "." and empty components dropped;
 * ".." folded and clamped at the root when fold, else refused ("layer entry
 * `x` escapes the root"). Longer than max: a KILN_E_LIMIT error. */
int img_path_norm(const char *base, const char *p, bool fold, size_t max, char **out,
                  struct kiln_err *err);

/* layer_check.c: the rules of a layer entry, shared by extraction and by
 * the checks of import and load. */
#define LAYER_WH_OPQ ".wh..wh..opq"
/* A set of paths (open addressing). */
struct layer_pset {
	char **slot;
	size_t cap, n;
};
bool layer_pset_has(const struct layer_pset *p, const char *s, size_t n);
void layer_pset_add(struct layer_pset *p, const char *s, size_t n);
void layer_pset_add_path(struct layer_pset *p, const char *rel); /* and its parents */
void layer_pset_release(struct layer_pset *p);
/* An entry's name as "a/b/c" ("" for the root) and, for a hardlink, its
 * target (link may be NULL): `..` refused ("escapes the root"), names up
 * to PATH_MAX, whiteouts `.wh.<name>` with a real name or `.wh..wh..opq`,
 * hardlinks inside the layer and not to its root. */
int layer_entry_check(struct archive_entry *e, char **rel, char **link, struct kiln_err *err);
/* Reads the tar stream of src to its end-of-archive marker, checking every
 * entry (layer_entry_check) and that each hardlink names a file written
 * earlier in the layer: what unpacking would refuse, refused while the
 * layer is hashed (the caller drains the rest with layer_source_finish). */
int layer_scan(struct layer_source *src, struct kiln_err *err);

/* layer_usage.c: the bytes an entry adds to its layer's size as docker
 * counts it (regular files once, symlink targets), remembered per diffID in
 * ROOT/layers/ (best effort: a cache), and gc's sweep of that directory
 * (live_sorted: the live diffIDs' hex, sorted). */
uint64_t layer_entry_usage(struct archive_entry *e);
void layer_usage_record(struct img_store *s, const char *diff_id, uint64_t usage);
void layer_usage_sweep(struct img_store *s, const struct kiln_strv *live_sorted);

/* Private extraction flags (beside enum img_extract_flags). */
enum {
	IMG_EXTRACT_PREFETCH_ = 1u << 28, /* decompress on a thread of its own */
	IMG_EXTRACT_NEW_ = 1u << 29,      /* the target must not exist (KILN_E_CONFLICT) */
};

/* What a new target holds once extracted (extract.c), as a walk of it
 * counts: entries below the root and the bytes of its regular files (a
 * hardlink counts its file again). Exact only when nothing was removed or
 * replaced on the way (valid); the snapshot marker records it. */
struct layer_tree_count {
	uint64_t entries, bytes;
	bool valid;
};

/* extract.c, shared with snapshot.c: extracts a stored blob verifying its
 * digest and, when expected_diff is given, its diffID. A new target is
 * renamed into place only once both are verified; an existing one is
 * extracted into in place (partial on failure). count (may be NULL)
 * receives what a new target holds. */
int img_layer_extract_verified(struct img_store *s, const char *blob_digest,
                               const char *expected_diff, const char *target_dir, unsigned flags,
                               struct layer_tree_count *count, struct kiln_err *err);
/* The same from a blob streamed on fd (snapshot_stream.c: a pull). */
int img_layer_extract_verified_fd(struct img_store *s, int fd, const char *blob_digest,
                                  const char *expected_diff, const char *target_dir, unsigned flags,
                                  struct layer_tree_count *count, struct kiln_err *err);
/* The same from a blob read through input whose digest the caller
 * verifies (it stores the bytes): the diffID is checked here. */
int img_layer_extract_verified_input(struct img_store *s, layer_input_fn input, void *ud,
                                     const char *expected_diff, const char *target_dir,
                                     unsigned flags, struct layer_tree_count *count,
                                     struct kiln_err *err);

#endif
