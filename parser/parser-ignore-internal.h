/* Private to parser/: the .dockerignore pattern list and the small regular
 * expression engine behind it (dockerignore.c, ignore_regexp.c). */
#ifndef KILN_PARSER_IGNORE_INTERNAL_H
#define KILN_PARSER_IGNORE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "common.h"

/* patternmatcher's match types. */
enum ig_type { IG_EXACT, IG_PREFIX, IG_SUFFIX, IG_REGEXP };

struct ig_regexp;

struct ig_pattern {
	char *text; /* cleaned pattern without the '!' (patternmatcher's String()) */
	size_t len;
	bool exclusion;
	int line;
	enum ig_type type;
	struct ig_regexp *re; /* IG_REGEXP only */
};

struct df_ignore {
	struct ig_pattern *pats;
	size_t n, cap;
	bool has_exclusions;
	bool only_prefix_exceptions; /* fsutil's onlyPrefixExcludeExceptions */
};

/* Compiles the subset of Go regexp syntax that patternmatcher produces:
 * literals, `\` escapes, `.`, `^`, `$`, classes with ranges, negation,
 * POSIX and Perl classes, `*` after an atom, and the group `(.*\/)?`. */
int ig_regexp_compile(const char *re, size_t len, struct ig_regexp **out, struct kiln_err *err);
/* Whole-string match (the expression is anchored by ^ and $). */
bool ig_regexp_match(const struct ig_regexp *re, const char *s, size_t n);
void ig_regexp_free(struct ig_regexp *re);

/* fsutil's patternWithoutTrailingGlob: the length of the pattern text
 * without a trailing slash-doublestar and then a trailing slash-star. */
static inline size_t ig_prefix_len(const struct ig_pattern *pt)
{
	size_t n = pt->len;
	if (n >= 3 && memcmp(pt->text + n - 3, "/**", 3) == 0)
		n -= 3;
	if (n >= 2 && memcmp(pt->text + n - 2, "/*", 2) == 0)
		n -= 2;
	return n;
}

#endif
