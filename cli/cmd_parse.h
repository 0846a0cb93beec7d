/* Private to cmd_parse.c and cmd_parse_json.c. */
#ifndef KILN_CMD_PARSE_H
#define KILN_CMD_PARSE_H

#include "parser.h"

/* The graph as JSON (docs/parse-json.md); x[s] holds stage s's expanded
 * instructions. Allocated. */
char *cmd_parse_json(const struct df_graph *g, struct df_instr **x);

#endif
