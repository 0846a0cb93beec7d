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
    {"remove", cmd_rmi, S | CMD_ALIAS, "Remove one or more images", NULL},
    {"rm", cmd_rmi, S, "Remove one or more images", NULL},
    {"save", cmd_save, S, "Save one or more images to a tar archive", NULL},
    {"tag", cmd_tag, S, "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE", NULL},
    {0},
};

#define R (CMD_NEEDS_STORE | CMD_NEEDS_ROOT)
static const struct kiln_cmd container_commands[] = {
    {"attach", cmd_attach, R,
     "Attach local standard input, output, and error streams to a running container", NULL},
    {"commit", cmd_commit, R, "Create a new image from a container's changes", NULL},
    {"cp", cmd_cp, R, "Copy files/folders between a container and the local filesystem", NULL},
    {"create", cmd_create, R, "Create a new container", NULL},
    {"diff", cmd_diff, R, "Inspect changes to files or directories on a container's filesystem",
     NULL},
    {"exec", cmd_exec, R, "Execute a command in a running container", NULL},
    {"inspect", cmd_container_inspect, R, "Display detailed information on one or more containers",
     NULL},
    {"kill", cmd_kill, R, "Kill one or more running containers", NULL},
    {"list", cmd_ps, R | CMD_ALIAS, "List containers", NULL},
    {"logs", cmd_logs, R, "Fetch the logs of a container", NULL},
    {"ls", cmd_ps, R, "List containers", NULL},
    {"pause", cmd_pause, R, "Pause all processes within one or more containers", NULL},
    {"port", cmd_port, R, "List port mappings or a specific mapping for the container", NULL},
    {"prune", cmd_container_prune, R, "Remove all stopped containers", NULL},
    {"ps", cmd_ps, R | CMD_ALIAS, "List containers", NULL},
    {"rename", cmd_rename, R, "Rename a container", NULL},
    {"restart", cmd_restart, R, "Restart one or more containers", NULL},
    {"rm", cmd_rm, R, "Remove one or more containers", NULL},
    {"run", cmd_run, R, "Run a command in a new container", NULL},
    {"start", cmd_start, R, "Start one or more stopped containers", NULL},
    {"stats", cmd_stats, R, "Display a live stream of container(s) resource usage statistics",
     NULL},
    {"stop", cmd_stop, R, "Stop one or more running containers", NULL},
    {"top", cmd_top, R, "Display the running processes of a container", NULL},
    {"unpause", cmd_unpause, R, "Unpause all processes within one or more containers", NULL},
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

static const struct kiln_cmd volume_commands[] = {
    {"create", cmd_volume_create, R, "Create a volume", NULL},
    {"inspect", cmd_volume_inspect, R, "Display detailed information on one or more volumes", NULL},
    {"list", cmd_volume_ls, R | CMD_ALIAS, "List volumes", NULL},
    {"ls", cmd_volume_ls, R, "List volumes", NULL},
    {"prune", cmd_volume_prune, R, "Remove all unused local volumes", NULL},
    {"remove", cmd_volume_rm, R | CMD_ALIAS, "Remove one or more volumes", NULL},
    {"rm", cmd_volume_rm, R, "Remove one or more volumes", NULL},
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
    {"__complete", cmd_complete, CMD_HIDDEN, "Complete a command line (shell completion)", NULL},
    {"attach", cmd_attach, R,
     "Attach local standard input, output, and error streams to a running container", NULL},
    {"build", cmd_build, S, "Build an image from a Dockerfile", NULL},
    {"builder", NULL, 0, "Manage builds", builder_commands},
    {"commit", cmd_commit, R, "Create a new image from a container's changes", NULL},
    {"completion", cmd_completion, 0, "Generate the shell completion script (bash, zsh, fish)",
     NULL},
    {"container", NULL, 0, "Manage containers", container_commands},
    {"cp", cmd_cp, R, "Copy files/folders between a container and the local filesystem", NULL},
    {"create", cmd_create, R, "Create a new container", NULL},
    {"diff", cmd_diff, R, "Inspect changes to files or directories on a container's filesystem",
     NULL},
    {"exec", cmd_exec, R, "Execute a command in a running container", NULL},
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
    {"pause", cmd_pause, R, "Pause all processes within one or more containers", NULL},
    {"port", cmd_port, R, "List port mappings or a specific mapping for the container", NULL},
    {"ps", cmd_ps, R, "List containers", NULL},
    {"pull", cmd_pull, S, "Download an image from a registry", NULL},
    {"push", cmd_push, S, "Upload an image to a registry", NULL},
    {"rename", cmd_rename, R, "Rename a container", NULL},
    {"restart", cmd_restart, R, "Restart one or more containers", NULL},
    {"rm", cmd_rm, R, "Remove one or more containers", NULL},
    {"rmi", cmd_rmi, S, "Remove one or more images", NULL},
    {"run", cmd_run, R, "Run a command in a new container", NULL},
    {"save", cmd_save, S, "Save one or more images to a tar archive", NULL},
    {"search", cmd_search, 0, "Search a registry's catalog for images", NULL},
    {"start", cmd_start, R, "Start one or more stopped containers", NULL},
    {"stats", cmd_stats, R, "Display a live stream of container(s) resource usage statistics",
     NULL},
    {"stop", cmd_stop, R, "Stop one or more running containers", NULL},
    {"system", NULL, 0, "Manage kiln", system_commands},
    {"tag", cmd_tag, S, "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE", NULL},
    {"top", cmd_top, R, "Display the running processes of a container", NULL},
    {"unpause", cmd_unpause, R, "Unpause all processes within one or more containers", NULL},
    {"version", cmd_version, 0, "Show the kiln version information", NULL},
    {"volume", NULL, 0, "Manage volumes", volume_commands},
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
