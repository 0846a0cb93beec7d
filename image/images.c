/* Image lookup and listing over index.json: references, IDs, prefixes,
 * name@digest (docker's resolution order), and tagging. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "store-internal.h"

/* Appends a copy of s to a NULL-terminated vector that grows geometrically
 * (duplicates are removed once, after sorting). */
static void strv_append(char ***v, size_t *n, const char *s)
{
	if (((*n + 1) & *n) == 0) /* n + 1 is a power of two: double */
		*v = xreallocarray(*v, (*n + 1) * 2, sizeof(**v));
	(*v)[(*n)++] = xstrdup(s);
	(*v)[*n] = NULL;
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void img_image_free(struct img_image *img)
{
	if (!img)
		return;
	img_manifest_free(img->manifest);
	img_config_free(img->config);
	kiln_strv_free(img->repo_tags);
	kiln_strv_free(img->repo_digests);
	free(img->created);
	free(img->last_tag_time);
	free(img->damaged);
	free(img);
}

static char **strv_dup(char *const *v, size_t n)
{
	char **d = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		d[i] = xstrdup(v[i]);
	return d;
}

struct img_image *img_image_dup(const struct img_image *img)
{
	struct img_image *d = xmalloc(sizeof(*d));
	*d = *img;
	if (d->manifest)
		__atomic_add_fetch(&d->manifest->refs, 1, __ATOMIC_RELAXED);
	if (d->config)
		__atomic_add_fetch(&d->config->refs, 1, __ATOMIC_RELAXED);
	d->repo_tags = strv_dup(img->repo_tags, img->n_repo_tags);
	d->repo_digests = strv_dup(img->repo_digests, img->n_repo_digests);
	d->created = img->created ? xstrdup(img->created) : NULL;
	d->last_tag_time = img->last_tag_time ? xstrdup(img->last_tag_time) : NULL;
	d->damaged = img->damaged ? xstrdup(img->damaged) : NULL;
	return d;
}

void img_image_list_free(struct img_image **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		img_image_free(v[i]);
	free(v);
}

static struct img_image *image_alloc(const char *id, const char *manifest_digest)
{
	struct img_image *img = xcalloc(1, sizeof(*img));
	snprintf(img->id, sizeof(img->id), "%s", id);
	snprintf(img->manifest_digest, sizeof(img->manifest_digest), "%s", manifest_digest);
	img->repo_tags = xcalloc(1, sizeof(char *));
	img->repo_digests = xcalloc(1, sizeof(char *));
	return img;
}

uint64_t img_manifest_layer_usage(struct img_store *s, const struct img_manifest *m,
                                  const struct img_config *cfg, size_t i)
{
	struct img_layer l = {.size = (uint64_t)m->layers[i].size};
	snprintf(l.digest, sizeof(l.digest), "%s", m->layers[i].digest);
	if (cfg && i < cfg->n_diff_ids)
		snprintf(l.diff_id, sizeof(l.diff_id), "%s", cfg->diff_ids[i]);
	uint64_t u;
	struct kiln_err e = KILN_ERR_INIT;
	if (img_layer_usage(s, &l, &u, &e) == 0)
		return u;
	kiln_debug("%s", e.msg);
	kiln_err_release(&e);
	return l.size;
}

void img_config_chain_ids(const struct img_config *c, struct kiln_strv *out)
{
	char prev[KILN_DIGEST_LEN] = "";
	for (size_t i = 0; c && i < c->n_diff_ids; i++) {
		char cur[KILN_DIGEST_LEN];
		if (i == 0) {
			snprintf(cur, sizeof(cur), "%s", c->diff_ids[0]);
		} else {
			_cleanup_free_ char *s = xasprintf("%s %s", prev, c->diff_ids[i]);
			kiln_sha256_digest(s, strlen(s), cur);
		}
		kiln_strv_push(out, cur);
		memcpy(prev, cur, sizeof(prev));
	}
}

static int64_t image_usage(struct img_store *s, const struct img_manifest *m,
                           const struct img_config *cfg)
{
	int64_t size = 0;
	for (size_t i = 0; i < m->n_layers; i++)
		size += (int64_t)img_manifest_layer_usage(s, m, cfg, i);
	return size;
}

/* An image from an index entry and its manifest m (taken); a config that
 * cannot be read makes it damaged. */
static struct img_image *image_new(struct img_store *s, const struct img_descriptor *entry,
                                   struct img_manifest *m, struct kiln_err *read_err)
{
	struct img_image *img = image_alloc(m->config.digest, entry->digest);
	struct img_config *cfg = NULL;
	struct kiln_err err = KILN_ERR_INIT;
	img->manifest = m;
	if (img_cache_config(s, m->config.digest, &cfg, &err) < 0) {
		_cleanup_free_ char *why = kiln_err_format(&err);
		img->damaged = xasprintf("config: %s", why);
		if (!img_err_is_damage(err.code)) /* fails the listing */
			kiln_err_move(read_err, &err);
		kiln_err_release(&err);
		return img;
	}
	img->config = cfg;
	img->created = cfg->created ? xstrdup(cfg->created) : NULL;
	img->size = image_usage(s, m, cfg);
	return img;
}

/* The registry-returned digests recorded on an entry (repo_digest.c; the
 * listing sorts repo_digests and drops duplicates). */
static void add_registry_digests(struct img_image *img, const struct img_descriptor *entry)
{
	const char *list = img_map_get(&entry->annotations, IMG_ANNOT_REPO_DIGESTS);
	for (const char *p = list; p && *p;) {
		size_t n = strcspn(p, ",");
		_cleanup_free_ char *rd = xstrndup(p, n);
		strv_append(&img->repo_digests, &img->n_repo_digests, rd);
		p += n + (p[n] == ',');
	}
}

/* RepoDigests hold what registries returned only (docker shows [] for a
 * built, imported or loaded image): the annotation pull and push record,
 * and an entry named NAME@DIGEST (a pull by digest). */
static void image_add_entry(struct img_image *img, const struct img_descriptor *entry)
{
	add_registry_digests(img, entry);
	const char *tagged = img_map_get(&entry->annotations, IMG_ANNOT_LAST_TAG);
	if (tagged && (!img->last_tag_time || strcmp(tagged, img->last_tag_time) > 0)) {
		free(img->last_tag_time);
		img->last_tag_time = xstrdup(tagged);
	}
	const char *ref = img_map_get(&entry->annotations, IMG_ANNOT_REF_NAME);
	struct img_ref r;
	if (!ref || img_ref_parse(ref, 0, &r, NULL) < 0)
		return;
	_cleanup_free_ char *full = img_ref_string(&r);
	if (r.tag)
		strv_append(&img->repo_tags, &img->n_repo_tags, full);
	else if (r.digest)
		strv_append(&img->repo_digests, &img->n_repo_digests, full);
	img_ref_release(&r);
}

/* Sorts a vector and drops duplicates. */
static void strv_sort_unique(char **v, size_t *n)
{
	if (!*n)
		return;
	qsort(v, *n, sizeof(char *), cmp_strp);
	size_t k = 1;
	for (size_t i = 1; i < *n; i++) {
		if (!strcmp(v[i], v[k - 1]))
			free(v[i]);
		else
			v[k++] = v[i];
	}
	*n = k;
	v[k] = NULL;
}

/* Images by ID while listing: an open-addressing table of indexes into v. */
struct by_id {
	size_t *slot; /* index + 1, 0 = empty */
	size_t cap;
};

static size_t id_hash(const char *id, size_t cap)
{
	const char *hex = kiln_digest_hex(id);
	size_t h = 5381;
	for (size_t i = 0; hex[i] && i < 16; i++)
		h = h * 33 + (unsigned char)hex[i];
	return h & (cap - 1);
}

static size_t *by_id_slot(struct by_id *t, struct img_image **v, const char *id)
{
	size_t i = id_hash(id, t->cap);
	while (t->slot[i] && strcmp(v[t->slot[i] - 1]->id, id))
		i = (i + 1) & (t->cap - 1);
	return &t->slot[i];
}

static int cmp_created_desc(const void *a, const void *b)
{
	const struct img_image *x = *(struct img_image *const *)a;
	const struct img_image *y = *(struct img_image *const *)b;
	int c = strcmp(y->created ? y->created : "", x->created ? x->created : "");
	return c ? c : strcmp(x->id, y->id);
}

/* The image an index entry belongs to: found by ID in v, or added. An entry
 * whose manifest is damaged is a damaged image of its own, named by the
 * manifest digest; one of a type kiln does not know (an artifact another
 * tool stored) is left out (NULL); a read error fails the listing (NULL,
 * err set). */
static struct img_image *entry_image(struct img_store *s, const struct img_descriptor *e,
                                     struct img_image ***v, size_t *n, struct by_id *t,
                                     struct kiln_err *err)
{
	struct img_manifest *m = NULL;
	char md[KILN_DIGEST_LEN];
	struct kiln_err why = KILN_ERR_INIT;
	char *damaged = NULL;
	if (img_entry_manifest(s, e, &m, md, &why) < 0) {
		if (!img_err_is_damage(why.code)) {
			kiln_debug("skipping index entry %s: %s", e->digest, why.msg);
			if (why.code != KILN_E_UNSUPPORTED)
				kiln_err_move(err, &why);
			kiln_err_release(&why);
			return NULL;
		}
		_cleanup_free_ char *msg = kiln_err_format(&why);
		damaged = xasprintf("manifest: %s", msg);
		kiln_err_release(&why);
	}
	const char *id = m ? m->config.digest : e->digest;
	size_t *slot = by_id_slot(t, *v, id);
	if (*slot) {
		img_manifest_free(m);
		free(damaged);
		return (*v)[*slot - 1];
	}
	struct img_image *img = m ? image_new(s, e, m, err) : image_alloc(id, e->digest);
	if (damaged)
		img->damaged = damaged;
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	(*v)[(*n)++] = img;
	*slot = *n;
	return img;
}

int img_image_list_flags(struct img_store *s, unsigned flags, struct img_image ***out,
                         size_t *n_out, struct kiln_err *err)
{
	struct img_index *x = NULL;
	struct stat id;
	if (img_index_read_id(s, &x, &id, err) < 0)
		return -1;
	struct img_image **v = NULL;
	size_t n = 0;
	struct by_id t = {.cap = 64};
	while (t.cap < x->n_manifests * 2)
		t.cap *= 2;
	t.slot = xcalloc(t.cap, sizeof(*t.slot));
	struct kiln_err e2 = KILN_ERR_INIT;
	for (size_t i = 0; i < x->n_manifests && !e2.msg; i++) {
		struct img_image *img = entry_image(s, &x->manifests[i], &v, &n, &t, &e2);
		if (img)
			image_add_entry(img, &x->manifests[i]);
	}
	free(t.slot);
	img_index_keep(s, x, &id);
	if (e2.msg) {
		img_image_list_free(v, n);
		if (err)
			kiln_err_move(err, &e2);
		kiln_err_release(&e2);
		return -1;
	}
	size_t kept = 0;
	for (size_t j = 0; j < n; j++) {
		if (v[j]->damaged && !(flags & IMG_LIST_DAMAGED)) {
			kiln_debug("skipping damaged image %s: %s", v[j]->id, v[j]->damaged);
			img_image_free(v[j]);
			continue;
		}
		strv_sort_unique(v[j]->repo_tags, &v[j]->n_repo_tags);
		strv_sort_unique(v[j]->repo_digests, &v[j]->n_repo_digests);
		v[kept++] = v[j];
	}
	if (kept)
		qsort(v, kept, sizeof(*v), cmp_created_desc);
	*out = v;
	*n_out = kept;
	return 0;
}

int img_image_list(struct img_store *s, struct img_image ***out, size_t *n_out,
                   struct kiln_err *err)
{
	return img_image_list_flags(s, 0, out, n_out, err);
}

/* Whether one of img's tags is in repository name ("NAME:TAG"). */
static bool tagged_in(const struct img_image *img, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < img->n_repo_tags; i++) {
		const char *t = img->repo_tags[i];
		if (!strncmp(t, name, n) && t[n] == ':' && !strchr(t + n + 1, '/'))
			return true;
	}
	return false;
}

/* name@digest names img when a registry returned that digest for that
 * repository, or when it is img's own manifest digest and img is tagged in
 * that repository (docker's digest references are per repository: the same
 * digest under another name is no such image). */
static bool digest_in_repo_digests(const struct img_image *img, const char *name,
                                   const char *digest)
{
	if (!strcmp(img->manifest_digest, digest) && tagged_in(img, name))
		return true;
	_cleanup_free_ char *want = xasprintf("%s@%s", name, digest);
	return kiln_sorted_contains(img->repo_digests, img->n_repo_digests, want);
}

/* By reference: a tag, or name@digest. Index in v or -1. */
static ssize_t find_by_ref(struct img_image **v, size_t n, const char *s)
{
	struct img_ref r;
	if (img_ref_parse(s, IMG_REF_DEFAULT_TAG, &r, NULL) < 0)
		return -1;
	_cleanup_free_ char *full = img_ref_string(&r);
	_cleanup_free_ char *name = img_ref_name(&r);
	ssize_t found = -1;
	for (size_t i = 0; i < n && found < 0; i++) {
		if (r.digest ? digest_in_repo_digests(v[i], name, r.digest)
		             : kiln_sorted_contains(v[i]->repo_tags, v[i]->n_repo_tags, full))
			found = (ssize_t)i;
	}
	img_ref_release(&r);
	return found;
}

/* By full ID or unique ID prefix; -1 when none or ambiguous. */
static ssize_t find_by_id(struct img_image **v, size_t n, const char *s)
{
	const char *hex = !strncmp(s, "sha256:", 7) ? s + 7 : s;
	size_t len = strlen(hex);
	if (len == 0 || len > KILN_SHA256_HEXLEN)
		return -1;
	for (size_t i = 0; i < len; i++)
		if (!isxdigit((unsigned char)hex[i]) || isupper((unsigned char)hex[i]))
			return -1;
	ssize_t found = -1;
	for (size_t i = 0; i < n; i++) {
		if (strncmp(kiln_digest_hex(v[i]->id), hex, len) != 0)
			continue;
		if (found >= 0)
			return -1; /* ambiguous */
		found = (ssize_t)i;
	}
	return found;
}

/* The index entry tagged full (a normalized reference), or -1. */
static ssize_t entry_by_tag(const struct img_index *x, const char *full)
{
	for (size_t i = 0; i < x->n_manifests; i++) {
		const char *ref = img_map_get(&x->manifests[i].annotations, IMG_ANNOT_REF_NAME);
		if (ref && !strcmp(ref, full))
			return (ssize_t)i;
	}
	return -1;
}

/* IMG_FIND_CONTENT: a tag resolved through index.json alone. The entry
 * tagged so gives the image (its manifest and config are the only blobs
 * read); the entries of the same manifest give its other tags. *img NULL
 * when the tag is not in the index (the caller then lists every image). */
static int find_by_tag_entry(struct img_store *s, const char *name, struct img_image **img,
                             struct kiln_err *err)
{
	*img = NULL;
	struct img_ref r;
	if (img_ref_parse(name, IMG_REF_DEFAULT_TAG, &r, NULL) < 0)
		return 0;
	_cleanup_free_ char *full = r.digest ? NULL : img_ref_string(&r);
	img_ref_release(&r);
	struct img_index *x = NULL;
	struct stat id;
	if (!full || img_index_read_id(s, &x, &id, err) < 0)
		return full ? -1 : 0;
	ssize_t at = entry_by_tag(x, full);
	struct img_image **v = NULL;
	size_t n = 0;
	struct by_id t = {.cap = 64};
	t.slot = xcalloc(t.cap, sizeof(*t.slot));
	int ret = 0;
	if (at >= 0) {
		const struct img_descriptor *e = &x->manifests[at];
		struct kiln_err e2 = KILN_ERR_INIT;
		*img = entry_image(s, e, &v, &n, &t, &e2);
		if (e2.msg) { /* a read error, not damage: fails the lookup */
			if (err)
				kiln_err_move(err, &e2);
			ret = -1;
		}
		kiln_err_release(&e2);
		for (size_t i = 0; *img && ret == 0 && i < x->n_manifests; i++)
			if (!strcmp(x->manifests[i].digest, e->digest))
				image_add_entry(*img, &x->manifests[i]);
	}
	if (*img && ret == 0) {
		strv_sort_unique((*img)->repo_tags, &(*img)->n_repo_tags);
		strv_sort_unique((*img)->repo_digests, &(*img)->n_repo_digests);
		v[0] = NULL; /* taken: the only image made */
	} else {
		*img = NULL;
	}
	img_image_list_free(v, n);
	free(t.slot);
	img_index_keep(s, x, &id); /* for the publish (or list) that may follow */
	return ret;
}

/* The image found (taken from v[i]) or the error naming name_or_id. */
static int found_image(struct img_image *img, const char *name_or_id, unsigned flags,
                       struct img_image **out, struct kiln_err *err)
{
	if (!img)
		return kiln_err_set(err, KILN_E_NOTFOUND, "No such image: %s", name_or_id);
	if (img->damaged && !(flags & IMG_LIST_DAMAGED)) {
		int r =
		    kiln_err_set(err, KILN_E_CORRUPT,
		                 "image `%s` is damaged (%s): remove it with `kiln rmi -f %s` or "
		                 "`kiln system check --repair`, then load it again",
		                 name_or_id, img->damaged, name_or_id);
		img_image_free(img);
		return r;
	}
	*out = img;
	return 0;
}

int img_image_find(struct img_store *s, const char *name_or_id, unsigned flags,
                   struct img_image **out, struct kiln_err *err)
{
	struct img_image *img = NULL;
	if ((flags & IMG_FIND_CONTENT) && find_by_tag_entry(s, name_or_id, &img, err) < 0)
		return -1;
	if (img)
		return found_image(img, name_or_id, flags, out, err);
	struct img_image **v = NULL;
	size_t n = 0;
	if (img_image_list_flags(s, IMG_LIST_DAMAGED, &v, &n, err) < 0)
		return -1;
	ssize_t i = find_by_ref(v, n, name_or_id);
	if (i < 0)
		i = find_by_id(v, n, name_or_id);
	if (i >= 0) {
		img = v[i];
		v[i] = NULL;
	}
	img_image_list_free(v, n);
	return found_image(img, name_or_id, flags, out, err);
}

int img_image_load(struct img_store *s, const char *name_or_id, struct img_image **out,
                   struct kiln_err *err)
{
	return img_image_find(s, name_or_id, 0, out, err);
}

int img_store_tag(struct img_store *s, const char *source, const char *target_ref,
                  struct kiln_err *err)
{
	struct img_ref r;
	if (img_ref_parse(target_ref, IMG_REF_DEFAULT_TAG, &r, err) < 0)
		return -1;
	if (r.digest) {
		img_ref_release(&r);
		return kiln_err_set(err, KILN_E_INVALID,
		                    "refusing to create a tag with a digest reference");
	}
	char *refs[] = {img_ref_string(&r), NULL};
	img_ref_release(&r);
	struct img_image *img = NULL;
	struct img_index *x = NULL;
	int ret = img_image_load(s, source, &img, err);
	if (ret == 0)
		ret = img_index_read(s, &x, err);
	const struct img_descriptor *entry = NULL;
	for (size_t i = 0; ret == 0 && i < x->n_manifests && !entry; i++)
		if (!strcmp(x->manifests[i].digest, img->manifest_digest))
			entry = &x->manifests[i];
	if (ret == 0 && !entry)
		ret = kiln_err_set(err, KILN_E_NOTFOUND, "No such image: %s", source);
	if (ret == 0) {
		struct img_descriptor d;
		img_descriptor_copy(&d, entry);
		img_map_del(&d.annotations, IMG_ANNOT_REF_NAME);
		img_descriptor_stamp_tag_time(&d);
		ret = img_publish(s, &d, refs, 1, err);
		img_descriptor_release(&d);
	}
	img_index_free(x);
	img_image_free(img);
	free(refs[0]);
	return ret;
}
