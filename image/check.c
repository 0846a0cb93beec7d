/* `system check --repair`: puts a damaged store back into a state every
 * command can work with, moving aside (never deleting) what it cannot
 * trust. Runs under the exclusive store lock. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store-internal.h"

/* Corrupt blobs and stray files of blobs/sha256 go to the quarantine: a
 * later write of the same content stores the blob again. */
static int quarantine_blobs(struct img_store *s, struct kiln_strv *done, struct kiln_err *err)
{
	_cleanup_closedir_ DIR *d = opendir(s->blobs);
	if (!d)
		return kiln_err_set(err, errno, "open `%s`", s->blobs);
	struct kiln_strv bad = KILN_STRV_INIT;
	struct dirent *de;
	while ((de = readdir(d))) {
		char got[KILN_DIGEST_LEN];
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (!img_is_hex64(de->d_name) || !S_ISREG(st.st_mode) ||
		    (img_hash_file_at(dirfd(d), de->d_name, got) == 0 &&
		     strcmp(kiln_digest_hex(got), de->d_name) != 0))
			kiln_strv_push(&bad, de->d_name);
	}
	int r = 0;
	for (size_t i = 0; r == 0 && i < bad.n; i++) {
		r = img_quarantine(s, s->blobs, bad.v[i], err);
		if (r == 0)
			kiln_strv_pushf(done, "moved corrupt blob %s to %s/", bad.v[i],
			                IMG_QUARANTINE_DIR);
	}
	kiln_strv_release(&bad);
	return r;
}

/* Whether blob hex is an intact image manifest whose config is intact. */
static bool blob_is_image_manifest(struct img_store *s, const char *hex, struct img_descriptor *d)
{
	_cleanup_free_ char *digest = xasprintf("sha256:%s", hex);
	_cleanup_free_ char *p = img_store_blob_path(s, digest);
	struct stat st;
	if (stat(p, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > IMG_MAX_JSON ||
	    st.st_size < 2)
		return false;
	_cleanup_free_ char *data = NULL;
	size_t len;
	struct img_manifest *m = NULL;
	struct img_config *c = NULL;
	if (img_store_read_blob(s, digest, IMG_MAX_JSON, &data, &len, NULL) < 0 || data[0] != '{' ||
	    img_manifest_from_json(data, len, &m, NULL) < 0)
		return false;
	bool ok = kiln_digest_valid(m->config.digest) &&
	          img_cache_config(s, m->config.digest, &c, NULL) == 0 &&
	          c->n_diff_ids == m->n_layers;
	if (ok) {
		d->media_type = xstrdup(m->media_type ? m->media_type : IMG_MT_OCI_MANIFEST);
		d->digest = xstrdup(digest);
		d->size = (int64_t)len;
	}
	img_config_free(c);
	img_manifest_free(m);
	return ok;
}

/* A damaged index.json (missing, unreadable, without `manifests`) goes to
 * the quarantine; the new one lists every intact image manifest in the
 * store, untagged: no image is lost, the tags are in the quarantined copy. */
static int rebuild_index(struct img_store *s, struct kiln_strv *done, struct kiln_err *err)
{
	_cleanup_free_ char *p = kiln_path_join(s->layout, "index.json");
	if (kiln_path_exists(p)) {
		if (img_quarantine(s, s->layout, "index.json", err) < 0)
			return -1;
		kiln_strv_pushf(done, "moved the damaged index.json to %s/", IMG_QUARANTINE_DIR);
	}
	struct img_index x = {.schema_version = 2};
	_cleanup_closedir_ DIR *d = opendir(s->blobs);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		struct img_descriptor e = {0};
		if (img_is_hex64(de->d_name) && blob_is_image_manifest(s, de->d_name, &e)) {
			img_index_add(&x, &e);
			img_descriptor_release(&e);
		}
	}
	int r = img_index_write(s, &x, err);
	if (r == 0)
		kiln_strv_pushf(done, "rebuilt index.json: %zu image%s kept untagged",
		                x.n_manifests, x.n_manifests == 1 ? "" : "s");
	for (size_t i = 0; i < x.n_manifests; i++)
		img_descriptor_release(&x.manifests[i]);
	free(x.manifests);
	return r;
}

/* Index entries whose manifest or config cannot be read go. */
static int drop_damaged(struct img_store *s, struct kiln_strv *done, struct kiln_err *err)
{
	_cleanup_close_ int lock = img_index_lock(s, err);
	struct img_index *x = NULL;
	if (lock < 0 || img_index_read(s, &x, err) < 0)
		return -1;
	size_t kept = 0, n = x->n_manifests;
	int r = 0;
	for (size_t i = 0; i < n; i++) {
		struct img_descriptor *e = &x->manifests[i];
		struct img_manifest *m = NULL;
		struct img_config *c = NULL;
		char md[KILN_DIGEST_LEN];
		struct kiln_err why = KILN_ERR_INIT;
		if (img_entry_manifest(s, e, &m, md, &why) == 0)
			img_cache_config(s, m->config.digest, &c, &why);
		img_manifest_free(m);
		img_config_free(c);
		if (!why.msg) {
			x->manifests[kept++] = *e;
			continue;
		}
		if (!img_err_is_damage(why.code)) { /* unreadable now is not damaged */
			int code = why.code;
			kiln_strv_pushf(done, "kept %s: %s", e->digest, why.msg);
			kiln_err_release(&why);
			x->manifests[kept++] = *e;
			if (code != KILN_E_UNSUPPORTED)
				r = kiln_err_set(err, code, "cannot read image `%s`", e->digest);
			continue;
		}
		const char *ref = img_map_get(&e->annotations, IMG_ANNOT_REF_NAME);
		kiln_strv_pushf(done, "removed damaged image %s (%s): %s", ref ? ref : "<none>",
		                e->digest, why.msg);
		kiln_err_release(&why);
		img_descriptor_release(e);
	}
	x->n_manifests = kept;
	if (r == 0 && kept != n)
		r = img_index_write(s, x, err);
	img_index_free(x);
	return r;
}

/* Incomplete snapshot trees (those an earlier boot left unsynced too),
 * damaged ones (their marker goes first), trash of interrupted removals,
 * markers without a tree. */
static void repair_snapshots(struct img_store *s, struct kiln_strv *done)
{
	_cleanup_closedir_ DIR *d = opendir(s->snapshots);
	struct dirent *de;
	struct kiln_strv drop = KILN_STRV_INIT;
	while (d && (de = readdir(d))) {
		const char *name = de->d_name;
		struct kiln_err why = KILN_ERR_INIT;
		enum img_snap_state st =
		    img_is_hex64(name) ? img_snapshot_state(s, name) : IMG_SNAP_NONE;
		if (st == IMG_SNAP_COMPLETE && img_snapshot_verify(s, name, &why) < 0) {
			kiln_strv_pushf(done, "%s", why.msg);
			st = IMG_SNAP_INCOMPLETE;
		}
		kiln_err_release(&why);
		if (st == IMG_SNAP_INCOMPLETE || st == IMG_SNAP_OTHER_BOOT ||
		    !strncmp(name, IMG_SNAPSHOT_TRASH, strlen(IMG_SNAPSHOT_TRASH)))
			kiln_strv_push(&drop, name);
		else if (img_snapshot_is_marker(name)) {
			_cleanup_free_ char *hex = xstrndup(name, KILN_SHA256_HEXLEN);
			struct stat sb;
			if (fstatat(dirfd(d), hex, &sb, AT_SYMLINK_NOFOLLOW) < 0)
				kiln_strv_push(&drop, name);
		}
	}
	for (size_t i = 0; d && i < drop.n; i++) {
		/* a tree loses its markers first: a kill leaves an incomplete
		 * tree, never a damaged one taken for complete */
		struct kiln_err e = KILN_ERR_INIT;
		int r = img_is_hex64(drop.v[i]) ? img_snapshot_remove_at(dirfd(d), drop.v[i], &e)
		                                : kiln_rm_rf_at(dirfd(d), drop.v[i], &e);
		if (r == 0)
			kiln_strv_pushf(done, "removed incomplete snapshot entry %s", drop.v[i]);
		else
			kiln_strv_pushf(done, "could not remove snapshots/%s: %s", drop.v[i],
			                e.msg);
		kiln_err_release(&e);
	}
	kiln_strv_release(&drop);
}

int img_store_repair(struct img_store *s, struct kiln_strv *done, struct kiln_err *err)
{
	int gc_fd = -1;
	if (img_gc_lock(s, 0, &gc_fd, err) < 0)
		return kiln_err_wrap(err, "repairing the store");
	size_t temps = img_store_sweep_all_temps(s);
	if (temps)
		kiln_strv_pushf(done, "removed %zu stale temporary file%s", temps,
		                temps == 1 ? "" : "s");
	struct img_index *x = NULL;
	struct kiln_err why = KILN_ERR_INIT;
	int r = quarantine_blobs(s, done, err);
	if (r == 0 && img_index_read(s, &x, &why) < 0) {
		if (img_err_is_damage(why.code)) {
			kiln_strv_pushf(done, "%s", why.msg);
			r = rebuild_index(s, done, err);
		} else {
			kiln_err_move(err, &why);
			r = -1;
		}
	}
	kiln_err_release(&why);
	img_index_free(x);
	if (r == 0)
		r = drop_damaged(s, done, err);
	if (r == 0)
		repair_snapshots(s, done);
	img_gc_unlock(s, gc_fd);
	return r < 0 ? kiln_err_wrap(err, "repairing the store") : 0;
}
