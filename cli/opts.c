/* Declarative option parsing and the --help text made from the same table. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "cli.h"
#include "image.h"

static const char *root_target;
static bool help_target;
static const struct kiln_opt common_opts[] = {
    OPT_STRING(0, "root", &root_target, "dir", "Root directory of the kiln store"),
    OPT_BOOL('h', "help", &help_target, "Print usage"),
    OPT_END,
};

static int usage_error(struct kiln_ctx *ctx, int *exit_code, int code, const char *fmt,
                       const char *arg)
{
	kiln_err_set(&ctx->err, KILN_E_USAGE, fmt, arg);
	*exit_code = code;
	return -1;
}

static const struct kiln_opt *find_long(const struct kiln_opt *opts, const char *name, size_t len)
{
	for (const struct kiln_opt *o = opts; o->kind != OPT_KIND_END; o++)
		if (o->long_name && strlen(o->long_name) == len &&
		    !strncmp(o->long_name, name, len))
			return o;
	return NULL;
}

static const struct kiln_opt *find_short(const struct kiln_opt *opts, char c)
{
	for (const struct kiln_opt *o = opts; o->kind != OPT_KIND_END; o++)
		if (o->short_name && o->short_name == c)
			return o;
	return NULL;
}

static int parse_bool_value(const char *v, bool *out)
{
	/* strconv.ParseBool's spellings, as pflag accepts them */
	static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
	static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
	for (size_t i = 0; i < KILN_ARRAY_SIZE(yes); i++)
		if (!strcmp(v, yes[i])) {
			*out = true;
			return 0;
		}
	for (size_t i = 0; i < KILN_ARRAY_SIZE(no); i++)
		if (!strcmp(v, no[i])) {
			*out = false;
			return 0;
		}
	return -1;
}

/* Stores value into o's target; value is NULL for a bool without "=x". */
static int set_opt(struct kiln_ctx *ctx, const struct kiln_opt *o, const char *value,
                   const char *shown, int *exit_code)
{
	switch (o->kind) {
	case OPT_KIND_BOOL:
		if (!value) {
			*(bool *)o->target = true;
			return 0;
		}
		if (parse_bool_value(value, (bool *)o->target) < 0) {
			kiln_err_set(
			    &ctx->err, KILN_E_USAGE,
			    "invalid argument \"%s\" for \"%s\" flag: expected true or false",
			    value, shown);
			*exit_code = 125;
			return -1;
		}
		return 0;
	case OPT_KIND_STRING: *(const char **)o->target = value; return 0;
	case OPT_KIND_STRV: kiln_strv_push((struct kiln_strv *)o->target, value); return 0;
	case OPT_KIND_INT: {
		char *end;
		errno = 0;
		long v = strtol(value, &end, 10);
		if (errno || end == value || *end) {
			kiln_err_set(&ctx->err, KILN_E_USAGE,
			             "invalid argument \"%s\" for \"%s\" flag: not an integer",
			             value, shown);
			*exit_code = 125;
			return -1;
		}
		*(long *)o->target = v;
		return 0;
	}
	case OPT_KIND_END: break;
	}
	return 0;
}

static const struct kiln_opt *lookup_long(const struct kiln_opt *opts, const char *name, size_t len)
{
	const struct kiln_opt *o = find_long(opts, name, len);
	return o ? o : find_long(common_opts, name, len);
}

static const struct kiln_opt *lookup_short(const struct kiln_opt *opts, char c)
{
	const struct kiln_opt *o = find_short(opts, c);
	return o ? o : find_short(common_opts, c);
}

/* Handles argv[*i], which starts with "--". */
static int parse_long(struct kiln_ctx *ctx, const struct kiln_opt *opts, int argc, char **argv,
                      int *i, int *exit_code)
{
	const char *arg = argv[*i] + 2;
	const char *eq = strchr(arg, '=');
	size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
	const struct kiln_opt *o = lookup_long(opts, arg, len);
	if (!o) { /* named without its value, as pflag does */
		_cleanup_free_ char *name = xasprintf("--%.*s", (int)len, arg);
		return usage_error(ctx, exit_code, 125, "unknown flag: %s", name);
	}
	char shown[128];
	snprintf(shown, sizeof(shown), "--%s", o->long_name);
	const char *value = eq ? eq + 1 : NULL;
	if (o->kind != OPT_KIND_BOOL && !value) {
		if (*i + 1 >= argc)
			return usage_error(ctx, exit_code, 125, "flag needs an argument: %s",
			                   shown);
		value = argv[++*i];
	}
	return set_opt(ctx, o, value, shown, exit_code);
}

/* Handles argv[*i], which starts with "-" and is not "--x" or "-". */
static int parse_short(struct kiln_ctx *ctx, const struct kiln_opt *opts, int argc, char **argv,
                       int *i, int *exit_code)
{
	const char *p = argv[*i] + 1;
	while (*p) {
		const struct kiln_opt *o = lookup_short(opts, *p);
		char shown[3] = {'-', *p, 0};
		if (!o) {
			kiln_err_set(&ctx->err, KILN_E_USAGE, "unknown shorthand flag: '%c' in %s",
			             *p, argv[*i]);
			*exit_code = 125;
			return -1;
		}
		p++;
		if (o->kind == OPT_KIND_BOOL) {
			if (*p == '=') /* -a=false */
				return set_opt(ctx, o, p + 1, shown, exit_code);
			if (set_opt(ctx, o, NULL, shown, exit_code) < 0)
				return -1;
			continue;
		}
		const char *value = p;
		if (*value == '=')
			value++;
		if (!*p) {
			if (*i + 1 >= argc) {
				kiln_err_set(&ctx->err, KILN_E_USAGE,
				             "flag needs an argument: '%c' in %s", shown[1], shown);
				*exit_code = 125;
				return -1;
			}
			value = argv[++*i];
		}
		return set_opt(ctx, o, value, shown, exit_code);
	}
	return 0;
}

static void list_opts(struct kiln_strv *out, const struct kiln_opt *opts)
{
	for (const struct kiln_opt *o = opts; o->kind != OPT_KIND_END; o++) {
		const char *val = o->kind == OPT_KIND_BOOL ? "" : " =";
		kiln_strv_pushf(out, "--%s%s", o->long_name, val);
		if (o->short_name)
			kiln_strv_pushf(out, "-%c%s", o->short_name, val);
	}
}

int kiln_opts_parse(struct kiln_ctx *ctx, const struct kiln_opt *opts,
                    const struct kiln_usage *usage, int *argc, char ***argv, int *exit_code)
{
	if (ctx->list_opts) { /* completion: the table, not a parse */
		list_opts(ctx->list_opts, opts);
		list_opts(ctx->list_opts, common_opts);
		*exit_code = 0;
		return 1;
	}
	int n = *argc;
	char **v = *argv;
	char **pos = xcalloc((size_t)n + 1, sizeof(char *));
	int npos = 0;
	bool options_done = false;
	root_target = NULL;
	help_target = false;

	for (int i = 1; i < n; i++) {
		const char *a = v[i];
		if (options_done || a[0] != '-' || a[1] == '\0') {
			pos[npos++] = v[i];
			if (usage->flags & OPTS_STOP_AT_POSITIONAL)
				options_done = true;
			continue;
		}
		if (!strcmp(a, "--")) {
			options_done = true;
			continue;
		}
		int r = a[1] == '-' ? parse_long(ctx, opts, n, v, &i, exit_code)
		                    : parse_short(ctx, opts, n, v, &i, exit_code);
		if (r < 0) {
			free(pos);
			return -1;
		}
	}
	if (help_target) {
		kiln_opts_print_help(ctx, opts, usage);
		free(pos);
		*exit_code = 0;
		return 1;
	}
	if (root_target && !*root_target) { /* as main.c: never "/" by accident */
		kiln_err_set(&ctx->err, KILN_E_USAGE,
		             "invalid argument \"\" for \"--root\" flag: the store root cannot be "
		             "empty");
		free(pos);
		*exit_code = 125;
		return -1;
	}
	if (root_target) {
		free(ctx->root);
		ctx->root = xstrdup(root_target);
		ctx->root_from_flag = true;
	}
	if (npos < usage->min_args || (usage->max_args >= 0 && npos > usage->max_args)) {
		/* docker's cli.ExactArgs and friends: the message, the pointer to
		 * --help and the command's usage block */
		_cleanup_free_ char *tail =
		    xasprintf(".\nSee '%s --help'.\n\nUsage:  %s %s\n\n%s", ctx->cmd_path,
		              ctx->cmd_path, usage->args, usage->summary);
		if (usage->max_args == 0) {
			kiln_err_set(&ctx->err, KILN_E_USAGE, "\"%s\" accepts no arguments%s",
			             ctx->cmd_path, tail);
			free(pos);
			*exit_code = 1;
			return -1;
		}
		const char *what;
		int want = usage->min_args;
		if (usage->min_args == usage->max_args)
			what = "exactly";
		else if (npos < usage->min_args)
			what = "at least";
		else {
			what = "at most";
			want = usage->max_args;
		}
		kiln_err_set(&ctx->err, KILN_E_USAGE, "\"%s\" requires %s %d argument%s%s",
		             ctx->cmd_path, what, want, want == 1 ? "" : "s", tail);
		free(pos);
		*exit_code = 1;
		return -1;
	}
	/* Positional arguments are returned as a fresh argv whose [0] is the
	 * command name, so handlers index them from 1 like main(). */
	memmove(pos + 1, pos, (size_t)npos * sizeof(char *));
	pos[0] = v[0];
	pos[npos + 1] = NULL;
	*argc = npos + 1;
	free(ctx->args);
	ctx->args = pos; /* freed by main.c */
	*argv = pos;
	/* CMD_NEEDS_STORE: opened here, once --root after the command is known
	 * and not for --help; closed by main.c. */
	if (ctx->needs_store && !ctx->store &&
	    img_store_open(ctx->root, &ctx->store, &ctx->err) < 0) {
		*exit_code = 1;
		return -1;
	}
	if (ctx->store)
		cache_store_attach(ctx->store);
	return 0;
}

static void print_opt_table(const struct kiln_opt *opts)
{
	for (const struct kiln_opt *o = opts; o->kind != OPT_KIND_END; o++) {
		char left[96];
		int len =
		    snprintf(left, sizeof(left), "  %c%c%c --%s%s%s", o->short_name ? '-' : ' ',
		             o->short_name ? o->short_name : ' ', o->short_name ? ',' : ' ',
		             o->long_name, o->argname ? " " : "", o->argname ? o->argname : "");
		const char *multi = o->kind == OPT_KIND_STRV ? " (repeatable)" : "";
		if (len < 30)
			printf("%-30s%s%s\n", left, o->help, multi);
		else
			printf("%s\n%-30s%s%s\n", left, "", o->help, multi);
	}
}

void kiln_opts_print_help(struct kiln_ctx *ctx, const struct kiln_opt *opts,
                          const struct kiln_usage *usage)
{
	printf("\nUsage:  %s %s\n\n%s\n\nOptions:\n", ctx->cmd_path, usage->args, usage->summary);
	print_opt_table(opts);
	print_opt_table(common_opts);
}
