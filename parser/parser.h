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
	bool json_form;   /* exec form / JSON array arguments */
	struct df_node *sub; /* ONBUILD: the nested instruction (NULL if empty) */
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
 * code KILN_E_INVALID (or KILN_E_LIMIT). On failure ast is left empty. */
int df_parse(const char *buf, size_t len, const char *filename, struct df_ast *ast,
             struct kiln_err *err);
void df_ast_release(struct df_ast *ast);
/* BuildKit's Node.Dump(): one "(...)" line per instruction, each ending
 * in '\n'. Allocated. */
char *df_ast_dump(const struct df_ast *ast);
/* One node's dump without the outer parentheses (ast.json's "dump"). */
char *df_node_dump(const struct df_node *node);

/* ----------------------------------------------------------- expander */

/* BuildKit's shell lexer (frontend/dockerfile/shell/lex.go): quote removal,
 * escapes, $V ${V} ${V:-w} ${V-w} ${V:+w} ${V+w} ${V:?msg} ${V?msg}
 * ${V#pat} ${V##pat} ${V%pat} ${V%%pat} ${V/pat/repl} ${V//pat/repl},
 * positional ($1, ${001}) and special ($@ $* $# $? $- $$ $! $0) parameters,
 * which are looked up like any name, and word splitting. Errors read like
 * BuildKit's: "failed to process \"${V?}\": V: is not allowed to be unset"
 * (code KILN_E_INVALID, or KILN_E_LIMIT for the limits below). */

/* Returns the value of a variable or NULL when unset. name is not
 * NUL-terminated (len bytes). */
typedef const char *(*df_lookup_fn)(void *ud, const char *name, size_t len);

/* Longest result (or intermediate word) one expansion may produce. */
#define DF_EXPAND_MAX (16u << 20)
/* Deepest nesting of ${V:-${W:-...}} words. */
#define DF_EXPAND_MAX_DEPTH 256

enum df_expand_flags {
	/* BuildKit's RawQuotes + RawEscapes: quote characters stay in the
	 * result, and so do escape characters (outside ${V:-w} words, as in
	 * BuildKit). Used to find heredoc markers. */
	DF_EXPAND_KEEP_QUOTES = 1 << 0,
	/* BuildKit's SkipUnsetEnv: an unset variable stays as written ($V,
	 * ${V}, ${V:-w} with w expanded; ${V//p/r} is written back as ${V/p/r}
	 * like BuildKit does). */
	DF_EXPAND_KEEP_UNSET = 1 << 1,
	/* BuildKit's SkipProcessQuotes: ' and " are ordinary characters
	 * (heredoc bodies, ExpandRaw instructions). */
	DF_EXPAND_SKIP_QUOTES = 1 << 2,
	/* BuildKit's RawEscapes alone. */
	DF_EXPAND_RAW_ESCAPES = 1 << 3,
	/* df_expand(): also split into words (res->words). */
	DF_EXPAND_WORDS = 1 << 4,
	/* df_expand(): report the names looked up (res->matched/unmatched). */
	DF_EXPAND_REPORT = 1 << 5,
};

/* Expands one word (quote removal, escapes, $VAR/${VAR...}) with no word
 * splitting (BuildKit ProcessWord). escape is the Dockerfile's escape
 * character. */
int df_expand_word(const char *word, char escape, unsigned flags, df_lookup_fn lookup, void *ud,
                   char **out, struct kiln_err *err);
/* Expands and splits into words (BuildKit ProcessWords): unquoted
 * whitespace, and whitespace produced by unquoted $ expansions, separates
 * words; no empty words. The words are appended to out. */
int df_expand_words(const char *word, char escape, unsigned flags, df_lookup_fn lookup, void *ud,
                    struct kiln_strv *out, struct kiln_err *err);

/* Everything one expansion yields (BuildKit ProcessWordWithMatches). */
struct df_expansion {
	char *word;                 /* the expanded word (ProcessWord) */
	size_t len;                 /* its length (it may hold NUL bytes) */
	struct kiln_strv words;     /* with DF_EXPAND_WORDS: the split words */
	struct kiln_strv matched;   /* with DF_EXPAND_REPORT: names found set, */
	struct kiln_strv unmatched; /* and names found unset; sorted, unique */
};
/* The general form: word is len bytes. On failure res is left empty. */
int df_expand(const char *word, size_t len, char escape, unsigned flags, df_lookup_fn lookup,
              void *ud, struct df_expansion *res, struct kiln_err *err);
void df_expansion_release(struct df_expansion *res);

/* ------------------------------------------------------- dockerignore */

/* A parsed .dockerignore, matching exactly like BuildKit: ignorefile.ReadAll
 * (BOM stripped, lines starting with '#' skipped, white space trimmed, '!'
 * for exceptions, patterns cleaned like filepath.Clean with a leading '/'
 * dropped) then moby/patternmatcher: '*' any run without '/', '?' one
 * character but '/', '**' any number of directories, [a-z] [^a] classes,
 * '\' escapes, malformed patterns rejected like filepath.Match does; the
 * last matching pattern wins, and a path is excluded when it or one of its
 * parent directories matches (MatchesOrParentMatches). */
struct df_ignore;

/* Parses the file's content. Errors name the line and the pattern:
 * "line 3: syntax error in pattern `[`" (KILN_E_INVALID). */
int df_ignore_parse(const char *text, size_t len, struct df_ignore **out, struct kiln_err *err);
void df_ignore_free(struct df_ignore *ig);
/* Whether relpath (relative to the context, '/'-separated, clean, e.g.
 * "src/main.c") is excluded from the context. NULL ig excludes nothing. */
bool df_ignore_match(const struct df_ignore *ig, const char *relpath);
/* For the context walker, about a directory df_ignore_match excluded:
 * whether an exception may re-include something below it, so that the
 * walker must still descend (then each entry below is matched on its own).
 * Same rule as BuildKit's fsutil: false without exceptions; true when an
 * exception has wildcards; otherwise true only if an exception names a
 * path inside reldir. */
bool df_ignore_may_reinclude_under(const struct df_ignore *ig, const char *reldir);
/* The patterns as patternmatcher keeps them (for messages and tests). */
size_t df_ignore_count(const struct df_ignore *ig);
const char *df_ignore_pattern(const struct df_ignore *ig, size_t i, bool *exclusion, int *line);
/* Which ignore file applies, as paths to try in order (the first that
 * exists wins, none means no patterns): "<dockerfile>.dockerignore" beside
 * the Dockerfile (dockerfile as given, e.g. "build/app.Dockerfile"; skipped
 * when NULL or "-" for stdin), then "<context_dir>/.dockerignore".
 * Appends to out. */
int df_ignore_candidates(const char *dockerfile, const char *context_dir, struct kiln_strv *out);

#endif
