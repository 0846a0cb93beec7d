/* Private to parser/: the shell-pattern matcher behind ${V#pat}, ${V%pat} and ${V/pat/repl}. */
#ifndef KILN_PARSER_EXPAND_INTERNAL_H
#define KILN_PARSER_EXPAND_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parser-unicode-internal.h"

/* A shell pattern converted the way BuildKit's convertShellPatternToRegex
 * does: `*` any run of characters other than newline (greedy or lazy), `?`
 * one character other than newline, `\*` `\?` `\\` literal, `\}` and `\/`
 * drop the backslash, any other escape is an error. Matching follows Go's
 * regexp (leftmost-first) semantics, on runes. */
struct df_shpat;
int df_shpat_compile(const char *pat, size_t len, bool greedy, bool anchored, struct df_shpat **out,
                     struct kiln_err *err);
void df_shpat_free(struct df_shpat *p);
/* Finds the first match in s[0..n) starting the search at byte `from`
 * (uses scratch space inside p: one search at a time per pattern).
 * *budget is decremented per matcher step; running out is a KILN_E_LIMIT
 * error. Sets *found, and the match [*mstart, *mend) when found. */
int df_shpat_find(struct df_shpat *p, const char *s, size_t n, size_t from, size_t *budget,
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
