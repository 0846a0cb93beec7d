/* Private to parser/: UTF-8 and Unicode helpers with Go's semantics, and the
 * shell-pattern matcher behind ${V#pat}, ${V%pat} and ${V/pat/repl}. */
#ifndef KILN_PARSER_EXPAND_INTERNAL_H
#define KILN_PARSER_EXPAND_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

#define DF_RUNE_EOF   (-1)
#define DF_RUNE_ERROR 0xFFFD

/* Decodes one rune at s[0..n) like Go's utf8.DecodeRune: an invalid or
 * truncated sequence (overlong, surrogate, > U+10FFFF) gives U+FFFD with
 * width 1. n must be > 0. */
int32_t df_utf8_decode(const char *s, size_t n, size_t *width);
/* Encodes r (U+FFFD for an invalid rune) into buf; returns the length. */
size_t df_utf8_encode(int32_t r, char buf[4]);

struct df_uni_range {
	uint32_t lo, hi;
};
extern const struct df_uni_range df_uni_letters[];
extern const size_t df_uni_letters_len;
extern const struct df_uni_range df_uni_digits[];
extern const size_t df_uni_digits_len;

/* Go's unicode.IsLetter, unicode.IsDigit, unicode.IsSpace. */
bool df_uni_is_letter(int32_t r);
bool df_uni_is_digit(int32_t r);
bool df_uni_is_space(int32_t r);

/* A shell pattern converted the way BuildKit's convertShellPatternToRegex
 * does: `*` any run of characters other than newline (greedy or lazy), `?`
 * one character other than newline, `\*` `\?` `\\` literal, `\}` and `\/`
 * drop the backslash, any other escape is an error. Matching follows Go's
 * regexp (leftmost-first) semantics, on runes. */
struct df_shpat;
int df_shpat_compile(const char *pat, size_t len, bool greedy, bool anchored, struct df_shpat **out,
                     struct kiln_err *err);
void df_shpat_free(struct df_shpat *p);
/* Finds the first match in s[0..n) starting the search at byte `from`.
 * *budget is decremented per matcher step; running out is a KILN_E_LIMIT
 * error. Sets *found, and the match [*mstart, *mend) when found. */
int df_shpat_find(const struct df_shpat *p, const char *s, size_t n, size_t from, size_t *budget,
                  bool *found, size_t *mstart, size_t *mend, struct kiln_err *err);

/* ${V#pat} ${V##pat} (suffix false) and ${V%pat} ${V%%pat} (suffix true):
 * appends val without the shortest (longest if greedy) matching prefix or
 * suffix to out. Errors name the pattern like BuildKit's. */
int df_expand_trim(const char *pat, size_t plen, const char *val, size_t vlen, bool suffix,
                   bool greedy, size_t *budget, struct kiln_buf *out, struct kiln_err *err);
/* ${V/pat/repl} and ${V//pat/repl} (all): appends the result to out. */
int df_expand_replace(const char *pat, size_t plen, const char *repl, size_t rlen, const char *val,
                      size_t vlen, bool all, size_t *budget, struct kiln_buf *out,
                      struct kiln_err *err);

#endif
