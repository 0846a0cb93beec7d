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
	char *cmd;      /* keyword lower-cased ("run", "foobar" for unknown) */
	char *cmd_orig; /* keyword as written */
	char **flags;   /* NULL-terminated; "--from=build" as stored by BuildKit */
	size_t n_flags;
	char **args; /* NULL-terminated argument strings (section 4 of FORMAT.md) */
	size_t n_args;
	/* Byte length of each args[i]: a JSON-form string may hold NUL
	 * ("\u0000"), which strlen() would cut short. Never NULL. */
	size_t *arg_lens;
	bool json_form;      /* exec form / JSON array arguments */
	struct df_node *sub; /* ONBUILD: the nested instruction (NULL if empty) */
	/* For ONBUILD, heredocs of the nested RUN/COPY/ADD sit here on the
	 * ONBUILD node (as in BuildKit); its own json_form stays false (see
	 * sub->json_form). */
	struct df_heredoc *heredocs;
	size_t n_heredocs;
	char *original; /* the logical line as written (continuations joined) */
	int start_line; /* 1-based physical lines, FORMAT.md 3.7 */
	int end_line;
};

struct df_directive {
	char *name; /* lower-cased: "syntax", "escape", "check" */
	char *value;
	int line;
};

struct df_arena;

struct df_ast {
	struct df_node *nodes; /* top-level instructions in order */
	size_t n_nodes;
	struct df_directive *directives;
	size_t n_directives;
	char escape;               /* '\\' or '`' */
	int start_line, end_line;  /* whole file, FORMAT.md 3.7 */
	struct kiln_strv warnings; /* "Empty continuation line found in: ..." */
	char *filename;            /* for messages: "Dockerfile" */
	struct df_arena *arena;    /* owns every string and array of the nodes */
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
/* Lines first..last of buf (1-based) with two lines of context, framed
 * and marked as BuildKit prints them under an error; NULL when the lines
 * are not in buf. Allocated. */
char *df_source_excerpt(const char *buf, size_t len, int first, int last);
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

/* -------------------------------------------------------------- graph */
/* Stage 3 (instr.c, instr_flags.c, instr_util.c, graph.c, graph_expand.c):
 * BuildKit's frontend/dockerfile/instructions package plus the stage and
 * dependency logic of dockerfile2llb, without any image lookups.
 *
 * Words are kept UNEXPANDED (ARCHITECTURE.md decision 1): the builder seeds
 * a stage's environment from its base image and then expands each step with
 * df_instr_expand(). kiln parse expands with what the Dockerfile alone
 * defines (df_graph_expand_stage).
 *
 * Every error is KILN_E_INVALID with the message "FILE:LINE: message" where
 * LINE is the instruction's first line, worded as BuildKit words it
 * ("unknown flag: foo", "COPY requires at least two arguments, but only one
 * was provided. Destination could not be determined", ...). */

enum df_instr_kind {
	DF_I_FROM,
	DF_I_RUN,
	DF_I_CMD,
	DF_I_ENTRYPOINT,
	DF_I_SHELL,
	DF_I_LABEL,
	DF_I_MAINTAINER,
	DF_I_EXPOSE,
	DF_I_ENV,
	DF_I_ADD,
	DF_I_COPY,
	DF_I_VOLUME,
	DF_I_USER,
	DF_I_WORKDIR,
	DF_I_ARG,
	DF_I_ONBUILD,
	DF_I_STOPSIGNAL,
	DF_I_HEALTHCHECK,
};

/* "RUN", "COPY", ... for a kind. */
const char *df_instr_name(enum df_instr_kind kind);

/* One key/value of ENV, LABEL or ARG. value is NULL only for an ARG without
 * a default ("ARG NAME"). For ENV/LABEL the legacy form "ENV K V" sets
 * no_delim. Quotes and escapes are still in key and value. */
struct df_kv {
	char *key;
	char *value;
	bool no_delim;
};

/* A command line: RUN, CMD, ENTRYPOINT, HEALTHCHECK CMD.
 * exec_form (JSON): argv are the program and its arguments.
 * shell form: argv has one element, the whole command string, to be run as
 * SHELL + [string]. An empty CMD/RUN has argc 0.
 * files: the heredocs of RUN (body unchomped; chomp says strip leading tabs
 * from each body line before use, as BuildKit does at dispatch). */
struct df_cmdline {
	struct kiln_strv argv;
	bool exec_form;
	struct df_heredoc *files;
	size_t n_files;
};

enum df_mount_type { DF_MOUNT_BIND, DF_MOUNT_CACHE, DF_MOUNT_TMPFS, DF_MOUNT_SECRET, DF_MOUNT_SSH };
enum df_mount_sharing {
	DF_SHARING_UNSET,
	DF_SHARING_SHARED,
	DF_SHARING_PRIVATE,
	DF_SHARING_LOCKED
};

/* RUN --mount=type=...,k=v,... parsed like BuildKit's parseMount. Values are
 * unexpanded: a field whose value contains '$' is stored as written and its
 * validation (type, sharing, numbers) waits for the builder, which calls
 * df_mount_parse() again on the expanded spec. from= never takes variables
 * (BuildKit: "'from' doesn't support variable expansion, define alias stage
 * instead"). readonly defaults to true except for cache and tmpfs mounts. */
struct df_mount {
	char *spec; /* the flag value as written, e.g. "type=cache,target=/root/.cache" */
	enum df_mount_type type;
	char *from, *source, *target, *id; /* NULL when not given */
	char *size;                        /* tmpfs size= as written (NULL: none) */
	char *env;                         /* secret env=: the variable it sets (NULL: none) */
	long long size_bytes;              /* parsed size (0 if none or not yet expandable) */
	enum df_mount_sharing sharing;
	bool readonly, required;
	bool has_mode, has_uid, has_gid;
	unsigned long mode, uid, gid;
	int from_stage; /* set by the graph: stage index, or -1 (image / no from) */
};

/* Parses one --mount value (BuildKit's csv fields). When expanded is false,
 * fields with '$' in their value are kept unvalidated (see above). */
int df_mount_parse(const char *spec, bool expanded, struct df_mount *m, struct kiln_err *err);
void df_mount_release(struct df_mount *m);

enum df_network { DF_NET_UNSET, DF_NET_DEFAULT, DF_NET_NONE, DF_NET_HOST };
enum df_security { DF_SEC_UNSET, DF_SEC_SANDBOX, DF_SEC_INSECURE };

struct df_run {
	struct df_cmdline cmd;
	struct df_mount *mounts;
	size_t n_mounts;
	enum df_network network;
	enum df_security security;
};

/* COPY and ADD. srcs are paths (or URLs / git refs for ADD), contents are
 * heredoc sources ("COPY <<EOF /dest"): name = file name, content with chomp
 * already applied (as BuildKit's parseSourcesAndDest does), expand = whether
 * the body gets variable expansion. */
struct df_copy {
	struct kiln_strv srcs;
	struct df_heredoc *contents;
	size_t n_contents;
	char *dest;
	char *from;                /* COPY --from (NULL when absent) */
	char *chown, *chmod;       /* NULL when absent */
	char *checksum;            /* ADD --checksum */
	struct kiln_strv excludes; /* --exclude, repeatable */
	bool link, parents;        /* --link, --parents (COPY) */
	bool keep_git_dir;         /* ADD --keep-git-dir */
	bool unpack_set, unpack;   /* ADD --unpack[=bool] */
	bool exec_form;            /* JSON form */
	int from_stage;            /* set by the graph: stage index, or -1 */
};

/* HEALTHCHECK, as the image config's Healthcheck: test is {"NONE"},
 * {"CMD", argv...} (JSON form) or {"CMD-SHELL", "command"}. Durations in
 * nanoseconds (0 = inherit the default), parsed like Go time.ParseDuration
 * and at least 1ms when not 0. */
struct df_health {
	struct kiln_strv test;
	long long interval, timeout, start_period, start_interval;
	int retries;
};

/* FROM: the stage header. */
struct df_from {
	char *base;     /* image reference or stage name, unexpanded */
	char *name;     /* "AS name" lower-cased, NULL if none */
	char *platform; /* --platform value unexpanded, NULL if none */
};

/* ONBUILD: expression is the trigger's text as the image config's OnBuild
 * stores it (the original line without "ONBUILD ", heredoc bodies
 * appended); trigger the trigger's keyword in upper case. */
struct df_onbuild {
	char *expression;
	char *trigger;
};

struct df_instr {
	enum df_instr_kind kind;
	int start_line, end_line; /* 1-based physical lines */
	char *original;           /* the logical line as written */
	struct kiln_strv flags;   /* raw flags as in the AST: "--from=build" */
	union {
		struct df_from from;    /* FROM */
		struct df_run run;      /* RUN */
		struct df_cmdline cmd;  /* CMD, ENTRYPOINT */
		struct kiln_strv words; /* SHELL (argv), EXPOSE (port specs), VOLUME (paths) */
		struct {                /* ENV, LABEL, ARG */
			struct df_kv *kvs;
			size_t n_kvs;
		} kv;
		char *word;          /* MAINTAINER, USER, WORKDIR, STOPSIGNAL */
		struct df_copy copy; /* COPY, ADD */
		struct df_onbuild onbuild;
		struct df_health health;
	} u;
};

/* Makes a typed instruction from one AST node (BuildKit ParseInstruction).
 * filename is for error messages. Unknown keywords fail with "unknown
 * instruction: FOO (did you mean FROM?)" (suggestion only when close). */
int df_instr_from_node(const struct df_node *node, const char *filename, struct df_instr *out,
                       struct kiln_err *err);
void df_instr_release(struct df_instr *in);
/* Deep copy. */
void df_instr_copy(struct df_instr *dst, const struct df_instr *src);
/* Renders an instruction as a Dockerfile line in canonical form (keyword,
 * flags, words; JSON form re-quoted): "COPY --from=site /out/ ./". With
 * heredocs only the markers are shown. Allocated. */
char *df_instr_format(const struct df_instr *in);

/* Go time.ParseDuration: "1h30m", "1.5s", "300ms", "0"; result in ns. */
int df_parse_duration(const char *s, long long *ns, struct kiln_err *err);
/* An EXPOSE word after expansion: "80", "80/tcp", "8000-8010/udp". */
int df_port_parse(const char *s, unsigned *lo, unsigned *hi, const char **proto,
                  struct kiln_err *err);

/* Expands the words BuildKit expands for this kind (FROM base and platform,
 * ADD/COPY srcs dest chown chmod checksum excludes (not --from: BuildKit never
 * expands it, and df_graph_build refuses a --from value that holds a
 * variable, as BuildKit does), ENV and
 * LABEL keys and values, ARG keys and defaults, EXPOSE (each word may split
 * in several on spaces), USER, WORKDIR, VOLUME, STOPSIGNAL). RUN, CMD,
 * ENTRYPOINT, SHELL, ONBUILD, HEALTHCHECK and MAINTAINER are copied
 * unchanged. out is a new instruction (release it). */
int df_instr_expand(const struct df_instr *in, char escape, df_lookup_fn lookup, void *ud,
                    struct df_instr *out, struct kiln_err *err);

/* Where a dependency comes from and goes to. */
enum df_dep_kind {
	DF_DEP_FROM,  /* FROM <earlier stage> */
	DF_DEP_COPY,  /* COPY --from=<stage | index | image> */
	DF_DEP_MOUNT, /* RUN --mount=...,from=<stage | image> */
};

struct df_dep {
	enum df_dep_kind kind;
	int stage;    /* the stage that depends */
	int instr;    /* index into that stage's instrs, -1 for FROM */
	int on_stage; /* stage index depended on, or -1 for an image */
	char *image;  /* the image reference when on_stage == -1 (unexpanded) */
	int line;
};

struct df_stage {
	int index;
	char *name;          /* lower-cased "AS" name, NULL if none */
	char *base;          /* FROM word as written */
	char *base_expanded; /* base after meta ARGs and build args */
	int base_stage;      /* index of the earlier stage named by base_expanded, or -1 (image) */
	char *platform;      /* --platform as written, NULL if none */
	char *platform_expanded;  /* NULL if none */
	int start_line, end_line; /* of the FROM line */
	char *original;           /* the FROM line */
	struct df_instr *instrs;  /* everything after FROM until the next FROM */
	size_t n_instrs;
	bool needed; /* reachable from the target (always true without --target pruning) */
};

struct df_graph_opts {
	const char *target;            /* --target (NULL: the last stage) */
	const char *const *build_args; /* NULL-terminated "K=V" (the CLI resolves a bare "K"
	                                * from its environment first; "K" alone is ignored) */
	const char *build_platform;    /* "linux/amd64" (default: the platform kiln was built
	                                * for): BUILDPLATFORM, BUILDOS, BUILDARCH, BUILDVARIANT */
	const char *target_platform;   /* default: build_platform */
};

struct df_graph {
	char *filename;
	char escape;
	struct df_instr *meta_args; /* ARG instructions before the first FROM */
	size_t n_meta_args;
	/* Values of the global scope, "K=V" in order: the automatic platform
	 * ARGs, then each meta ARG (build arg if given, else its default
	 * expanded against what came before; a meta ARG without default or
	 * build arg is absent). Used to expand FROM and as the source of bare
	 * "ARG NAME" inside a stage. */
	struct kiln_strv meta_env;
	struct kiln_strv build_args; /* "K=V" as given */
	struct df_stage *stages;
	size_t n_stages;
	struct df_dep *deps;
	size_t n_deps;
	int target; /* index of the target stage */
	char *target_platform, *build_platform;
};

/* Builds the graph: typed instructions, meta ARGs, stages with names and
 * bases resolved, dependency edges, circular dependency check, target
 * selection ("target stage \"x\" could not be found", listing the stage
 * names) and pruning: stages the target does not need (directly or through
 * other stages) get needed = false but stay in the array, so indexes never
 * change. opts may be NULL. On failure g is left empty. */
int df_graph_build(const struct df_ast *ast, const struct df_graph_opts *opts, struct df_graph *g,
                   struct kiln_err *err);
void df_graph_release(struct df_graph *g);
/* A --platform value as kiln takes it: "os/arch" or "os/arch/variant", each
 * part non-empty of [A-Za-z0-9._-] (KILN_E_INVALID otherwise).
 * df_graph_build checks opts' platforms with it. */
int df_platform_check(const char *platform, struct kiln_err *err);
/* Stage by name (case-insensitive) or decimal index; NULL if none. */
const struct df_stage *df_graph_find_stage(const struct df_graph *g, const char *name_or_index);

/* True for the ARGs every build knows without an ARG line: the proxy args
 * (HTTP_PROXY, http_proxy, HTTPS_PROXY, ..., ALL_PROXY, all_proxy). */
bool df_arg_is_predefined(const char *name);

/* Expands a stage's instructions with what the Dockerfile alone defines:
 * meta ARGs (+ build args) visible only after a bare "ARG NAME" inside the
 * stage, stage ARGs and ENVs so far (ENV wins over ARG), no base-image env.
 * *out is an array of n_instrs expanded instructions (df_instr_expand):
 * free each with df_instr_release and the array with free(). */
int df_graph_expand_stage(const struct df_graph *g, size_t stage, struct df_instr **out,
                          struct kiln_err *err);

#endif
