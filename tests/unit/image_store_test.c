/* Image commit, lookup (tags, IDs, prefixes, name@digest), tagging,
 * untagging, dangling images, and the store's OCI layout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image.h"
#include "tap.h"

/* Commits an image with one layer made of `content`; returns its ID. */
static int commit(struct img_store *s, const char *content, const char *cmd,
                  const char *const *refs, size_t n_refs, char id[KILN_DIGEST_LEN])
{
	struct kiln_err err = KILN_ERR_INIT;
	struct img_layer l = {.media_type = (char *)IMG_MT_OCI_LAYER};
	if (img_store_put_blob(s, content, strlen(content), l.digest, &err) < 0)
		return -1;
	memcpy(l.diff_id, l.digest, KILN_DIGEST_LEN);
	l.size = strlen(content);
	struct img_config *c = img_config_new();
	c->architecture = xstrdup("amd64");
	c->os = xstrdup("linux");
	c->created = xstrdup("2024-01-02T03:04:05Z");
	c->has_config = true;
	c->config.cmd = xcalloc(2, sizeof(char *));
	c->config.cmd[0] = xstrdup(cmd);
	kiln_strv_free(c->diff_ids);
	c->diff_ids = xcalloc(2, sizeof(char *));
	c->diff_ids[0] = xstrdup(l.diff_id);
	c->n_diff_ids = 1;
	int r = img_image_commit(s, c, &l, 1, refs, n_refs, id, &err);
	if (r < 0)
		tap_diag("commit: %s", err.msg);
	kiln_err_release(&err);
	img_config_free(c);
	return r;
}

/* Both lookups: the full one (img_image_load) and the one through the
 * index's tags (IMG_FIND_CONTENT, a build's FROM) find the same image. */
static const unsigned find_flags[] = {0, IMG_FIND_CONTENT};

static int load_ok(struct img_store *s, const char *name, const char *want_id)
{
	int ok = 1;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(find_flags); i++) {
		struct kiln_err err = KILN_ERR_INIT;
		struct img_image *img = NULL;
		int r = i ? img_image_find(s, name, find_flags[i], &img, &err)
		          : img_image_load(s, name, &img, &err);
		ok &= r == 0 && !strcmp(img->id, want_id);
		if (r < 0)
			tap_diag("load %s (flags %u): %s", name, find_flags[i], err.msg);
		kiln_err_release(&err);
		img_image_free(img);
	}
	return ok;
}

static int load_fails(struct img_store *s, const char *name)
{
	int ok = 1;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(find_flags); i++) {
		struct kiln_err err = KILN_ERR_INIT;
		struct img_image *img = NULL;
		int r = i ? img_image_find(s, name, find_flags[i], &img, &err)
		          : img_image_load(s, name, &img, &err);
		_cleanup_free_ char *want = xasprintf("No such image: %s", name);
		ok &= r < 0 && err.code == KILN_E_NOTFOUND && !strcmp(err.msg, want);
		kiln_err_release(&err);
		img_image_free(img);
	}
	return ok;
}

static size_t count_images(struct img_store *s, size_t *dangling)
{
	struct img_image **v = NULL;
	size_t n = 0;
	*dangling = 0;
	if (img_image_list(s, &v, &n, NULL) < 0)
		return (size_t)-1;
	for (size_t i = 0; i < n; i++)
		*dangling += v[i]->n_repo_tags == 0;
	img_image_list_free(v, n);
	return n;
}

int main(void)
{
	char tmpl[] = "/tmp/kiln-store-test.XXXXXX";
	char *root = mkdtemp(tmpl);
	struct kiln_err err = KILN_ERR_INIT;
	struct img_store *s = NULL;
	T_OK(img_store_open(root, &s, &err) == 0, "open store");

	char id1[KILN_DIGEST_LEN], id2[KILN_DIGEST_LEN], id3[KILN_DIGEST_LEN];
	const char *refs1[] = {"busybox", "myreg:5000/x/y:1"};
	T_OK(commit(s, "layer-one", "sh", refs1, 2, id1) == 0, "commit tagged image");
	T_OK(kiln_digest_valid(id1), "image id is a digest: %s", id1);
	T_OK(load_ok(s, "busybox", id1), "load by short name");
	T_OK(load_ok(s, "busybox:latest", id1), "load by name:latest");
	T_OK(load_ok(s, "docker.io/library/busybox:latest", id1), "load by full name");
	T_OK(load_ok(s, "myreg:5000/x/y:1", id1), "load by registry name");
	T_OK(load_ok(s, id1, id1), "load by full id");
	T_OK(load_ok(s, kiln_digest_hex(id1), id1), "load by hex id");
	char prefix[20];
	snprintf(prefix, sizeof(prefix), "%.12s", kiln_digest_hex(id1));
	T_OK(load_ok(s, prefix, id1), "load by 12-char prefix");
	T_OK(load_fails(s, "busybox:1.0"), "unknown tag: No such image");
	T_OK(load_fails(s, "nothing"), "unknown name: No such image");

	struct img_image *img = NULL;
	T_OK(img_image_load(s, "busybox", &img, &err) == 0, "load for details");
	T_INTEQ(img->n_repo_tags, 2, "two repo tags");
	T_STREQ(img->repo_tags[0], "docker.io/library/busybox:latest", "first tag normalized");
	T_STREQ(img->repo_tags[1], "myreg:5000/x/y:1", "second tag");
	struct img_image *fast = NULL;
	T_OK(img_image_find(s, "busybox", IMG_FIND_CONTENT, &fast, &err) == 0 &&
	         fast->n_repo_tags == 2 && !strcmp(fast->repo_tags[1], "myreg:5000/x/y:1") &&
	         fast->config && fast->manifest && fast->manifest->n_layers == 1,
	     "through the index: the same tags (one manifest), config and manifest");
	img_image_free(fast);
	T_STREQ(img->config->config.cmd[0], "sh", "config read back");
	T_INTEQ(img->manifest->n_layers, 1, "manifest has the layer");
	T_STREQ(img->manifest->media_type, IMG_MT_OCI_MANIFEST, "OCI manifest media type");
	/* docker's size counts a layer's files; this layer is no tar, so its
	 * blob's bytes count (the config's never do) */
	T_OK(img->size == img->manifest->layers[0].size, "size counts the layer: %lld",
	     (long long)img->size);
	_cleanup_free_ char *by_digest = xasprintf("busybox@%s", img->manifest_digest);
	T_OK(load_ok(s, by_digest, id1), "load by name@digest");
	img_image_free(img);

	/* a second image: dangling */
	T_OK(commit(s, "layer-two", "ls", NULL, 0, id2) == 0, "commit untagged image");
	size_t dangling;
	T_INTEQ(count_images(s, &dangling), 2, "two images listed");
	T_INTEQ(dangling, 1, "one dangling");
	T_OK(load_ok(s, id2, id2), "dangling image loads by id");

	/* tagging */
	T_OK(img_store_tag(s, id2, "busybox:2", &err) == 0, "tag by id");
	T_OK(load_ok(s, "busybox:2", id2), "new tag resolves");
	count_images(s, &dangling);
	T_INTEQ(dangling, 0, "tagged image no longer dangling");
	T_OK(img_store_tag(s, "busybox:2", "busybox", &err) == 0, "move latest to image 2");
	T_OK(load_ok(s, "busybox", id2), "latest moved");
	T_OK(load_ok(s, "myreg:5000/x/y:1", id1), "image 1 keeps its other tag");
	T_OK(img_store_tag(s, "nothing", "x", &err) < 0 && err.code == KILN_E_NOTFOUND,
	     "tagging a missing image fails");
	kiln_err_release(&err);
	T_OK(img_store_tag(s, "busybox", "Bad/Name", &err) < 0 && err.code == KILN_E_INVALID,
	     "tagging with an invalid name fails: %s", err.msg);
	kiln_err_release(&err);
	T_OK(img_store_tag(s, "busybox",
	                   "x@sha256:"
	                   "0123456789012345678901234567890123456789012345678901234567890123",
	                   &err) < 0,
	     "tagging with a digest is refused");
	kiln_err_release(&err);

	/* moving the last tag leaves the old image dangling */
	T_OK(img_store_tag(s, "busybox", "myreg:5000/x/y:1", &err) == 0, "move image 1's last tag");
	T_INTEQ(count_images(s, &dangling), 2, "still two images");
	T_INTEQ(dangling, 1, "image 1 is dangling now");
	T_OK(load_ok(s, id1, id1), "dangling image 1 still loads");

	/* untag */
	bool deleted = true;
	T_OK(img_store_untag(s, "busybox:2", false, &deleted, &err) == 0 && !deleted,
	     "untag one of several tags keeps the image");
	T_OK(load_fails(s, "busybox:2"), "untagged name is gone");
	T_OK(img_store_untag(s, "busybox:2", false, &deleted, &err) < 0 &&
	         err.code == KILN_E_NOTFOUND,
	     "untag twice fails");
	kiln_err_release(&err);
	T_OK(img_store_untag(s, "busybox", false, &deleted, &err) == 0 && !deleted,
	     "untag latest (image still tagged myreg)");
	T_OK(img_store_untag(s, "myreg:5000/x/y:1", false, &deleted, &err) == 0 && deleted,
	     "untag the last tag deletes");
	T_OK(load_fails(s, id2), "deleted image is gone");
	T_OK(img_store_remove_image(s, id1, &err) == 0, "remove dangling image by id");
	T_INTEQ(count_images(s, &dangling), 0, "no images left");

	/* ambiguous prefixes: make images until two IDs share a first hex digit */
	char ids[20][KILN_DIGEST_LEN];
	int a = -1, b = -1;
	for (int i = 0; i < 20 && a < 0; i++) {
		char content[32];
		snprintf(content, sizeof(content), "content-%d", i);
		commit(s, content, "x", NULL, 0, ids[i]);
		for (int j = 0; j < i && a < 0; j++)
			if (ids[j][7] == ids[i][7])
				a = j, b = i;
	}
	T_OK(a >= 0, "found two ids with a common first digit");
	char p1[2] = {ids[a][7], 0};
	T_OK(load_fails(s, p1), "ambiguous prefix: No such image");
	T_OK(load_ok(s, ids[b], ids[b]), "full id still works");

	/* garbage collection */
	const char *keep[] = {"keep:1"};
	T_OK(commit(s, "kept-layer", "k", keep, 1, id3) == 0, "commit an image to keep");
	for (int i = 0; i <= b; i++)
		if (strcmp(ids[i], id3))
			img_store_remove_image(s, ids[i], NULL);
	char stray[KILN_DIGEST_LEN], rooted[KILN_DIGEST_LEN];
	img_store_put_blob(s, "stray", 5, stray, &err);
	img_store_put_blob(s, "rooted", 6, rooted, &err);
	_cleanup_free_ char *roots = kiln_path_join(root, IMG_GC_ROOTS_DIR);
	kiln_mkdir_p(roots, 0755, NULL);
	_cleanup_free_ char *rootfile = kiln_path_join(roots, "cache-test");
	_cleanup_free_ char *line = xasprintf("%s\n", rooted);
	kiln_write_file_atomic(rootfile, line, strlen(line), 0644, NULL);
	/* snapshots: one live (the kept image's diffID), one orphan */
	struct img_image *kept = NULL;
	img_image_load(s, "keep:1", &kept, &err);
	_cleanup_free_ char *live_snap =
	    xasprintf("%s/snapshots/%s", root, kiln_digest_hex(kept->config->diff_ids[0]));
	_cleanup_free_ char *dead_snap = xasprintf("%s/snapshots/%s", root, kiln_digest_hex(stray));
	kiln_mkdir_p(live_snap, 0755, NULL);
	kiln_mkdir_p(dead_snap, 0755, NULL);
	/* complete snapshots carry their marker (snapshot.c) */
	_cleanup_free_ char *live_done = xasprintf("%s.complete", live_snap);
	_cleanup_free_ char *dead_done = xasprintf("%s.complete", dead_snap);
	kiln_write_file_atomic(live_done, "", 0, 0600, NULL);
	kiln_write_file_atomic(dead_done, "", 0, 0600, NULL);
	struct img_gc_result gr;
	T_OK(img_store_gc(s, 0, &gr, &err) == 0, "gc runs");
	T_OK((int)gr.blobs_removed >= 3 * (b + 1) + 1, "gc removed unreferenced blobs (%zu)",
	     gr.blobs_removed);
	T_OK(gr.bytes_reclaimed > 0, "gc reports reclaimed bytes");
	T_OK(!img_store_has_blob(s, stray), "stray blob swept");
	T_OK(img_store_has_blob(s, rooted), "blob named in gc-roots kept");
	T_OK(img_store_has_blob(s, kept->id), "kept image's config kept");
	T_OK(img_store_has_blob(s, kept->manifest->layers[0].digest), "kept image's layer kept");
	T_OK(img_store_has_blob(s, kept->manifest_digest), "kept image's manifest kept");
	T_OK(load_ok(s, "keep:1", id3), "kept image still loads");
	T_OK(kiln_path_exists(live_snap), "live snapshot kept");
	T_OK(!kiln_path_exists(dead_snap), "orphan snapshot swept");
	T_OK(!kiln_path_exists(dead_done), "orphan snapshot's marker swept");
	T_OK(kiln_path_exists(live_done), "live snapshot's marker kept");
	T_OK(img_store_gc(s, 0, &gr, &err) == 0 && gr.blobs_removed == 0, "second gc is a no-op");

	/* fsck */
	struct kiln_strv probs = KILN_STRV_INIT;
	T_OK(img_store_fsck(s, &probs, &err) == 0 && probs.n == 0, "fsck: clean store");
	_cleanup_free_ char *lp = img_store_blob_path(s, kept->manifest->layers[0].digest);
	FILE *f = fopen(lp, "w");
	fputs("tampered", f);
	fclose(f);
	T_OK(img_store_fsck(s, &probs, &err) < 0 && err.code == KILN_E_CORRUPT,
	     "fsck detects a corrupt blob: %s", err.msg);
	T_OK(probs.n == 1 && strstr(probs.v[0], "corrupt blob"), "problem names the blob: %s",
	     probs.n ? probs.v[0] : "");
	kiln_err_release(&err);
	kiln_strv_release(&probs);
	unlink(lp);
	T_OK(img_store_fsck(s, &probs, &err) < 0 && probs.n == 1 && strstr(probs.v[0], "missing"),
	     "fsck detects a missing blob: %s", probs.n ? probs.v[0] : "");
	kiln_err_release(&err);
	kiln_strv_release(&probs);
	img_image_free(kept);

	/* The parsed index.json a lookup keeps for the publish that follows
	 * (a build's FROM, then its tag): a publish by another handle (another
	 * process) in between replaces the file, and this handle reads it again
	 * instead of writing its kept copy back over the other's tag. */
	struct img_store *s2 = NULL;
	T_OK(img_store_open(root, &s2, &err) == 0, "a second handle on the store");
	char idm[KILN_DIGEST_LEN], ido[KILN_DIGEST_LEN], idb[KILN_DIGEST_LEN],
	    idm2[KILN_DIGEST_LEN];
	const char *base[] = {"base:1"};
	const char *mine[] = {"mine:1"}, *other[] = {"other:1"}, *again[] = {"mine:2"};
	T_OK(commit(s, "layer-base", "base", base, 1, idb) == 0, "a base image");
	T_OK(load_ok(s, "base:1", idb), "a lookup (it keeps the parsed index)");
	T_OK(commit(s2, "layer-other", "other", other, 1, ido) == 0, "the other handle tags");
	T_OK(commit(s, "layer-mine", "mine", mine, 1, idm) == 0, "this handle tags");
	T_OK(load_ok(s2, "other:1", ido) && load_ok(s2, "mine:1", idm) &&
	         load_ok(s, "other:1", ido),
	     "both tags are kept, seen by both handles");
	T_OK(load_ok(s, "mine:1", idm), "a lookup again");
	T_OK(commit(s, "layer-mine2", "mine", again, 1, idm2) == 0 && load_ok(s2, "mine:2", idm2) &&
	         load_ok(s2, "other:1", ido) && load_ok(s2, "mine:1", idm),
	     "a publish from the kept copy (nothing changed in between) keeps every tag");
	T_OK(load_ok(s, "mine:2", idm2), "a lookup keeps the index again");
	_cleanup_free_ char *ixp = kiln_path_join(root, "images/index.json");
	const char *no_manifests = "{\"schemaVersion\":2}";
	T_OK(kiln_write_file_atomic(ixp, no_manifests, strlen(no_manifests), 0644, &err) == 0,
	     "index.json damaged by someone else");
	struct img_image *gone = NULL;
	int fr = img_image_find(s, "mine:2", IMG_FIND_CONTENT, &gone, &err);
	T_OK(fr < 0 && err.code == KILN_E_CORRUPT, "the damage is seen, not the kept copy: %s",
	     err.msg ? err.msg : "(no error)");
	img_image_free(gone);
	kiln_err_release(&err);
	img_store_close(s2);

	/* stale temp files */
	_cleanup_free_ char *tmpf = kiln_path_join(root, "tmp/blob-stale");
	kiln_write_file_atomic(tmpf, "x", 1, 0600, NULL);
	T_INTEQ(img_store_sweep_temps(s, 3600), 0, "fresh temp file kept");
	T_INTEQ(img_store_sweep_temps(s, 0) >= 1, 1, "stale temp file swept");
	T_OK(!kiln_path_exists(tmpf), "temp file gone");

	img_store_close(s);
	kiln_rm_rf(root, NULL);
	return tap_done();
}
