/* Private helpers shared by instr*.c and graph*.c (stage 3 of the parser). */
#ifndef KILN_PARSER_GRAPH_INTERNAL_H
#define KILN_PARSER_GRAPH_INTERNAL_H

#include "parser.h"

/* BuildKit's BFlags: declare the flags an instruction takes, then parse the
 * raw "--name[=value]" strings from the AST against them. */
enum df_flag_type { DF_FLAG_BOOL, DF_FLAG_STRING, DF_FLAG_STRINGS };

struct df_flag {
	const char *name;
	enum df_flag_type type;
	bool used;
	const char *value;       /* STRING: the value; BOOL: "true"/"false" */
	struct kiln_strv values; /* STRINGS: every value in order */
};

/* Errors: "unknown flag: x", "duplicate flag specified: x", "missing a value
 * on flag: x", "expecting boolean value for flag x, not: v". The message has
 * no location; the caller adds it. values are borrowed from raw. */
int df_flags_parse(char *const *raw, size_t n_raw, struct df_flag *defs, size_t n_defs,
                   struct kiln_err *err);
void df_flags_release(struct df_flag *defs, size_t n_defs);
bool df_flag_true(const struct df_flag *f);

/* Levenshtein-based suggestion like BuildKit's suggest.WrapError: the
 * closest option within distance 2, case matched to val, or NULL. */
const char *df_suggest(const char *val, const char *const *options, size_t n, bool case_sensitive,
                       char *buf, size_t bufsz);

/* Copies of heredocs. */
struct df_heredoc *df_heredocs_dup(const struct df_heredoc *h, size_t n);
void df_heredocs_free(struct df_heredoc *h, size_t n);
/* Removes leading tabs from every line (BuildKit ChompHeredocContent). */
char *df_heredoc_chomp(const char *s);
/* Lookup in a "K=V" vector, the last definition wins; NULL if absent. */
const char *df_env_get(const struct kiln_strv *env, const char *name, size_t len);
void df_strv_copy(struct kiln_strv *dst, const struct kiln_strv *src);

#endif
