/* OCI / Docker JSON types <-> jansson: string maps, the shared reading and
 * writing helpers (json-internal.h), descriptors, manifests and indexes; the
 * image config is in config_json.c. Output is canonical and deterministic
 * (Go encoding/json style: struct field order, maps sorted, omitempty, "<>&"
 * escaped as \u003c...), so re-serializing a config is stable and digests
 * reproduce. */
#include <stdlib.h>
#include <string.h>

#include "json-internal.h"

/* --- string maps ---------------------------------------------------------- */

static size_t map_find(const struct img_map *m, const char *key, bool *found)
{
	size_t lo = 0, hi = m->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(m->v[mid].key, key);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

void img_map_set(struct img_map *m, const char *key, const char *value)
{
	bool found;
	size_t i = map_find(m, key, &found);
	if (found) {
		free(m->v[i].value);
		m->v[i].value = xstrdup(value);
		return;
	}
	m->v = xreallocarray(m->v, m->n + 1, sizeof(*m->v));
	memmove(m->v + i + 1, m->v + i, (m->n - i) * sizeof(*m->v));
	m->v[i].key = xstrdup(key);
	m->v[i].value = xstrdup(value);
	m->n++;
}

const char *img_map_get(const struct img_map *m, const char *key)
{
	bool found;
	size_t i = map_find(m, key, &found);
	return found ? m->v[i].value : NULL;
}

bool img_map_del(struct img_map *m, const char *key)
{
	bool found;
	size_t i = map_find(m, key, &found);
	if (!found)
		return false;
	free(m->v[i].key);
	free(m->v[i].value);
	memmove(m->v + i, m->v + i + 1, (m->n - i - 1) * sizeof(*m->v));
	m->n--;
	return true;
}

void img_map_release(struct img_map *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->v[i].key);
		free(m->v[i].value);
	}
	free(m->v);
	m->v = NULL;
	m->n = 0;
}

void img_map_copy(struct img_map *dst, const struct img_map *src)
{
	memset(dst, 0, sizeof(*dst));
	for (size_t i = 0; i < src->n; i++)
		img_map_set(dst, src->v[i].key, src->v[i].value);
}

/* --- reading helpers -------------------------------------------------------- */

int img_json_type_err(struct kiln_err *err, const char *what, const char *key, const char *type)
{
	return kiln_err_set(err, KILN_E_CORRUPT, "invalid %s: `%s` must be %s", what, key, type);
}

int img_json_get_str(json_t *o, const char *key, char **out, const char *what, struct kiln_err *err)
{
	json_t *v = json_object_get(o, key);
	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return img_json_type_err(err, what, key, "a string");
	*out = xstrdup(json_string_value(v));
	return 0;
}

int img_json_get_int(json_t *o, const char *key, int64_t *out, const char *what,
                     struct kiln_err *err)
{
	json_t *v = json_object_get(o, key);
	*out = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v))
		return img_json_type_err(err, what, key, "an integer");
	*out = json_integer_value(v);
	return 0;
}

int img_json_get_bool(json_t *o, const char *key, bool *out, const char *what, struct kiln_err *err)
{
	json_t *v = json_object_get(o, key);
	*out = false;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return img_json_type_err(err, what, key, "a boolean");
	*out = json_is_true(v);
	return 0;
}

/* Array of strings -> NULL-terminated vector (NULL when absent or null). */
int img_json_get_strv(json_t *o, const char *key, char ***out, size_t *n_out, const char *what,
                      struct kiln_err *err)
{
	json_t *v = json_object_get(o, key);
	*out = NULL;
	if (n_out)
		*n_out = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return img_json_type_err(err, what, key, "an array of strings");
	size_t n = json_array_size(v);
	char **sv = xcalloc(n + 1, sizeof(*sv));
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(v, i);
		if (!json_is_string(e)) {
			kiln_strv_free(sv);
			return img_json_type_err(err, what, key, "an array of strings");
		}
		sv[i] = xstrdup(json_string_value(e));
	}
	*out = sv;
	if (n_out)
		*n_out = n;
	return 0;
}

int img_json_cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Object used as a set ({"80/tcp": {}}) -> sorted key vector. */
int img_json_get_set(json_t *o, const char *key, char ***out, const char *what,
                     struct kiln_err *err)
{
	json_t *v = json_object_get(o, key);
	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return img_json_type_err(err, what, key, "an object");
	char **sv = xcalloc(json_object_size(v) + 1, sizeof(*sv));
	size_t i = 0;
	const char *k;
	json_t *val;
	json_object_foreach(v, k, val)
	{
		(void)val;
		sv[i++] = xstrdup(k);
	}
	qsort(sv, i, sizeof(*sv), img_json_cmp_str);
	*out = sv;
	return 0;
}

int img_json_get_map(json_t *o, const char *key, struct img_map *out, const char *what,
                     struct kiln_err *err)
{
	json_t *v = json_object_get(o, key);
	memset(out, 0, sizeof(*out));
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return img_json_type_err(err, what, key, "an object");
	const char *k;
	json_t *val;
	json_object_foreach(v, k, val)
	{
		if (!json_is_string(val)) {
			img_map_release(out);
			return img_json_type_err(err, what, key, "an object of strings");
		}
		img_map_set(out, k, json_string_value(val));
	}
	return 0;
}

/* Unknown members of o (not in the NULL-terminated known list), or NULL. */
void *img_json_collect_extra(json_t *o, const char *const *known)
{
	json_t *extra = NULL;
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v)
	{
		bool is_known = false;
		for (const char *const *p = known; *p && !is_known; p++)
			is_known = !strcmp(*p, k);
		if (is_known)
			continue;
		if (!extra)
			extra = json_object();
		json_object_set(extra, k, v);
	}
	return extra;
}

json_t *img_json_parse_object(const char *data, size_t len, const char *what, struct kiln_err *err)
{
	json_error_t je;
	json_t *root = json_loadb(data, len, 0, &je);
	if (!root) {
		kiln_err_set(err, KILN_E_CORRUPT, "invalid %s: %s (line %d)", what, je.text,
		             je.line);
		return NULL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		kiln_err_set(err, KILN_E_CORRUPT, "invalid %s: not a JSON object", what);
		return NULL;
	}
	return root;
}

/* --- writing helpers ---------------------------------------------------------- */

void img_json_put_str(json_t *o, const char *key, const char *v)
{
	if (v && *v)
		json_object_set_new(o, key, json_string(v));
}

json_t *img_json_strv(char *const *sv)
{
	json_t *a = json_array();
	for (; sv && *sv; sv++)
		json_array_append_new(a, json_string(*sv));
	return a;
}

void img_json_put_strv(json_t *o, const char *key, char *const *sv)
{
	if (sv && *sv)
		json_object_set_new(o, key, img_json_strv(sv));
}

void img_json_put_set(json_t *o, const char *key, char *const *sv)
{
	if (!sv || !*sv)
		return;
	json_t *s = json_object();
	for (; *sv; sv++)
		json_object_set_new(s, *sv, json_object());
	json_object_set_new(o, key, s);
}

void img_json_put_map(json_t *o, const char *key, const struct img_map *m)
{
	if (!m->n)
		return;
	json_t *s = json_object();
	for (size_t i = 0; i < m->n; i++)
		json_object_set_new(s, m->v[i].key, json_string(m->v[i].value));
	json_object_set_new(o, key, s);
}

void img_json_put_extra(json_t *o, void *extra)
{
	if (extra)
		json_object_update_missing(o, (json_t *)extra);
}

/* Dumps compactly and escapes like Go: <, >, &, U+2028, U+2029. */
char *img_json_dump(json_t *o, size_t *len)
{
	char *raw = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!raw)
		abort(); /* out of memory */
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	for (const char *p = raw; *p; p++) {
		size_t plain = strcspn(p, "<>&\xe2"); /* copied in one go: index.json is large */
		if (plain) {
			kiln_buf_add(&b, p, plain, NULL);
			p += plain - 1;
		} else if (*p == '<')
			kiln_buf_addstr(&b, "\\u003c", NULL);
		else if (*p == '>')
			kiln_buf_addstr(&b, "\\u003e", NULL);
		else if (*p == '&')
			kiln_buf_addstr(&b, "\\u0026", NULL);
		else if (!strncmp(p, "\xe2\x80\xa8", 3) || !strncmp(p, "\xe2\x80\xa9", 3)) {
			kiln_buf_addstr(&b, p[2] == '\xa8' ? "\\u2028" : "\\u2029", NULL);
			p += 2;
		} else
			kiln_buf_addch(&b, *p, NULL);
	}
	free(raw);
	return kiln_buf_detach(&b, len);
}

/* Rebuilds o with its top-level keys sorted (values kept). */
json_t *img_json_sorted_object(json_t *o)
{
	size_t n = json_object_size(o), i = 0;
	const char **keys = xcalloc(n ? n : 1, sizeof(*keys));
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v)
	{
		(void)v;
		keys[i++] = k;
	}
	qsort(keys, n, sizeof(*keys), img_json_cmp_str);
	json_t *out = json_object();
	for (i = 0; i < n; i++)
		json_object_set(out, keys[i], json_object_get(o, keys[i]));
	free(keys);
	json_decref(o);
	return out;
}

/* --- descriptors -------------------------------------------------------------- */

static const char *const desc_known[] = {"mediaType",   "digest",   "size",         "urls",
                                         "annotations", "platform", "artifactType", NULL};

static int platform_from_json(json_t *p, struct img_platform **out, struct kiln_err *err)
{
	const char *w = "descriptor platform";
	if (!p || json_is_null(p))
		return 0;
	if (!json_is_object(p))
		return img_json_type_err(err, "descriptor", "platform", "an object");
	struct img_platform *pl = xcalloc(1, sizeof(*pl));
	*out = pl;
	if (img_json_get_str(p, "architecture", &pl->architecture, w, err) < 0 ||
	    img_json_get_str(p, "os", &pl->os, w, err) < 0 ||
	    img_json_get_str(p, "os.version", &pl->os_version, w, err) < 0 ||
	    img_json_get_strv(p, "os.features", &pl->os_features, NULL, w, err) < 0 ||
	    img_json_get_str(p, "variant", &pl->variant, w, err) < 0)
		return -1;
	return 0;
}

static int desc_from_json(json_t *o, struct img_descriptor *d, const char *what,
                          struct kiln_err *err)
{
	memset(d, 0, sizeof(*d));
	if (!json_is_object(o))
		return kiln_err_set(err, KILN_E_CORRUPT, "invalid %s: not an object", what);
	if (img_json_get_str(o, "mediaType", &d->media_type, what, err) < 0 ||
	    img_json_get_str(o, "digest", &d->digest, what, err) < 0 ||
	    img_json_get_int(o, "size", &d->size, what, err) < 0 ||
	    img_json_get_strv(o, "urls", &d->urls, NULL, what, err) < 0 ||
	    img_json_get_map(o, "annotations", &d->annotations, what, err) < 0 ||
	    platform_from_json(json_object_get(o, "platform"), &d->platform, err) < 0 ||
	    img_json_get_str(o, "artifactType", &d->artifact_type, what, err) < 0)
		return -1;
	if (!d->digest || !strchr(d->digest, ':'))
		return kiln_err_set(err, KILN_E_CORRUPT, "invalid %s: missing or bad `digest`",
		                    what);
	if (d->size < 0)
		return kiln_err_set(err, KILN_E_CORRUPT, "invalid %s: negative `size`", what);
	d->extra = img_json_collect_extra(o, desc_known);
	return 0;
}

static json_t *desc_json(const struct img_descriptor *d)
{
	json_t *o = json_object();
	img_json_put_str(o, "mediaType", d->media_type);
	json_object_set_new(o, "digest", json_string(d->digest ? d->digest : ""));
	json_object_set_new(o, "size", json_integer(d->size));
	img_json_put_strv(o, "urls", d->urls);
	img_json_put_map(o, "annotations", &d->annotations);
	if (d->extra && json_object_get((json_t *)d->extra, "data"))
		json_object_set(o, "data", json_object_get((json_t *)d->extra, "data"));
	if (d->platform) {
		const struct img_platform *p = d->platform;
		json_t *po = json_object();
		json_object_set_new(po, "architecture",
		                    json_string(p->architecture ? p->architecture : ""));
		json_object_set_new(po, "os", json_string(p->os ? p->os : ""));
		img_json_put_str(po, "os.version", p->os_version);
		img_json_put_strv(po, "os.features", p->os_features);
		img_json_put_str(po, "variant", p->variant);
		json_object_set_new(o, "platform", po);
	}
	img_json_put_str(o, "artifactType", d->artifact_type);
	img_json_put_extra(o, d->extra);
	return o;
}

void img_descriptor_release(struct img_descriptor *d)
{
	if (!d)
		return;
	free(d->media_type);
	free(d->digest);
	kiln_strv_free(d->urls);
	img_map_release(&d->annotations);
	if (d->platform) {
		free(d->platform->architecture);
		free(d->platform->os);
		free(d->platform->os_version);
		free(d->platform->variant);
		kiln_strv_free(d->platform->os_features);
		free(d->platform);
	}
	free(d->artifact_type);
	json_decref((json_t *)d->extra);
	memset(d, 0, sizeof(*d));
}

void img_descriptor_copy(struct img_descriptor *dst, const struct img_descriptor *src)
{
	json_t *o = desc_json(src);
	if (desc_from_json(o, dst, "descriptor", NULL) < 0)
		abort(); /* a descriptor we hold always round-trips */
	json_decref(o);
}

static int desc_array_from_json(json_t *a, const char *key, struct img_descriptor **out, size_t *n,
                                const char *what, struct kiln_err *err)
{
	*out = NULL;
	*n = 0;
	if (!a || json_is_null(a))
		return 0;
	if (!json_is_array(a))
		return img_json_type_err(err, what, key, "an array");
	*out = xcalloc(json_array_size(a) + 1, sizeof(**out));
	_cleanup_free_ char *w = xasprintf("%s %s entry", what, key);
	for (size_t i = 0; i < json_array_size(a); i++) {
		if (desc_from_json(json_array_get(a, i), &(*out)[i], w, err) < 0) {
			*n = i + 1;
			return -1;
		}
		*n = i + 1;
	}
	return 0;
}

static json_t *desc_array_json(const struct img_descriptor *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, desc_json(&v[i]));
	return a;
}

static int subject_from_json(json_t *o, struct img_descriptor **out, const char *what,
                             struct kiln_err *err)
{
	json_t *s = json_object_get(o, "subject");
	if (!s || json_is_null(s))
		return 0;
	*out = xcalloc(1, sizeof(**out));
	return desc_from_json(s, *out, what, err);
}

/* --- manifests ------------------------------------------------------------------- */

static const char *const manifest_known[] = {"schemaVersion", "mediaType", "artifactType", "config",
                                             "layers",        "subject",   "annotations",  NULL};

/* The members manifests and indexes share; what is "image manifest" or
 * "image index", mt1/mt2 the media types allowed. */
struct top_fields {
	int *schema_version;
	char **media_type, **artifact_type;
	struct img_map *annotations;
	struct img_descriptor **subject;
};

static int top_parse(json_t *root, const struct top_fields *f, const char *w, const char *mt1,
                     const char *mt2, struct kiln_err *err)
{
	int64_t sv;
	_cleanup_free_ char *sw = xasprintf("%s subject", w);
	if (img_json_get_int(root, "schemaVersion", &sv, w, err) < 0 ||
	    img_json_get_str(root, "mediaType", f->media_type, w, err) < 0 ||
	    img_json_get_str(root, "artifactType", f->artifact_type, w, err) < 0 ||
	    img_json_get_map(root, "annotations", f->annotations, w, err) < 0 ||
	    subject_from_json(root, f->subject, sw, err) < 0)
		return -1;
	*f->schema_version = (int)sv;
	if (sv != 2)
		return kiln_err_set(err, KILN_E_CORRUPT,
		                    "invalid %s: unsupported schemaVersion %lld", w, (long long)sv);
	const char *mt = *f->media_type;
	if (mt && strcmp(mt, mt1) && strcmp(mt, mt2))
		return kiln_err_set(err, KILN_E_CORRUPT, "invalid %s: unexpected mediaType `%s`", w,
		                    mt);
	return 0;
}

static int manifest_parse(json_t *root, struct img_manifest *m, struct kiln_err *err)
{
	const char *w = "image manifest";
	const struct top_fields f = {&m->schema_version, &m->media_type, &m->artifact_type,
	                             &m->annotations, &m->subject};
	if (top_parse(root, &f, w, IMG_MT_OCI_MANIFEST, IMG_MT_DOCKER_MANIFEST, err) < 0)
		return -1;
	json_t *cfg = json_object_get(root, "config");
	if (!cfg)
		return kiln_err_set(err, KILN_E_CORRUPT, "invalid image manifest: no `config`");
	if (desc_from_json(cfg, &m->config, "image manifest config", err) < 0 ||
	    desc_array_from_json(json_object_get(root, "layers"), "layers", &m->layers,
	                         &m->n_layers, w, err) < 0)
		return -1;
	m->extra = img_json_collect_extra(root, manifest_known);
	return 0;
}

int img_manifest_from_json(const char *data, size_t len, struct img_manifest **out,
                           struct kiln_err *err)
{
	json_t *root = img_json_parse_object(data, len, "image manifest", err);
	if (!root)
		return -1;
	struct img_manifest *m = xcalloc(1, sizeof(*m));
	int r = manifest_parse(root, m, err);
	json_decref(root);
	if (r < 0) {
		img_manifest_free(m);
		return -1;
	}
	*out = m;
	return 0;
}

char *img_manifest_to_json(const struct img_manifest *m, size_t *len)
{
	json_t *o = json_object();
	json_object_set_new(o, "schemaVersion", json_integer(m->schema_version));
	img_json_put_str(o, "mediaType", m->media_type);
	img_json_put_str(o, "artifactType", m->artifact_type);
	json_object_set_new(o, "config", desc_json(&m->config));
	json_object_set_new(o, "layers", desc_array_json(m->layers, m->n_layers));
	if (m->subject)
		json_object_set_new(o, "subject", desc_json(m->subject));
	img_json_put_map(o, "annotations", &m->annotations);
	img_json_put_extra(o, m->extra);
	return img_json_dump(o, len);
}

void img_manifest_free(struct img_manifest *m)
{
	if (!m)
		return;
	if (__atomic_load_n(&m->refs, __ATOMIC_ACQUIRE) &&
	    __atomic_fetch_sub(&m->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return; /* another holder still uses it */
	img_manifest_release(m);
	free(m);
}

void img_manifest_release(struct img_manifest *m)
{
	free(m->media_type);
	free(m->artifact_type);
	img_descriptor_release(&m->config);
	for (size_t i = 0; i < m->n_layers; i++)
		img_descriptor_release(&m->layers[i]);
	free(m->layers);
	img_descriptor_release(m->subject);
	free(m->subject);
	img_map_release(&m->annotations);
	json_decref((json_t *)m->extra);
	memset(m, 0, sizeof(*m));
}

/* --- indexes ------------------------------------------------------------------------ */

static const char *const index_known[] = {
    "schemaVersion", "mediaType", "artifactType", "manifests", "subject", "annotations", NULL};

static int index_parse(json_t *root, struct img_index *x, struct kiln_err *err)
{
	const char *w = "image index";
	const struct top_fields f = {&x->schema_version, &x->media_type, &x->artifact_type,
	                             &x->annotations, &x->subject};
	if (top_parse(root, &f, w, IMG_MT_OCI_INDEX, IMG_MT_DOCKER_LIST, err) < 0)
		return -1;
	if (desc_array_from_json(json_object_get(root, "manifests"), "manifests", &x->manifests,
	                         &x->n_manifests, w, err) < 0)
		return -1;
	x->extra = img_json_collect_extra(root, index_known);
	return 0;
}

int img_index_from_json(const char *data, size_t len, struct img_index **out, struct kiln_err *err)
{
	json_t *root = img_json_parse_object(data, len, "image index", err);
	if (!root)
		return -1;
	struct img_index *x = xcalloc(1, sizeof(*x));
	int r = index_parse(root, x, err);
	json_decref(root);
	if (r < 0) {
		img_index_free(x);
		return -1;
	}
	*out = x;
	return 0;
}

char *img_index_to_json(const struct img_index *x, size_t *len)
{
	json_t *o = json_object();
	json_object_set_new(o, "schemaVersion", json_integer(x->schema_version));
	img_json_put_str(o, "mediaType", x->media_type);
	img_json_put_str(o, "artifactType", x->artifact_type);
	json_object_set_new(o, "manifests", desc_array_json(x->manifests, x->n_manifests));
	if (x->subject)
		json_object_set_new(o, "subject", desc_json(x->subject));
	img_json_put_map(o, "annotations", &x->annotations);
	img_json_put_extra(o, x->extra);
	return img_json_dump(o, len);
}

void img_index_free(struct img_index *x)
{
	if (!x)
		return;
	free(x->media_type);
	free(x->artifact_type);
	for (size_t i = 0; i < x->n_manifests; i++)
		img_descriptor_release(&x->manifests[i]);
	free(x->manifests);
	img_descriptor_release(x->subject);
	free(x->subject);
	img_map_release(&x->annotations);
	json_decref((json_t *)x->extra);
	free(x);
}

void img_index_add(struct img_index *x, const struct img_descriptor *d)
{
	x->manifests = xreallocarray(x->manifests, x->n_manifests + 1, sizeof(*x->manifests));
	img_descriptor_copy(&x->manifests[x->n_manifests++], d);
}

void img_index_remove_at(struct img_index *x, size_t i)
{
	img_descriptor_release(&x->manifests[i]);
	memmove(x->manifests + i, x->manifests + i + 1,
	        (x->n_manifests - i - 1) * sizeof(*x->manifests));
	x->n_manifests--;
}
