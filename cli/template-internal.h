/* Private to cli/: the parsed form of a Go text/template (template.c) and
 * its evaluator (template_exec.c). */
#ifndef KILN_CLI_TEMPLATE_INTERNAL_H
#define KILN_CLI_TEMPLATE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "format.h"

enum targ_kind {
	TA_FIELD,  /* .A.B */
	TA_DOT,    /* . */
	TA_VAR,    /* $x or $x.A.B (fields after the name) */
	TA_IDENT,  /* function name */
	TA_STRING, /* "..." or `...` (unquoted) */
	TA_NUMBER,
	TA_BOOL,
	TA_NIL,
	TA_PIPE, /* (pipeline), possibly followed by .A.B */
};

struct tpipe;

struct targ {
	enum targ_kind kind;
	size_t pos;
	char *s;       /* string value, variable or function name, number text */
	char **fields; /* NULL-terminated field chain, or NULL */
	long long ival;
	double fval;
	bool is_int, bval;
	struct tpipe *pipe;
};

struct tcmd {
	size_t pos;
	char *src; /* source text, for error context */
	struct targ **args;
	size_t n_args;
};

struct tpipe {
	size_t pos;
	char *decl[2]; /* declared or assigned variables ($x, or $i $e in range) */
	size_t n_decl;
	bool assign; /* `=` instead of `:=` */
	struct tcmd **cmds;
	size_t n_cmds;
};

enum tnode_kind { TN_TEXT, TN_ACTION, TN_IF, TN_RANGE, TN_WITH };

struct tlist {
	struct tnode **v;
	size_t n;
};

struct tnode {
	enum tnode_kind kind;
	size_t pos;
	char *text;                /* TN_TEXT */
	struct tpipe *pipe;        /* the others */
	struct tlist list, orelse; /* TN_IF, TN_RANGE, TN_WITH */
};

struct kiln_tmpl {
	char *src; /* the text parsed (after the table prefix and unescaping) */
	struct tlist root;
	bool table;
};

/* Line number (1-based) of byte offset pos in src. */
int tmpl_line(const char *src, size_t pos);

/* A value during execution (template_exec.c). */
struct json_t;
struct tv {
	struct json_t *j; /* owned reference; NULL when invalid */
	const char *name; /* field it was read from (gives its kind), or NULL */
	bool invalid;     /* Go's invalid value: a missing map entry */
};
struct st; /* execution state */
/* Go's %v of v (allocated). */
char *tmpl_to_string(const struct st *s, const struct tv *v);
/* Go's truth: false, 0, nil, empty string/slice/map are false. */
bool tmpl_truth(const struct st *s, const struct tv *v);
/* Go's name for the type of v: "string", "int", "[]interface {}"... */
const char *tmpl_type_name(const struct tv *v);
/* Table headers are rendered with docker's HeaderFunctions (identity). */
bool tmpl_header_mode(const struct st *s);

/* Functions (template_funcs.c): docker's (json, split, join, title, lower,
 * upper, pad, truncate) and Go's builtins (and, or, not, len, index, print,
 * printf, println, eq, ne, lt, le, gt, ge). Returns -1 with why set ("error
 * calling F: why"), or -2 with why set for a wrong number of arguments. */
bool tmpl_is_func(const char *name);
int tmpl_call(const struct st *s, const char *fn, struct tv *args, size_t n, struct tv *out,
              struct kiln_err *why);

#endif
