/* What registries said about images: RepoDigests ("NAME@sha256:..." as a
 * registry returned them after a pull or push) kept as an annotation on
 * every index entry of the image, and the publication of a manifest pulled
 * verbatim. Only registry-returned digests belong in RepoDigests (a local
 * manifest's digest is not one). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "store-internal.h"

/* Adds rd to the comma-separated list in d's annotation; true if changed. */
static bool annotate(struct img_descriptor *d, const char *rd)
{
	const char *old = img_map_get(&d->annotations, IMG_ANNOT_REPO_DIGESTS);
	if (old) {
		size_t n = strlen(rd);
		for (const char *p = old; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
			if (!strncmp(p, rd, n) && (p[n] == ',' || p[n] == '\0'))
				return false;
	}
	_cleanup_free_ char *v = old ? xasprintf("%s,%s", old, rd) : xstrdup(rd);
	img_map_set(&d->annotations, IMG_ANNOT_REPO_DIGESTS, v);
	return true;
}

/* Removes rd from d's annotation list (dropping an emptied list); true if
 * it was there. */
static bool unannotate(struct img_descriptor *d, const char *rd)
{
	const char *old = img_map_get(&d->annotations, IMG_ANNOT_REPO_DIGESTS);
	size_t n = strlen(rd);
	bool found = false;
	_cleanup_free_ char *kept = xstrdup("");
	for (const char *p = old; p && *p;) {
		size_t len = strcspn(p, ",");
		if (len == n && !strncmp(p, rd, n)) {
			found = true;
		} else {
			char *next = xasprintf("%s%s%.*s", kept, *kept ? "," : "", (int)len, p);
			free(kept);
			kept = next;
		}
		p += len + (p[len] == ',');
	}
	if (found && *kept)
		img_map_set(&d->annotations, IMG_ANNOT_REPO_DIGESTS, kept);
	else if (found)
		img_map_del(&d->annotations, IMG_ANNOT_REPO_DIGESTS);
	return found;
}

/* The image ID of entry d into id; false when its manifest cannot be read. */
static bool entry_id(struct img_store *s, const struct img_descriptor *d, char id[KILN_DIGEST_LEN])
{
	struct img_manifest *m = NULL;
	char md[KILN_DIGEST_LEN];
	if (img_entry_manifest(s, d, &m, md, NULL) < 0)
		return false;
	snprintf(id, KILN_DIGEST_LEN, "%s", m->config.digest);
	img_manifest_free(m);
	return true;
}

int img_index_untag_digest(struct img_store *s, struct img_index *x, const char *rd, bool *deleted)
{
	char id[KILN_DIGEST_LEN] = "", eid[KILN_DIGEST_LEN];
	for (size_t i = 0; i < x->n_manifests; i++)
		if (unannotate(&x->manifests[i], rd) && !id[0])
			entry_id(s, &x->manifests[i], id); /* id stays "" when unreadable */
	if (!id[0])
		return -1;
	bool referenced = false;
	for (size_t i = 0; i < x->n_manifests && !referenced; i++) {
		const struct img_descriptor *d = &x->manifests[i];
		referenced = (img_map_get(&d->annotations, IMG_ANNOT_REF_NAME) ||
		              img_map_get(&d->annotations, IMG_ANNOT_REPO_DIGESTS)) &&
		             entry_id(s, d, eid) && !strcmp(eid, id);
	}
	if (deleted)
		*deleted = !referenced;
	for (size_t i = x->n_manifests; !referenced && i-- > 0;)
		if (entry_id(s, &x->manifests[i], eid) && !strcmp(eid, id))
			img_index_remove_at(x, i);
	return 0;
}

int img_image_add_repo_digest(struct img_store *s, const char *image_id, const char *repo_digest,
                              struct kiln_err *err)
{
	_cleanup_close_ int lock = img_index_lock(s, err);
	struct img_index *x = NULL;
	if (lock < 0 || img_index_read(s, &x, err) < 0)
		return -1;
	bool changed = false, found = false;
	for (size_t i = 0; i < x->n_manifests; i++) {
		struct img_manifest *m = NULL;
		char md[KILN_DIGEST_LEN];
		if (img_entry_manifest(s, &x->manifests[i], &m, md, NULL) < 0)
			continue;
		if (!strcmp(m->config.digest, image_id)) {
			found = true;
			changed |= annotate(&x->manifests[i], repo_digest);
		}
		img_manifest_free(m);
	}
	int ret = 0;
	if (!found)
		ret = kiln_err_set(err, KILN_E_NOTFOUND, "No such image: %s", image_id);
	else if (changed)
		ret = img_index_write(s, x, err);
	img_index_free(x);
	return ret;
}

int img_image_publish_manifest(struct img_store *s, const char *media_type, const char *digest,
                               int64_t size, const char *ref, struct kiln_err *err)
{
	if (!img_store_has_blob(s, digest))
		return kiln_err_set(err, KILN_E_NOTFOUND, "manifest `%s` is not in the store",
		                    digest);
	struct img_descriptor d = {0};
	d.media_type = xstrdup(media_type);
	d.digest = xstrdup(digest);
	d.size = size;
	char *refs[2] = {NULL, NULL};
	if (ref) {
		refs[0] = img_ref_normalize(ref, err);
		if (!refs[0]) {
			img_descriptor_release(&d);
			return -1;
		}
	}
	int ret = img_publish(s, &d, refs, ref ? 1 : 0, err);
	free(refs[0]);
	img_descriptor_release(&d);
	return ret;
}
