/* The store handle's cache of parsed manifests and configs: each blob is
 * read once per handle, the parsed objects are shared by reference and
 * outlive the handle; tagging and untagging stay correct through it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image.h"
#include "tap.h"

static int commit(struct img_store *s, const char *created, const char *ref,
                  char id[KILN_DIGEST_LEN])
{
	struct kiln_err err = KILN_ERR_INIT;
	struct img_config *c = img_config_new();
	c->os = xstrdup("linux");
	c->created = xstrdup(created);
	const char *refs[] = {ref};
	int r = img_image_commit(s, c, NULL, 0, refs, ref ? 1 : 0, id, &err);
	if (r < 0)
		tap_diag("commit: %s", err.msg);
	kiln_err_release(&err);
	img_config_free(c);
	return r;
}

static int blob_unlink(struct img_store *s, const char *digest)
{
	_cleanup_free_ char *p = img_store_blob_path(s, digest);
	return unlink(p);
}

/* Replaces the index.json entry tagged `ref` by an OCI index blob holding it. */
static int nest(struct img_store *s, const char *root, const char *ref)
{
	_cleanup_free_ char *p = xasprintf("%s/images/index.json", root);
	_cleanup_free_ char *data = NULL;
	size_t len;
	struct img_index *x = NULL, inner = {.schema_version = 2};
	if (kiln_read_file(p, IMG_MAX_JSON, &data, &len, NULL) < 0 ||
	    img_index_from_json(data, len, &x, NULL) < 0)
		return -1;
	int ret = -1;
	for (size_t i = 0; i < x->n_manifests; i++) {
		struct img_descriptor *d = &x->manifests[i];
		const char *r = img_map_get(&d->annotations, IMG_ANNOT_REF_NAME);
		if (!r || strcmp(r, ref) != 0)
			continue;
		struct img_descriptor e;
		img_descriptor_copy(&e, d);
		img_map_del(&e.annotations, IMG_ANNOT_REF_NAME);
		e.platform = xcalloc(1, sizeof(*e.platform));
		e.platform->os = xstrdup("linux");
		e.platform->architecture = xstrdup(KILN_HOST_ARCH);
		inner.media_type = xstrdup(IMG_MT_OCI_INDEX);
		img_index_add(&inner, &e);
		img_descriptor_release(&e);
		size_t ilen;
		_cleanup_free_ char *ij = img_index_to_json(&inner, &ilen);
		char dg[KILN_DIGEST_LEN];
		if (img_store_put_blob(s, ij, ilen, dg, NULL) < 0)
			break;
		free(d->media_type);
		free(d->digest);
		d->media_type = xstrdup(IMG_MT_OCI_INDEX);
		d->digest = xstrdup(dg);
		d->size = (int64_t)ilen;
		size_t olen;
		_cleanup_free_ char *out = img_index_to_json(x, &olen);
		ret = kiln_write_file_atomic(p, out, olen, 0644, NULL);
		break;
	}
	for (size_t i = 0; i < inner.n_manifests; i++)
		img_descriptor_release(&inner.manifests[i]);
	free(inner.manifests);
	free(inner.media_type);
	img_index_free(x);
	return ret;
}

int main(void)
{
	char tmpl[] = "/tmp/kiln-cache-test.XXXXXX";
	char *root = mkdtemp(tmpl);
	struct kiln_err err = KILN_ERR_INIT;
	struct img_store *s = NULL, *s2 = NULL;
	T_OK(img_store_open(root, &s, &err) == 0, "open store");
	char id1[KILN_DIGEST_LEN], id2[KILN_DIGEST_LEN];
	T_OK(commit(s, "2024-01-01T00:00:00Z", "one:1", id1) == 0, "commit one");
	T_OK(commit(s, "2024-02-01T00:00:00Z", "two:1", id2) == 0, "commit two");

	struct img_image *a = NULL, *b = NULL;
	T_OK(img_image_load(s, "one:1", &a, &err) == 0, "load one");
	T_OK(img_image_load(s, id1, &b, &err) == 0, "load one again by id");
	T_OK(a->config == b->config, "the parsed config is shared");
	T_OK(a->manifest == b->manifest, "the parsed manifest is shared");
	_cleanup_free_ char *manifest_digest = xstrdup(a->manifest_digest);
	img_image_free(b);
	T_STREQ(a->config->created, "2024-01-01T00:00:00Z", "still valid after one holder freed");

	/* read once: with the blobs gone, this handle still knows them */
	T_OK(blob_unlink(s, id1) == 0 && blob_unlink(s, manifest_digest) == 0, "remove blobs");
	T_OK(img_image_load(s, "one:1", &b, &err) == 0, "cached image loads without its blobs");
	img_image_free(b);
	T_OK(img_store_open(root, &s2, &err) == 0, "a second handle");
	struct img_image **v = NULL;
	size_t n = 0;
	T_OK(img_image_list(s2, &v, &n, &err) == 0 && n == 1, "a new handle reads from disk: %zu",
	     n);
	img_image_list_free(v, n);
	img_store_close(s2);

	/* tag and untag through the cache */
	T_OK(img_store_tag(s, "two:1", "two:2", &err) == 0, "tag");
	T_OK(img_image_load(s, "two:2", &b, &err) == 0 && b->n_repo_tags == 2, "two tags");
	img_image_free(b);
	bool deleted = true;
	T_OK(img_store_untag(s, "two:1", false, &deleted, &err) == 0 && !deleted,
	     "untag one of two tags keeps the image");
	T_OK(img_store_untag(s, "two:2", true, &deleted, &err) == 0,
	     "untag the last, keep dangling");
	T_OK(img_image_load(s, id2, &b, &err) == 0 && b->n_repo_tags == 0, "dangling image");
	img_image_free(b);

	/* an image held through a nested index can be tagged */
	char id3[KILN_DIGEST_LEN];
	T_OK(commit(s, "2024-03-01T00:00:00Z", "three:1", id3) == 0, "commit three");
	T_OK(nest(s, root, "docker.io/library/three:1") == 0, "wrap three:1 in an index");
	T_OK(img_image_load(s, "three:1", &b, &err) == 0 && !strcmp(b->id, id3),
	     "nested image loads");
	img_image_free(b);
	int r = img_store_tag(s, "three:1", "three:2", &err);
	T_OK(r == 0, "tag a nested image: %s", err.msg ? err.msg : "ok");
	b = NULL;
	T_OK(img_image_load(s, "three:2", &b, &err) == 0 && !strcmp(b->id, id3), "new tag loads");
	img_image_free(b);

	img_store_close(s);
	T_STREQ(a->config->os, "linux", "objects outlive the store handle");
	img_image_free(a);
	kiln_err_release(&err);
	T_OK(kiln_rm_rf(root, &err) == 0, "cleanup");
	return tap_done();
}
