/* Private to cmd_parse.c and cmd_parse_json.c. */
#ifndef KILN_CMD_PARSE_H
#define KILN_CMD_PARSE_H

#include <stdio.h>

#include "parser.h"

/* Writes the graph as JSON (docs/parse-json.md), expanding one stage at a
 * time (df_graph_expand_stage): memory stays that of the graph and one
 * stage. Fails only with an expansion error, after partial output. */
int cmd_parse_json(FILE *out, const struct df_graph *g, struct kiln_err *err);
/* Releases what df_graph_expand_stage returned for stage st. */
void cmd_parse_free_stage(const struct df_stage *st, struct df_instr *x);

#endif
