/* The registry's small JSON documents: token responses, error bodies,
 * _catalog, a manifest's mediaType (jansson; see docs/design-notes.md). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reg-internal.h"

static json_t *parse(const char *body, size_t len)
{
	return body && len ? json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
}

int reg_json_token(const char *body, size_t len, char **token, long *expires_in,
                   struct kiln_err *err)
{
	json_t *j = parse(body, len);
	const char *t = NULL;
	if (j && json_is_object(j)) {
		t = json_string_value(json_object_get(j, "token"));
		if (!t || !*t)
			t = json_string_value(json_object_get(j, "access_token"));
		json_t *e = json_object_get(j, "expires_in");
		if (json_is_integer(e) && json_integer_value(e) > 0)
			*expires_in = (long)json_integer_value(e);
	}
	if (!t || !*t) {
		json_decref(j);
		return kiln_err_set(err, KILN_E_INVALID, "token response holds no token");
	}
	*token = xstrdup(t);
	json_decref(j);
	return 0;
}

void reg_json_error(const char *body, size_t len, char **code, char **message)
{
	*code = *message = NULL;
	json_t *j = parse(body, len);
	json_t *errs = j ? json_object_get(j, "errors") : NULL;
	json_t *e0 = json_is_array(errs) ? json_array_get(errs, 0) : NULL;
	if (json_is_object(e0)) {
		const char *c = json_string_value(json_object_get(e0, "code"));
		const char *m = json_string_value(json_object_get(e0, "message"));
		*code = c ? xstrdup(c) : NULL;
		*message = m ? xstrdup(m) : NULL;
	}
	json_decref(j);
}

int reg_json_strings(const char *body, size_t len, const char *key, struct kiln_strv *out,
                     struct kiln_err *err)
{
	json_t *j = parse(body, len);
	json_t *repos = j ? json_object_get(j, key) : NULL;
	if (!json_is_array(repos) && !(json_is_null(repos) && !strcmp(key, "tags"))) {
		json_decref(j);
		return kiln_err_set(err, KILN_E_INVALID, "malformed registry answer: no `%s` list",
		                    key);
	}
	size_t i;
	json_t *v;
	json_array_foreach(repos, i, v)
	{
		if (json_is_string(v))
			kiln_strv_push(out, json_string_value(v));
	}
	json_decref(j);
	return 0;
}

bool reg_config_insecure(const char *host)
{
	const char *path = getenv("KILN_CONFIG");
	_cleanup_free_ char *def = NULL;
	if (!path || !*path) {
		const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
		if (geteuid() == 0)
			def = xstrdup("/etc/kiln/config.json");
		else if (xdg && *xdg)
			def = xasprintf("%s/kiln/config.json", xdg);
		else
			def = xasprintf("%s/.config/kiln/config.json", home && *home ? home : ".");
		path = def;
	}
	_cleanup_free_ char *data = NULL;
	size_t len;
	if (!kiln_path_exists(path) || kiln_read_file(path, 1u << 20, &data, &len, NULL) < 0)
		return false;
	json_t *j = parse(data, len);
	json_t *list = j ? json_object_get(j, "insecure-registries") : NULL;
	bool found = false;
	size_t i;
	json_t *v;
	json_array_foreach(list, i, v)
	{
		if (json_is_string(v) && !strcmp(json_string_value(v), host))
			found = true;
	}
	if (j && !json_is_object(j))
		kiln_warn("`%s` is not a JSON object: ignored", path);
	json_decref(j);
	return found;
}

const char *reg_media_type_of(const char *body, size_t len)
{
	static const char *known[] = {IMG_MT_OCI_MANIFEST, IMG_MT_OCI_INDEX, IMG_MT_DOCKER_MANIFEST,
	                              IMG_MT_DOCKER_LIST};
	json_t *j = parse(body, len);
	const char *mt = j ? json_string_value(json_object_get(j, "mediaType")) : NULL;
	const char *ret = NULL;
	for (size_t i = 0; mt && i < KILN_ARRAY_SIZE(known); i++)
		if (!strcmp(mt, known[i]))
			ret = known[i];
	if (!ret && j && !mt)
		ret = json_object_get(j, "manifests") ? IMG_MT_OCI_INDEX : IMG_MT_OCI_MANIFEST;
	json_decref(j);
	return ret;
}
