/* kiln entry point: global options, dispatch through the command table,
 * and the one place where an error is printed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "image.h"

/* KILN_ROOT set but empty counts as unset (as docker treats empty
 * variables); an empty --root is a usage error. */
static char *default_root(void)
{
	const char *env = getenv("KILN_ROOT");
	if (env && *env)
		return xstrdup(env);
	if (geteuid() == 0)
		return xstrdup("/var/lib/kiln");
	const char *xdg = getenv("XDG_DATA_HOME");
	if (xdg && *xdg)
		return xasprintf("%s/kiln", xdg);
	const char *home = getenv("HOME");
	return xasprintf("%s/.local/share/kiln", home && *home ? home : ".");
}

static int print_error(struct kiln_ctx *ctx, int code)
{
	if (!ctx->err.msg)
		return code;
	fflush(stdout); /* what the command printed comes before its error */
	const char *path = ctx->cmd_path ? ctx->cmd_path : "kiln";
	size_t len = strlen(ctx->err.msg);
	if (ctx->err.code == KILN_E_USAGE && strstr(ctx->err.msg, "\nSee '")) {
		fprintf(stderr, "%s\n", ctx->err.msg); /* it carries its usage block */
	} else if (ctx->err.code == KILN_E_USAGE && len > 9 &&
	           !strcmp(ctx->err.msg + len - 9, " command.")) {
		fprintf(stderr, "kiln: %s\nSee '%s --help'\n", ctx->err.msg, path); /* docker's */
	} else if (ctx->err.code == KILN_E_USAGE) { /* cobra's flag errors: no prefix */
		fprintf(stderr, "%s\nSee '%s --help'.\n", ctx->err.msg, path);
	} else {
		char *msg = kiln_err_format(&ctx->err);
		size_t n = strlen(msg);
		if (ctx->err_see_help && n && msg[n - 1] == '.')
			msg[--n] = 0;
		fprintf(stderr, "%s%s%s\n", ctx->err_prefix ? ctx->err_prefix : "Error: ", msg,
		        ctx->err_see_help ? "." : "");
		if (ctx->err_see_help && code == 125)
			fprintf(stderr, "See '%s --help'.\n",
			        ctx->cmd_path ? ctx->cmd_path : "kiln");
		free(msg);
	}
	return code ? code : 1;
}

/* Global options before the command. Returns the index of the command word,
 * or -1 when the process should exit with *exit_code. */
static int parse_global(struct kiln_ctx *ctx, int argc, char **argv, int *exit_code)
{
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--root") || !strncmp(a, "--root=", 7)) {
			const char *v = a[6] == '=' ? a + 7 : (i + 1 < argc ? argv[++i] : NULL);
			if (!v) {
				kiln_err_set(&ctx->err, KILN_E_USAGE,
				             "flag needs an argument: --root");
				*exit_code = 125;
				return -1;
			}
			if (!*v) { /* never "/" or the current directory by accident */
				kiln_err_set(&ctx->err, KILN_E_USAGE,
				             "invalid argument \"\" for \"--root\" flag: the store "
				             "root cannot be empty");
				*exit_code = 125;
				return -1;
			}
			free(ctx->root);
			ctx->root = xstrdup(v);
			ctx->root_from_flag = true;
		} else if (!strcmp(a, "-D") || !strcmp(a, "--debug")) {
			kiln_debug_enabled = 1;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			kiln_print_main_help();
			*exit_code = 0;
			return -1;
		} else if (!strcmp(a, "-v") || !strcmp(a, "--version")) {
			printf("kiln version %s\n", KILN_VERSION);
			*exit_code = 0;
			return -1;
		} else {
			kiln_err_set(&ctx->err, KILN_E_USAGE, "unknown flag: %s", a);
			*exit_code = 125;
			return -1;
		}
	}
	return i;
}

static int dispatch(struct kiln_ctx *ctx, int argc, char **argv)
{
	const struct kiln_cmd *table = kiln_commands, *c = NULL;
	struct kiln_buf path;
	kiln_buf_init(&path, KILN_BUF_NOLIMIT, NULL);
	kiln_buf_addstr(&path, ctx->prog, NULL);
	int i = 0;
	for (; i < argc; i++) {
		c = kiln_cmd_find(table, argv[i]);
		if (!c) {
			kiln_err_set(&ctx->err, KILN_E_USAGE, "'%s' is not a %s command.", argv[i],
			             kiln_buf_str(&path));
			ctx->cmd_path = kiln_buf_detach(&path, NULL);
			return 1;
		}
		kiln_buf_addf(&path, NULL, " %s", c->name);
		if (!c->sub)
			break;
		table = c->sub;
		if (i + 1 >= argc || argv[i + 1][0] == '-') {
			/* "kiln image" or "kiln image --help": the group's help */
			char *hargv[] = {(char *)"help", NULL, NULL};
			hargv[1] = (char *)c->name;
			kiln_buf_release(&path);
			return cmd_help(2, hargv, ctx);
		}
	}
	ctx->cmd_path = kiln_buf_detach(&path, NULL);
	if ((c->flags & CMD_NEEDS_ROOT) && geteuid() != 0) {
		kiln_err_set(&ctx->err, 0, "%s must be run as root", ctx->cmd_path);
		return 1;
	}
	ctx->needs_store = (c->flags & CMD_NEEDS_STORE) != 0;
	return c->fn(argc - i, argv + i, ctx);
}

int main(int argc, char **argv)
{
	struct kiln_ctx ctx = {.prog = "kiln"};
	const char *dbg = getenv("KILN_DEBUG");
	if (dbg && *dbg && strcmp(dbg, "0"))
		kiln_debug_enabled = 1;
	ctx.root = default_root();

	int code = 0;
	int first = parse_global(&ctx, argc, argv, &code);
	if (first >= 0) {
		if (first >= argc) {
			kiln_print_main_help();
			code = 0;
		} else {
			code = dispatch(&ctx, argc - first, argv + first);
		}
	}
	code = print_error(&ctx, code);
	kiln_err_release(&ctx.err);
	free(ctx.cmd_path);
	free(ctx.root);
	free(ctx.args);
	img_store_close(ctx.store);
	return code;
}

int kiln_cmd_fail(struct kiln_ctx *ctx, struct kiln_err *err)
{
	kiln_err_move(&ctx->err, err);
	return 1;
}
