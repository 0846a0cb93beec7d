/* help and version */
#include <archive.h>
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/opensslv.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "cli.h"

static void print_table(const struct kiln_cmd *table, const char *title)
{
	printf("\n%s:\n", title);
	for (const struct kiln_cmd *c = table; c->name; c++)
		if (!(c->flags & (CMD_HIDDEN | CMD_ALIAS)))
			printf("  %-12s %s\n", c->name, c->summary);
}

void kiln_print_main_help(void)
{
	printf("\nUsage:  kiln [OPTIONS] COMMAND\n\n"
	       "A daemonless container image builder and runner\n\n"
	       "Global options:\n"
	       "      --root dir     Root directory of the kiln store (default /var/lib/kiln\n"
	       "                     for root, $XDG_DATA_HOME/kiln otherwise; env KILN_ROOT)\n"
	       "  -D, --debug        Enable debug output\n"
	       "  -h, --help         Print usage\n"
	       "  -v, --version      Print version information and quit\n");
	print_table(kiln_commands, "Commands");
	printf("\nRun 'kiln COMMAND --help' for more information on a command.\n");
}

int cmd_help(int argc, char **argv, struct kiln_ctx *ctx)
{
	(void)ctx;
	if (argc < 2) {
		kiln_print_main_help();
		return 0;
	}
	/* "kiln help image ls" == "kiln image ls --help" */
	const struct kiln_cmd *table = kiln_commands, *c = NULL;
	struct kiln_buf path;
	kiln_buf_init(&path, KILN_BUF_NOLIMIT, NULL);
	kiln_buf_addstr(&path, "kiln", NULL);
	int i = 1;
	for (; i < argc; i++) {
		c = kiln_cmd_find(table, argv[i]);
		if (!c) {
			kiln_buf_release(&path);
			return kiln_err_set(&ctx->err, KILN_E_USAGE, "unknown help topic: %s",
			                    argv[i]),
			       1;
		}
		kiln_buf_addf(&path, NULL, " %s", c->name);
		if (!c->sub)
			break;
		table = c->sub;
	}
	if (c->sub) {
		printf("\nUsage:  %s COMMAND\n\n%s\n", kiln_buf_str(&path), c->summary);
		print_table(c->sub, "Commands");
		printf("\nRun '%s COMMAND --help' for more information on a command.\n",
		       kiln_buf_str(&path));
		kiln_buf_release(&path);
		return 0;
	}
	free(ctx->cmd_path);
	ctx->cmd_path = kiln_buf_detach(&path, NULL);
	char *hargv[] = {(char *)c->name, (char *)"--help", NULL};
	return c->fn(2, hargv, ctx);
}

int cmd_version(int argc, char **argv, struct kiln_ctx *ctx)
{
	const struct kiln_opt opts[] = {OPT_END};
	const struct kiln_usage usage = {"", "Show the kiln version information", 0, 0, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	printf("kiln version %s\n", KILN_VERSION);
	printf(" libarchive:  %s\n", archive_version_details());
	printf(" libcurl:     %s\n", curl_version());
	printf(" jansson:     %s\n", JANSSON_VERSION);
	printf(" openssl:     %s\n", OPENSSL_VERSION_TEXT);
	const struct scmp_version *sv = seccomp_version();
	printf(" libseccomp:  %u.%u.%u\n", sv->major, sv->minor, sv->micro);
	printf(" xxhash:      %u\n", XXH_versionNumber());
	return 0;
}
