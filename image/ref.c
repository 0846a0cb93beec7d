/* Image references: docker's distribution/reference grammar and
 * normalization (ParseNormalizedNamed, FamiliarString), written from its
 * documented grammar:
 *
 *   reference  := name [ ":" tag ] [ "@" digest ]
 *   name       := [ domain "/" ] path-component [ "/" path-component ]*
 *   domain     := host [ ":" port ]   host := domain-name | "[" ipv6 "]"
 *   path-component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
 *   tag        := [\w][\w.-]{0,127}
 *   digest     := algorithm ":" hex{32,}
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "image.h"

#define NAME_TOTAL_MAX 255

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_word(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

/* One path component of length n. */
static bool path_component_ok(const char *p, size_t n)
{
	size_t i = 0;
	if (n == 0 || !is_lower_alnum(p[0]))
		return false;
	while (i < n) {
		while (i < n && is_lower_alnum(p[i]))
			i++;
		if (i == n)
			return true;
		/* separator: "." | "_" | "__" | "-"+ */
		size_t sep = i;
		if (p[i] == '.')
			i++;
		else if (p[i] == '_')
			i += (i + 1 < n && p[i + 1] == '_') ? 2 : 1;
		else if (p[i] == '-')
			while (i < n && p[i] == '-')
				i++;
		else
			return false;
		if (i == sep || i >= n || !is_lower_alnum(p[i]))
			return false;
	}
	return true;
}

static bool path_ok(const char *p, size_t n)
{
	size_t start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || p[i] == '/') {
			if (!path_component_ok(p + start, i - start))
				return false;
			start = i + 1;
		}
	}
	return true;
}

static bool domain_component_ok(const char *p, size_t n)
{
	if (n == 0 || !isalnum((unsigned char)p[0]) || !isalnum((unsigned char)p[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)p[i]) && p[i] != '-')
			return false;
	return true;
}

static bool domain_ok(const char *p, size_t n)
{
	size_t host_end = n;
	if (n > 0 && p[0] == '[') {
		const char *close = memchr(p, ']', n);
		if (!close || close == p + 1)
			return false;
		for (const char *q = p + 1; q < close; q++)
			if (!isxdigit((unsigned char)*q) && *q != ':')
				return false;
		host_end = (size_t)(close - p) + 1;
		if (host_end < n && p[host_end] != ':')
			return false;
	} else {
		const char *colon = memchr(p, ':', n);
		if (colon)
			host_end = (size_t)(colon - p);
		size_t start = 0;
		for (size_t i = 0; i <= host_end; i++) {
			if (i == host_end || p[i] == '.') {
				if (!domain_component_ok(p + start, i - start))
					return false;
				start = i + 1;
			}
		}
	}
	if (host_end < n) { /* ":" port */
		if (host_end + 1 == n)
			return false;
		for (size_t i = host_end + 1; i < n; i++)
			if (!isdigit((unsigned char)p[i]))
				return false;
	}
	return true;
}

static bool tag_ok(const char *t)
{
	size_t n = strlen(t);
	if (n == 0 || n > 128 || !is_word(t[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!is_word(t[i]) && t[i] != '.' && t[i] != '-')
			return false;
	return true;
}

/* The digest grammar of the reference regexp; false -> "invalid reference format". */
static bool digest_grammar_ok(const char *d)
{
	const char *colon = strchr(d, ':');
	if (!colon || colon == d)
		return false;
	/* algorithm: [A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)* */
	bool need_alpha = true;
	for (const char *p = d; p < colon; p++) {
		if (need_alpha) {
			if (!isalpha((unsigned char)*p))
				return false;
			need_alpha = false;
		} else if (strchr("-_+.", *p)) {
			need_alpha = true;
		} else if (!isalnum((unsigned char)*p)) {
			return false;
		}
	}
	if (need_alpha)
		return false;
	size_t hex = 0;
	for (const char *p = colon + 1; *p; p++, hex++)
		if (!isxdigit((unsigned char)*p))
			return false;
	return hex >= 32;
}

/* go-digest's Validate for a grammatically valid digest. */
static int digest_validate(const char *d, struct kiln_err *err)
{
	const char *colon = strchr(d, ':');
	size_t alg = (size_t)(colon - d), hex = strlen(colon + 1), want = 0;
	if (alg == 6 && !strncmp(d, "sha256", 6))
		want = 64;
	else if (alg == 6 && !strncmp(d, "sha384", 6))
		want = 96;
	else if (alg == 6 && !strncmp(d, "sha512", 6))
		want = 128;
	else
		return kiln_err_set(err, KILN_E_INVALID, "unsupported digest algorithm");
	if (hex != want)
		return kiln_err_set(err, KILN_E_INVALID, "invalid checksum digest length");
	for (const char *p = colon + 1; *p; p++)
		if (isupper((unsigned char)*p))
			return kiln_err_set(err, KILN_E_INVALID, "invalid checksum digest format");
	return 0;
}

static bool is_hex64(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return false;
	return n == 64;
}

/* splitDockerDomain: the first component is a registry when it contains
 * "." or ":", is "localhost", or has upper-case letters. */
static void split_domain(const char *s, char **domain, char **rest)
{
	const char *slash = strchr(s, '/');
	bool registry = false;
	if (slash) {
		size_t n = (size_t)(slash - s);
		registry = memchr(s, '.', n) || memchr(s, ':', n) ||
		           (n == 9 && !strncmp(s, "localhost", 9));
		for (size_t i = 0; i < n && !registry; i++)
			registry = isupper((unsigned char)s[i]);
	}
	if (registry) {
		*domain = xstrndup(s, (size_t)(slash - s));
		*rest = xstrdup(slash + 1);
	} else {
		*domain = xstrdup(IMG_DEFAULT_DOMAIN);
		*rest = xstrdup(s);
	}
	if (!strcmp(*domain, "index.docker.io")) {
		free(*domain);
		*domain = xstrdup(IMG_DEFAULT_DOMAIN);
	}
	if (!strcmp(*domain, IMG_DEFAULT_DOMAIN) && !strchr(*rest, '/')) {
		char *r = xasprintf("library/%s", *rest);
		free(*rest);
		*rest = r;
	}
}

/* Splits "path[:tag][@digest]" (after the domain) and validates the parts. */
static int parse_remainder(char *rest, struct img_ref *r, struct kiln_err *err)
{
	char *at = strchr(rest, '@');
	if (at) {
		*at = '\0';
		if (!digest_grammar_ok(at + 1))
			return kiln_err_set(err, KILN_E_INVALID, "invalid reference format");
	}
	char *last_slash = strrchr(rest, '/');
	char *colon = strchr(last_slash ? last_slash : rest, ':');
	if (colon) {
		*colon = '\0';
		if (!tag_ok(colon + 1))
			return kiln_err_set(err, KILN_E_INVALID, "invalid reference format");
	}
	if (!domain_ok(r->domain, strlen(r->domain)) || !path_ok(rest, strlen(rest)))
		return kiln_err_set(err, KILN_E_INVALID, "invalid reference format");
	if (strlen(r->domain) + 1 + strlen(rest) > NAME_TOTAL_MAX)
		return kiln_err_set(err, KILN_E_INVALID,
		                    "repository name must not be more than %d characters",
		                    NAME_TOTAL_MAX);
	if (at && digest_validate(at + 1, err) < 0)
		return -1;
	r->path = xstrdup(rest);
	r->tag = colon ? xstrdup(colon + 1) : NULL;
	r->digest = at ? xstrdup(at + 1) : NULL;
	return 0;
}

int img_ref_parse(const char *s, unsigned flags, struct img_ref *out, struct kiln_err *err)
{
	struct img_ref r = {0};
	if (is_hex64(s))
		return kiln_err_set(err, KILN_E_INVALID,
		                    "invalid repository name (%s), cannot specify 64-byte "
		                    "hexadecimal strings",
		                    s);
	_cleanup_free_ char *rest = NULL;
	split_domain(s, &r.domain, &rest);
	size_t remote_len = strcspn(rest, ":");
	for (size_t i = 0; i < remote_len; i++) {
		if (isupper((unsigned char)rest[i])) {
			kiln_err_set(err, KILN_E_INVALID,
			             "invalid reference format: repository name (%.*s) must be "
			             "lowercase",
			             (int)remote_len, rest);
			img_ref_release(&r);
			return -1;
		}
	}
	if (parse_remainder(rest, &r, err) < 0) {
		img_ref_release(&r);
		return -1;
	}
	if ((flags & IMG_REF_DEFAULT_TAG) && !r.tag && !r.digest)
		r.tag = xstrdup(IMG_DEFAULT_TAG);
	*out = r;
	return 0;
}

void img_ref_release(struct img_ref *r)
{
	free(r->domain);
	free(r->path);
	free(r->tag);
	free(r->digest);
	memset(r, 0, sizeof(*r));
}

static char *with_suffixes(char *name, const struct img_ref *r)
{
	char *s = xasprintf("%s%s%s%s%s", name, r->tag ? ":" : "", r->tag ? r->tag : "",
	                    r->digest ? "@" : "", r->digest ? r->digest : "");
	free(name);
	return s;
}

char *img_ref_name(const struct img_ref *r)
{
	return xasprintf("%s/%s", r->domain, r->path);
}

char *img_ref_string(const struct img_ref *r)
{
	return with_suffixes(img_ref_name(r), r);
}

char *img_ref_familiar_name(const struct img_ref *r)
{
	if (strcmp(r->domain, IMG_DEFAULT_DOMAIN) != 0)
		return img_ref_name(r);
	const char *p = r->path;
	/* docker.io/a.b/c shortened to a.b/c would name registry a.b: keep the
	 * domain when the first path component reads as one (docker does not,
	 * and shows a name that pulls something else). */
	size_t first = strcspn(p, "/");
	if (p[first] == '/' && (memchr(p, '.', first) || memchr(p, ':', first) ||
	                        (first == 9 && !strncmp(p, "localhost", 9))))
		return img_ref_name(r);
	if (!strncmp(p, "library/", 8) && !strchr(p + 8, '/'))
		p += 8;
	return xstrdup(p);
}

char *img_ref_familiar(const struct img_ref *r)
{
	return with_suffixes(img_ref_familiar_name(r), r);
}

char *img_ref_normalize(const char *s, struct kiln_err *err)
{
	struct img_ref r;
	if (img_ref_parse(s, IMG_REF_DEFAULT_TAG, &r, err) < 0)
		return NULL;
	char *out = img_ref_string(&r);
	img_ref_release(&r);
	return out;
}

char *img_ref_familiarize(const char *s)
{
	struct img_ref r;
	if (img_ref_parse(s, 0, &r, NULL) < 0)
		return xstrdup(s);
	char *out = img_ref_familiar(&r);
	img_ref_release(&r);
	return out;
}
