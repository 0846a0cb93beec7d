/* Private to image/: helpers of import, save and load (archive_io.c,
 * archive_load.c) whose JSON side lives in archive_json.c, the one file of
 * these that includes <jansson.h>. */
#ifndef KILN_IMAGE_ARCHIVE_INTERNAL_H
#define KILN_IMAGE_ARCHIVE_INTERNAL_H

#include "image.h"
#include "layer-internal.h"

/* One element of a docker-archive manifest.json. */
struct docker_manifest_entry {
	char *config;     /* path inside the archive */
	char **repo_tags; /* NULL-terminated, never NULL */
	char **layers;    /* paths inside the archive, NULL-terminated */
	size_t n_layers;
};
int docker_manifest_parse(const char *data, size_t len, struct docker_manifest_entry **out,
                          size_t *n, struct kiln_err *err);
char *docker_manifest_json(const struct docker_manifest_entry *v, size_t n, size_t *len);
void docker_manifest_free(struct docker_manifest_entry *v, size_t n);

/* docker's legacy `repositories` file: {"name":{"tag":"<hex>"}}; repos[i]
 * is a familiar "name:tag", ids[i] the hex it maps to. */
char *docker_repositories_json(char *const *repos, char *const *ids, size_t n, size_t *len);

/* --- load: archive_load.c reads the archive in one pass and publishes;
 * archive_assemble.c makes images of what it read. Nothing enters the
 * store's blobs/ before every image of the archive is verified, and then
 * only the blobs those images reference. */
struct lfile {
	char *name; /* normalized (as if extracted: "a/b") */
	char *link; /* symlink or hardlink target, normalized from the archive root */
	char *data; /* a small member, in memory */
	size_t len;
	int fd;    /* a big member, staged in ROOT/tmp (O_TMPFILE, or tmp), or -1 */
	char *tmp; /* the staged file's name where there is no O_TMPFILE */
	char digest[KILN_DIGEST_LEN]; /* "" until known */
	uint64_t size;
	/* as a layer: scanned while read (staged members) or when first used */
	int scan; /* 0: not yet, 1: a valid layer, -1: not one (why) */
	struct kiln_err why;
	char diff[KILN_DIGEST_LEN];
	const char *filter; /* "none", "gzip", "zstd", "xz", "bzip2" */
	int ufd;            /* xz, bzip2: the decompressed copy, staged; else -1 */
	char *utmp;
	uint64_t usize;
	uint64_t usage; /* a valid layer's files (layer_usage.c) */
};

struct pub_blob {
	char digest[KILN_DIGEST_LEN];
	int fd;           /* staged (not owned), or -1 */
	const char *tmp;  /* its name, without O_TMPFILE */
	const char *data; /* else the bytes (owned by the loader) */
	size_t len;
	int *owner_fd; /* the lfile's fd and name behind fd, to drop it early */
	char **owner_tmp;
	bool stored; /* already in the store: kept, nothing written */
};

struct loader {
	struct img_store *s;
	struct lfile *f;
	size_t n, cap;
	size_t mem_data, mem_names;
	/* what publication stores, then tags */
	struct pub_blob *pub;
	size_t n_pub, cap_pub;
	struct layer_pset pub_set;
	struct img_descriptor *entries;
	char ***entry_refs;
	size_t *entry_nrefs;
	size_t n_entries, cap_entries;
	struct kiln_strv gen; /* generated manifests (kept alive for pub) */
	struct kiln_strv *out;
};

/* archive_load.c */
const struct lfile *load_find(const struct loader *L, const char *name);
/* The member blobs/sha256/<hex> of a digest (following links), or NULL. */
struct lfile *load_blob(struct loader *L, const char *digest);
/* A member's bytes (at most max), its digest (computed once). */
int load_read(struct loader *L, const struct lfile *f, size_t max, char **data, size_t *len,
              struct kiln_err *err);
const char *load_digest(struct lfile *f);
/* Scans a member as a layer if it was not yet: f->scan says the verdict. */
int load_scan(struct loader *L, struct lfile *f, struct kiln_err *err);
/* Marks a member (its decompressed copy when unc) or bytes for publication. */
void load_keep(struct loader *L, struct lfile *f, bool unc);
void load_keep_data(struct loader *L, char *data, size_t len, char digest[KILN_DIGEST_LEN]);
/* An index.json entry to publish with its normalized tags (both taken). */
void load_add_entry(struct loader *L, struct img_descriptor *d, char **refs, size_t n);

/* archive_assemble.c: verifies every image the archive's manifest.json or
 * index.json lists and queues it for publication. */
int load_assemble(struct loader *L, struct kiln_err *err);

#endif
