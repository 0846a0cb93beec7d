/* Field lists (preimages, records, build history), keys, and the rules
 * that keep proxies out of keys and secrets out of stored preimages. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cache.h"

void cache_fields_add(struct cache_fields *f, const char *name, const char *value)
{
	KILN_GROW(f->v, f->cap, f->n + 1);
	f->v[f->n].name = xstrdup(name);
	f->v[f->n].value = xstrdup(value ? value : "");
	f->n++;
}

void cache_fields_addf(struct cache_fields *f, const char *name, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *v = xvasprintf(fmt, ap);
	va_end(ap);
	KILN_GROW(f->v, f->cap, f->n + 1);
	f->v[f->n].name = xstrdup(name);
	f->v[f->n].value = v;
	f->n++;
}

const char *cache_fields_get(const struct cache_fields *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (!strcmp(f->v[i].name, name))
			return f->v[i].value;
	return NULL;
}

void cache_fields_release(struct cache_fields *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->v[i].name);
		free(f->v[i].value);
	}
	free(f->v);
	memset(f, 0, sizeof(*f));
}

char *cache_fields_serialize(const struct cache_fields *f, size_t *len)
{
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	for (size_t i = 0; i < f->n; i++) {
		kiln_buf_addf(&b, NULL, "%s %zu:", f->v[i].name, strlen(f->v[i].value));
		kiln_buf_addstr(&b, f->v[i].value, NULL);
		kiln_buf_addch(&b, '\n', NULL);
	}
	return kiln_buf_detach(&b, len);
}

int cache_fields_parse(const char *buf, size_t len, struct cache_fields *out, struct kiln_err *err)
{
	size_t i = 0;
	while (i < len) {
		const char *sp = memchr(buf + i, ' ', len - i);
		if (!sp || sp == buf + i)
			goto bad;
		size_t nl = (size_t)(sp - (buf + i));
		char *end;
		errno = 0;
		unsigned long long vl = strtoull(sp + 1, &end, 10);
		if (errno || end == sp + 1 || end >= buf + len || *end != ':')
			goto bad;
		size_t off = (size_t)(end + 1 - buf);
		if (vl > len - off || off + vl >= len || buf[off + vl] != '\n')
			goto bad;
		KILN_GROW(out->v, out->cap, out->n + 1);
		out->v[out->n].name = xstrndup(buf + i, nl);
		out->v[out->n].value = xstrndup(buf + off, vl);
		out->n++;
		i = off + vl + 1;
	}
	return 0;
bad:
	cache_fields_release(out);
	return kiln_err_set(err, KILN_E_CORRUPT, "malformed field list at byte %zu", i);
}

static const char *const proxy_names[] = {"HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY",
                                          "ALL_PROXY"};

bool cache_name_is_proxy(const char *name, size_t len)
{
	for (size_t i = 0; i < KILN_ARRAY_SIZE(proxy_names); i++)
		if (strlen(proxy_names[i]) == len && !strncasecmp(name, proxy_names[i], len))
			return true;
	return false;
}

/* BuildKit's SecretsUsedInArgOrEnv: a '_'-separated word of the name is
 * one of these, and none is "public". */
static const char *const secret_words[] = {"apikey", "auth",     "credential", "credentials",
                                           "key",    "password", "pword",      "passwd",
                                           "secret", "token"};

bool cache_name_is_secret(const char *name, size_t len)
{
	bool secret = false;
	for (size_t i = 0; i < len;) {
		size_t w = i;
		while (w < len && name[w] != '_')
			w++;
		size_t wl = w - i;
		if (wl == 6 && !strncasecmp(name + i, "public", 6))
			return false;
		for (size_t k = 0; k < KILN_ARRAY_SIZE(secret_words); k++)
			if (strlen(secret_words[k]) == wl &&
			    !strncasecmp(name + i, secret_words[k], wl))
				secret = true;
		i = w + 1;
	}
	return secret;
}

void cache_fields_add_var(struct cache_fields *f, const char *name, const char *kv)
{
	size_t kl = strcspn(kv, "=");
	if (!kv[kl] || !(cache_name_is_secret(kv, kl) || cache_name_is_proxy(kv, kl))) {
		cache_fields_add(f, name, kv);
		return;
	}
	char d[KILN_DIGEST_LEN];
	kiln_sha256_digest(kv + kl + 1, strlen(kv + kl + 1), d);
	cache_fields_addf(f, name, "%.*s=<secret sha256:%.12s>", (int)kl, kv, kiln_digest_hex(d));
}

void cache_key(const struct cache_fields *pre, enum cache_hash h, char key[CACHE_KEY_MAX])
{
	size_t len;
	_cleanup_free_ char *s = cache_fields_serialize(pre, &len);
	if (h == CACHE_HASH_SHA256) {
		char d[KILN_DIGEST_LEN];
		kiln_sha256_digest(s, len, d);
		snprintf(key, CACHE_KEY_MAX, "%s", kiln_digest_hex(d));
		return;
	}
	struct kiln_xxh128 x;
	kiln_xxh128(s, len, &x);
	kiln_xxh128_hex(&x, key);
}

bool cache_key_valid(const char *key)
{
	size_t n = strlen(key);
	if (n != 32 && n != 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)key[i]) || isupper((unsigned char)key[i]))
			return false;
	return true;
}
