/* The command table: one row per command, alias rows point at the same
 * handler (see cli.h for how to add a command). Keep rows sorted by name. */
#include <string.h>

#include "cli.h"

const struct kiln_cmd kiln_commands[] = {
    {"help", cmd_help, 0, "Show help for a command", NULL},
    {"import", cmd_import, CMD_NEEDS_STORE, "Import the contents from a tarball to create a filesystem image", NULL},
    {"load", cmd_load, CMD_NEEDS_STORE, "Load an image from a tar archive or STDIN", NULL},
    {"save", cmd_save, CMD_NEEDS_STORE, "Save one or more images to a tar archive", NULL},
    {"version", cmd_version, 0, "Show the kiln version information", NULL},
    {0},
};

const struct kiln_cmd *kiln_cmd_find(const struct kiln_cmd *table, const char *name)
{
	for (const struct kiln_cmd *c = table; c->name; c++)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}
