/* Records: stored after their GC root, read back whole, kept by GC; a
 * record whose blob was removed (or that is torn) is a miss and is
 * dropped; du and prune (all, until, keep-storage, cache mounts). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "tap.h"

static struct img_store *s;
static char *root;

static void make_record(const char *data, const char *keyseed, struct cache_record *r)
{
	memset(r, 0, sizeof(*r));
	struct kiln_err err = KILN_ERR_INIT;
	if (data) {
		img_store_put_blob(s, data, strlen(data), r->layer.digest, &err);
		kiln_sha256_digest(data, strlen(data), r->layer.diff_id);
		r->layer.size = strlen(data);
		r->layer.media_type = xstrdup(IMG_MT_LAYER);
		r->has_layer = true;
	}
	cache_fields_add(&r->preimage, "format", CACHE_KEY_FORMAT);
	cache_fields_add(&r->preimage, "instr", keyseed);
	cache_key(&r->preimage, CACHE_HASH_XXH128, r->key);
	r->created = 1700000000;
	r->duration = 1.5;
	r->config = xstrdup("workdir=/app");
	kiln_err_release(&err);
}

static char *file_of(const char *sub, const char *name)
{
	return xasprintf("%s/%s/%s", root, sub, name);
}

static void records(void)
{
	struct kiln_err err = KILN_ERR_INIT;
	struct cache_record r, got;
	make_record("layer one", "COPY a /a", &r);
	T_OK(cache_record_store(s, &r, &err) == 0, "record stored");
	char *gc = xasprintf("%s/gc-roots/cache-%s", root, r.key);
	char *roottext = NULL;
	size_t len;
	T_OK(kiln_read_file(gc, 4096, &roottext, &len, &err) == 0 &&
	         strstr(roottext, r.layer.digest),
	     "its GC root lists the layer blob");
	free(roottext);
	bool hit, gone;
	T_OK(cache_record_lookup(s, r.key, &got, &hit, &gone, &err) == 0 && hit && !gone,
	     "lookup hits");
	T_STREQ(got.layer.digest, r.layer.digest, "layer digest read back");
	T_STREQ(got.layer.diff_id, r.layer.diff_id, "diff id read back");
	T_INTEQ(got.layer.size, r.layer.size, "size read back");
	T_STREQ(got.config, "workdir=/app", "config change read back");
	T_INTEQ(got.created, 1700000000, "created read back");
	T_OK(got.duration > 1.49 && got.duration < 1.51, "duration read back");
	T_STREQ(cache_fields_get(&got.preimage, "instr"), "COPY a /a", "preimage read back");
	cache_record_release(&got);

	struct img_gc_result res;
	T_OK(img_store_gc(s, 0, &res, &err) == 0 && img_store_has_blob(s, r.layer.digest),
	     "GC keeps a recorded layer");

	/* the blob removed behind the cache's back: a miss, the record dropped */
	char *blob = img_store_blob_path(s, r.layer.digest);
	unlink(blob);
	T_OK(cache_record_lookup(s, r.key, &got, &hit, &gone, &err) == 0 && !hit && gone,
	     "a record whose blob was removed misses (not an error)");
	char *rec = file_of("cache/records", r.key);
	T_OK(!kiln_path_exists(rec) && !kiln_path_exists(gc), "and is dropped with its root");
	T_OK(cache_record_lookup(s, r.key, &got, &hit, &gone, &err) == 0 && !hit && !gone,
	     "then it is simply absent");
	free(rec);
	free(blob);
	free(gc);
	cache_record_release(&r);

	/* no layer (WORKDIR that exists) */
	make_record(NULL, "WORKDIR /", &r);
	T_OK(cache_record_store(s, &r, &err) == 0, "layerless record stored");
	T_OK(cache_record_lookup(s, r.key, &got, &hit, &gone, &err) == 0 && hit && !got.has_layer,
	     "layerless record hits");
	cache_record_release(&got);
	/* a torn record */
	rec = file_of("cache/records", r.key);
	truncate(rec, 20);
	T_OK(cache_record_lookup(s, r.key, &got, &hit, &gone, &err) == 0 && !hit && gone,
	     "a torn record is a miss and dropped");
	T_OK(!kiln_path_exists(rec), "torn record removed");
	free(rec);
	cache_record_release(&r);
	T_OK(cache_record_lookup(s, "../../etc/passwd", &got, &hit, &gone, &err) < 0 &&
	         err.code == KILN_E_INVALID,
	     "a key that is not a key is refused");
	kiln_err_release(&err);
}

static void set_used(const char *key, time_t when)
{
	char *rec = file_of("cache/records", key);
	struct timespec ts[2] = {{.tv_sec = when}, {.tv_sec = when}};
	utimensat(AT_FDCWD, rec, ts, 0);
	free(rec);
}

static size_t count_records(void)
{
	struct cache_du du;
	struct kiln_err err = KILN_ERR_INIT;
	cache_du(s, &du, &err);
	size_t n = 0;
	for (size_t i = 0; i < du.n; i++)
		n += !du.v[i].is_mount;
	cache_du_release(&du);
	kiln_err_release(&err);
	return n;
}

static void maintenance(void)
{
	struct kiln_err err = KILN_ERR_INIT;
	struct cache_record a, b, c;
	make_record("aaaaaaaaaa", "A", &a);                     /* 10 bytes, old */
	make_record("bbbbbbbbbbbbbbbbbbbb", "B", &b);           /* 20 bytes, recent */
	make_record("cccccccccccccccccccccccccccccc", "C", &c); /* 30 bytes, oldest */
	cache_record_store(s, &a, &err);
	cache_record_store(s, &b, &err);
	cache_record_store(s, &c, &err);
	time_t now = time(NULL);
	set_used(a.key, now - 3 * 86400);
	set_used(b.key, now - 60);
	set_used(c.key, now - 5 * 86400);
	char *m = cache_mount_dir(s, "apt", &err);
	T_OK(m != NULL, "cache mount directory made");
	char *mf = kiln_path_join(m, "pkg.deb");
	FILE *f = fopen(mf, "w");
	fputs("12345", f);
	fclose(f);
	struct timespec ts[2] = {{.tv_sec = now - 86400 * 10}, {.tv_sec = now - 86400 * 10}};
	utimensat(AT_FDCWD, mf, ts, 0);
	utimensat(AT_FDCWD, m, ts, 0);
	char *odd = cache_mount_dir(s, "a/b", &err);
	T_OK(odd && !strstr(odd + strlen(root), "a/b"), "an id with a slash is one directory");

	struct cache_du du;
	T_OK(cache_du(s, &du, &err) == 0, "du");
	T_INTEQ(du.n, 5, "three records and two mounts");
	T_INTEQ(du.total, 65, "total bytes: 10 + 20 + 30 + 5");
	cache_du_release(&du);

	/* keep-storage: least recently used first until at most 40 bytes */
	struct cache_prune_opts o = {.keep_storage = 40};
	struct cache_prune_result res;
	T_OK(cache_prune(s, &o, &res, &err) == 0, "prune --keep-storage 40");
	T_OK(!kiln_path_exists(m), "the oldest (the mount) went first");
	T_INTEQ(count_records(), 2, "then the oldest record: 2 left");
	T_OK(!img_store_has_blob(s, c.layer.digest), "and its blob was collected");
	T_OK(img_store_has_blob(s, a.layer.digest) && img_store_has_blob(s, b.layer.digest),
	     "the others' blobs stay");

	/* until: only entries unused for more than a day */
	o = (struct cache_prune_opts){.until = 86400};
	T_OK(cache_prune(s, &o, &res, &err) == 0 && res.records == 1, "prune --filter until=24h");
	T_INTEQ(count_records(), 1, "the recent record stays");
	o = (struct cache_prune_opts){.all = true};
	T_OK(cache_prune(s, &o, &res, &err) == 0 && count_records() == 0, "prune -a empties it");
	T_OK(!img_store_has_blob(s, b.layer.digest), "and the blobs are gone");
	free(m);
	free(mf);
	free(odd);
	cache_record_release(&a);
	cache_record_release(&b);
	cache_record_release(&c);
	kiln_err_release(&err);
}

int main(void)
{
	const char *t = getenv("KILN_TEST_TMP") ? getenv("KILN_TEST_TMP") : "/tmp";
	kiln_mkdir_p(t, 0755, NULL);
	char *tmpl = xasprintf("%s/cache-record-XXXXXX", t);
	char *base = mkdtemp(tmpl);
	if (!base)
		tap_skip_all("cannot make a temp dir");
	root = kiln_path_join(base, "root");
	struct kiln_err err = KILN_ERR_INIT;
	if (img_store_open(root, &s, &err) < 0)
		tap_skip_all("cannot open a store");
	records();
	maintenance();
	img_store_close(s);
	kiln_rm_rf(base, NULL);
	free(root);
	free(base);
	return tap_done();
}
