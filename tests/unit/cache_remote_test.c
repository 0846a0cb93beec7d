/* The shared cache's config (cache/remote_json.c): a round trip keeps
 * records, layers, mounts and listings; a record whose key is not the
 * sha256 of its preimage, a bad digest, a wrong format or garbage are
 * refused; imported listings are checked before they are stored and
 * never replace a kept one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "tap.h"

static struct img_store *s;

static void make(struct cache_remote_config *c)
{
	memset(c, 0, sizeof(*c));
	c->mode = xstrdup("max");
	c->recs = xcalloc(2, sizeof(*c->recs));
	c->n_recs = 1;
	struct cache_remote_record *r = &c->recs[0];
	cache_fields_add(&r->rec.preimage, "format", CACHE_KEY_FORMAT);
	cache_fields_add(&r->rec.preimage, "instr", "COPY a /a");
	cache_fields_add(&r->rec.preimage, "heredoc", "line one\nline \"two\"\n");
	cache_key(&r->rec.preimage, CACHE_HASH_SHA256, r->rec.key);
	r->rec.has_layer = true;
	kiln_sha256_digest("z", 1, r->rec.layer.digest);
	kiln_sha256_digest("t", 1, r->rec.layer.diff_id);
	r->rec.layer.size = 1;
	r->rec.layer.media_type = xstrdup(IMG_MT_LAYER_GZIP);
	r->rec.config = xstrdup("created=2026-01-01T00:00:00Z");
	r->rec.created = 1700000000;
	r->rec.duration = 2.5;
	r->stage = 1;
	r->step = 3;
	r->line = 7;
	r->name = xstrdup("[2/3] COPY a /a");
	r->instr = xstrdup("COPY a /a");
	c->mounts = xcalloc(2, sizeof(*c->mounts));
	c->n_mounts = 1;
	c->mounts[0].id = xstrdup("/root/.cache");
	c->mounts[0].layer = r->rec.layer;
	c->mounts[0].layer.media_type = xstrdup(IMG_MT_LAYER_ZSTD);
	kiln_strv_push(&c->listing_hashes, "0123456789abcdef0123456789abcdef");
	kiln_strv_push(&c->listings, "0123456789abcdef0123456789abcdef 100644 3:a.c\n");
}

static int parse(const char *json, struct cache_remote_config *out, struct kiln_err *err)
{
	return cache_remote_from_json(json, strlen(json), out, err);
}

static void round_trip(void)
{
	struct cache_remote_config c, got;
	make(&c);
	size_t len;
	char *json = cache_remote_to_json(&c, &len);
	struct kiln_err err = KILN_ERR_INIT;
	T_OK(parse(json, &got, &err) == 0, "its own output parses");
	T_INTEQ(got.n_recs, 1, "one record");
	T_STREQ(got.recs[0].rec.key, c.recs[0].rec.key, "key kept");
	T_STREQ(cache_fields_get(&got.recs[0].rec.preimage, "heredoc"), "line one\nline \"two\"\n",
	        "preimage values kept byte for byte");
	T_STREQ(got.recs[0].rec.layer.digest, c.recs[0].rec.layer.digest, "layer digest kept");
	T_STREQ(got.recs[0].rec.layer.media_type, IMG_MT_LAYER_GZIP, "layer media type kept");
	T_INTEQ(got.recs[0].stage * 100 + got.recs[0].step * 10 + got.recs[0].line, 137,
	        "stage, step and line kept");
	T_OK(got.recs[0].rec.duration == 2.5, "duration kept");
	T_STREQ(got.recs[0].rec.config, "created=2026-01-01T00:00:00Z", "config change kept");
	T_OK(got.n_mounts == 1 && !strcmp(got.mounts[0].id, "/root/.cache"), "mount kept");
	T_OK(got.listings.n == 1 && strstr(got.listings.v[0], "a.c"), "listing kept");
	T_STREQ(got.mode, "max", "mode kept");
	cache_remote_release(&got);
	free(json);

	/* a record whose preimage no longer hashes to its key */
	free(c.recs[0].rec.preimage.v[1].value);
	c.recs[0].rec.preimage.v[1].value = xstrdup("COPY evil /a");
	json = cache_remote_to_json(&c, &len);
	T_OK(parse(json, &got, &err) < 0 && err.code == KILN_E_CORRUPT &&
	         strstr(err.msg, "not the hash of its preimage"),
	     "a key that is not the sha256 of its preimage is refused");
	kiln_err_release(&err);
	free(json);
	cache_remote_release(&c);
}

static void refused(void)
{
	static const char *const bad[] = {
	    "",
	    "[]",
	    "{\"format\":\"other\",\"records\":[]}",
	    "{\"format\":\"kiln-cache-v2\"}",
	    "{\"format\":\"kiln-cache-v2\",\"records\":[{\"key\":\"abc\"}]}",
	    "{\"format\":\"kiln-cache-v2\",\"records\":[],\"mounts\":[{\"id\":\"x\",\"layer\":"
	    "{\"digest\":\"md5:1\",\"diffID\":\"md5:2\",\"size\":1,\"mediaType\":\"x\"}}]}",
	    "{\"format\":\"kiln-cache-v2\",\"records\":[],\"listings\":{\"../x\":\"y\"}}",
	};
	for (size_t i = 0; i < KILN_ARRAY_SIZE(bad); i++) {
		struct cache_remote_config got;
		struct kiln_err err = KILN_ERR_INIT;
		T_OK(parse(bad[i], &got, &err) < 0 && err.code == KILN_E_CORRUPT, "refused: %.40s",
		     bad[i]);
		kiln_err_release(&err);
	}
	struct cache_remote_config got;
	struct kiln_err err = KILN_ERR_INIT;
	T_OK(parse("{\"format\":\"kiln-cache-v2\",\"records\":[]}", &got, &err) == 0 &&
	         got.n_recs == 0,
	     "an empty cache parses");
	cache_remote_release(&got);
	/* a config of the format before sha256 content hashes: never trusted */
	T_OK(parse("{\"format\":\"kiln-cache-v1\",\"records\":[]}", &got, &err) < 0 &&
	         err.code == KILN_E_CORRUPT && strstr(err.msg, "kiln-cache-v1") &&
	         strstr(err.msg, "not trusted"),
	     "an old kiln-cache-v1 config is refused, saying why: %s", err.msg ? err.msg : "");
	kiln_err_release(&err);
}

static void listings(void)
{
	struct kiln_err err = KILN_ERR_INIT;
	const char *h = "00112233445566778899aabbccddeeff";
	const char *good = "00112233445566778899aabbccddeeff 100644 5:x.txt\n";
	T_OK(cache_listing_put(s, h, "garbage\n", 8, &err) < 0, "a malformed listing is refused");
	kiln_err_release(&err);
	/* a length past the end, the data cut right after its colon (exactly
	 * sized, not NUL-terminated: ASan sees any read past it) */
	const char *cut = "00112233445566778899aabbccddeeff 100644 100000:";
	char *exact = xmalloc(strlen(cut));
	memcpy(exact, cut, strlen(cut));
	T_OK(cache_listing_put(s, h, exact, strlen(cut), &err) < 0,
	     "a listing whose path length runs past its end is refused");
	kiln_err_release(&err);
	T_OK(cache_listing_put(s, h, exact, strlen(cut) - 1, &err) < 0,
	     "a listing cut inside its path length is refused");
	kiln_err_release(&err);
	free(exact);
	T_OK(cache_listing_put(s, "../../etc", good, strlen(good), &err) < 0,
	     "a listing name that is no hash is refused");
	kiln_err_release(&err);
	T_OK(cache_listing_put(s, h, good, strlen(good), &err) == 0, "a listing is stored");
	const char *other = "00112233445566778899aabbccddeeff 100755 5:y.txt\n";
	T_OK(cache_listing_put(s, h, other, strlen(other), &err) == 0, "a second import succeeds");
	char *data = NULL;
	size_t len;
	bool found;
	T_OK(cache_listing_get(s, h, &data, &len, &found, &err) == 0 && found &&
	         !strcmp(data, good),
	     "and never replaces the kept one");
	free(data);
	T_OK(cache_listing_get(s, "ffffffffffffffffffffffffffffffff", &data, &len, &found, &err) ==
	             0 &&
	         !found,
	     "a listing not kept is not found");
}

int main(void)
{
	const char *t = getenv("KILN_TEST_TMP") ? getenv("KILN_TEST_TMP") : "/tmp";
	kiln_mkdir_p(t, 0755, NULL);
	char *base = mkdtemp(xasprintf("%s/cache-remote-XXXXXX", t));
	if (!base)
		tap_skip_all("cannot make a temp dir");
	char *root = kiln_path_join(base, "root");
	struct kiln_err err = KILN_ERR_INIT;
	if (img_store_open(root, &s, &err) < 0)
		tap_skip_all("cannot open a store");
	round_trip();
	refused();
	listings();
	img_store_close(s);
	kiln_rm_rf(base, NULL);
	free(root);
	free(base);
	return tap_done();
}
