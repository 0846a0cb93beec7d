#include "hash.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

static void hex_encode(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

void kiln_sha256_init(struct kiln_sha256 *h)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		abort(); /* only fails on allocation failure */
	h->ctx = ctx;
}

void kiln_sha256_update(struct kiln_sha256 *h, const void *p, size_t n)
{
	if (n && EVP_DigestUpdate(h->ctx, p, n) != 1)
		abort();
}

void kiln_sha256_final(struct kiln_sha256 *h, char out[KILN_DIGEST_LEN])
{
	unsigned char md[32];
	unsigned int len = 0;
	if (EVP_DigestFinal_ex(h->ctx, md, &len) != 1 || len != 32)
		abort();
	memcpy(out, "sha256:", 7);
	hex_encode(md, 32, out + 7);
	kiln_sha256_release(h);
}

void kiln_sha256_release(struct kiln_sha256 *h)
{
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
}

void kiln_sha256_digest(const void *p, size_t n, char out[KILN_DIGEST_LEN])
{
	struct kiln_sha256 h;
	kiln_sha256_init(&h);
	kiln_sha256_update(&h, p, n);
	kiln_sha256_final(&h, out);
}

bool kiln_digest_valid(const char *d)
{
	if (!d || strncmp(d, "sha256:", 7) != 0)
		return false;
	d += 7;
	size_t i = 0;
	for (; d[i]; i++)
		if (!((d[i] >= '0' && d[i] <= '9') || (d[i] >= 'a' && d[i] <= 'f')))
			return false;
	return i == KILN_SHA256_HEXLEN;
}

const char *kiln_digest_hex(const char *digest)
{
	const char *c = strchr(digest, ':');
	return c ? c + 1 : digest;
}

void kiln_xxh128(const void *p, size_t n, struct kiln_xxh128 *out)
{
	XXH128_hash_t h = XXH3_128bits(p, n);
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, h);
	memcpy(out->b, c.digest, 16);
}

void kiln_xxh128_init(struct kiln_xxh128_state *s)
{
	XXH3_state_t *st = XXH3_createState();
	if (!st)
		abort();
	XXH3_128bits_reset(st);
	s->st = st;
}

void kiln_xxh128_update(struct kiln_xxh128_state *s, const void *p, size_t n)
{
	XXH3_128bits_update(s->st, p, n);
}

void kiln_xxh128_final(struct kiln_xxh128_state *s, struct kiln_xxh128 *out)
{
	XXH128_hash_t h = XXH3_128bits_digest(s->st);
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, h);
	memcpy(out->b, c.digest, 16);
	XXH3_freeState(s->st);
	s->st = NULL;
}

void kiln_xxh128_hex(const struct kiln_xxh128 *h, char out[33])
{
	hex_encode(h->b, 16, out);
}
