/* Image commands: images/image ls, inspect, tag, rmi/image rm, image prune,
 * history, and system df/prune/check. Docker-compatible output. */
#include "cmd_image.h"

#include <fnmatch.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "format.h"
#include "image.h"
#include "runtime.h"

static char *short_id(const char *id, bool no_trunc)
{
	return no_trunc ? xstrdup(id) : xstrndup(kiln_digest_hex(id), 12);
}

static json_t *jstr(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *jstrv(char *const *v)
{
	if (!v)
		return json_null();
	json_t *a = json_array();
	for (; *v; v++)
		json_array_append_new(a, json_string(*v));
	return a;
}

static json_t *jset(char *const *v)
{
	if (!v)
		return json_null();
	json_t *o = json_object();
	for (; *v; v++)
		json_object_set_new(o, *v, json_object());
	return o;
}

/* --- images ------------------------------------------------------------------ */

struct image_row {
	const struct img_image *img;
	char *repo, *tag, *digest;
};

json_t *image_row_json(const struct img_image *img, const char *repo, const char *tag,
                       const char *digest, bool no_trunc, const struct image_df *df)
{
	json_t *o = json_object();
	_cleanup_free_ char *size =
	    img->damaged ? xstrdup("N/A") : kiln_human_size((double)img->size);
	/* docker: Size has 3 significant digits, VirtualSize 4 */
	_cleanup_free_ char *vsize =
	    img->damaged ? xstrdup("N/A") : kiln_human_size_prec((double)img->size, 4);
	/* docker: the zero time has no CreatedSince (the table says N/A) */
	_cleanup_free_ char *since =
	    kiln_time_is_zero(img->created) ? xstrdup("") : kiln_since(img->created);
	_cleanup_free_ char *at = kiln_time_go(img->created);
	_cleanup_free_ char *id = short_id(img->id, no_trunc);
	_cleanup_free_ char *shared =
	    df ? kiln_human_size_prec((double)df->shared, 4) : xstrdup("N/A");
	_cleanup_free_ char *unique =
	    df ? kiln_human_size_prec((double)(img->size - df->shared), 4) : xstrdup("N/A");
	json_object_set_new(o, "Containers",
	                    df ? json_sprintf("%d", df->containers) : json_string("N/A"));
	json_object_set_new(o, "CreatedAt", json_string(at));
	json_object_set_new(o, "CreatedSince", json_string(since));
	json_object_set_new(o, "Digest", json_string(digest));
	json_object_set_new(o, "ID", json_string(id));
	json_object_set_new(o, "Repository", json_string(repo));
	json_object_set_new(o, "SharedSize", json_string(shared));
	json_object_set_new(o, "Size", json_string(size));
	json_object_set_new(o, "Tag", json_string(tag));
	json_object_set_new(o, "UniqueSize", json_string(unique));
	json_object_set_new(o, "VirtualSize", json_string(vsize));
	return o;
}

static json_t *row_json(const struct image_row *r, bool no_trunc)
{
	return image_row_json(r->img, r->repo, r->tag, r->digest, no_trunc, NULL);
}

/* Digest of repo (its normalized name) among the image's repo digests
 * (sorted: a binary search for "name@"), or "<none>". */
static char *repo_digest(const struct img_image *img, const char *name)
{
	_cleanup_free_ char *prefix = xasprintf("%s@", name);
	size_t lo = 0, hi = img->n_repo_digests, plen = strlen(prefix);
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(img->repo_digests[mid], prefix) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < img->n_repo_digests && !strncmp(img->repo_digests[lo], prefix, plen))
		return xstrdup(img->repo_digests[lo] + plen);
	return xstrdup("<none>");
}

/* A damaged image is listed with its references and ID, "N/A" for what its
 * lost config would have said, and a warning on stderr naming the way out. */
static void warn_damaged(struct img_image **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i]->damaged)
			fprintf(
			    stderr,
			    "WARNING: image %s is damaged (%s): remove it with `kiln rmi -f %.12s` "
			    "or `kiln system check --repair`\n",
			    v[i]->id, v[i]->damaged, kiln_digest_hex(v[i]->id));
}

/* --filter for images, as docker's daemon applies it: dangling=BOOL,
 * label=KEY[=VALUE] (all must match), reference=PATTERN (any; path.Match on
 * the familiar "name:tag" or "name"; only matching tags are listed),
 * before=IMAGE, since=IMAGE (created strictly before/after). */
struct image_filter {
	int dangling; /* -1: no filter */
	struct kiln_strv labels, refs;
	time_t before, since;
	bool has_before, has_since;
};

static void image_filter_release(struct image_filter *f)
{
	kiln_strv_release(&f->labels);
	kiln_strv_release(&f->refs);
}

static int filter_time(struct kiln_ctx *ctx, const char *image, time_t *out)
{
	struct img_image *img = NULL;
	if (img_image_load(ctx->store, image, &img, &ctx->err) < 0)
		return -1;
	int r = kiln_parse_rfc3339(img->created, out);
	img_image_free(img);
	if (r < 0)
		*out = 0;
	return 0;
}

/* Go's path.Match syntax check (ErrBadPattern): an escape at the end, an
 * unclosed or empty character class, a range with a missing end. */
static bool pattern_valid(const char *p)
{
	for (; *p; p++) {
		if (*p == '\\' && !*++p)
			return false;
		if (*p != '[')
			continue;
		p++;
		if (*p == '^')
			p++;
		if (*p == ']')
			return false; /* empty class */
		for (size_t n = 0; *p != ']'; n++) {
			if (!*p || (*p == '-' && !n))
				return false;
			if (*p == '\\' && !*++p)
				return false;
			if (p[1] == '-') {
				p += 2;
				if (!*p || *p == ']')
					return false;
				if (*p == '\\' && !*++p)
					return false;
			}
			p++;
		}
	}
	return true;
}

static int image_filter_parse(struct kiln_ctx *ctx, const struct kiln_strv *args,
                              struct image_filter *f)
{
	f->dangling = -1;
	for (size_t i = 0; i < args->n; i++) {
		const char *a = args->v[i], *eq = strchr(a, '=');
		if (!eq)
			return kiln_err_set(
			    &ctx->err, KILN_E_USAGE,
			    "invalid argument \"%s\" for \"-f, --filter\" flag: bad format "
			    "of filter (expected name=value)",
			    a);
		_cleanup_free_ char *key = xstrndup(a, (size_t)(eq - a));
		const char *val = eq + 1;
		if (!strcmp(key, "dangling")) {
			if (strcasecmp(val, "true") && strcmp(val, "1") &&
			    strcasecmp(val, "false") && strcmp(val, "0"))
				return kiln_err_set(&ctx->err, KILN_E_INVALID,
				                    "Invalid filter '%s'", a);
			f->dangling = !strcasecmp(val, "true") || !strcmp(val, "1");
		} else if (!strcmp(key, "label")) {
			kiln_strv_push(&f->labels, val);
		} else if (!strcmp(key, "reference")) {
			if (!pattern_valid(val))
				return kiln_err_set(&ctx->err, KILN_E_INVALID,
				                    "syntax error in pattern");
			kiln_strv_push(&f->refs, val);
		} else if (!strcmp(key, "before") || !strcmp(key, "since")) {
			bool before = key[0] == 'b';
			if (filter_time(ctx, val, before ? &f->before : &f->since) < 0)
				return -1;
			*(before ? &f->has_before : &f->has_since) = true;
		} else {
			return kiln_err_set(&ctx->err, KILN_E_INVALID, "Invalid filter '%s'", key);
		}
	}
	return 0;
}

static bool labels_match(const struct img_image *img, const struct kiln_strv *labels)
{
	for (size_t i = 0; i < labels->n; i++) {
		if (!img->config)
			return false; /* damaged */
		const char *eq = strchr(labels->v[i], '=');
		_cleanup_free_ char *k = eq ? xstrndup(labels->v[i], (size_t)(eq - labels->v[i]))
		                            : xstrdup(labels->v[i]);
		const char *v = img_map_get(&img->config->config.labels, k);
		if (!v || (eq && strcmp(v, eq + 1) != 0))
			return false;
	}
	return true;
}

static bool image_passes(const struct img_image *img, const struct image_filter *f)
{
	time_t t = 0;
	bool has_t = kiln_parse_rfc3339(img->created, &t) == 0;
	/* dangling=true: no tag; dangling=false: any reference (a name@digest too) */
	if ((f->dangling == 1 && img->n_repo_tags) ||
	    (f->dangling == 0 && !img->n_repo_tags && !img->n_repo_digests))
		return false;
	if ((f->has_before && !(has_t && t < f->before)) ||
	    (f->has_since && !(has_t && t > f->since)))
		return false;
	return labels_match(img, &f->labels);
}

/* docker's reference.FamiliarMatch against "name:tag" and "name". */
static bool ref_matches(const struct kiln_strv *refs, const char *repo, const char *tag)
{
	if (!refs->n)
		return true;
	_cleanup_free_ char *full = xasprintf("%s:%s", repo, tag);
	for (size_t i = 0; i < refs->n; i++)
		if (!fnmatch(refs->v[i], full, FNM_PATHNAME) ||
		    !fnmatch(refs->v[i], repo, FNM_PATHNAME))
			return true;
	return false;
}

static void collect_rows(struct img_image **v, size_t n, const struct image_filter *f,
                         struct image_row **rows, size_t *n_rows)
{
	for (size_t i = 0; i < n; i++) {
		if (!image_passes(v[i], f) || (f->refs.n && !v[i]->n_repo_tags))
			continue;
		/* docker: a row per tag; else per registry digest (NAME <none>
		 * DIGEST, as after a pull by digest); else <none> <none> */
		size_t n_dig = v[i]->n_repo_tags ? 0 : v[i]->n_repo_digests;
		size_t tags = v[i]->n_repo_tags ? v[i]->n_repo_tags : n_dig ? n_dig : 1;
		for (size_t t = 0; t < tags; t++) {
			struct image_row r = {.img = v[i]};
			struct img_ref ref;
			if (n_dig && img_ref_parse(v[i]->repo_digests[t], 0, &ref, NULL) == 0) {
				r.repo = img_ref_familiar_name(&ref);
				r.tag = xstrdup("<none>");
				r.digest = xstrdup(ref.digest ? ref.digest : "<none>");
				img_ref_release(&ref);
			} else if (v[i]->n_repo_tags) {
				img_ref_parse(v[i]->repo_tags[t], 0, &ref, NULL);
				_cleanup_free_ char *name = img_ref_name(&ref);
				r.repo = img_ref_familiar_name(&ref);
				r.tag = xstrdup(ref.tag);
				r.digest = repo_digest(v[i], name);
				img_ref_release(&ref);
			} else {
				r.repo = xstrdup("<none>");
				r.tag = xstrdup("<none>");
				r.digest = xstrdup("<none>");
			}
			if (!ref_matches(&f->refs, r.repo, r.tag)) {
				free(r.repo);
				free(r.tag);
				free(r.digest);
				continue;
			}
			*rows = xreallocarray(*rows, *n_rows + 1, sizeof(**rows));
			(*rows)[(*n_rows)++] = r;
		}
	}
}

static const char *const image_headers[][2] = {
    {"ID", "IMAGE ID"}, {"CreatedSince", "CREATED"}, {"CreatedAt", "CREATED AT"}, {NULL, NULL}};

int cmd_images(int argc, char **argv, struct kiln_ctx *ctx)
{
	bool all = false, quiet = false, digests = false, no_trunc = false;
	const char *format = NULL;
	struct kiln_strv filters = KILN_STRV_INIT;
	const struct kiln_opt opts[] = {
	    OPT_BOOL('a', "all", &all, "Show all images (default hides intermediate images)"),
	    OPT_BOOL(0, "digests", &digests, "Show digests"),
	    OPT_STRV('f', "filter", &filters, "filter",
	             "Filter output based on conditions provided"),
	    OPT_STRING(0, "format", &format, "string",
	               "Format output using a custom template: 'table', 'table TEMPLATE', "
	               "'json', 'TEMPLATE'"),
	    OPT_BOOL(0, "no-trunc", &no_trunc, "Don't truncate output"),
	    OPT_BOOL('q', "quiet", &quiet, "Only show image IDs"),
	    OPT_END};
	const struct kiln_usage usage = {"[OPTIONS] [REPOSITORY[:TAG]]", "List images", 0, 1, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	(void)all;    /* kiln keeps no intermediate images */
	if (argc > 1) /* docker passes REPOSITORY[:TAG] as a reference filter */
		kiln_strv_pushf(&filters, "reference=%s", argv[1]);
	struct image_filter f = {0};
	int fr = image_filter_parse(ctx, &filters, &f);
	kiln_strv_release(&filters);
	struct img_image **v = NULL;
	size_t n = 0, n_rows = 0;
	if (fr < 0 || img_image_list_flags(ctx->store, IMG_LIST_DAMAGED, &v, &n, &ctx->err) < 0) {
		image_filter_release(&f);
		return fr < 0 && ctx->err.code == KILN_E_USAGE ? 125 : 1;
	}
	warn_damaged(v, n);
	struct image_row *rows = NULL;
	collect_rows(v, n, &f, &rows, &n_rows);
	image_filter_release(&f);
	int rc = 0;
	/* docker's NewImageFormat: a custom --format wins over -q */
	bool custom = format && strcmp(format, "table") != 0;
	if (quiet && !custom) {
		for (size_t i = 0; i < n_rows; i++) { /* one line per row (tag), as docker */
			_cleanup_free_ char *id = short_id(rows[i].img->id, no_trunc);
			printf("%s\n", id);
		}
	} else if (custom) {
		json_t **objs = xcalloc(n_rows + 1, sizeof(*objs));
		for (size_t i = 0; i < n_rows; i++)
			objs[i] = row_json(&rows[i], no_trunc);
		const struct kiln_tmpl_opts o = {.type = "*formatter.imageContext"};
		rc = kiln_format_list(format, (void *const *)objs, n_rows, image_headers, &o,
		                      stdout, &ctx->err) < 0;
		for (size_t i = 0; i < n_rows; i++)
			json_decref(objs[i]);
		free(objs);
	} else {
		struct kiln_table t = {.n_cols = digests ? 6 : 5};
		const char *h[] = {"REPOSITORY", "TAG", "DIGEST", "IMAGE ID", "CREATED", "SIZE"};
		const char *h5[] = {"REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"};
		kiln_table_add(&t, digests ? h : h5);
		for (size_t i = 0; i < n_rows; i++) {
			_cleanup_free_ char *id = short_id(rows[i].img->id, no_trunc);
			_cleanup_free_ char *since = kiln_time_is_zero(rows[i].img->created)
			                                 ? xstrdup("N/A")
			                                 : kiln_since(rows[i].img->created);
			_cleanup_free_ char *size =
			    rows[i].img->damaged ? xstrdup("N/A")
			                         : kiln_human_size((double)rows[i].img->size);
			const char *c6[] = {rows[i].repo, rows[i].tag, rows[i].digest,
			                    id,           since,       size};
			const char *c5[] = {rows[i].repo, rows[i].tag, id, since, size};
			kiln_table_add(&t, digests ? c6 : c5);
		}
		kiln_table_print(&t, stdout);
		kiln_table_release(&t);
	}
	for (size_t i = 0; i < n_rows; i++) {
		free(rows[i].repo);
		free(rows[i].tag);
		free(rows[i].digest);
	}
	free(rows);
	img_image_list_free(v, n);
	return rc;
}

/* --- inspect ------------------------------------------------------------------ */

static json_t *config_json(const struct img_config *c)
{
	json_t *o = json_object();
	json_t *labels = json_null();
	if (c->config.labels.n || c->config.labels_set) {
		labels = json_object();
		for (size_t i = 0; i < c->config.labels.n; i++)
			json_object_set_new(labels, c->config.labels.v[i].key,
			                    json_string(c->config.labels.v[i].value));
	}
	/* the container's (a commit's), "" or false in other images */
	static const char *const strs[] = {"Hostname", "Domainname"};
	static const char *const bools[] = {"AttachStdin", "AttachStdout", "AttachStderr"};
	for (size_t i = 0; i < 2; i++)
		json_object_set_new(o, strs[i], json_string(img_config_member_str(c, strs[i])));
	json_object_set_new(o, "User", json_string(c->config.user ? c->config.user : ""));
	for (size_t i = 0; i < 3; i++)
		json_object_set_new(o, bools[i], json_boolean(img_config_member_bool(c, bools[i])));
	if (c->config.exposed_ports)
		json_object_set_new(o, "ExposedPorts", jset(c->config.exposed_ports));
	json_object_set_new(o, "Tty", json_boolean(img_config_member_bool(c, "Tty")));
	json_object_set_new(o, "OpenStdin", json_boolean(img_config_member_bool(c, "OpenStdin")));
	json_object_set_new(o, "StdinOnce", json_boolean(img_config_member_bool(c, "StdinOnce")));
	json_object_set_new(o, "Env", jstrv(c->config.env));
	json_object_set_new(o, "Cmd", jstrv(c->config.cmd));
	const struct img_healthcheck *hc = c->config.healthcheck;
	if (hc) {
		json_t *h = json_object();
		json_object_set_new(h, "Test", jstrv(hc->test));
		if (hc->interval)
			json_object_set_new(h, "Interval", json_integer(hc->interval));
		if (hc->timeout)
			json_object_set_new(h, "Timeout", json_integer(hc->timeout));
		if (hc->start_period)
			json_object_set_new(h, "StartPeriod", json_integer(hc->start_period));
		if (hc->start_interval)
			json_object_set_new(h, "StartInterval", json_integer(hc->start_interval));
		if (hc->retries)
			json_object_set_new(h, "Retries", json_integer(hc->retries));
		json_object_set_new(o, "Healthcheck", h);
	}
	if (c->config.args_escaped)
		json_object_set_new(o, "ArgsEscaped", json_true());
	json_object_set_new(o, "Image", json_string(img_config_member_str(c, "Image")));
	json_object_set_new(o, "Volumes", jset(c->config.volumes));
	json_object_set_new(o, "WorkingDir",
	                    json_string(c->config.working_dir ? c->config.working_dir : ""));
	json_object_set_new(o, "Entrypoint", jstrv(c->config.entrypoint));
	json_object_set_new(o, "OnBuild", jstrv(c->config.on_build));
	json_object_set_new(o, "Labels", labels);
	if (c->config.stop_signal)
		json_object_set_new(o, "StopSignal", json_string(c->config.stop_signal));
	if (c->config.shell)
		json_object_set_new(o, "Shell", jstrv(c->config.shell));
	return o;
}

static json_t *familiar_list(char *const *v)
{
	json_t *a = json_array();
	for (; v && *v; v++) {
		char *f = img_ref_familiarize(*v);
		json_array_append_new(a, json_string(f));
		free(f);
	}
	return a;
}

/* A string the stored config carries beyond the OCI fields (docker's
 * "docker_version", "container"), else "". */
static json_t *extra_string(const struct img_config *c, const char *key)
{
	json_t *v = c->extra ? json_object_get(c->extra, key) : NULL;
	return json_string(json_is_string(v) ? json_string_value(v) : "");
}

/* docker's ContainerConfig: the stored container_config, else an empty
 * container.Config. */
static json_t *container_config_json(const struct img_config *c)
{
	json_t *v = c->extra ? json_object_get(c->extra, "container_config") : NULL;
	if (json_is_object(v))
		return json_incref(v);
	struct img_config *empty = img_config_new();
	json_t *o = config_json(empty);
	img_config_free(empty);
	return o;
}

/* GraphDriver: kiln's snapshots, one directory per layer (top first, as
 * overlay's lowerdir lists them). */
/* Go's RFC3339Nano of a stored time (fraction without trailing zeros);
 * NULL: the zero time. */
static json_t *json_rfc3339_nano(const char *t)
{
	if (!t)
		return json_string("0001-01-01T00:00:00Z");
	_cleanup_free_ char *s = xstrdup(t);
	char *z = strchr(s, 'Z'), *dot = strchr(s, '.');
	if (z && dot) {
		char *e = z;
		while (e > dot + 1 && e[-1] == '0')
			e--;
		if (e == dot + 1)
			e = dot;
		memmove(e, z, strlen(z) + 1);
	}
	return json_string(s);
}

static json_t *graph_driver_json(struct kiln_ctx *ctx, const struct img_config *c)
{
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	for (size_t i = c->n_diff_ids; i-- > 0;) {
		if (b.len)
			kiln_buf_addch(&b, ':', NULL);
		kiln_buf_addf(&b, NULL, "%s/snapshots/%s", ctx->root,
		              kiln_digest_hex(c->diff_ids[i]));
	}
	json_t *data = json_object();
	if (b.len)
		json_object_set_new(data, "LowerDir", json_string(kiln_buf_str(&b)));
	kiln_buf_release(&b);
	json_t *g = json_object();
	json_object_set_new(g, "Data", data);
	json_object_set_new(g, "Name", json_string("kiln"));
	return g;
}

static json_t *inspect_json(struct kiln_ctx *ctx, const struct img_image *img)
{
	const struct img_config *c = img->config;
	json_t *o = json_object();
	json_object_set_new(o, "Id", json_string(img->id));
	json_object_set_new(o, "RepoTags", familiar_list(img->repo_tags));
	json_object_set_new(o, "RepoDigests", familiar_list(img->repo_digests));
	json_object_set_new(o, "Parent", json_string(""));
	const char *comment = c->n_history ? c->history[c->n_history - 1].comment : NULL;
	json_object_set_new(o, "Comment", json_string(comment ? comment : ""));
	json_object_set_new(o, "Created", jstr(c->created ? c->created : "0001-01-01T00:00:00Z"));
	json_object_set_new(o, "Container", extra_string(c, "container"));
	json_object_set_new(o, "ContainerConfig", container_config_json(c));
	json_object_set_new(o, "DockerVersion", extra_string(c, "docker_version"));
	json_object_set_new(o, "Author", json_string(c->author ? c->author : ""));
	json_object_set_new(o, "Config", config_json(c));
	json_object_set_new(o, "Architecture", json_string(c->architecture ? c->architecture : ""));
	if (c->variant)
		json_object_set_new(o, "Variant", json_string(c->variant));
	json_object_set_new(o, "Os", json_string(c->os ? c->os : ""));
	json_object_set_new(o, "Size", json_integer(img->size));
	json_object_set_new(o, "VirtualSize", json_integer(img->size));
	json_object_set_new(o, "GraphDriver", graph_driver_json(ctx, c));
	json_t *rootfs = json_object();
	json_object_set_new(rootfs, "Type",
	                    json_string(c->rootfs_type ? c->rootfs_type : "layers"));
	json_object_set_new(rootfs, "Layers", jstrv(c->diff_ids));
	json_object_set_new(o, "RootFS", rootfs);
	json_t *meta = json_object();
	json_object_set_new(meta, "LastTagTime", json_rfc3339_nano(img->last_tag_time));
	json_object_set_new(o, "Metadata", meta);
	return o;
}

/* Go types of the inspect fields the JSON leaves out or sets to null. */
static const char *const inspect_kinds[][2] = {{"Labels", "map"},
                                               {"ExposedPorts", "map"},
                                               {"Volumes", "map"},
                                               {"Data", "map"},
                                               {"Healthcheck", "ptr"},
                                               {"Env", "slice"},
                                               {"Cmd", "slice"},
                                               {"Entrypoint", "slice"},
                                               {"OnBuild", "slice"},
                                               {"Shell", "slice"},
                                               {"RepoTags", "slice"},
                                               {"RepoDigests", "slice"},
                                               {"Layers", "slice"},
                                               {"StopSignal", "string"},
                                               {"Variant", "string"},
                                               {"ArgsEscaped", "bool"},
                                               {"NetworkDisabled", "bool"},
                                               {"MacAddress", "string"},
                                               {"StopTimeout", "ptr"},
                                               {"Image", "string"},
                                               {"LastTagTime", "time"},
                                               {NULL, NULL}};
/* docker's container.Config field order ({{.Config}} prints them all) */
static const char *const inspect_structs[][2] = {
    {"Config", "Hostname Domainname User AttachStdin AttachStdout AttachStderr ExposedPorts Tty "
               "OpenStdin StdinOnce Env Cmd Healthcheck ArgsEscaped Image Volumes WorkingDir "
               "Entrypoint NetworkDisabled MacAddress OnBuild Labels StopSignal StopTimeout "
               "Shell"},
    {NULL, NULL}};

/* docker's TemplateInspector: the template runs over each image (typed
 * first, then as raw JSON); each output is a line, failures are reported
 * and the others still print. A bad template is exit 64. */
static int inspect_format(struct kiln_ctx *ctx, const char *format, json_t *all)
{
	struct kiln_err e = KILN_ERR_INIT;
	struct kiln_tmpl *t = kiln_tmpl_parse_raw(format, &e);
	if (!t) { /* docker's words, without main.c's "Error: " */
		fprintf(stderr, "template parsing error: %s\n", e.msg);
		kiln_err_release(&e);
		return 64;
	}
	const struct kiln_tmpl_opts o = {
	    .kinds = inspect_kinds, .structs = inspect_structs, .raw_fallback = true};
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	int rc = 0;
	for (size_t i = 0; i < json_array_size(all); i++) {
		/* docker's templates see the Go field ID (its JSON key is Id) */
		json_t *obj = json_array_get(all, i);
		json_t *id = json_object_get(obj, "Id");
		if (id && !json_object_get(obj, "ID"))
			json_object_set(obj, "ID", id);
		if (kiln_tmpl_render(t, obj, &o, &b, &e) < 0) {
			kiln_report_error(ctx, &e);
			rc = 1;
			continue;
		}
		kiln_buf_addch(&b, '\n', NULL);
	}
	fputs(b.len ? kiln_buf_str(&b) : "\n", stdout);
	kiln_buf_release(&b);
	kiln_tmpl_free(t);
	return rc;
}

/* docker's inspect looks for a container first: when every argument
 * names one (or --type container), container inspect answers. */
static bool inspect_containers(struct kiln_ctx *ctx, const char *type, int argc, char **argv)
{
	if (type && !strcmp(type, "image"))
		return false;
	if (type)
		return true;
	for (int i = 1; i < argc; i++) {
		struct rt_container *c = NULL;
		if (rt_container_load(ctx->root, argv[i], &c, NULL) < 0)
			return false;
		rt_container_free(c);
	}
	return true;
}

static int container_inspect(struct kiln_ctx *ctx, const char *format, int argc, char **argv)
{
	char **av = xcalloc((size_t)argc + 3, sizeof(char *));
	int n = 0;
	av[n++] = argv[0];
	_cleanup_free_ char *f = format ? xasprintf("--format=%s", format) : NULL;
	if (f)
		av[n++] = f;
	av[n++] = (char *)"--";
	for (int i = 1; i < argc; i++)
		av[n++] = argv[i];
	int rc = cmd_container_inspect(n, av, ctx);
	free(av);
	return rc;
}

int cmd_inspect(int argc, char **argv, struct kiln_ctx *ctx)
{
	const char *format = NULL, *type = NULL;
	bool size = false;
	const struct kiln_opt opts[] = {
	    OPT_STRING('f', "format", &format, "string",
	               "Format output using a custom template: 'json', 'TEMPLATE'"),
	    OPT_BOOL('s', "size", &size, "Display total file sizes if the type is container"),
	    OPT_STRING(0, "type", &type, "string", "Only inspect objects of the given type"),
	    OPT_END};
	const struct kiln_usage usage = {"[OPTIONS] IMAGE [IMAGE...]",
	                                 "Display detailed information on one or more images", 1,
	                                 -1, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	if (type && strcmp(type, "image") != 0 && strcmp(type, "container") != 0)
		return fprintf(stderr, "\"%s\" is not a valid value for --type\n", type), 1;
	if (inspect_containers(ctx, type, argc, argv))
		return container_inspect(ctx, format, argc, argv);
	if (size) /* docker: sizes are a container's; an image always has its Size */
		fprintf(stderr, "WARNING: --size ignored for image\n");
	json_t *all = json_array();
	int rc = 0;
	for (int i = 1; i < argc; i++) {
		struct img_image *img = NULL;
		struct kiln_err e = KILN_ERR_INIT;
		if (img_image_load(ctx->store, argv[i], &img, &e) < 0) {
			if (e.code == KILN_E_NOTFOUND && !type) { /* neither container nor image */
				kiln_err_release(&e);
				kiln_err_set(&e, KILN_E_NOTFOUND, "No such object: %s", argv[i]);
			}
			kiln_report_error(ctx, &e);
			rc = 1;
			continue;
		}
		json_array_append_new(all, inspect_json(ctx, img));
		img_image_free(img);
	}
	if (!format || !strcmp(format, "json")) {
		_cleanup_free_ char *j = kiln_json_dump(all, !format);
		printf("%s\n", j);
	} else {
		int r = inspect_format(ctx, format, all);
		rc = r ? r : rc;
	}
	json_decref(all);
	return rc;
}

/* --- tag ------------------------------------------------------------------------ */

void kiln_err_no_such_image(struct kiln_err *e, const char *arg)
{
	struct img_ref r;
	if (e->code != KILN_E_NOTFOUND || img_ref_parse(arg, IMG_REF_DEFAULT_TAG, &r, NULL) < 0)
		return;
	_cleanup_free_ char *full = img_ref_string(&r);
	_cleanup_free_ char *fam = img_ref_familiarize(full);
	img_ref_release(&r);
	kiln_err_set(e, KILN_E_NOTFOUND, "No such image: %s", fam);
}

int cmd_tag(int argc, char **argv, struct kiln_ctx *ctx)
{
	const struct kiln_opt opts[] = {OPT_END};
	const struct kiln_usage usage = {"SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
	                                 "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE", 2,
	                                 2, OPTS_STOP_AT_POSITIONAL};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	/* docker checks the target before it looks for the source */
	struct img_ref r;
	struct kiln_err e = KILN_ERR_INIT;
	if (img_ref_parse(argv[2], IMG_REF_DEFAULT_TAG, &r, &e) < 0) {
		/* docker's own words, without the "Error: " main.c would add */
		fprintf(stderr,
		        "Error parsing reference: \"%s\" is not a valid repository/tag: %s\n",
		        argv[2], e.msg);
		kiln_err_release(&e);
		return 1;
	}
	img_ref_release(&r);
	if (img_store_tag(ctx->store, argv[1], argv[2], &ctx->err) < 0) {
		kiln_err_no_such_image(&ctx->err, argv[1]);
		return 1;
	}
	return 0;
}
