/* Private to image/: the jansson helpers shared by oci_json.c (maps,
 * descriptors, manifests, indexes) and config_json.c (image config). These
 * two files are the only ones that include <jansson.h>. */
#ifndef KILN_IMAGE_JSON_INTERNAL_H
#define KILN_IMAGE_JSON_INTERNAL_H

#include <jansson.h>

#include "image.h"

/* Reading: an absent or null member leaves the zero value; a member of the
 * wrong type is KILN_E_CORRUPT "invalid WHAT: `key` must be TYPE". */
int img_json_type_err(struct kiln_err *err, const char *what, const char *key, const char *type);
int img_json_get_str(json_t *o, const char *key, char **out, const char *what,
                     struct kiln_err *err);
int img_json_get_int(json_t *o, const char *key, int64_t *out, const char *what,
                     struct kiln_err *err);
int img_json_get_bool(json_t *o, const char *key, bool *out, const char *what,
                      struct kiln_err *err);
/* Array of strings -> NULL-terminated vector (NULL when absent or null). */
int img_json_get_strv(json_t *o, const char *key, char ***out, size_t *n_out, const char *what,
                      struct kiln_err *err);
/* Object used as a set ({"80/tcp": {}}) -> sorted key vector. */
int img_json_get_set(json_t *o, const char *key, char ***out, const char *what,
                     struct kiln_err *err);
int img_json_get_map(json_t *o, const char *key, struct img_map *out, const char *what,
                     struct kiln_err *err);
/* Unknown members of o (not in the NULL-terminated known list), or NULL. */
void *img_json_collect_extra(json_t *o, const char *const *known);
json_t *img_json_parse_object(const char *data, size_t len, const char *what, struct kiln_err *err);
int img_json_cmp_str(const void *a, const void *b); /* qsort over char * */

/* Writing: empty values are omitted (omitempty). */
void img_json_put_str(json_t *o, const char *key, const char *v);
json_t *img_json_strv(char *const *sv);
void img_json_put_strv(json_t *o, const char *key, char *const *sv);
void img_json_put_set(json_t *o, const char *key, char *const *sv);
void img_json_put_map(json_t *o, const char *key, const struct img_map *m);
void img_json_put_extra(json_t *o, void *extra);
/* Dumps compactly (consuming o) and escapes like Go: <, >, &, U+2028, U+2029. */
char *img_json_dump(json_t *o, size_t *len);
/* Rebuilds o (consumed) with its top-level keys sorted. */
json_t *img_json_sorted_object(json_t *o);

#endif
