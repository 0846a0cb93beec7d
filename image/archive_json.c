/* JSON of docker archives (manifest.json, repositories) and the exec form
 * of `import --change` instructions. */
#include <jansson.h>
#include <string.h>

#include "archive-internal.h"

static char **strv_from_json(json_t *a, size_t *n)
{
	size_t len = json_is_array(a) ? json_array_size(a) : 0;
	char **v = xcalloc(len + 1, sizeof(char *));
	size_t k = 0;
	for (size_t i = 0; i < len; i++) {
		const char *s = json_string_value(json_array_get(a, i));
		if (s)
			v[k++] = xstrdup(s);
	}
	if (n)
		*n = k;
	return v;
}

/* absent, null, or an array of strings */
static bool strv_json_ok(json_t *a)
{
	if (!a || json_is_null(a))
		return true;
	if (!json_is_array(a))
		return false;
	for (size_t i = 0; i < json_array_size(a); i++)
		if (!json_is_string(json_array_get(a, i)))
			return false;
	return true;
}

int docker_manifest_parse(const char *data, size_t len, struct docker_manifest_entry **out,
                          size_t *n, struct kiln_err *err)
{
	json_error_t je;
	json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return kiln_err_set(err, KILN_E_CORRUPT, "manifest.json: %s (line %d)", je.text,
		                    je.line);
	if (!json_is_array(root)) {
		json_decref(root);
		return kiln_err_set(err, KILN_E_CORRUPT, "manifest.json: not an array");
	}
	size_t cnt = json_array_size(root);
	struct docker_manifest_entry *v = xcalloc(cnt + 1, sizeof(*v));
	for (size_t i = 0; i < cnt; i++) {
		json_t *o = json_array_get(root, i);
		const char *cfg = json_string_value(json_object_get(o, "Config"));
		if (!cfg) {
			docker_manifest_free(v, i);
			json_decref(root);
			return kiln_err_set(err, KILN_E_CORRUPT,
			                    "manifest.json: entry %zu has no Config", i);
		}
		const char *bad = !strv_json_ok(json_object_get(o, "RepoTags")) ? "RepoTags"
		                  : !strv_json_ok(json_object_get(o, "Layers")) ? "Layers"
		                                                                : NULL;
		if (bad) {
			docker_manifest_free(v, i);
			json_decref(root);
			return kiln_err_set(
			    err, KILN_E_CORRUPT,
			    "manifest.json: entry %zu: `%s` is not an array of strings", i, bad);
		}
		v[i].config = xstrdup(cfg);
		v[i].repo_tags = strv_from_json(json_object_get(o, "RepoTags"), NULL);
		v[i].layers = strv_from_json(json_object_get(o, "Layers"), &v[i].n_layers);
	}
	json_decref(root);
	*out = v;
	*n = cnt;
	return 0;
}

static json_t *strv_to_json(char *const *v)
{
	json_t *a = json_array();
	for (size_t i = 0; v && v[i]; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

char *docker_manifest_json(const struct docker_manifest_entry *v, size_t n, size_t *len)
{
	json_t *root = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_object();
		json_object_set_new(o, "Config", json_string(v[i].config));
		json_object_set_new(o, "RepoTags",
		                    v[i].repo_tags && v[i].repo_tags[0]
		                        ? strv_to_json(v[i].repo_tags)
		                        : json_null());
		json_object_set_new(o, "Layers", strv_to_json(v[i].layers));
		json_array_append_new(root, o);
	}
	char *s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(root);
	*len = strlen(s);
	return s;
}

void docker_manifest_free(struct docker_manifest_entry *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].config);
		kiln_strv_free(v[i].repo_tags);
		kiln_strv_free(v[i].layers);
	}
	free(v);
}

char *docker_repositories_json(char *const *repos, char *const *ids, size_t n, size_t *len)
{
	json_t *root = json_object();
	for (size_t i = 0; i < n; i++) {
		const char *colon = strrchr(repos[i], ':');
		if (!colon || strchr(colon, '/'))
			continue;
		char *name = xstrndup(repos[i], (size_t)(colon - repos[i]));
		json_t *tags = json_object_get(root, name);
		if (!tags) {
			tags = json_object();
			json_object_set_new(root, name, tags);
		}
		json_object_set_new(tags, colon + 1, json_string(ids[i]));
		free(name);
	}
	char *s = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(root);
	*len = strlen(s);
	return s;
}
