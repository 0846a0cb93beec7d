/* Image lookup and listing over index.json: references, IDs, prefixes,
 * name@digest (docker's resolution order), and tagging. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "store-internal.h"

static void strv_add_unique(char ***v, size_t *n, const char *s)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp((*v)[i], s))
			return;
	*v = xreallocarray(*v, *n + 2, sizeof(**v));
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
	free(img);
}

void img_image_list_free(struct img_image **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		img_image_free(v[i]);
	free(v);
}

static struct img_image *image_new(struct img_store *s, const struct img_descriptor *entry,
                                   struct img_manifest *m, struct kiln_err *err)
{
	struct img_config *cfg = NULL;
	if (img_cache_config(s, m->config.digest, &cfg, err) < 0)
		return NULL;
	struct img_image *img = xcalloc(1, sizeof(*img));
	snprintf(img->id, sizeof(img->id), "%s", m->config.digest);
	snprintf(img->manifest_digest, sizeof(img->manifest_digest), "%s", entry->digest);
	img->manifest = m;
	img->config = cfg;
	img->created = cfg->created ? xstrdup(cfg->created) : NULL;
	img->size = m->config.size;
	for (size_t i = 0; i < m->n_layers; i++)
		img->size += m->layers[i].size;
	img->repo_tags = xcalloc(1, sizeof(char *));
	img->repo_digests = xcalloc(1, sizeof(char *));
	return img;
}

/* The registry-returned digests recorded on an entry (repo_digest.c); false
 * when it has none. */
static bool add_registry_digests(struct img_image *img, const struct img_descriptor *entry)
{
	const char *list = img_map_get(&entry->annotations, IMG_ANNOT_REPO_DIGESTS);
	for (const char *p = list; p && *p;) {
		size_t n = strcspn(p, ",");
		_cleanup_free_ char *rd = xstrndup(p, n);
		strv_add_unique(&img->repo_digests, &img->n_repo_digests, rd);
		p += n + (p[n] == ',');
	}
	return list != NULL;
}

static void image_add_entry(struct img_image *img, const struct img_descriptor *entry)
{
	bool from_registry = add_registry_digests(img, entry);
	const char *ref = img_map_get(&entry->annotations, IMG_ANNOT_REF_NAME);
	struct img_ref r;
	if (!ref || img_ref_parse(ref, 0, &r, NULL) < 0)
		return;
	_cleanup_free_ char *name = img_ref_name(&r);
	_cleanup_free_ char *full = img_ref_string(&r);
	_cleanup_free_ char *rd = xasprintf("%s@%s", name, entry->digest);
	if (r.tag)
		strv_add_unique(&img->repo_tags, &img->n_repo_tags, full);
	if (!from_registry) /* a registry's word beats the local manifest's digest */
		strv_add_unique(&img->repo_digests, &img->n_repo_digests, rd);
	img_ref_release(&r);
}

static int cmp_created_desc(const void *a, const void *b)
{
	const struct img_image *x = *(struct img_image *const *)a;
	const struct img_image *y = *(struct img_image *const *)b;
	int c = strcmp(y->created ? y->created : "", x->created ? x->created : "");
	return c ? c : strcmp(x->id, y->id);
}

int img_image_list(struct img_store *s, struct img_image ***out, size_t *n_out,
                   struct kiln_err *err)
{
	struct img_index *x = NULL;
	if (img_index_read(s, &x, err) < 0)
		return -1;
	struct img_image **v = NULL;
	size_t n = 0;
	for (size_t i = 0; i < x->n_manifests; i++) {
		const struct img_descriptor *e = &x->manifests[i];
		struct img_manifest *m = NULL;
		char md[KILN_DIGEST_LEN];
		struct kiln_err e2 = KILN_ERR_INIT;
		if (img_entry_manifest(s, e, &m, md, &e2) < 0) {
			kiln_debug("skipping index entry %s: %s", e->digest, e2.msg);
			kiln_err_release(&e2);
			continue;
		}
		struct img_image *img = NULL;
		for (size_t j = 0; j < n && !img; j++)
			if (!strcmp(v[j]->id, m->config.digest))
				img = v[j];
		if (img) {
			img_manifest_free(m);
		} else {
			img = image_new(s, e, m, &e2);
			if (!img) {
				kiln_debug("skipping index entry %s: %s", e->digest, e2.msg);
				kiln_err_release(&e2);
				img_manifest_free(m);
				continue;
			}
			v = xreallocarray(v, n + 1, sizeof(*v));
			v[n++] = img;
		}
		image_add_entry(img, e);
	}
	img_index_free(x);
	for (size_t j = 0; j < n; j++) {
		qsort(v[j]->repo_tags, v[j]->n_repo_tags, sizeof(char *), cmp_strp);
		qsort(v[j]->repo_digests, v[j]->n_repo_digests, sizeof(char *), cmp_strp);
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_created_desc);
	*out = v;
	*n_out = n;
	return 0;
}

static bool has_str(char *const *v, const char *s)
{
	for (; v && *v; v++)
		if (!strcmp(*v, s))
			return true;
	return false;
}

static bool digest_in_repo_digests(const struct img_image *img, const char *name,
                                   const char *digest)
{
	if (!strcmp(img->manifest_digest, digest))
		return true;
	_cleanup_free_ char *want = xasprintf("%s@%s", name, digest);
	return has_str(img->repo_digests, want);
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
		             : has_str(v[i]->repo_tags, full))
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

int img_image_load(struct img_store *s, const char *name_or_id, struct img_image **out,
                   struct kiln_err *err)
{
	struct img_image **v = NULL;
	size_t n = 0;
	if (img_image_list(s, &v, &n, err) < 0)
		return -1;
	ssize_t i = find_by_ref(v, n, name_or_id);
	if (i < 0)
		i = find_by_id(v, n, name_or_id);
	if (i >= 0) {
		*out = v[i];
		v[i] = NULL;
	}
	img_image_list_free(v, n);
	if (i < 0)
		return kiln_err_set(err, KILN_E_NOTFOUND, "No such image: %s", name_or_id);
	return 0;
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
		ret = img_publish(s, &d, refs, 1, err);
		img_descriptor_release(&d);
	}
	img_index_free(x);
	img_image_free(img);
	free(refs[0]);
	return ret;
}
