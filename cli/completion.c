/* Shell completion: `kiln completion bash|zsh|fish` prints a small script
 * for the shell; the script asks `kiln __complete WORDS...` (hidden) for the
 * candidates of the last word, so they always come from this binary's
 * tables: commands and subcommands from cli/commands.c, a command's flags
 * from its own option table (kiln_opts_parse lists it when ctx->list_opts
 * is set), and image, container and volume names from the store. Nothing
 * is written anywhere: a missing store completes no names. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "image.h"
#include "runtime.h"

enum name_kind { NAMES_NONE, NAMES_IMAGES, NAMES_CONTAINERS, NAMES_VOLUMES };

/* Which names a command's positional arguments are. */
static enum name_kind names_of(const struct kiln_cmd *c)
{
	static const kiln_cmd_fn images[] = {cmd_history, cmd_rmi,     cmd_tag, cmd_save,
	                                     cmd_push,    cmd_inspect, cmd_run, cmd_create};
	static const kiln_cmd_fn containers[] = {
	    cmd_rm,      cmd_start, cmd_stop,    cmd_kill,
	    cmd_logs,    cmd_exec,  cmd_restart, cmd_pause,
	    cmd_unpause, cmd_wait,  cmd_rename,  cmd_port,
	    cmd_top,     cmd_diff,  cmd_commit,  cmd_container_inspect,
	    cmd_stats};
	static const kiln_cmd_fn volumes[] = {cmd_volume_rm, cmd_volume_inspect};
	for (size_t i = 0; c && i < KILN_ARRAY_SIZE(images); i++)
		if (c->fn == images[i])
			return NAMES_IMAGES;
	for (size_t i = 0; c && i < KILN_ARRAY_SIZE(containers); i++)
		if (c->fn == containers[i])
			return NAMES_CONTAINERS;
	for (size_t i = 0; c && i < KILN_ARRAY_SIZE(volumes); i++)
		if (c->fn == volumes[i])
			return NAMES_VOLUMES;
	return NAMES_NONE;
}

/* The flags of a command ("--name" or "--name =" when it takes a value),
 * from its option table. */
static void command_opts(struct kiln_ctx *ctx, const struct kiln_cmd *c, struct kiln_strv *out)
{
	char *argv[] = {(char *)c->name, NULL};
	if (c->fn == cmd_help || c->fn == cmd_complete) /* no option table */
		return;
	ctx->list_opts = out;
	c->fn(1, argv, ctx);
	ctx->list_opts = NULL;
}

static bool opt_takes_value(const struct kiln_strv *opts, const char *word)
{
	if (strchr(word, '='))
		return false;
	size_t n = strlen(word);
	for (size_t i = 0; i < opts->n; i++)
		if (!strncmp(opts->v[i], word, n) && !strcmp(opts->v[i] + n, " ="))
			return true;
	return false;
}

static void image_names(struct kiln_ctx *ctx, struct kiln_strv *out)
{
	struct img_image **v = NULL;
	size_t n = 0;
	if (img_image_list(ctx->store, &v, &n, NULL) < 0)
		return;
	for (size_t i = 0; i < n; i++)
		for (size_t t = 0; t < v[i]->n_repo_tags; t++)
			kiln_strv_push_take(out, img_ref_familiarize(v[i]->repo_tags[t]));
	img_image_list_free(v, n);
}

static void store_names(struct kiln_ctx *ctx, enum name_kind k, struct kiln_strv *out)
{
	_cleanup_free_ char *marker = kiln_path_join(ctx->root, "kiln-store");
	if (k == NAMES_NONE || !kiln_path_exists(marker)) /* never create a store */
		return;
	if (k == NAMES_IMAGES) {
		if (img_store_open_read_only(ctx->root, &ctx->store, NULL) == 0)
			image_names(ctx, out);
	} else if (k == NAMES_CONTAINERS) {
		struct rt_container **v = NULL;
		size_t n = 0;
		if (rt_container_list(ctx->root, &v, &n, NULL) == 0)
			for (size_t i = 0; i < n; i++)
				kiln_strv_push(out, v[i]->name);
		rt_container_list_free(v, n);
	} else {
		rt_volume_list(ctx->root, out, NULL);
	}
}

static void table_names(const struct kiln_cmd *table, struct kiln_strv *out)
{
	for (const struct kiln_cmd *c = table; c->name; c++)
		if (!(c->flags & CMD_HIDDEN))
			kiln_strv_push(out, c->name);
}

static void print_matching(const struct kiln_strv *v, const char *cur)
{
	for (size_t i = 0; i < v->n; i++) {
		const char *w = v->v[i];
		size_t n = strcspn(w, " "); /* "--format =": the flag only */
		if (!strncmp(w, cur, strlen(cur)))
			printf("%.*s\n", (int)n, w);
	}
}

/* The command the words name (NULL: none yet), its flags, and whether the
 * last complete word is a flag waiting for its value. */
struct comp_state {
	const struct kiln_cmd *table, *cmd;
	struct kiln_strv opts;
	bool want_value, unknown;
};

static void walk_words(struct kiln_ctx *ctx, char **w, int n, struct comp_state *st)
{
	static const char *const global_value[] = {"--root"};
	for (int i = 0; i < n; i++) {
		st->want_value = false;
		if (w[i][0] == '-') {
			if (!st->cmd && !strcmp(w[i], global_value[0]) && i + 1 < n) {
				free(ctx->root);
				ctx->root = xstrdup(w[++i]);
			} else if (!st->cmd && !strncmp(w[i], "--root=", 7)) {
				free(ctx->root);
				ctx->root = xstrdup(w[i] + 7);
			} else if (st->cmd && opt_takes_value(&st->opts, w[i])) {
				st->want_value = i + 1 == n;
				i++;
			} else if (!st->cmd && !strcmp(w[i], global_value[0])) {
				st->want_value = true;
			}
			continue;
		}
		if (st->cmd && !st->cmd->sub)
			continue; /* a positional argument */
		const struct kiln_cmd *c = kiln_cmd_find(st->table, w[i]);
		if (!c) {
			st->unknown = true;
			return;
		}
		st->cmd = c;
		if (c->sub)
			st->table = c->sub;
		else
			command_opts(ctx, c, &st->opts);
	}
}

int cmd_complete(int argc, char **argv, struct kiln_ctx *ctx)
{
	const char *cur = argc > 1 ? argv[argc - 1] : "";
	struct comp_state st = {.table = kiln_commands};
	walk_words(ctx, argv + 1, argc > 1 ? argc - 2 : 0, &st);
	struct kiln_strv out = KILN_STRV_INIT;
	if (st.unknown || st.want_value) {
		/* nothing: the shell completes file names */
	} else if (cur[0] == '-' && st.cmd && !st.cmd->sub) {
		kiln_strv_push(&out, "--help");
		for (size_t i = 0; i < st.opts.n; i++)
			if (strcmp(st.opts.v[i], "--help"))
				kiln_strv_push(&out, st.opts.v[i]);
	} else if (cur[0] == '-' && !st.cmd) {
		static const char *const g[] = {"--root", "--debug", "-D", "--help", "--version"};
		for (size_t i = 0; i < KILN_ARRAY_SIZE(g); i++)
			kiln_strv_push(&out, g[i]);
	} else if (!st.cmd || st.cmd->sub) {
		table_names(st.table, &out);
	} else {
		store_names(ctx, names_of(st.cmd), &out);
	}
	print_matching(&out, cur);
	kiln_strv_release(&out);
	kiln_strv_release(&st.opts);
	kiln_err_release(&ctx->err); /* a handler listing its flags sets nothing, but be sure */
	return 0;
}

/* --- the scripts ------------------------------------------------------------ */

static const char bash_script[] =
    "# bash completion for kiln (generated by `kiln completion bash`)\n"
    "_kiln() {\n"
    "\tlocal IFS=$'\\n'\n"
    "\tCOMPREPLY=($(\"${COMP_WORDS[0]}\" __complete \"${COMP_WORDS[@]:1:COMP_CWORD}\" "
    "2>/dev/null))\n"
    "}\n"
    "complete -o default -o nosort -F _kiln kiln\n";

static const char zsh_script[] =
    "#compdef kiln\n"
    "# zsh completion for kiln (generated by `kiln completion zsh`)\n"
    "_kiln() {\n"
    "\tlocal -a c\n"
    "\tc=(\"${(@f)$(\"${words[1]}\" __complete \"${(@)words[2,CURRENT]}\" 2>/dev/null)}\")\n"
    "\tif (( ${#c[@]} )) && [[ -n ${c[1]} ]]; then\n"
    "\t\tcompadd -Q -a c\n"
    "\telse\n"
    "\t\t_files\n"
    "\tfi\n"
    "}\n"
    "if [[ $zsh_eval_context[-1] == loadautofunc ]]; then _kiln \"$@\"; else compdef _kiln kiln; "
    "fi\n";

static const char fish_script[] =
    "# fish completion for kiln (generated by `kiln completion fish`)\n"
    "function __kiln_complete\n"
    "\tset -l words (commandline -opc) (commandline -ct)\n"
    "\t$words[1] __complete $words[2..-1] 2>/dev/null\n"
    "end\n"
    "complete -c kiln -f -a '(__kiln_complete)'\n";

int cmd_completion(int argc, char **argv, struct kiln_ctx *ctx)
{
	const struct kiln_opt opts[] = {OPT_END};
	const struct kiln_usage usage = {
	    "bash|zsh|fish",
	    "Generate the shell completion script (bash, zsh, fish)\n\n"
	    "  bash: kiln completion bash > /etc/bash_completion.d/kiln\n"
	    "  zsh:  kiln completion zsh > \"${fpath[1]}/_kiln\"\n"
	    "  fish: kiln completion fish > ~/.config/fish/completions/kiln.fish",
	    1, 1, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	const char *script = !strcmp(argv[1], "bash")   ? bash_script
	                     : !strcmp(argv[1], "zsh")  ? zsh_script
	                     : !strcmp(argv[1], "fish") ? fish_script
	                                                : NULL;
	if (!script) {
		kiln_err_set(&ctx->err, KILN_E_USAGE, "unsupported shell `%s` (bash, zsh or fish)",
		             argv[1]);
		return 125;
	}
	fputs(script, stdout);
	return 0;
}
