/* Garbage collection (mark from index.json and ROOT/gc-roots, sweep blobs
 * and snapshots under the exclusive store lock), the store check, and stale
 * temp-file sweeping. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "layer-internal.h"
#include "store-internal.h"

/* --- marking ------------------------------------------------------------- */

/* A set of strings (open addressing, indexes into a kiln_strv), so marking
 * a store of 100,000 blobs stays linear. */
struct strset {
	struct kiln_strv *v;
	size_t *slot; /* index + 1; 0 = empty */
	size_t cap;
};

static size_t str_hash(const char *s)
{
	size_t h = 1469598103934665603u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211u;
	return h;
}

/* Adds s to v unless the set already holds it; true when added. */
static bool strset_add(struct strset *t, const char *s)
{
	if ((t->v->n + 1) * 2 > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 256;
		free(t->slot);
		t->slot = xcalloc(cap, sizeof(*t->slot));
		t->cap = cap;
		for (size_t i = 0; i < t->v->n; i++) {
			size_t j = str_hash(t->v->v[i]) & (cap - 1);
			while (t->slot[j])
				j = (j + 1) & (cap - 1);
			t->slot[j] = i + 1;
		}
	}
	size_t j = str_hash(s) & (t->cap - 1);
	for (; t->slot[j]; j = (j + 1) & (t->cap - 1))
		if (!strcmp(t->v->v[t->slot[j] - 1], s))
			return false;
	kiln_strv_push(t->v, s);
	t->slot[j] = t->v->n;
	return true;
}

struct mark {
	struct img_store *s;
	struct kiln_strv blobs;    /* live blob digests */
	struct kiln_strv diff_ids; /* live snapshot names (hex) */
	struct strset blob_set, diff_set;
	struct kiln_strv *problems; /* fsck: missing or bad children; NULL for gc */
	struct kiln_err fail;       /* gc: the first root it could not read */
};

/* Something reachable could not be read. fsck lists it; gc must not guess
 * what it would have kept, so it records the first one and sweeps nothing. */
static void problem(struct mark *m, const char *fmt, const char *a, const char *b)
{
	if (m->problems)
		kiln_strv_pushf(m->problems, fmt, a, b);
	else if (!m->fail.msg)
		kiln_err_set(&m->fail, KILN_E_CORRUPT, fmt, a, b);
}

static bool is_index_mt(const char *mt)
{
	return mt && (!strcmp(mt, IMG_MT_OCI_INDEX) || !strcmp(mt, IMG_MT_DOCKER_LIST));
}

static void mark_config(struct mark *m, const char *digest)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	struct img_config *c = NULL;
	struct kiln_err err = KILN_ERR_INIT;
	/* gc trusts the parsed blobs this handle holds; fsck reads from disk */
	int r = !m->problems ? img_cache_config(m->s, digest, &c, &err)
	        : img_store_read_blob(m->s, digest, IMG_MAX_JSON, &data, &len, &err) < 0
	            ? -1
	            : img_config_from_json(data, len, &c, &err);
	if (r < 0) {
		problem(m, "config %s: %s", digest, err.msg);
		kiln_err_release(&err);
		return;
	}
	for (size_t i = 0; i < c->n_diff_ids; i++)
		strset_add(&m->diff_set, kiln_digest_hex(c->diff_ids[i]));
	img_config_free(c);
}

static void mark_blob(struct mark *m, const char *digest, const char *media_type, int depth);

/* Marks a manifest's config and layers (and frees man). A missing config is
 * a damaged image: its snapshots cannot be known, so gc stops. */
static void mark_manifest(struct mark *m, struct img_manifest *man, int depth)
{
	mark_blob(m, man->config.digest, man->config.media_type, depth + 1);
	if (img_store_has_blob(m->s, man->config.digest))
		mark_config(m, man->config.digest);
	else if (!m->problems)
		problem(m, "config %s of a stored image is missing%s", man->config.digest, "");
	for (size_t i = 0; i < man->n_layers; i++)
		mark_blob(m, man->layers[i].digest, man->layers[i].media_type, depth + 1);
	img_manifest_free(man);
}

/* A gc root named without a media type (ROOT/gc-roots) may be any blob: one
 * too big to be a manifest is a plain blob. */
static bool plain_blob(struct mark *m, const char *digest)
{
	_cleanup_free_ char *p = img_store_blob_path(m->s, digest);
	struct stat st;
	return stat(p, &st) == 0 && (uint64_t)st.st_size > IMG_MAX_JSON;
}

/* Marks the blob d and, for manifests and indexes, everything below it. */
static void mark_blob(struct mark *m, const char *digest, const char *media_type, int depth)
{
	if (!kiln_digest_valid(digest)) {
		problem(m, "reference to unsupported digest %s%s", digest, "");
		return;
	}
	if (!strset_add(&m->blob_set, digest))
		return;
	/* an index entry of a type kiln does not know (an artifact another
	 * tool stored) is read like an untyped root: if it parses as a
	 * manifest, its children are kept too */
	if (depth == 0 && media_type && !is_index_mt(media_type) &&
	    strcmp(media_type, IMG_MT_OCI_MANIFEST) && strcmp(media_type, IMG_MT_DOCKER_MANIFEST))
		media_type = NULL;
	bool is_index = is_index_mt(media_type);
	bool is_manifest = !media_type || !strcmp(media_type, IMG_MT_OCI_MANIFEST) ||
	                   !strcmp(media_type, IMG_MT_DOCKER_MANIFEST);
	if (!img_store_has_blob(m->s, digest)) {
		/* for gc, a missing leaf protects nothing; a missing manifest or
		 * index hides what it would keep */
		if (m->problems || (media_type && (is_index || is_manifest)))
			problem(m, "missing blob %s (%s)", digest, media_type ? media_type : "?");
		return;
	}
	if ((!is_index && !is_manifest) || depth > 4 || (!media_type && plain_blob(m, digest)))
		return;
	_cleanup_free_ char *data = NULL;
	size_t len;
	struct kiln_err err = KILN_ERR_INIT;
	struct img_manifest *man = NULL;
	if (!m->problems && is_manifest && img_cache_manifest(m->s, digest, &man, NULL) == 0) {
		mark_manifest(m, man, depth);
		return;
	}
	if (img_store_read_blob(m->s, digest, IMG_MAX_JSON, &data, &len, &err) < 0) {
		problem(m, "blob %s: %s", digest, err.msg);
		kiln_err_release(&err);
		return;
	}
	if (is_index) {
		struct img_index *x = NULL;
		if (img_index_from_json(data, len, &x, &err) < 0) {
			problem(m, "index %s: %s", digest, err.msg);
			kiln_err_release(&err);
			return;
		}
		for (size_t i = 0; i < x->n_manifests; i++)
			mark_blob(m, x->manifests[i].digest, x->manifests[i].media_type, depth + 1);
		img_index_free(x);
		return;
	}
	if (img_manifest_from_json(data, len, &man, &err) < 0) {
		/* a root file may name a plain blob: not an error for gc */
		if (media_type)
			problem(m, "manifest %s: %s", digest, err.msg);
		kiln_err_release(&err);
		return;
	}
	mark_manifest(m, man, depth);
}

static void mark_root_files(struct mark *m)
{
	_cleanup_free_ char *dir = kiln_path_join(m->s->root, IMG_GC_ROOTS_DIR);
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *de;
	if (!d && errno != ENOENT)
		problem(m, "cannot read `%s`: %s", dir, strerror(errno));
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		_cleanup_free_ char *p = kiln_path_join(dir, de->d_name);
		_cleanup_free_ char *data = NULL;
		size_t len;
		struct kiln_err err = KILN_ERR_INIT;
		if (kiln_read_file(p, 1 << 20, &data, &len, &err) < 0) {
			problem(m, "gc root `%s`: %s", p, err.msg);
			kiln_err_release(&err);
			continue;
		}
		char *save = NULL;
		for (char *l = strtok_r(data, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
			if (kiln_digest_valid(l))
				mark_blob(m, l, NULL, 0);
	}
}

static int mark_all(struct mark *m, struct kiln_err *err)
{
	struct img_index *x = NULL;
	m->blob_set.v = &m->blobs;
	m->diff_set.v = &m->diff_ids;
	if (img_index_read(m->s, &x, err) < 0)
		return -1;
	for (size_t i = 0; i < x->n_manifests; i++)
		mark_blob(m, x->manifests[i].digest,
		          x->manifests[i].media_type ? x->manifests[i].media_type
		                                     : IMG_MT_OCI_MANIFEST,
		          0);
	img_index_free(x);
	mark_root_files(m);
	if (!m->problems && !m->fail.msg) /* gc only, and only when every root was read */
		img_compressed_mark(m->s, &m->diff_ids, &m->blobs);
	kiln_strv_sort(&m->blobs); /* the sets are done with: sweeping bisects */
	free(m->blob_set.slot);
	free(m->diff_set.slot);
	m->blob_set.slot = m->diff_set.slot = NULL;
	if (m->fail.msg) {
		kiln_err_move(err, &m->fail);
		return kiln_err_wrap(err, "refusing to collect garbage (nothing was removed): "
		                          "`kiln system check` lists the damage");
	}
	return 0;
}

bool img_is_hex64(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return false;
	return n == KILN_SHA256_HEXLEN;
}

/* --- sweeping ------------------------------------------------------------- */

static void sweep_blobs(struct mark *m, unsigned flags, struct img_gc_result *res)
{
	_cleanup_closedir_ DIR *d = opendir(m->s->blobs);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (!img_is_hex64(de->d_name))
			continue;
		_cleanup_free_ char *dg = xasprintf("sha256:%s", de->d_name);
		if (kiln_strv_contains_sorted(&m->blobs, dg))
			continue;
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (!(flags & IMG_GC_DRY_RUN) && unlinkat(dirfd(d), de->d_name, 0) < 0)
			continue;
		res->blobs_removed++;
		res->bytes_reclaimed += (uint64_t)st.st_size;
	}
	if (!(flags & IMG_GC_DRY_RUN) && res->blobs_removed)
		kiln_fsync_dir(m->s->blobs, NULL);
}

/* Dead snapshots (and leftovers of removals a kill interrupted: trash and
 * markers without a tree). */
static void sweep_snapshots(struct mark *m, unsigned flags, struct img_gc_result *res)
{
	_cleanup_closedir_ DIR *d = opendir(m->s->snapshots);
	struct dirent *de;
	kiln_strv_sort(&m->diff_ids);
	while (d && (de = readdir(d))) {
		const char *name = de->d_name;
		if (flags & IMG_GC_DRY_RUN)
			res->snapshots_removed +=
			    img_is_hex64(name) && !kiln_strv_contains_sorted(&m->diff_ids, name);
		else if (!strncmp(name, IMG_SNAPSHOT_TRASH, strlen(IMG_SNAPSHOT_TRASH)))
			kiln_rm_rf_at(dirfd(d), name, NULL);
		else if (img_is_hex64(name) && !kiln_strv_contains_sorted(&m->diff_ids, name) &&
		         img_snapshot_remove_at(dirfd(d), name, NULL) == 0)
			res->snapshots_removed++;
		else if (img_snapshot_is_marker(name)) {
			_cleanup_free_ char *hex = xstrndup(name, KILN_SHA256_HEXLEN);
			if (faccessat(dirfd(d), hex, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
				unlinkat(dirfd(d), name, 0); /* a marker without its tree */
		}
	}
}

/* Opens a directory the sweepers work in, never through a symlink (a
 * ROOT/tmp pointing at /tmp must not make kiln sweep /tmp). */
static DIR *open_sweep_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (!d && fd >= 0)
		close(fd);
	return d;
}

bool img_is_temp_name(const char *name)
{
	static const char *const prefixes[] = IMG_TEMP_PREFIXES;
	for (size_t i = 0; prefixes[i]; i++)
		if (!strncmp(name, prefixes[i], strlen(prefixes[i])))
			return true;
	return false;
}

void img_store_add_durable_dir(struct img_store *s, const char *subdir)
{
	if (!kiln_strv_contains(&s->durable_dirs, subdir))
		kiln_strv_push(&s->durable_dirs, subdir);
}

/* img_store_write_durable's temp names: `.NAME.tmp-XXXXXX`. */
static bool is_durable_temp(const char *name)
{
	return name[0] == '.' && name[1] && strcmp(name, "..") != 0 && strstr(name, ".tmp-");
}

/* The regular durable-write temps in ROOT/sub: removed (remove) or listed
 * into *out as "sub/name". */
static size_t durable_temps_in(struct img_store *s, const char *sub, bool remove,
                               struct kiln_strv *out)
{
	_cleanup_free_ char *dir = kiln_path_join(s->root, sub);
	_cleanup_closedir_ DIR *d = open_sweep_dir(dir);
	struct dirent *de;
	size_t n = 0;
	while (d && (de = readdir(d))) {
		struct stat st;
		if (!is_durable_temp(de->d_name) ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (remove && unlinkat(dirfd(d), de->d_name, 0) < 0)
			continue;
		if (out)
			kiln_strv_pushf(out, "%s/%s", sub, de->d_name);
		n++;
	}
	return n;
}

/* Under the exclusive lock: every durable dir, ROOT/gc-roots first. */
static size_t durable_temps(struct img_store *s, bool remove, struct kiln_strv *out)
{
	size_t n = durable_temps_in(s, IMG_GC_ROOTS_DIR, remove, out);
	for (size_t i = 0; i < s->durable_dirs.n; i++)
		n += durable_temps_in(s, s->durable_dirs.v[i], remove, out);
	return n;
}

size_t img_store_leftover_temps(struct img_store *s, struct kiln_strv *out)
{
	int gc_fd = -1;
	struct kiln_err e = KILN_ERR_INIT;
	if (img_gc_lock(s, IMG_GC_TRY, &gc_fd, &e) < 0) {
		kiln_err_release(&e); /* in use (or read-only): live temps look the same */
		return 0;
	}
	size_t n = durable_temps(s, false, out);
	img_gc_unlock(s, gc_fd);
	return n;
}

/* kiln's own temp names in ROOT/tmp, files or trees, and the durable-write
 * temps a killed build left: only called under the exclusive lock, when
 * no writer can hold one. */
size_t img_store_sweep_all_temps(struct img_store *s)
{
	size_t n = 0;
	_cleanup_closedir_ DIR *d = open_sweep_dir(s->tmp);
	struct dirent *de;
	while (d && (de = readdir(d)))
		if (img_is_temp_name(de->d_name) && kiln_rm_rf_at(dirfd(d), de->d_name, NULL) == 0)
			n++;
	return n + durable_temps(s, true, NULL) + img_store_sweep_temps(s, 0);
}

int img_gc_lock(struct img_store *s, unsigned flags, int *gc_fd, struct kiln_err *err)
{
	if (img_store_writable(s, err) < 0)
		return -1;
	_cleanup_free_ char *p = kiln_path_join(s->root, "gc.lock");
	int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return kiln_err_set(err, errno, "open `%s`", p);
	int tries = (flags & IMG_GC_TRY) ? 1 : 300;
	for (int i = 0; i < tries; i++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			if (flock(s->lock_fd, LOCK_EX | LOCK_NB) == 0) {
				*gc_fd = fd;
				return 0;
			}
			/* a failed conversion has dropped the shared lock: take it
			 * back while gc.lock keeps every other gc out */
			while (flock(s->lock_fd, LOCK_SH) < 0 && errno == EINTR)
				;
			flock(fd, LOCK_UN);
		}
		if (i + 1 < tries)
			usleep(100 * 1000);
	}
	close(fd);
	return kiln_err_set(err, KILN_E_CONFLICT,
	                    "the store is in use by another kiln process; try again later");
}

int img_store_gc(struct img_store *s, unsigned flags, struct img_gc_result *res,
                 struct kiln_err *err)
{
	memset(res, 0, sizeof(*res));
	int gc_fd = -1;
	if (img_gc_lock(s, flags, &gc_fd, err) < 0)
		return -1;
	struct mark m = {.s = s};
	int ret = mark_all(&m, err);
	if (ret == 0) {
		sweep_blobs(&m, flags, res);
		sweep_snapshots(&m, flags, res);
		if (!(flags & IMG_GC_DRY_RUN)) {
			layer_usage_sweep(s, &m.diff_ids); /* sorted by sweep_snapshots */
			res->temps_removed = img_store_sweep_all_temps(s);
		}
	}
	kiln_strv_release(&m.blobs);
	kiln_strv_release(&m.diff_ids);
	kiln_err_release(&m.fail);
	img_gc_unlock(s, gc_fd);
	return ret < 0 ? kiln_err_wrap(err, "garbage collection") : 0;
}

void img_gc_unlock(struct img_store *s, int gc_fd)
{
	flock(s->lock_fd, LOCK_SH);
	close(gc_fd);
}

/* --- check ----------------------------------------------------------------- */

int img_hash_file_at(int dirfd, const char *name, char out[KILN_DIGEST_LEN])
{
	_cleanup_close_ int fd =
	    openat(dirfd, name, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st; /* a FIFO or device there: never blocked on, nor read forever */
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return -1;
	struct kiln_sha256 h;
	kiln_sha256_init(&h);
	char buf[65536];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		kiln_sha256_update(&h, buf, (size_t)n);
	if (n < 0) {
		kiln_sha256_release(&h);
		return -1;
	}
	kiln_sha256_final(&h, out);
	return 0;
}

/* What can be checked of snapshots without their layers: every tree is
 * complete (its marker), no marker lacks its tree, nothing else is there. */
static void check_snapshots(struct img_store *s, struct kiln_strv *problems)
{
	_cleanup_closedir_ DIR *d = opendir(s->snapshots);
	struct dirent *de;
	if (!d && errno != ENOENT)
		kiln_strv_pushf(problems, "cannot read `%s`: %s", s->snapshots, strerror(errno));
	while (d && (de = readdir(d))) {
		const char *name = de->d_name;
		if (!strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		if (img_is_hex64(name)) {
			struct kiln_err why = KILN_ERR_INIT;
			enum img_snap_state st = img_snapshot_state(s, name);
			if (st == IMG_SNAP_INCOMPLETE)
				kiln_strv_pushf(problems,
				                "incomplete snapshot %s (redone when next needed)",
				                name);
			else if (st == IMG_SNAP_COMPLETE && img_snapshot_verify(s, name, &why) < 0)
				kiln_strv_pushf(problems, "damaged snapshot: %s", why.msg);
			/* IMG_SNAP_OTHER_BOOT: img_store_unsynced_snapshots */
			kiln_err_release(&why);
		} else if (img_snapshot_is_marker(name)) {
			_cleanup_free_ char *hex = xstrndup(name, KILN_SHA256_HEXLEN);
			struct stat st;
			if (fstatat(dirfd(d), hex, &st, AT_SYMLINK_NOFOLLOW) < 0)
				kiln_strv_pushf(problems, "snapshot marker %s without its tree",
				                name);
		} else if (!strncmp(name, IMG_SNAPSHOT_TRASH, strlen(IMG_SNAPSHOT_TRASH))) {
			/* an interrupted removal: out of every live name, so the
			 * store is consistent; the next gc (or --repair) deletes it */
			kiln_debug("snapshot removal left half done: %s", name);
		} else {
			kiln_strv_pushf(problems, "unexpected file snapshots/%s", name);
		}
	}
}

int img_quarantine(struct img_store *s, const char *dir, const char *name, struct kiln_err *err)
{
	_cleanup_free_ char *q = kiln_path_join(s->root, IMG_QUARANTINE_DIR);
	if (kiln_mkdir_p(q, 0700, err) < 0)
		return -1;
	_cleanup_free_ char *from = kiln_path_join(dir, name);
	for (unsigned i = 0;; i++) {
		_cleanup_free_ char *to =
		    i ? xasprintf("%s/%s.%u", q, name, i) : kiln_path_join(q, name);
		if (kiln_path_exists(to))
			continue;
		if (rename(from, to) < 0)
			return kiln_err_set(err, errno, "move `%s` to `%s`", from, to);
		return kiln_fsync_dir(dir, err) < 0 ? -1 : kiln_fsync_dir(q, err);
	}
}

int img_store_fsck(struct img_store *s, struct kiln_strv *problems, struct kiln_err *err)
{
	size_t before = problems->n;
	_cleanup_closedir_ DIR *d = opendir(s->blobs);
	struct dirent *de;
	if (!d)
		return kiln_err_set(err, errno, "open `%s`", s->blobs);
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char got[KILN_DIGEST_LEN];
		if (!img_is_hex64(de->d_name))
			kiln_strv_pushf(problems, "unexpected file blobs/sha256/%s", de->d_name);
		else if (img_hash_file_at(dirfd(d), de->d_name, got) < 0)
			kiln_strv_pushf(problems, "unreadable blob %s", de->d_name);
		else if (strcmp(kiln_digest_hex(got), de->d_name) != 0)
			kiln_strv_pushf(problems, "corrupt blob sha256:%s: content hashes to %s",
			                de->d_name, got);
	}
	struct mark m = {.s = s, .problems = problems};
	struct kiln_err e2 = KILN_ERR_INIT;
	if (mark_all(&m, &e2) < 0) {
		kiln_strv_pushf(problems, "%s", e2.msg);
		kiln_err_release(&e2);
	}
	kiln_strv_release(&m.blobs);
	kiln_strv_release(&m.diff_ids);
	check_snapshots(s, problems);
	if (problems->n > before)
		return kiln_err_set(err, KILN_E_CORRUPT, "store check found %zu problem%s",
		                    problems->n - before, problems->n - before == 1 ? "" : "s");
	return 0;
}

/* --- temp files ---------------------------------------------------------------- */

/* Removes the temps of dir (prefix: only those names; NULL: kiln's temp
 * names) last changed before cutoff, partial blobs before partial_cutoff,
 * that no live writer flocks. */
static size_t sweep_dir(const char *dir, const char *prefix, time_t cutoff, time_t partial_cutoff)
{
	size_t n = 0;
	_cleanup_closedir_ DIR *d = open_sweep_dir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.' && (!de->d_name[1] || !strcmp(de->d_name, "..")))
			continue;
		if (prefix ? strncmp(de->d_name, prefix, strlen(prefix)) != 0
		           : !img_is_temp_name(de->d_name))
			continue;
		struct stat st;
		bool partial = !strncmp(de->d_name, IMG_PARTIAL_PREFIX, strlen(IMG_PARTIAL_PREFIX));
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode) || st.st_mtime > (partial ? partial_cutoff : cutoff))
			continue;
		_cleanup_close_ int fd = openat(dirfd(d), de->d_name, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0)
			continue; /* held by a live writer */
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			n++;
	}
	return n;
}

size_t img_store_sweep_temps(struct img_store *s, unsigned max_age_sec)
{
	time_t now = time(NULL), cutoff = now - (time_t)max_age_sec;
	/* a partial blob waits longer for the pull that resumes it */
	time_t partial_cutoff = max_age_sec && now - IMG_PARTIAL_KEEP_SEC < cutoff
	                            ? now - IMG_PARTIAL_KEEP_SEC
	                            : cutoff;
	size_t n = sweep_dir(s->tmp, NULL, cutoff, partial_cutoff);
	/* index.json temps are written under the index lock: holding it, any
	 * temp still there belongs to a writer that died. */
	_cleanup_close_ int lock = img_index_lock(s, NULL);
	if (lock >= 0)
		n += sweep_dir(s->layout, ".index.json.tmp-", cutoff, cutoff);
	return n;
}

uint64_t img_store_blobs_size(struct img_store *s)
{
	uint64_t total = 0;
	_cleanup_closedir_ DIR *d = opendir(s->blobs);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		struct stat st;
		if (img_is_hex64(de->d_name) &&
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
			total += (uint64_t)st.st_size;
	}
	return total;
}
