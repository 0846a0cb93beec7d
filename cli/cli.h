/* kiln command-line interface.
 *
 * To add a command:
 *   1. write `int cmd_foo(int argc, char **argv, struct kiln_ctx *ctx)` in
 *      cli/cmd_<group>.c: declare its options as a `struct kiln_opt` table,
 *      call KILN_OPTS_PARSE(), make one library call, print the result;
 *   2. declare it below;
 *   3. add its row (and alias rows) to the tables in cli/commands.c;
 *   4. add an e2e test in tests/e2e/.
 * A handler returns the process exit code. On failure it leaves the error in
 * ctx->err (only main.c prints it) and returns 1 (docker's code for a failed
 * command), or 125 for a usage error. */
#ifndef KILN_CLI_H
#define KILN_CLI_H

#include <stdbool.h>

#include "common.h"

struct img_store;

struct kiln_ctx {
	const char *prog;    /* "kiln" */
	char *cmd_path;      /* "kiln image ls": for help and usage errors */
	char *root;          /* resolved store root */
	bool root_from_flag; /* --root given (before or after the command) */
	struct kiln_err err; /* the one error main.c prints */
	/* printed before err instead of "Error: " (pull's "Error response from
	 * daemon: ", "" for push's stream errors, as docker 20.10's CLI) */
	const char *err_prefix;
	/* docker's run/create shape: "PREFIX MSG." and, for exit code 125,
	 * "See 'kiln run --help'." */
	bool err_see_help;
	char **args;             /* positional arguments from kiln_opts_parse() */
	struct img_store *store; /* opened by the dispatcher for CMD_NEEDS_STORE */
	bool needs_store;        /* set by the dispatcher: kiln_opts_parse opens ctx->store */
	/* completion.c: when set, kiln_opts_parse appends the handler's options
	 * ("--name" or "-n", then " =" when it takes a value) and returns 0 */
	struct kiln_strv *list_opts;
};

enum kiln_cmd_flags {
	CMD_NEEDS_STORE = 1 << 0, /* open ctx->store before calling */
	CMD_NEEDS_ROOT = 1 << 1,  /* refuse to run unless uid 0 */
	CMD_HIDDEN = 1 << 2,      /* not listed in --help */
	CMD_ALIAS = 1 << 3,       /* listed only under the command it aliases */
};

typedef int (*kiln_cmd_fn)(int argc, char **argv, struct kiln_ctx *ctx);

struct kiln_cmd {
	const char *name;
	kiln_cmd_fn fn; /* NULL for a group */
	unsigned flags;
	const char *summary;
	const struct kiln_cmd *sub; /* subcommand table for a group, {0}-terminated */
};

/* --- declarative options (git parse-options style) --------------------- */
enum kiln_opt_kind { OPT_KIND_END, OPT_KIND_BOOL, OPT_KIND_STRING, OPT_KIND_STRV, OPT_KIND_INT };

struct kiln_opt {
	enum kiln_opt_kind kind;
	char short_name;       /* 0: none */
	const char *long_name; /* without the leading "--" */
	void *target;          /* bool *, const char **, struct kiln_strv *, long * */
	const char *argname;   /* shown in help: "string", "list", "int" */
	const char *help;
};

#define OPT_BOOL(s, l, t, h)                                                                       \
	{                                                                                          \
		OPT_KIND_BOOL, (s), (l), (t), NULL, (h)                                            \
	}
#define OPT_STRING(s, l, t, a, h)                                                                  \
	{                                                                                          \
		OPT_KIND_STRING, (s), (l), (t), (a), (h)                                           \
	}
#define OPT_STRV(s, l, t, a, h)                                                                    \
	{                                                                                          \
		OPT_KIND_STRV, (s), (l), (t), (a), (h)                                             \
	}
#define OPT_INT(s, l, t, a, h)                                                                     \
	{                                                                                          \
		OPT_KIND_INT, (s), (l), (t), (a), (h)                                              \
	}
#define OPT_END                                                                                    \
	{                                                                                          \
		OPT_KIND_END, 0, NULL, NULL, NULL, NULL                                            \
	}

enum kiln_opts_flags {
	/* Options end at the first positional argument (run, exec: the rest
	 * belongs to the container command). Default: options anywhere. */
	OPTS_STOP_AT_POSITIONAL = 1 << 0,
};

struct kiln_usage {
	const char *args;       /* "[OPTIONS] IMAGE [IMAGE...]"  */
	const char *summary;    /* one line */
	int min_args, max_args; /* positional count; max -1 = unlimited */
	unsigned flags;         /* enum kiln_opts_flags */
};

/* Parses argv[1..] against opts (plus the options every command takes:
 * --help and --root). On success returns 0 and *argc and *argv hold the command
 * name and the positional arguments only. Otherwise (usage error in
 * ctx->err, or --help printed) returns non-zero with *exit_code set: use
 * KILN_OPTS_PARSE, which returns that code from the handler. */
int kiln_opts_parse(struct kiln_ctx *ctx, const struct kiln_opt *opts,
                    const struct kiln_usage *usage, int *argc, char ***argv, int *exit_code);
void kiln_opts_print_help(struct kiln_ctx *ctx, const struct kiln_opt *opts,
                          const struct kiln_usage *usage);

/* In a handler: parse or return the exit code (0 after --help). */
#define KILN_OPTS_PARSE(ctx, opts, usage, argcp, argvp)                                            \
	do {                                                                                       \
		int _exit;                                                                         \
		if (kiln_opts_parse((ctx), (opts), (usage), (argcp), (argvp), &_exit) != 0)        \
			return _exit;                                                              \
	} while (0)

/* Sets ctx->err and returns 1: the usual way a handler fails. */
int kiln_cmd_fail(struct kiln_ctx *ctx, struct kiln_err *err);

/* --- the command table (commands.c) ------------------------------------ */
extern const struct kiln_cmd kiln_commands[];
const struct kiln_cmd *kiln_cmd_find(const struct kiln_cmd *table, const char *name);
void kiln_print_main_help(void);

/* --- handlers ------------------------------------------------------------ */
int cmd_help(int argc, char **argv, struct kiln_ctx *ctx);
int cmd_parse(int argc, char **argv, struct kiln_ctx *ctx);
int cmd_version(int argc, char **argv, struct kiln_ctx *ctx);
int cmd_completion(int argc, char **argv, struct kiln_ctx *ctx);
int cmd_complete(int argc, char **argv, struct kiln_ctx *ctx); /* hidden: __complete */
/* cmd_image.c, cmd_image_rm.c */
int cmd_images(int argc, char **argv, struct kiln_ctx *ctx);
int cmd_inspect(int argc, char **argv, struct kiln_ctx *ctx);
int cmd_tag(int argc, char **argv, struct kiln_ctx *ctx);
int cmd_rmi(int argc, char **argv, struct kiln_ctx *ctx);
int cmd_image_prune(int argc, char **argv, struct kiln_ctx *ctx);
int cmd_history(int argc, char **argv, struct kiln_ctx *ctx);
int cmd_system_df(int argc, char **argv, struct kiln_ctx *ctx);
int cmd_system_prune(int argc, char **argv, struct kiln_ctx *ctx);
int cmd_system_check(int argc, char **argv, struct kiln_ctx *ctx);
/* cmd_build.c */
int cmd_build(int argc, char **argv, struct kiln_ctx *ctx);
/* cmd_builder.c: the build cache */
int cmd_builder_du(int argc, char **argv, struct kiln_ctx *ctx);
int cmd_builder_history(int argc, char **argv, struct kiln_ctx *ctx);
int cmd_builder_prune(int argc, char **argv, struct kiln_ctx *ctx);
/* cmd_image_io.c */
int cmd_import(int argc, char **argv, struct kiln_ctx *ctx);
int cmd_load(int argc, char **argv, struct kiln_ctx *ctx);
int cmd_save(int argc, char **argv, struct kiln_ctx *ctx);
/* cmd_container_run.c */
int cmd_run(int argc, char **argv, struct kiln_ctx *ctx);
int cmd_create(int argc, char **argv, struct kiln_ctx *ctx);
/* cmd_container.c */
int cmd_ps(int argc, char **argv, struct kiln_ctx *ctx);
int cmd_rm(int argc, char **argv, struct kiln_ctx *ctx);
int cmd_kill(int argc, char **argv, struct kiln_ctx *ctx);
int cmd_stop(int argc, char **argv, struct kiln_ctx *ctx);
int cmd_wait(int argc, char **argv, struct kiln_ctx *ctx);
int cmd_start(int argc, char **argv, struct kiln_ctx *ctx);
int cmd_attach(int argc, char **argv, struct kiln_ctx *ctx);
/* The exit code after an attach: status, or 0 after "read escape sequence". */
int kiln_attach_done(bool detached, int status);
/* docker's CheckTty (run, exec, attach): a terminal asked for (tty) on a
 * stdin that is attached and not one. Sets ctx->err to docker's words
 * (printed bare) and returns -1; the command then exits 1. */
int kiln_check_tty(struct kiln_ctx *ctx, bool attach_stdin, bool tty);
int cmd_restart(int argc, char **argv, struct kiln_ctx *ctx);
int cmd_logs(int argc, char **argv, struct kiln_ctx *ctx);
int cmd_container_inspect(int argc, char **argv, struct kiln_ctx *ctx);
/* cmd_container_exec.c */
int cmd_exec(int argc, char **argv, struct kiln_ctx *ctx);
int cmd_pause(int argc, char **argv, struct kiln_ctx *ctx);
int cmd_unpause(int argc, char **argv, struct kiln_ctx *ctx);
int cmd_top(int argc, char **argv, struct kiln_ctx *ctx);
int cmd_stats(int argc, char **argv, struct kiln_ctx *ctx);
int cmd_rename(int argc, char **argv, struct kiln_ctx *ctx);
int cmd_container_prune(int argc, char **argv, struct kiln_ctx *ctx);
int cmd_port(int argc, char **argv, struct kiln_ctx *ctx);
int cmd_diff(int argc, char **argv, struct kiln_ctx *ctx);
int cmd_commit(int argc, char **argv, struct kiln_ctx *ctx);
/* cmd_cp.c */
int cmd_cp(int argc, char **argv, struct kiln_ctx *ctx);
/* cmd_registry.c */
/* Before run and create: the image by --pull policy (NULL: missing),
 * pulled with docker's lines on stderr. */
int kiln_pull_for_run(struct kiln_ctx *ctx, const char *image, const char *policy,
                      struct kiln_err *err);
int cmd_pull(int argc, char **argv, struct kiln_ctx *ctx);
int cmd_push(int argc, char **argv, struct kiln_ctx *ctx);
int cmd_login(int argc, char **argv, struct kiln_ctx *ctx);
int cmd_logout(int argc, char **argv, struct kiln_ctx *ctx);
int cmd_manifest_inspect(int argc, char **argv, struct kiln_ctx *ctx);
int cmd_search(int argc, char **argv, struct kiln_ctx *ctx);
/* cmd_volume.c */
int cmd_volume_create(int argc, char **argv, struct kiln_ctx *ctx);
int cmd_volume_ls(int argc, char **argv, struct kiln_ctx *ctx);
int cmd_volume_inspect(int argc, char **argv, struct kiln_ctx *ctx);
int cmd_volume_rm(int argc, char **argv, struct kiln_ctx *ctx);
int cmd_volume_prune(int argc, char **argv, struct kiln_ctx *ctx);

#endif
