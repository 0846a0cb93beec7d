/* The command table: one row per command, alias rows point at the same
 * handler (see cli.h for how to add a command). Keep rows sorted by name. */
#include <string.h>

#include "cli.h"

#define S CMD_NEEDS_STORE
static const struct kiln_cmd image_commands[] = {
    {"build", cmd_build, S, "Build an image from a Dockerfile", NULL},
    {"history", cmd_history, S, "Show the history of an image", NULL},
    {"import", cmd_import, S, "Import the contents from a tarball to create a filesystem image",
     NULL},
    {"inspect", cmd_inspect, S, "Display detailed information on one or more images", NULL},
    {"list", cmd_images, S | CMD_ALIAS, "List images", NULL},
    {"load", cmd_load, S, "Load an image from a tar archive or STDIN", NULL},
    {"ls", cmd_images, S, "List images", NULL},
    {"prune", cmd_image_prune, S, "Remove unused images", NULL},
    {"rm", cmd_rmi, S, "Remove one or more images", NULL},
    {"save", cmd_save, S, "Save one or more images to a tar archive", NULL},
    {"tag", cmd_tag, S, "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE", NULL},
    {0},
};

#define R (CMD_NEEDS_STORE | CMD_NEEDS_ROOT)
static const struct kiln_cmd container_commands[] = {
    {"create", cmd_create, R, "Create a new container", NULL},
    {"inspect", cmd_container_inspect, R, "Display detailed information on one or more containers",
     NULL},
    {"kill", cmd_kill, R, "Kill one or more running containers", NULL},
    {"list", cmd_ps, R | CMD_ALIAS, "List containers", NULL},
    {"logs", cmd_logs, R, "Fetch the logs of a container", NULL},
    {"ls", cmd_ps, R, "List containers", NULL},
    {"ps", cmd_ps, R | CMD_ALIAS, "List containers", NULL},
    {"restart", cmd_restart, R, "Restart one or more containers", NULL},
    {"rm", cmd_rm, R, "Remove one or more containers", NULL},
    {"run", cmd_run, R, "Run a command in a new container", NULL},
    {"start", cmd_start, R, "Start one or more stopped containers", NULL},
    {"stop", cmd_stop, R, "Stop one or more running containers", NULL},
    {"wait", cmd_wait, R, "Block until one or more containers stop, then print their exit codes",
     NULL},
    {0},
};

static const struct kiln_cmd builder_commands[] = {
    {"build", cmd_build, S, "Build an image from a Dockerfile", NULL},
    {"du", cmd_builder_du, S, "Disk usage of the build cache", NULL},
    {"history", cmd_builder_history, S, "Past builds, each step with why it ran", NULL},
    {"prune", cmd_builder_prune, S, "Remove build cache", NULL},
    {0},
};

static const struct kiln_cmd system_commands[] = {
    {"check", cmd_system_check, S | CMD_HIDDEN, "Check the store's consistency", NULL},
    {"df", cmd_system_df, S, "Show kiln disk usage", NULL},
    {"prune", cmd_system_prune, S, "Remove unused data", NULL},
    {0},
};

static const struct kiln_cmd manifest_commands[] = {
    {"inspect", cmd_manifest_inspect, 0, "Display an image manifest, or manifest list", NULL},
    {0},
};

const struct kiln_cmd kiln_commands[] = {
    {"build", cmd_build, S, "Build an image from a Dockerfile", NULL},
    {"builder", NULL, 0, "Manage builds", builder_commands},
    {"container", NULL, 0, "Manage containers", container_commands},
    {"create", cmd_create, R, "Create a new container", NULL},
    {"help", cmd_help, 0, "Show help for a command", NULL},
    {"history", cmd_history, S, "Show the history of an image", NULL},
    {"image", NULL, 0, "Manage images", image_commands},
    {"images", cmd_images, S, "List images", NULL},
    {"import", cmd_import, S, "Import the contents from a tarball to create a filesystem image",
     NULL},
    {"inspect", cmd_inspect, S, "Return low-level information on images", NULL},
    {"kill", cmd_kill, R, "Kill one or more running containers", NULL},
    {"load", cmd_load, S, "Load an image from a tar archive or STDIN", NULL},
    {"login", cmd_login, 0, "Log in to a registry", NULL},
    {"logout", cmd_logout, 0, "Log out from a registry", NULL},
    {"logs", cmd_logs, R, "Fetch the logs of a container", NULL},
    {"manifest", NULL, 0, "Manage image manifests", manifest_commands},
    {"parse", cmd_parse, 0, "Parse a Dockerfile and show its stages and steps", NULL},
    {"ps", cmd_ps, R, "List containers", NULL},
    {"pull", cmd_pull, S, "Download an image from a registry", NULL},
    {"push", cmd_push, S, "Upload an image to a registry", NULL},
    {"restart", cmd_restart, R, "Restart one or more containers", NULL},
    {"rm", cmd_rm, R, "Remove one or more containers", NULL},
    {"rmi", cmd_rmi, S, "Remove one or more images", NULL},
    {"run", cmd_run, R, "Run a command in a new container", NULL},
    {"save", cmd_save, S, "Save one or more images to a tar archive", NULL},
    {"search", cmd_search, 0, "Search a registry's catalog for images", NULL},
    {"start", cmd_start, R, "Start one or more stopped containers", NULL},
    {"stop", cmd_stop, R, "Stop one or more running containers", NULL},
    {"system", NULL, 0, "Manage kiln", system_commands},
    {"tag", cmd_tag, S, "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE", NULL},
    {"version", cmd_version, 0, "Show the kiln version information", NULL},
    {"wait", cmd_wait, R, "Block until one or more containers stop, then print their exit codes",
     NULL},
    {0},
};

const struct kiln_cmd *kiln_cmd_find(const struct kiln_cmd *table, const char *name)
{
	for (const struct kiln_cmd *c = table; c->name; c++)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}
