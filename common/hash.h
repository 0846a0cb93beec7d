/* Digests: sha256 through OpenSSL's EVP interface (blobs, layers, images),
 * XXH3-128 through libxxhash (local cache keys, context hashing). */
#ifndef KILN_HASH_H
#define KILN_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "sha256:" + 64 hex + NUL */
#define KILN_DIGEST_LEN    72
#define KILN_SHA256_HEXLEN 64

struct kiln_sha256 {
	void *ctx; /* EVP_MD_CTX */
};
void kiln_sha256_init(struct kiln_sha256 *h);
void kiln_sha256_update(struct kiln_sha256 *h, const void *p, size_t n);
/* Writes "sha256:<hex>" and releases the context. */
void kiln_sha256_final(struct kiln_sha256 *h, char out[KILN_DIGEST_LEN]);
void kiln_sha256_release(struct kiln_sha256 *h); /* abandon without a result */
void kiln_sha256_digest(const void *p, size_t n, char out[KILN_DIGEST_LEN]);
/* True for "sha256:" followed by exactly 64 lower-case hex digits. */
bool kiln_digest_valid(const char *digest);
/* The hex part of a digest ("sha256:ab.." -> "ab.."), or the input itself. */
const char *kiln_digest_hex(const char *digest);

struct kiln_xxh128 {
	uint8_t b[16];
};
void kiln_xxh128(const void *p, size_t n, struct kiln_xxh128 *out);
struct kiln_xxh128_state {
	void *st; /* XXH3_state_t */
};
void kiln_xxh128_init(struct kiln_xxh128_state *s);
void kiln_xxh128_update(struct kiln_xxh128_state *s, const void *p, size_t n);
void kiln_xxh128_final(struct kiln_xxh128_state *s, struct kiln_xxh128 *out);
/* 32 hex digits + NUL */
void kiln_xxh128_hex(const struct kiln_xxh128 *h, char out[33]);

#endif
