/* cli/cmd_container*.c: views shared by the container commands. */
#ifndef KILN_CLI_CMD_CONTAINER_H
#define KILN_CLI_CMD_CONTAINER_H

#include <jansson.h>
#include <stdbool.h>

#include "cli.h"
#include "runtime.h"

/* docker inspect's object for a container. */
json_t *ctr_inspect_json(const char *root, const struct rt_container *c);
/* A ps row: ID, Image, Command, CreatedAt, RunningFor, Ports, Status, Size,
 * Names, Labels, Mounts, Networks, State. */
json_t *ctr_ps_json(const struct rt_container *c, bool no_trunc);
/* "127.0.0.1:8080->80/tcp, ..." */
char *ctr_ports_text(const struct rt_container *c);
/* "Up 2 minutes", "Exited (0) 3 seconds ago", "Created"... */
char *ctr_status_text(const struct rt_container *c);

#endif
