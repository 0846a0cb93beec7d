/* The image config <-> jansson (see oci_json.c for the shared helpers and
 * the serialization rules). */
#include <stdlib.h>
#include <string.h>

#include "json-internal.h"

/* --- image config ---------------------------------------------------------------- */

static const char *const config_top_known[] = {"architecture", "author", "config",     "created",
                                               "history",      "os",     "os.version", "rootfs",
                                               "variant",      NULL};
static const char *const config_cfg_known[] = {
    "User",   "ExposedPorts", "Env",         "Entrypoint",  "Cmd",     "Volumes", "WorkingDir",
    "Labels", "StopSignal",   "ArgsEscaped", "Healthcheck", "OnBuild", "Shell",   NULL};

struct img_config *img_config_new(void)
{
	struct img_config *c = xcalloc(1, sizeof(*c));
	c->diff_ids = xcalloc(1, sizeof(*c->diff_ids));
	return c;
}

static int health_from_json(json_t *h, struct img_healthcheck **out, struct kiln_err *err)
{
	const char *w = "image config Healthcheck";
	if (!h || json_is_null(h))
		return 0;
	if (!json_is_object(h))
		return img_json_type_err(err, "image config", "Healthcheck", "an object");
	struct img_healthcheck *hc = xcalloc(1, sizeof(*hc));
	int64_t retries = 0;
	*out = hc;
	if (img_json_get_strv(h, "Test", &hc->test, NULL, w, err) < 0 ||
	    img_json_get_int(h, "Interval", &hc->interval, w, err) < 0 ||
	    img_json_get_int(h, "Timeout", &hc->timeout, w, err) < 0 ||
	    img_json_get_int(h, "StartPeriod", &hc->start_period, w, err) < 0 ||
	    img_json_get_int(h, "StartInterval", &hc->start_interval, w, err) < 0 ||
	    img_json_get_int(h, "Retries", &retries, w, err) < 0)
		return -1;
	hc->retries = (int)retries;
	return 0;
}

static int config_cfg_from_json(json_t *o, struct img_config *c, struct kiln_err *err)
{
	const char *w = "image config";
	if (!o || json_is_null(o))
		return 0;
	if (!json_is_object(o))
		return img_json_type_err(err, w, "config", "an object");
	c->has_config = true;
	if (img_json_get_str(o, "User", &c->config.user, w, err) < 0 ||
	    img_json_get_set(o, "ExposedPorts", &c->config.exposed_ports, w, err) < 0 ||
	    img_json_get_strv(o, "Env", &c->config.env, NULL, w, err) < 0 ||
	    img_json_get_strv(o, "Entrypoint", &c->config.entrypoint, NULL, w, err) < 0 ||
	    img_json_get_strv(o, "Cmd", &c->config.cmd, NULL, w, err) < 0 ||
	    img_json_get_set(o, "Volumes", &c->config.volumes, w, err) < 0 ||
	    img_json_get_str(o, "WorkingDir", &c->config.working_dir, w, err) < 0 ||
	    img_json_get_map(o, "Labels", &c->config.labels, w, err) < 0 ||
	    img_json_get_str(o, "StopSignal", &c->config.stop_signal, w, err) < 0 ||
	    img_json_get_bool(o, "ArgsEscaped", &c->config.args_escaped, w, err) < 0 ||
	    health_from_json(json_object_get(o, "Healthcheck"), &c->config.healthcheck, err) < 0 ||
	    img_json_get_strv(o, "OnBuild", &c->config.on_build, NULL, w, err) < 0 ||
	    img_json_get_strv(o, "Shell", &c->config.shell, NULL, w, err) < 0)
		return -1;
	c->config.labels_set = json_is_object(json_object_get(o, "Labels"));
	c->config_extra = img_json_collect_extra(o, config_cfg_known);
	return 0;
}

static int history_from_json(json_t *a, struct img_config *c, struct kiln_err *err)
{
	const char *w = "image config history";
	if (!a || json_is_null(a))
		return 0;
	if (!json_is_array(a))
		return img_json_type_err(err, "image config", "history", "an array");
	c->history = xcalloc(json_array_size(a) + 1, sizeof(*c->history));
	for (size_t i = 0; i < json_array_size(a); i++) {
		json_t *h = json_array_get(a, i);
		struct img_history *e = &c->history[c->n_history++];
		if (!json_is_object(h))
			return img_json_type_err(err, "image config", "history",
			                         "an array of objects");
		if (img_json_get_str(h, "created", &e->created, w, err) < 0 ||
		    img_json_get_str(h, "created_by", &e->created_by, w, err) < 0 ||
		    img_json_get_str(h, "author", &e->author, w, err) < 0 ||
		    img_json_get_str(h, "comment", &e->comment, w, err) < 0 ||
		    img_json_get_bool(h, "empty_layer", &e->empty_layer, w, err) < 0)
			return -1;
	}
	return 0;
}

static int config_parse(json_t *root, struct img_config *c, struct kiln_err *err)
{
	const char *w = "image config";
	json_t *rootfs = json_object_get(root, "rootfs");
	if (img_json_get_str(root, "architecture", &c->architecture, w, err) < 0 ||
	    img_json_get_str(root, "os", &c->os, w, err) < 0 ||
	    img_json_get_str(root, "variant", &c->variant, w, err) < 0 ||
	    img_json_get_str(root, "os.version", &c->os_version, w, err) < 0 ||
	    img_json_get_str(root, "created", &c->created, w, err) < 0 ||
	    img_json_get_str(root, "author", &c->author, w, err) < 0 ||
	    config_cfg_from_json(json_object_get(root, "config"), c, err) < 0 ||
	    history_from_json(json_object_get(root, "history"), c, err) < 0)
		return -1;
	if (rootfs && !json_is_null(rootfs)) {
		if (!json_is_object(rootfs))
			return img_json_type_err(err, w, "rootfs", "an object");
		free(c->diff_ids);
		c->diff_ids = NULL;
		if (img_json_get_str(rootfs, "type", &c->rootfs_type, w, err) < 0 ||
		    img_json_get_strv(rootfs, "diff_ids", &c->diff_ids, &c->n_diff_ids, w, err) < 0)
			return -1;
		if (!c->diff_ids)
			c->diff_ids = xcalloc(1, sizeof(*c->diff_ids));
	}
	c->extra = img_json_collect_extra(root, config_top_known);
	return 0;
}

int img_config_from_json(const char *data, size_t len, struct img_config **out,
                         struct kiln_err *err)
{
	json_t *root = img_json_parse_object(data, len, "image config", err);
	if (!root)
		return -1;
	struct img_config *c = img_config_new();
	int r = config_parse(root, c, err);
	json_decref(root);
	if (r < 0) {
		img_config_free(c);
		return -1;
	}
	*out = c;
	return 0;
}

static void put_i64(json_t *o, const char *key, int64_t v)
{
	if (v)
		json_object_set_new(o, key, json_integer(v));
}

static json_t *config_cfg_json(const struct img_config *c)
{
	json_t *o = json_object();
	img_json_put_str(o, "User", c->config.user);
	img_json_put_set(o, "ExposedPorts", c->config.exposed_ports);
	img_json_put_strv(o, "Env", c->config.env);
	img_json_put_strv(o, "Entrypoint", c->config.entrypoint);
	img_json_put_strv(o, "Cmd", c->config.cmd);
	img_json_put_set(o, "Volumes", c->config.volumes);
	img_json_put_str(o, "WorkingDir", c->config.working_dir);
	if (c->config.labels_set && !c->config.labels.n)
		json_object_set_new(o, "Labels", json_object());
	img_json_put_map(o, "Labels", &c->config.labels);
	img_json_put_str(o, "StopSignal", c->config.stop_signal);
	if (c->config.args_escaped)
		json_object_set_new(o, "ArgsEscaped", json_true());
	const struct img_healthcheck *hc = c->config.healthcheck;
	if (hc) {
		json_t *h = json_object();
		img_json_put_strv(h, "Test", hc->test);
		put_i64(h, "Interval", hc->interval);
		put_i64(h, "Timeout", hc->timeout);
		put_i64(h, "StartPeriod", hc->start_period);
		put_i64(h, "StartInterval", hc->start_interval);
		put_i64(h, "Retries", hc->retries);
		json_object_set_new(o, "Healthcheck", h);
	}
	img_json_put_strv(o, "OnBuild", c->config.on_build);
	img_json_put_strv(o, "Shell", c->config.shell);
	img_json_put_extra(o, c->config_extra);
	return o;
}

char *img_config_to_json(const struct img_config *c, size_t *len)
{
	json_t *o = json_object();
	img_json_put_str(o, "architecture", c->architecture);
	img_json_put_str(o, "author", c->author);
	if (c->has_config || c->config_extra)
		json_object_set_new(o, "config", config_cfg_json(c));
	img_json_put_str(o, "created", c->created);
	if (c->n_history) {
		json_t *a = json_array();
		for (size_t i = 0; i < c->n_history; i++) {
			const struct img_history *e = &c->history[i];
			json_t *h = json_object();
			img_json_put_str(h, "created", e->created);
			img_json_put_str(h, "created_by", e->created_by);
			img_json_put_str(h, "author", e->author);
			img_json_put_str(h, "comment", e->comment);
			if (e->empty_layer)
				json_object_set_new(h, "empty_layer", json_true());
			json_array_append_new(a, h);
		}
		json_object_set_new(o, "history", a);
	}
	img_json_put_str(o, "os", c->os);
	img_json_put_str(o, "os.version", c->os_version);
	json_t *rootfs = json_object();
	json_object_set_new(rootfs, "type",
	                    json_string(c->rootfs_type ? c->rootfs_type : "layers"));
	json_object_set_new(rootfs, "diff_ids", img_json_strv(c->diff_ids));
	json_object_set_new(o, "rootfs", rootfs);
	img_json_put_str(o, "variant", c->variant);
	img_json_put_extra(o, c->extra);
	return img_json_dump(img_json_sorted_object(o), len);
}

struct img_config *img_config_dup(const struct img_config *c)
{
	size_t len;
	_cleanup_free_ char *j = img_config_to_json(c, &len);
	struct img_config *out = NULL;
	if (img_config_from_json(j, len, &out, NULL) < 0)
		abort(); /* our own output always parses */
	out->has_config = c->has_config;
	return out;
}

void img_config_free(struct img_config *c)
{
	if (!c)
		return;
	if (__atomic_load_n(&c->refs, __ATOMIC_ACQUIRE) &&
	    __atomic_fetch_sub(&c->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return; /* another holder still uses it */
	free(c->architecture);
	free(c->os);
	free(c->variant);
	free(c->os_version);
	free(c->created);
	free(c->author);
	free(c->config.user);
	kiln_strv_free(c->config.exposed_ports);
	kiln_strv_free(c->config.env);
	kiln_strv_free(c->config.entrypoint);
	kiln_strv_free(c->config.cmd);
	kiln_strv_free(c->config.volumes);
	free(c->config.working_dir);
	img_map_release(&c->config.labels);
	free(c->config.stop_signal);
	if (c->config.healthcheck) {
		kiln_strv_free(c->config.healthcheck->test);
		free(c->config.healthcheck);
	}
	kiln_strv_free(c->config.on_build);
	kiln_strv_free(c->config.shell);
	kiln_strv_free(c->diff_ids);
	free(c->rootfs_type);
	for (size_t i = 0; i < c->n_history; i++) {
		free(c->history[i].created);
		free(c->history[i].created_by);
		free(c->history[i].author);
		free(c->history[i].comment);
	}
	free(c->history);
	json_decref((json_t *)c->extra);
	json_decref((json_t *)c->config_extra);
	free(c);
}

static json_t *config_member_obj(struct img_config *c)
{
	if (!c->config_extra)
		c->config_extra = json_object();
	return c->config_extra;
}

void img_config_member_set_str(struct img_config *c, const char *key, const char *value)
{
	json_object_set_new(config_member_obj(c), key, json_string(value ? value : ""));
}

void img_config_member_set_bool(struct img_config *c, const char *key, bool value)
{
	json_object_set_new(config_member_obj(c), key, json_boolean(value));
}

const char *img_config_member_str(const struct img_config *c, const char *key)
{
	json_t *v = c->config_extra ? json_object_get((json_t *)c->config_extra, key) : NULL;
	return json_is_string(v) ? json_string_value(v) : "";
}

bool img_config_member_bool(const struct img_config *c, const char *key)
{
	json_t *v = c->config_extra ? json_object_get((json_t *)c->config_extra, key) : NULL;
	return json_is_true(v);
}

char *img_config_extra_get(const struct img_config *c, const char *key)
{
	json_t *v = c->extra ? json_object_get((json_t *)c->extra, key) : NULL;
	return v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
}

int img_config_extra_set(struct img_config *c, const char *key, const char *json,
                         struct kiln_err *err)
{
	if (!json) {
		if (c->extra)
			json_object_del((json_t *)c->extra, key);
		return 0;
	}
	json_error_t je;
	json_t *v = json_loads(json, JSON_DECODE_ANY, &je);
	if (!v)
		return kiln_err_set(err, KILN_E_INVALID, "image config member `%s`: %s", key,
		                    je.text);
	if (!c->extra)
		c->extra = json_object();
	json_object_set_new((json_t *)c->extra, key, v);
	return 0;
}
