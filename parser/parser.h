/* parser: Dockerfile bytes -> AST -> instruction graph. Pure: no filesystem,
 * no images; uses common/ only (ARCHITECTURE.md, layer 2).
 *
 * Stage 1, the AST (lexer.c, heredoc.c, ast.c, ast_dump.c): what BuildKit's
 * parser.Parse returns. df_ast_dump() reproduces BuildKit's Node.Dump() byte
 * for byte (shared/conformance/buildkit/FORMAT.md).
 * Stage 2, the expander (shellwords.c): BuildKit's shell lexer as a pure
 * function with a lookup callback.
 * Stage 3, the graph (instr.c, graph.c): typed instructions with unexpanded
 * words and locations, stages, meta ARGs, dependencies; documented below. */
#ifndef KILN_PARSER_H
#define KILN_PARSER_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"

/* ---------------------------------------------------------------- AST */

/* Longest physical line BuildKit accepts (65,535 bytes). */
#define DF_MAX_LINE 65535

struct df_heredoc {
	char *name;    /* delimiter after quote removal */
	char *content; /* exact body bytes, tabs not yet stripped for chomp */
	int fd;        /* 0 unless written as 3<<EOF */
	bool expand;   /* false when the delimiter was quoted */
	bool chomp;    /* <<- */
};

struct df_node {
	char *cmd;        /* keyword lower-cased ("run", "foobar" for unknown) */
	char *cmd_orig;   /* keyword as written */
	char **flags;     /* NULL-terminated; "--from=build" as stored by BuildKit */
	size_t n_flags;
	char **args;      /* NULL-terminated argument strings (section 4 of FORMAT.md) */
	size_t n_args;
	/* Byte length of each args[i]: a JSON-form string may hold NUL
	 * ("\u0000"), which strlen() would cut short. Never NULL. */
	size_t *arg_lens;
	bool json_form;   /* exec form / JSON array arguments */
	struct df_node *sub; /* ONBUILD: the nested instruction (NULL if empty) */
	/* For ONBUILD, heredocs of the nested RUN/COPY/ADD sit here on the
	 * ONBUILD node (as in BuildKit); its own json_form stays false (see
	 * sub->json_form). */
	struct df_heredoc *heredocs;
	size_t n_heredocs;
	char *original;   /* the logical line as written (continuations joined) */
	int start_line;   /* 1-based physical lines, FORMAT.md 3.7 */
	int end_line;
};

struct df_directive {
	char *name;  /* lower-cased: "syntax", "escape", "check" */
	char *value;
	int line;
};

struct df_ast {
	struct df_node *nodes; /* top-level instructions in order */
	size_t n_nodes;
	struct df_directive *directives;
	size_t n_directives;
	char escape;             /* '\\' or '`' */
	int start_line, end_line; /* whole file, FORMAT.md 3.7 */
	struct kiln_strv warnings; /* "Empty continuation line found in: ..." */
	char *filename;          /* for messages: "Dockerfile" */
};

/* Parses buf into ast. Errors carry "FILE:LINE: message" in err->msg and
 * code KILN_E_INVALID (or KILN_E_LIMIT). On failure ast is left empty.
 * flags and args are always allocated (possibly empty) NULL-terminated
 * arrays. Beyond BuildKit: a NUL byte in buf is refused, and ONBUILD may
 * nest at most 16 levels (KILN_E_LIMIT). */
int df_parse(const char *buf, size_t len, const char *filename, struct df_ast *ast,
             struct kiln_err *err);
void df_ast_release(struct df_ast *ast);
/* BuildKit's Node.Dump(): one "(...)" line per instruction, each ending
 * in '\n'. Allocated. */
char *df_ast_dump(const struct df_ast *ast);
/* One node's dump without the outer parentheses (ast.json's "dump"). */
char *df_node_dump(const struct df_node *node);

/* ----------------------------------------------------------- expander */

/* Returns the value of a variable or NULL when unset. name is not
 * NUL-terminated (len bytes). */
typedef const char *(*df_lookup_fn)(void *ud, const char *name, size_t len);

enum df_expand_flags {
	/* BuildKit's "raw" processing: keep quotes and escapes, leave
	 * unset variables as written. */
	DF_EXPAND_KEEP_QUOTES = 1 << 0,
	DF_EXPAND_KEEP_UNSET = 1 << 1,
};

/* Expands one word (quote removal, escapes, $VAR/${VAR...}) with no word
 * splitting. escape is the Dockerfile's escape character. */
int df_expand_word(const char *word, char escape, unsigned flags, df_lookup_fn lookup, void *ud,
                   char **out, struct kiln_err *err);
/* Expands and splits into words (BuildKit ProcessWords). */
int df_expand_words(const char *word, char escape, unsigned flags, df_lookup_fn lookup, void *ud,
                    struct kiln_strv *out, struct kiln_err *err);

#endif
