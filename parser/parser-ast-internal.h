/* Private to the AST stage of the parser (lexer.c, heredoc.c, ast.c,
 * ast_dump.c, ast_unicode.c). Not part of the public contract. */
#ifndef KILN_PARSER_AST_INTERNAL_H
#define KILN_PARSER_AST_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parser.h"

#define DF_RUNE_ERROR 0xFFFDu
/* ONBUILD ONBUILD ... nests one node per level; BuildKit rejects chained
 * ONBUILD later anyway, so a small bound keeps memory linear. */
#define DF_MAX_ONBUILD_DEPTH 16

/* --- ast_unicode.c: the Go semantics the format depends on */

/* Decodes one code point from s (n > 0) the way Go's utf8.DecodeRune does:
 * invalid or truncated sequences give DF_RUNE_ERROR and width 1. */
size_t df__utf8_decode(const char *s, size_t n, uint32_t *r);
/* Appends r as UTF-8 (invalid code points become U+FFFD); returns bytes. */
size_t df__utf8_encode(uint32_t r, char out[4]);
bool df__is_space(uint32_t r); /* unicode.IsSpace */
bool df__is_print(uint32_t r); /* unicode.IsPrint */
/* unicode.IsLetter || unicode.IsDigit || '_': ASCII exact, other code
 * points approximated as "printable and not punctuation-like". */
bool df__is_name_char(uint32_t r);
uint32_t df__to_lower(uint32_t r); /* unicode.ToLower */
/* strings.ToLower: ASCII fast path, otherwise per code point with invalid
 * bytes replaced by U+FFFD. Allocated. */
char *df__lower(const char *s, size_t n);
/* Number of leading bytes that are unicode.IsSpace code points. */
size_t df__space_prefix(const char *s, size_t n);
/* Length of s without its trailing unicode.IsSpace code points. */
size_t df__trim_right(const char *s, size_t n);
/* [ \t\v\f\r]: the narrow set of BuildKit's reWhitespace. */
static inline bool df__is_narrow_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r';
}
/* unicode.IsSpace(rune(byte)): the byte-wise test of the flag scanner. */
static inline bool df__is_byte_space(unsigned char c)
{
	return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0;
}

/* --- ast_dump.c */

/* Appends s in Go's strconv.Quote form. */
void df__quote(struct kiln_buf *b, const char *s, size_t n);

/* --- ast.c: one logical line -> node (FORMAT.md 3.6, 4) */

/* Builds node from the logical line (line, n). Errors carry the bare
 * message; the caller adds "FILE:LINE: ". */
int df__node_from_line(const char *line, size_t n, char escape, int depth, struct df_node *node,
                       struct kiln_err *err);
void df__node_clear(struct df_node *node);
/* RUN/COPY/ADD (directly or under ONBUILD), not in JSON form. */
bool df__node_can_heredoc(const struct df_node *node);
/* Strict JSON array-of-strings decoder (FORMAT.md 4.1). Returns 1 with
 * out/lens/n_out set when text is JSON form, 0 when it is not (fall back), -1
 * with err when it is a JSON array with a non-string element. */
int df__json_strings(const char *text, size_t n, char ***out, size_t **lens, size_t *n_out,
                     struct kiln_err *err);

/* --- heredoc.c (FORMAT.md 5) */

/* Finds the heredoc markers of a logical line; bodies are left empty. */
int df__heredocs_from_line(const char *line, size_t n, struct df_heredoc **out, size_t *n_out,
                           struct kiln_err *err);
void df__heredoc_clear(struct df_heredoc *h);

#endif
