/* Cache keys: field lists round-trip (any bytes in values), keys are
 * stable and change with any field, sha256 behind the same call, proxy
 * args left out, secrets never stored in clear. */
#include <string.h>

#include "cache.h"
#include "tap.h"

static void roundtrip(void)
{
	struct cache_fields f = {0}, g = {0};
	cache_fields_add(&f, "format", CACHE_KEY_FORMAT);
	cache_fields_add(&f, "instr", "RUN echo 'a\nb' 12:3");
	cache_fields_add(&f, "env", "");
	cache_fields_addf(&f, "n", "%d", 42);
	size_t len;
	char *s = cache_fields_serialize(&f, &len);
	struct kiln_err err = KILN_ERR_INIT;
	T_OK(cache_fields_parse(s, len, &g, &err) == 0, "serialized fields parse back");
	T_INTEQ(g.n, 4, "four fields");
	T_STREQ(cache_fields_get(&g, "instr"), "RUN echo 'a\nb' 12:3", "newline and colon kept");
	T_STREQ(cache_fields_get(&g, "env"), "", "empty value kept");
	T_STREQ(cache_fields_get(&g, "n"), "42", "formatted value");
	T_OK(cache_fields_get(&g, "nope") == NULL, "absent field is NULL");
	struct cache_fields h = {0};
	T_OK(cache_fields_parse(s, len - 1, &h, &err) < 0 && err.code == KILN_E_CORRUPT,
	     "a torn list is refused");
	kiln_err_release(&err);
	T_OK(cache_fields_parse("x 99:ab\n", 8, &h, &err) < 0, "a length past the end is refused");
	kiln_err_release(&err);
	T_OK(h.n == 0, "nothing left after a refused parse");
	free(s);
	cache_fields_release(&f);
	cache_fields_release(&g);
}

static void keys(void)
{
	struct cache_fields a = {0}, b = {0};
	cache_fields_add(&a, "format", CACHE_KEY_FORMAT);
	cache_fields_add(&a, "op", "COPY");
	cache_fields_add(&b, "format", CACHE_KEY_FORMAT);
	cache_fields_add(&b, "op", "COPY");
	char ka[CACHE_KEY_MAX], kb[CACHE_KEY_MAX], ks[CACHE_KEY_MAX];
	cache_key(&a, CACHE_HASH_XXH128, ka);
	cache_key(&b, CACHE_HASH_XXH128, kb);
	T_STREQ(ka, kb, "same preimage, same key");
	T_INTEQ(strlen(ka), 32, "XXH3-128 key is 32 hex digits");
	T_OK(cache_key_valid(ka), "key is valid");
	cache_key(&a, CACHE_HASH_SHA256, ks);
	T_INTEQ(strlen(ks), 64, "sha256 key is 64 hex digits");
	T_OK(cache_key_valid(ks), "sha256 key is valid");
	cache_fields_add(&b, "workdir", "/app");
	cache_key(&b, CACHE_HASH_XXH128, kb);
	T_OK(strcmp(ka, kb) != 0, "an added field changes the key");
	/* field boundaries count: "ab"+"c" differs from "a"+"bc" */
	struct cache_fields x = {0}, y = {0};
	cache_fields_add(&x, "env", "ab");
	cache_fields_add(&x, "env", "c");
	cache_fields_add(&y, "env", "a");
	cache_fields_add(&y, "env", "bc");
	cache_key(&x, CACHE_HASH_XXH128, ka);
	cache_key(&y, CACHE_HASH_XXH128, kb);
	T_OK(strcmp(ka, kb) != 0, "values are length-delimited");
	T_OK(!cache_key_valid("ABC") && !cache_key_valid("../etc/passwd0000000000000000000000"),
	     "bad keys are refused");
	cache_fields_release(&a);
	cache_fields_release(&b);
	cache_fields_release(&x);
	cache_fields_release(&y);
}

static void vars(void)
{
	T_OK(cache_name_is_proxy("HTTP_PROXY", 10) && cache_name_is_proxy("no_proxy", 8),
	     "proxy names, either case");
	T_OK(!cache_name_is_proxy("PROXY", 5), "PROXY alone is not a proxy arg");
	T_OK(cache_name_is_secret("DB_PASSWORD", 11) && cache_name_is_secret("GITHUB_TOKEN", 12) &&
	         cache_name_is_secret("aws_secret_access_key", 21) &&
	         cache_name_is_secret("apikey", 6),
	     "secret names (BuildKit's words)");
	T_OK(!cache_name_is_secret("PUBLIC_KEY", 10) && !cache_name_is_secret("MONKEY", 6) &&
	         !cache_name_is_secret("VERSION", 7),
	     "not secrets: public keys, words containing one");
	struct cache_fields f = {0}, g = {0};
	cache_fields_add_var(&f, "arg", "HTTPS_PROXY=http://u:pw@p:3128");
	cache_fields_add_var(&g, "arg", "HTTPS_PROXY=http://u:pw@q:3128");
	T_INTEQ(f.n, 1, "a declared proxy arg is in the preimage (its change misses, as docker's)");
	cache_fields_add_var(&f, "arg", "VERSION=1.2");
	cache_fields_add_var(&f, "arg", "DB_PASSWORD=hunter2");
	cache_fields_add_var(&g, "arg", "VERSION=1.2");
	cache_fields_add_var(&g, "arg", "DB_PASSWORD=hunter3");
	char *s = cache_fields_serialize(&f, NULL);
	T_OK(strstr(s, "hunter2") == NULL, "a secret's value is never stored in clear");
	T_OK(strstr(s, "u:pw@") == NULL && strstr(s, "HTTPS_PROXY=<secret sha256:") != NULL,
	     "a proxy's value (it may hold a password) is masked too");
	T_OK(strstr(s, "DB_PASSWORD=<secret sha256:") != NULL, "the secret is named and masked");
	T_OK(strstr(s, "VERSION=1.2") != NULL, "plain args are kept as written");
	char ka[CACHE_KEY_MAX], kb[CACHE_KEY_MAX];
	cache_key(&f, CACHE_HASH_XXH128, ka);
	cache_key(&g, CACHE_HASH_XXH128, kb);
	T_OK(strcmp(ka, kb) != 0, "a changed secret or proxy still changes the key");
	free(s);
	cache_fields_release(&f);
	cache_fields_release(&g);
}

int main(void)
{
	roundtrip();
	keys();
	vars();
	return tap_done();
}
