/* Private to image/: helpers of import, save and load (archive_io.c,
 * archive_load.c) whose JSON side lives in archive_json.c, the one file of
 * these that includes <jansson.h>. */
#ifndef KILN_IMAGE_ARCHIVE_INTERNAL_H
#define KILN_IMAGE_ARCHIVE_INTERNAL_H

#include "image.h"

/* One element of a docker-archive manifest.json. */
struct docker_manifest_entry {
	char *config;     /* path inside the archive */
	char **repo_tags; /* NULL-terminated, never NULL */
	char **layers;    /* paths inside the archive, NULL-terminated */
	size_t n_layers;
};
int docker_manifest_parse(const char *data, size_t len, struct docker_manifest_entry **out,
                          size_t *n, struct kiln_err *err);
char *docker_manifest_json(const struct docker_manifest_entry *v, size_t n, size_t *len);
void docker_manifest_free(struct docker_manifest_entry *v, size_t n);

/* docker's legacy `repositories` file: {"name":{"tag":"<hex>"}}; repos[i]
 * is a familiar "name:tag", ids[i] the hex it maps to. */
char *docker_repositories_json(char *const *repos, char *const *ids, size_t n, size_t *len);

#endif
