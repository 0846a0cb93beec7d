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
/* With that many significant digits: 4 is go-units' HumanSize (system df,
 * prune totals), 3 (kiln_human_size) HumanSizeWithPrecision(s, 3). */
char *kiln_human_size_prec(double size, int precision);
/* docker's units.HumanDuration: "2 hours", "About a minute" */
char *kiln_human_duration(int64_t seconds);
int kiln_parse_rfc3339(const char *s, time_t *out);
char *kiln_since(const char *rfc3339); /* "2 hours ago" */
/* Go's zero time (0001-01-01T00:00:00Z), which docker shows as "N/A" */
bool kiln_time_is_zero(const char *rfc3339);
/* Go's time.Unix(t).Format(time.RFC3339) in the local zone:
 * "2024-01-02T08:34:05+05:30" (Z for UTC) */
char *kiln_time_rfc3339_local(const char *rfc3339);
/* docker's filter timestamps (until=, since=): a Go duration before now
 * ("24h", "10m"), an RFC 3339 date or time (local zone when it has none:
 * "2024-01-02", "2024-01-02T15:04", "2024-01-02T15:04:05Z"), or unix
 * seconds[.nanoseconds]. timestamp.c */
int kiln_docker_timestamp(const char *value, int64_t *ns, struct kiln_err *err);
/* history and tag: a not-found error names the reference as docker does,
 * normalized and familiar ("No such image: nosuch:latest"). cmd_image.c */
void kiln_err_no_such_image(struct kiln_err *e, const char *arg);
char *kiln_time_go(const char *rfc3339); /* "2024-01-02 03:04:05 +0000 UTC" */
/* Go's Time.String() in the local zone, fraction kept: "2024-01-02
 * 03:04:05.123 +0000 UTC"; NULL or year 1: Go's zero time. */
char *kiln_time_go_nano(const char *rfc3339);
/* For a command that goes on after a failure (rmi, inspect): an error
 * already held in ctx->err is printed ("Error: ..."), e is moved there (to
 * be printed by main). */
struct kiln_ctx;
void kiln_report_error(struct kiln_ctx *ctx, struct kiln_err *e);
/* Prints the warning and docker's prompt, reads a line from stdin. */
bool kiln_confirm(const char *warning);

/* Go text/template subset over a JSON value (a json_t *): see template.c
 * for the syntax, template_funcs.c for the functions. kiln_tmpl_parse reads
 * a docker list --format ("table" prefix, trimmed, \t and \n written as two
 * characters made real); kiln_tmpl_parse_raw takes the text as it is
 * (inspect). Parse errors: KILN_E_USAGE "template: :1: ...". */
struct kiln_tmpl;
struct kiln_tmpl *kiln_tmpl_parse(const char *text, struct kiln_err *err);
struct kiln_tmpl *kiln_tmpl_parse_raw(const char *text, struct kiln_err *err);
bool kiln_tmpl_is_table(const struct kiln_tmpl *t);
/* Header line for a table format: the template rendered over the column
 * titles, names mapping a field ("ID") to its title ("IMAGE ID"), {NULL,
 * NULL}-terminated; other fields upper-cased. */
char *kiln_tmpl_header(const struct kiln_tmpl *t, const char *const (*names)[2]);
/* Go types the JSON does not carry. kinds ({field, kind}, {NULL, NULL}-
 * terminated) names fields whose objects are Go maps ("map", printed
 * map[k:v]; other objects are structs, printed {v1 v2}) and gives absent or
 * null fields their zero value: "slice" [], "map" map[], "ptr" <nil>,
 * "string" "", "bool" false, "int" 0. type is the Go type of "." named in
 * "can't evaluate field X in type T". raw_fallback: on an execution error
 * run again with every object a map and a missing key an error, as docker
 * inspect does (its error is the one reported). */
struct kiln_tmpl_opts {
	const char *type;
	const char *const (*kinds)[2];
	/* {field, "F1 F2 ..."}: a struct's fields in Go order, so that the ones
	 * the JSON omits print as their zero value ({{.Config}}) */
	const char *const (*structs)[2];
	bool raw_fallback;
};
/* Appends the output to out; on an error out is unchanged and err reads
 * "template parsing error: template: :1:2: executing \"\" at <.Foo>: ...". */
int kiln_tmpl_render(const struct kiln_tmpl *t, const void *json_value,
                     const struct kiln_tmpl_opts *o, struct kiln_buf *out, struct kiln_err *err);
void kiln_tmpl_free(struct kiln_tmpl *t);
/* docker's list formatter: format "json" prints each object as a JSON line,
 * "table TEMPLATE" a header (from headers, see kiln_tmpl_header) and rows
 * aligned like docker's tabwriter, "TEMPLATE" one line per object. objs are
 * json_t *. A bad template or an execution error: -1 with err set and
 * nothing printed. */
int kiln_format_list(const char *format, void *const *objs, size_t n,
                     const char *const (*headers)[2], const struct kiln_tmpl_opts *o, FILE *out,
                     struct kiln_err *err);
/* Go's %v of a JSON value: [a b], map[k:v], <nil>. Allocated. */
char *kiln_go_format(const void *json_value);
/* One-line or indented JSON of a value (allocated). */
char *kiln_json_dump(const void *json_value, bool indent);

#endif
