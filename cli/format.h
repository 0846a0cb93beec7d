/* cli output helpers (format.c, template.c). */
#ifndef KILN_CLI_FORMAT_H
#define KILN_CLI_FORMAT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "common.h"

struct kiln_table {
	size_t n_cols, n_rows;
	char ***rows; /* rows[r][c] */
};
void kiln_table_add(struct kiln_table *t, const char *const *cells);
void kiln_table_print(struct kiln_table *t, FILE *out);
void kiln_table_release(struct kiln_table *t);
size_t kiln_display_width(const char *s);

/* docker's units.HumanSizeWithPrecision(size, 3): "4.26MB", "1.2GB", "0B" */
char *kiln_human_size(double size);
/* docker's units.HumanDuration: "2 hours", "About a minute" */
char *kiln_human_duration(int64_t seconds);
int kiln_parse_rfc3339(const char *s, time_t *out);
char *kiln_since(const char *rfc3339);   /* "2 hours ago" */
char *kiln_time_go(const char *rfc3339); /* "2024-01-02 03:04:05 +0000 UTC" */
/* Prints the warning and docker's prompt, reads a line from stdin. */
bool kiln_confirm(const char *warning);

/* Go-template subset over a JSON value (a json_t *). Returns the rendered
 * text or NULL with err set (bad template, unknown function). */
struct kiln_tmpl;
struct kiln_tmpl *kiln_tmpl_parse(const char *text, struct kiln_err *err);
bool kiln_tmpl_is_table(const struct kiln_tmpl *t);
/* Header line for a table format: names maps a field ("ID") to its column
 * title ("IMAGE ID"), {NULL, NULL}-terminated; other fields upper-cased. */
char *kiln_tmpl_header(const struct kiln_tmpl *t, const char *const (*names)[2]);
int kiln_tmpl_render(const struct kiln_tmpl *t, const void *json_value, struct kiln_buf *out,
                     struct kiln_err *err);
void kiln_tmpl_free(struct kiln_tmpl *t);
/* Go's %v of a JSON value: [a b], map[k:v], <nil>. Allocated. */
char *kiln_go_format(const void *json_value);
/* One-line or indented JSON of a value (allocated). */
char *kiln_json_dump(const void *json_value, bool indent);

#endif
