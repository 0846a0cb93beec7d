/* Private to the AST stage of the parser (lexer.c, heredoc.c, ast.c,
 * ast_dump.c, ast_json.c). Not part of the public contract. */
#ifndef KILN_PARSER_AST_INTERNAL_H
#define KILN_PARSER_AST_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parser-unicode-internal.h"
#include "parser.h"

/* ONBUILD ONBUILD ... nests one node per level; BuildKit rejects chained
 * ONBUILD later anyway, so a small bound keeps memory linear. */
#define DF_MAX_ONBUILD_DEPTH 16

/* --- arena.c: the memory of an AST's nodes (df_ast.arena) */

/* n bytes aligned to align (a power of two), from the chunk list *a. */
void *df_arena_alloc(struct df_arena **a, size_t n, size_t align);
char *df_arena_strndup(struct df_arena **a, const char *s, size_t n);
void *df_arena_memdup(struct df_arena **a, const void *p, size_t n, size_t align);
void df_arena_free(struct df_arena *a);

/* --- ast_dump.c */

/* Appends s in Go's strconv.Quote form. */
void df__quote(struct kiln_buf *b, const char *s, size_t n);

/* --- ast.c: one logical line -> node (FORMAT.md 3.6, 4) */

/* Builds node from the logical line (line, n), allocating from *arena.
 * Errors carry the bare message; the caller adds "FILE:LINE: ". */
int df__node_from_line(struct df_arena **arena, const char *line, size_t n, char escape,
                       struct df_node *node, struct kiln_err *err);
/* RUN/COPY/ADD (directly or under ONBUILD), not in JSON form. */
bool df__node_can_heredoc(const struct df_node *node);
/* Strict JSON array-of-strings decoder (FORMAT.md 4.1). Returns 1 with
 * out/lens/n_out set when text is JSON form (the strings in *arena, the two
 * arrays allocated), 0 when it is not (fall back), -1 with err when it is a
 * JSON array with a non-string element. */
int df__json_strings(struct df_arena **arena, const char *text, size_t n, char ***out,
                     size_t **lens, size_t *n_out, struct kiln_err *err);

/* --- heredoc.c (FORMAT.md 5) */

/* Finds the heredoc markers of a logical line (allocated from *arena);
 * bodies are left NULL. */
int df__heredocs_from_line(struct df_arena **arena, const char *line, size_t n,
                           struct df_heredoc **out, size_t *n_out, struct kiln_err *err);

#endif
