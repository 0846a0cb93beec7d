/* index.json: tags, image commit, lookup, listing and removal.
 *
 * Every index.json change is a read-modify-write under an exclusive flock on
 * ROOT/index.lock, written through kiln_write_file_atomic (unique temp,
 * fsync, rename, fsync dir). A tag is an index entry whose
 * org.opencontainers.image.ref.name annotation is the full normalized
 * reference; an entry without it keeps an untagged (dangling) image. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "layer-internal.h"
#include "store-internal.h"

int img_index_lock(struct img_store *s, struct kiln_err *err)
{
	if (img_store_writable(s, err) < 0)
		return -1;
	_cleanup_free_ char *p = kiln_path_join(s->root, "index.lock");
	return kiln_lock_file(p, true, err);
}

/* True when the top-level object of the JSON text has the key `key` (a
 * scan of the text that only tracks strings and nesting depth). */
static bool top_level_key(const char *data, size_t len, const char *key)
{
	size_t klen = strlen(key);
	int depth = 0;
	bool expect_key = false;
	for (size_t i = 0; i < len; i++) {
		char c = data[i];
		if (c == '"') {
			size_t start = ++i;
			while (i < len && data[i] != '"')
				i += data[i] == '\\' ? 2 : 1;
			if (depth == 1 && expect_key && i - start == klen &&
			    !memcmp(data + start, key, klen))
				return true;
			expect_key = false;
		} else if (c == '{' || c == '[') {
			depth++;
			expect_key = c == '{' && depth == 1;
		} else if (c == '}' || c == ']') {
			depth--;
		} else if (c == ',' && depth == 1) {
			expect_key = true;
		}
	}
	return false;
}

/* The parsed index.json a read-only reader handed back (img_index_keep)
 * and the identity of the file it was parsed from. index.json is only
 * ever replaced by a rename (a new inode, new times): while a stat of it
 * still gives this identity, these are its bytes. */
struct img_index_memo {
	struct img_index *x;
	struct stat id;
};

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static void memo_free(struct img_index_memo *m)
{
	if (m)
		img_index_free(m->x);
	free(m);
}

void img_index_memo_drop(struct img_store *s)
{
	memo_free(atomic_exchange(&s->index_memo, NULL));
}

/* The kept index (and in *id its identity) when path p is still the file
 * it was parsed from (taken: the memo is empty after), else NULL. */
static struct img_index *memo_take(struct img_store *s, const char *p, struct stat *id)
{
	struct img_index_memo *m = atomic_exchange(&s->index_memo, NULL);
	struct stat st;
	if (!m || stat(p, &st) < 0 || !same_file(&st, &m->id)) {
		memo_free(m);
		return NULL;
	}
	struct img_index *x = m->x;
	*id = m->id;
	free(m);
	return x;
}

void img_index_keep(struct img_store *s, struct img_index *x, const struct stat *id)
{
	struct img_index_memo *m = xcalloc(1, sizeof(*m));
	m->x = x;
	m->id = *id;
	memo_free(atomic_exchange(&s->index_memo, m));
}

/* Reads and parses index.json (path p, *id its identity): -1 when it
 * cannot be read or parsed, -2 when it has no `manifests`. */
static int index_parse(const char *p, struct img_index **out, struct stat *id, struct kiln_err *err)
{
	_cleanup_close_ int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, id) < 0) {
		kiln_err_set(err, errno, "open `%s`", p);
		if (err && err->code == ENOENT)
			err->code = KILN_E_CORRUPT; /* the store's root is gone: damage */
		return -1;
	}
	_cleanup_free_ char *what = xasprintf("`%s`", p);
	_cleanup_free_ char *data = NULL;
	size_t len;
	if (kiln_read_fd(fd, IMG_INDEX_READ_MAX, what, &data, &len, err) < 0 ||
	    img_index_from_json(data, len, out, err) < 0)
		return -1;
	if (top_level_key(data, len, "manifests"))
		return 0;
	img_index_free(*out);
	*out = NULL;
	return -2;
}

int img_index_read_id(struct img_store *s, struct img_index **out, struct stat *id,
                      struct kiln_err *err)
{
	_cleanup_free_ char *p = kiln_path_join(s->layout, "index.json");
	struct stat st;
	if (!id)
		id = &st;
	if ((*out = memo_take(s, p, id)))
		return 0;
	int r = index_parse(p, out, id, err);
	if (r == -2)
		return kiln_err_set(
		    err, KILN_E_CORRUPT,
		    "`%s` has no `manifests`: the store is damaged (see `kiln system "
		    "check --repair`)",
		    p);
	if (r < 0)
		return kiln_err_wrap(err,
		                     "reading `%s` (the store is damaged: see `kiln system "
		                     "check --repair`)",
		                     p);
	return 0;
}

int img_index_read(struct img_store *s, struct img_index **out, struct kiln_err *err)
{
	return img_index_read_id(s, out, NULL, err);
}

/* index.json's new bytes, or NULL when they are over the limit. */
static char *index_bytes(const char *p, const struct img_index *x, size_t *len,
                         struct kiln_err *err)
{
	char *data = img_index_to_json(x, len);
	/* refused before anything is published: past the limit, every later
	 * read would fail; a write that shrinks an oversized index (one written
	 * by an earlier kiln) is the way out and always allowed */
	struct stat st;
	if (*len > IMG_INDEX_WRITE_MAX && (stat(p, &st) < 0 || (uint64_t)st.st_size < *len)) {
		kiln_err_set(err, KILN_E_LIMIT,
		             "index.json would grow to %zu bytes, over the limit of %u MiB "
		             "(about %u tags): remove unused tags first",
		             *len, IMG_INDEX_WRITE_MAX >> 20, IMG_INDEX_WRITE_MAX / 200);
		free(data);
		return NULL;
	}
	return data;
}

/* In a group commit: index.json's temp is written unsynced, the batch is
 * flushed (one syncfs, then its blobs and records renamed in), the store
 * synced again (the renames and the temp's bytes are durable now), and
 * only then the temp renamed over index.json and its directory synced. */
static int index_write_batched(struct img_store *s, const char *p, const char *data, size_t len,
                               struct kiln_err *err)
{
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int fd = kiln_tempfile_create(s->layout, ".index.json.tmp-", &tmp, err);
	if (fd < 0)
		return -1;
	int r = kiln_write_all(fd, data, len, err);
	if (r == 0 && fchmod(fd, 0644) < 0)
		r = kiln_err_set(err, errno, "write `%s`", tmp);
	if (r == 0)
		r = img_store_batch_flush(s, err);
	if (r == 0)
		img_batch_crash_point("index-written");
	if (r == 0)
		r = img_batch_sync(s, err);
	if (r == 0 && rename(tmp, p) < 0)
		r = kiln_err_set(err, errno, "rename `%s` to `%s`", tmp, p);
	if (r < 0)
		unlink(tmp);
	kiln_tempfile_forget(tmp);
	return r < 0 ? -1 : kiln_fsync_dir(s->layout, err);
}

int img_index_write(struct img_store *s, const struct img_index *x, struct kiln_err *err)
{
	_cleanup_free_ char *p = kiln_path_join(s->layout, "index.json");
	size_t len;
	_cleanup_free_ char *data = index_bytes(p, x, &len, err);
	if (!data)
		return -1;
	if (s->batch)
		return index_write_batched(s, p, data, len, err);
	return kiln_write_file_atomic(p, data, len, 0644, err);
}

static bool is_manifest_type(const char *mt)
{
	return !mt || !strcmp(mt, IMG_MT_OCI_MANIFEST) || !strcmp(mt, IMG_MT_DOCKER_MANIFEST);
}

static bool is_index_type(const char *mt)
{
	return mt && (!strcmp(mt, IMG_MT_OCI_INDEX) || !strcmp(mt, IMG_MT_DOCKER_LIST));
}

/* The manifest of a nested index for this host (linux/KILN_HOST_ARCH), else its
 * first manifest, else NULL. */
static struct img_descriptor *pick_host_manifest(struct img_index *x)
{
	for (size_t i = 0; i < x->n_manifests; i++) {
		const struct img_platform *p = x->manifests[i].platform;
		if (is_manifest_type(x->manifests[i].media_type) && p && p->os &&
		    !strcmp(p->os, "linux") && p->architecture &&
		    !strcmp(p->architecture, KILN_HOST_ARCH))
			return &x->manifests[i];
	}
	for (size_t i = 0; i < x->n_manifests; i++)
		if (is_manifest_type(x->manifests[i].media_type))
			return &x->manifests[i];
	return NULL;
}

/* Loads the manifest an index entry designates: the entry itself, or for a
 * nested index the manifest for this host (else its first manifest). The
 * manifest is shared with the store's cache (a reference for the caller). */
int img_entry_manifest(struct img_store *s, const struct img_descriptor *d,
                       struct img_manifest **out, char manifest_digest[KILN_DIGEST_LEN],
                       struct kiln_err *err)
{
	if (!kiln_digest_valid(d->digest))
		return kiln_err_set(err, KILN_E_UNSUPPORTED, "unsupported digest `%s`", d->digest);
	if (is_index_type(d->media_type)) {
		const struct img_descriptor *pick =
		    img_cache_index_pick(s, d->digest, pick_host_manifest, err);
		return pick ? img_entry_manifest(s, pick, out, manifest_digest, err) : -1;
	}
	if (!is_manifest_type(d->media_type))
		return kiln_err_set(err, KILN_E_UNSUPPORTED, "unsupported media type `%s`",
		                    d->media_type);
	if (img_cache_manifest(s, d->digest, out, err) < 0)
		return -1;
	snprintf(manifest_digest, KILN_DIGEST_LEN, "%s", d->digest);
	return 0;
}

/* Image ID (config digest) of an index entry, or -1. */
static int entry_image_id(struct img_store *s, const struct img_descriptor *d,
                          char id[KILN_DIGEST_LEN], struct kiln_err *err)
{
	struct img_manifest *m = NULL;
	char md[KILN_DIGEST_LEN];
	if (img_entry_manifest(s, d, &m, md, err) < 0)
		return -1;
	snprintf(id, KILN_DIGEST_LEN, "%s", m->config.digest);
	img_manifest_free(m);
	return 0;
}

static const char *entry_ref(const struct img_descriptor *d)
{
	return img_map_get(&d->annotations, IMG_ANNOT_REF_NAME);
}

static ssize_t find_ref(const struct img_index *x, const char *ref)
{
	for (size_t i = 0; i < x->n_manifests; i++) {
		const char *r = entry_ref(&x->manifests[i]);
		if (r && !strcmp(r, ref))
			return (ssize_t)i;
	}
	return -1;
}

/* Number of entries (other than skip) whose image ID is id. */
static size_t count_image_entries(struct img_store *s, const struct img_index *x, const char *id,
                                  ssize_t skip)
{
	size_t n = 0;
	for (size_t i = 0; i < x->n_manifests; i++) {
		char eid[KILN_DIGEST_LEN];
		if ((ssize_t)i == skip || entry_image_id(s, &x->manifests[i], eid, NULL) < 0)
			continue;
		n += !strcmp(eid, id);
	}
	return n;
}

/* Removes entry i; if its image has no other entry, keeps it dangling. */
static void drop_entry_keep_image(struct img_store *s, struct img_index *x, size_t i)
{
	char id[KILN_DIGEST_LEN];
	if (entry_image_id(s, &x->manifests[i], id, NULL) == 0 &&
	    count_image_entries(s, x, id, (ssize_t)i) == 0) {
		img_map_del(&x->manifests[i].annotations, IMG_ANNOT_REF_NAME);
		return;
	}
	img_index_remove_at(x, i);
}

/* Takes the index lock and reads index.json: returns the lock fd, or -1. */
static int index_begin(struct img_store *s, struct img_index **x, struct kiln_err *err)
{
	int lock = img_index_lock(s, err);
	if (lock >= 0 && img_index_read(s, x, err) < 0) {
		close(lock);
		return -1;
	}
	return lock;
}

/* Only an image every later command can read is published: a manifest (or
 * nested index) and a config within the read limits, present and intact.
 * Both writers of manifests (commit, load) come through here. */
static int check_publishable(struct img_store *s, const struct img_descriptor *d,
                             struct kiln_err *err)
{
	if (d->size < 0 || (uint64_t)d->size > IMG_MAX_JSON)
		return kiln_err_set(err, KILN_E_LIMIT,
		                    "manifest `%s` is %lld bytes, over the limit of %u MiB",
		                    d->digest, (long long)d->size, IMG_MAX_JSON >> 20);
	struct img_manifest *m = NULL;
	struct img_config *c = NULL;
	char md[KILN_DIGEST_LEN];
	if (img_entry_manifest(s, d, &m, md, err) < 0)
		return kiln_err_wrap(err, "refusing to publish `%s`", d->digest);
	int r = img_cache_config(s, m->config.digest, &c, err);
	img_manifest_free(m);
	img_config_free(c);
	return r < 0 ? kiln_err_wrap(err, "refusing to publish `%s`", d->digest) : 0;
}

/* A tag given again (docker's tag, import, build, commit) is a new tag
 * time, as docker's Metadata.LastTagTime says; a publish that carries no
 * time (load, pull) leaves the entry's. */
static bool restamp(struct img_descriptor *entry, const struct img_descriptor *d)
{
	const char *t = img_map_get(&d->annotations, IMG_ANNOT_LAST_TAG);
	const char *old = img_map_get(&entry->annotations, IMG_ANNOT_LAST_TAG);
	if (!t || (old && strcmp(t, old) <= 0))
		return false;
	img_map_set(&entry->annotations, IMG_ANNOT_LAST_TAG, t);
	return true;
}

/* Adds manifest descriptor d under the normalized refs to x. known holds
 * every ref of x (and maybe more): a ref not in it is looked for no
 * further, so a load of 100,000 tags is not quadratic. Returns whether x
 * changed. */
static bool publish_into(struct img_store *s, struct img_index *x, const struct img_descriptor *d,
                         char *const *refs, size_t n_refs, struct layer_pset *known)
{
	bool changed = false;
	for (size_t r = 0; r < n_refs; r++) {
		size_t len = strlen(refs[r]);
		ssize_t i = layer_pset_has(known, refs[r], len) ? find_ref(x, refs[r]) : -1;
		layer_pset_add(known, refs[r], len);
		if (i >= 0 && !strcmp(x->manifests[i].digest, d->digest)) {
			changed |= restamp(&x->manifests[i], d); /* already tagged so */
			continue;
		}
		changed = true;
		struct img_descriptor e;
		img_descriptor_copy(&e, d);
		img_map_set(&e.annotations, IMG_ANNOT_REF_NAME, refs[r]);
		img_index_add(x, &e);
		img_descriptor_release(&e);
		/* after the add: a tag moving to another manifest of the same
		 * image (other compression) leaves no dangling copy behind */
		if (i >= 0)
			drop_entry_keep_image(s, x, (size_t)i);
	}
	/* An untagged entry of the same manifest is redundant once tagged, and
	 * needed when nothing else holds the manifest. */
	bool held = false;
	for (size_t i = 0; i < x->n_manifests; i++)
		held |= !strcmp(x->manifests[i].digest, d->digest) && entry_ref(&x->manifests[i]);
	for (size_t i = x->n_manifests; i-- > 0;) {
		const struct img_descriptor *e = &x->manifests[i];
		if (!strcmp(e->digest, d->digest) && !entry_ref(e)) {
			if (held) {
				img_index_remove_at(x, i);
				changed = true;
			}
			held = true;
		}
	}
	if (!held)
		img_index_add(x, d);
	return changed || !held;
}

void img_descriptor_stamp_tag_time(struct img_descriptor *d)
{
	struct timespec ts;
	struct tm tm;
	char buf[32];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	_cleanup_free_ char *t = xasprintf("%s.%09ldZ", buf, ts.tv_nsec); /* sorts as text */
	img_map_set(&d->annotations, IMG_ANNOT_LAST_TAG, t);
}

/* Publishes manifest descriptor d under the normalized refs (under the lock). */
int img_publish(struct img_store *s, const struct img_descriptor *d, char *const *refs,
                size_t n_refs, struct kiln_err *err)
{
	return img_publish_many(s, d, &refs, &n_refs, 1, err);
}

/* n descriptors in one read-modify-write of index.json (a load of
 * thousands of images must not rewrite the index thousands of times). */
int img_publish_many(struct img_store *s, const struct img_descriptor *d, char *const *const *refs,
                     const size_t *n_refs, size_t n, struct kiln_err *err)
{
	for (size_t i = 0; i < n; i++)
		if (check_publishable(s, &d[i], err) < 0)
			return -1;
	struct img_index *x = NULL;
	_cleanup_close_ int lock = index_begin(s, &x, err);
	if (lock < 0)
		return -1;
	struct layer_pset known = {0};
	for (size_t i = 0; i < x->n_manifests; i++) {
		const char *r = entry_ref(&x->manifests[i]);
		if (r)
			layer_pset_add(&known, r, strlen(r));
	}
	bool changed = false;
	for (size_t i = 0; i < n; i++)
		changed |= publish_into(s, x, &d[i], refs[i], n_refs[i], &known);
	layer_pset_release(&known);
	/* nothing new (a rebuild tagging the same image): no write, no fsync */
	int ret = changed ? img_index_write(s, x, err) : 0;
	if (ret == 0 && !changed) /* what it names is stored: the rest may follow */
		ret = img_store_batch_flush(s, err);
	img_index_free(x);
	return ret;
}

static char **normalize_refs(const char *const *refs, size_t n, struct kiln_err *err)
{
	char **out = xcalloc(n + 1, sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		out[i] = img_ref_normalize(refs[i], err);
		if (!out[i]) {
			kiln_strv_free(out);
			return NULL;
		}
	}
	return out;
}

static int check_layers(struct img_store *s, const struct img_config *cfg,
                        const struct img_layer *layers, size_t n, struct kiln_err *err)
{
	if (cfg->n_diff_ids != n)
		return kiln_err_set(err, KILN_E_INVALID,
		                    "image config lists %zu diff_ids but %zu layers were given",
		                    cfg->n_diff_ids, n);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(cfg->diff_ids[i], layers[i].diff_id) != 0)
			return kiln_err_set(
			    err, KILN_E_INVALID,
			    "layer %zu: diff_id `%s` does not match the config's `%s`", i,
			    layers[i].diff_id, cfg->diff_ids[i]);
		if (!img_store_has_blob(s, layers[i].digest))
			return kiln_err_set(err, KILN_E_NOTFOUND,
			                    "layer blob `%s` is not in the store",
			                    layers[i].digest);
	}
	return 0;
}

int img_image_commit(struct img_store *s, const struct img_config *cfg,
                     const struct img_layer *layers, size_t n_layers, const char *const *refs,
                     size_t n_refs, char image_id[KILN_DIGEST_LEN], struct kiln_err *err)
{
	char **norm = normalize_refs(refs, n_refs, err);
	if (!norm || check_layers(s, cfg, layers, n_layers, err) < 0) {
		kiln_strv_free(norm);
		return kiln_err_wrap(err, "committing image");
	}
	size_t clen, mlen;
	_cleanup_free_ char *cjson = img_config_to_json(cfg, &clen);
	if (clen > IMG_MAX_JSON) {
		kiln_strv_free(norm);
		kiln_err_set(err, KILN_E_LIMIT,
		             "image config is %zu bytes, over the limit of %u MiB", clen,
		             IMG_MAX_JSON >> 20);
		return kiln_err_wrap(err, "committing image");
	}
	struct img_manifest m = {.schema_version = 2};
	m.media_type = xstrdup(IMG_MT_OCI_MANIFEST);
	m.config.media_type = xstrdup(IMG_MT_OCI_CONFIG);
	m.config.digest = xmalloc(KILN_DIGEST_LEN);
	m.config.size = (int64_t)clen;
	m.layers = xcalloc(n_layers + 1, sizeof(*m.layers));
	m.n_layers = n_layers;
	for (size_t i = 0; i < n_layers; i++)
		img_layer_descriptor(&layers[i], &m.layers[i]);
	struct img_descriptor d = {0};
	int ret = img_store_put_blob(s, cjson, clen, m.config.digest, err);
	_cleanup_free_ char *mjson = img_manifest_to_json(&m, &mlen);
	if (ret == 0) {
		d.media_type = xstrdup(IMG_MT_OCI_MANIFEST);
		d.digest = xmalloc(KILN_DIGEST_LEN);
		d.size = (int64_t)mlen;
		if (n_refs) /* docker's import, build, commit tag through TagImage */
			img_descriptor_stamp_tag_time(&d);
		ret = img_store_put_blob(s, mjson, mlen, d.digest, err);
	}
	if (ret == 0)
		ret = img_publish(s, &d, norm, n_refs, err);
	if (ret == 0)
		snprintf(image_id, KILN_DIGEST_LEN, "%s", m.config.digest);
	img_descriptor_release(&d);
	img_manifest_release(&m);
	kiln_strv_free(norm);
	return ret < 0 ? kiln_err_wrap(err, "committing image") : 0;
}

int img_store_untag(struct img_store *s, const char *ref, bool keep_dangling, bool *deleted,
                    struct kiln_err *err)
{
	_cleanup_free_ char *norm = img_ref_normalize(ref, err);
	if (!norm)
		return -1;
	if (deleted)
		*deleted = false;
	struct img_index *x = NULL;
	_cleanup_close_ int lock = index_begin(s, &x, err);
	if (lock < 0)
		return -1;
	int ret = 0;
	ssize_t i = find_ref(x, norm);
	char id[KILN_DIGEST_LEN];
	if (i < 0 && strchr(norm, '@') && img_index_untag_digest(s, x, norm, deleted) == 0) {
		/* a digest a registry returned, recorded on the image's entries */
	} else if (i < 0) {
		ret = kiln_err_set(err, KILN_E_NOTFOUND, "No such image: %s", ref);
	} else if (keep_dangling) {
		drop_entry_keep_image(s, x, (size_t)i);
	} else {
		bool last = entry_image_id(s, &x->manifests[i], id, NULL) < 0 ||
		            count_image_entries(s, x, id, i) == 0;
		img_index_remove_at(x, (size_t)i);
		if (deleted)
			*deleted = last;
	}
	if (ret == 0)
		ret = img_index_write(s, x, err);
	img_index_free(x);
	return ret;
}

/* Whether index entry d belongs to image id: its config digest, or for an
 * entry whose manifest cannot be read (a damaged image), its own digest. */
static bool entry_is_image(struct img_store *s, const struct img_descriptor *d, const char *id)
{
	char eid[KILN_DIGEST_LEN];
	if (entry_image_id(s, d, eid, NULL) == 0)
		return !strcmp(eid, id);
	return !strcmp(d->digest, id);
}

/* Drops every entry of image id from x in one compacting pass (an image
 * with 100,000 tags goes in linear time); how many went. */
static size_t drop_image_entries(struct img_store *s, struct img_index *x, const char *id)
{
	size_t kept = 0, removed = 0;
	for (size_t i = 0; i < x->n_manifests; i++) {
		if (entry_is_image(s, &x->manifests[i], id)) {
			img_descriptor_release(&x->manifests[i]);
			removed++;
		} else {
			x->manifests[kept++] = x->manifests[i];
		}
	}
	x->n_manifests = kept;
	return removed;
}

int img_store_remove_dangling(struct img_store *s, const char *id, struct kiln_err *err)
{
	struct img_index *x = NULL;
	_cleanup_close_ int lock = index_begin(s, &x, err);
	if (lock < 0)
		return -1;
	bool tagged = false;
	for (size_t i = 0; i < x->n_manifests && !tagged; i++)
		tagged = entry_ref(&x->manifests[i]) && entry_is_image(s, &x->manifests[i], id);
	int ret = !tagged && drop_image_entries(s, x, id) ? img_index_write(s, x, err) : 0;
	img_index_free(x);
	return ret;
}

int img_store_remove_image(struct img_store *s, const char *id, struct kiln_err *err)
{
	struct img_index *x = NULL;
	_cleanup_close_ int lock = index_begin(s, &x, err);
	if (lock < 0)
		return -1;
	int ret = drop_image_entries(s, x, id)
	              ? img_index_write(s, x, err)
	              : kiln_err_set(err, KILN_E_NOTFOUND, "No such image: %s", id);
	img_index_free(x);
	return ret;
}
