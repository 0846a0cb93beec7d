/* Image removal and space: rmi/image rm, image prune, history,
 * system prune, system check (hidden). */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "cli.h"
#include "cmd_image.h"
#include "format.h"
#include "image.h"
#include "runtime.h"

/* An image used by a container (ROOT/containers) may not be removed
 * without -f, nor pruned. */
static bool image_in_use(struct kiln_ctx *ctx, const char *id)
{
	return rt_image_in_use(ctx->root, id, NULL);
}

/* The reference arg names (normalized) when it is one of the image's tags or
 * an explicit name@digest entry, else NULL (arg is an ID or prefix). */
static char *named_ref(const struct img_image *img, const char *arg)
{
	struct img_ref r;
	if (img_ref_parse(arg, IMG_REF_DEFAULT_TAG, &r, NULL) < 0)
		return NULL;
	char *norm = img_ref_string(&r);
	bool digest = r.digest != NULL;
	img_ref_release(&r);
	for (size_t i = 0; i < img->n_repo_tags && !digest; i++)
		if (!strcmp(img->repo_tags[i], norm))
			return norm;
	for (size_t i = 0; i < img->n_repo_digests && digest; i++)
		if (!strcmp(img->repo_digests[i], norm))
			return norm;
	free(norm);
	return NULL;
}

static bool strv_has(const struct kiln_strv *v, const char *s)
{
	for (size_t i = 0; i < v->n; i++)
		if (!strcmp(v->v[i], s))
			return true;
	return false;
}

/* After an image went: docker's line (fmt: "Deleted: %s\n" or "deleted:
 * %s\n") for each of its layers no remaining image has, top first.
 * Returns their size (docker's reclaimed space). */
static uint64_t print_freed_layers(struct kiln_ctx *ctx, const struct img_image *gone,
                                   const char *fmt)
{
	uint64_t freed = 0;
	struct kiln_strv mine = KILN_STRV_INIT, live = KILN_STRV_INIT;
	struct img_image **v = NULL;
	size_t n = 0;
	img_config_chain_ids(gone->config, &mine);
	if (!mine.n || img_image_list(ctx->store, &v, &n, NULL) < 0) {
		kiln_strv_release(&mine);
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		img_config_chain_ids(v[i]->config, &live);
	img_image_list_free(v, n);
	for (size_t i = mine.n; i-- > 0;)
		if (!strv_has(&live, mine.v[i])) { /* chain IDs are unique within an image */
			printf(fmt, mine.v[i]);
			if (gone->manifest && i < gone->manifest->n_layers)
				freed += img_manifest_layer_usage(ctx->store, gone->manifest,
				                                  gone->config, i);
		}
	kiln_strv_release(&mine);
	kiln_strv_release(&live);
	return freed;
}

static void print_untagged(const char *ref)
{
	_cleanup_free_ char *f = img_ref_familiarize(ref);
	printf("Untagged: %s\n", f);
}

/* docker's ImageDelete: a reference is untagged (the image goes with its
 * last reference); an ID removes the image and its tags unless it has
 * several tags (then -f is needed). */
/* An image that goes takes its digest references with it: docker prints
 * each as untagged before "Deleted:" (but the one just untagged). */
static void print_digests_untagged(const struct img_image *img, const char *done)
{
	for (size_t i = 0; i < img->n_repo_digests; i++)
		if (!done || strcmp(img->repo_digests[i], done))
			print_untagged(img->repo_digests[i]);
}

static int remove_one(struct kiln_ctx *ctx, const char *arg, bool force, struct kiln_err *e)
{
	struct img_image *img = NULL;
	/* a damaged image can always be removed (by reference or ID) */
	if (img_image_find(ctx->store, arg, IMG_LIST_DAMAGED, &img, e) < 0)
		return -1;
	int ret = 0;
	_cleanup_free_ char *sid = xstrndup(kiln_digest_hex(img->id), 12);
	_cleanup_free_ char *ref = named_ref(img, arg);
	_cleanup_free_ char *user = NULL;
	if (!ref && strchr(arg, '@')) {
		/* a digest reference is untagged, never taken for the image ID */
		ret = kiln_err_set(e, KILN_E_NOTFOUND, "No such image: %s", arg);
	} else if (!force && rt_image_in_use(ctx->root, img->id, &user)) {
		ret = kiln_err_set(e, KILN_E_CONFLICT,
		                   "conflict: unable to remove repository reference \"%s\" (must "
		                   "force) - container %.12s is using its referenced image %s",
		                   arg, user, sid);
	} else if (ref) {
		bool deleted = false;
		ret = img_store_untag(ctx->store, ref, false, &deleted, e);
		if (ret == 0)
			print_untagged(ref);
		if (ret == 0 && deleted) {
			print_digests_untagged(img, ref);
			printf("Deleted: %s\n", img->id);
			print_freed_layers(ctx, img, "Deleted: %s\n");
		}
	} else if (img->n_repo_tags > 1 && !force) {
		ret = kiln_err_set(e, KILN_E_CONFLICT,
		                   "conflict: unable to delete %s (must be forced) - image is "
		                   "referenced in multiple repositories",
		                   sid);
	} else {
		ret = img_store_remove_image(ctx->store, img->id, e);
		for (size_t i = 0; ret == 0 && i < img->n_repo_tags; i++)
			print_untagged(img->repo_tags[i]);
		if (ret == 0) {
			print_digests_untagged(img, NULL);
			printf("Deleted: %s\n", img->id);
			print_freed_layers(ctx, img, "Deleted: %s\n");
		}
	}
	img_image_free(img);
	return ret;
}

static void try_gc(struct kiln_ctx *ctx, struct img_gc_result *res)
{
	struct kiln_err e = KILN_ERR_INIT;
	if (img_store_gc(ctx->store, IMG_GC_TRY, res, &e) < 0) {
		kiln_debug("gc skipped: %s", e.msg);
		kiln_err_release(&e);
	}
}

int cmd_rmi(int argc, char **argv, struct kiln_ctx *ctx)
{
	bool force = false, no_prune = false;
	const struct kiln_opt opts[] = {
	    OPT_BOOL('f', "force", &force, "Force removal of the image"),
	    OPT_BOOL(0, "no-prune", &no_prune, "Do not delete untagged parents"), OPT_END};
	const struct kiln_usage usage = {"[OPTIONS] IMAGE [IMAGE...]", "Remove one or more images",
	                                 1, -1, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	(void)no_prune;
	/* as docker: every argument is tried; with -f, images that do not exist
	 * are reported but do not fail the command */
	bool failed = false, fatal = false;
	for (int i = 1; i < argc; i++) {
		struct kiln_err e = KILN_ERR_INIT;
		if (remove_one(ctx, argv[i], force, &e) < 0) {
			fatal |= e.code != KILN_E_NOTFOUND;
			failed = true;
			kiln_report_error(ctx, &e);
		}
	}
	int rc = failed && (!force || fatal);
	if (failed && !rc) { /* printed here: main would fail the command */
		char *m = kiln_err_format(&ctx->err);
		fprintf(stderr, "Error: %s\n", m);
		free(m);
		kiln_err_release(&ctx->err);
	}
	struct img_gc_result res;
	try_gc(ctx, &res);
	return rc;
}

/* docker 20.10's prune filters: until=TIME (created at or before),
 * label=KEY[=VALUE] (all must match), label!=... (not all match), and for
 * image prune dangling=false (as -a). Any other key is refused. */
void prune_filter_release(struct prune_filter *f)
{
	kiln_strv_release(&f->labels);
	kiln_strv_release(&f->not_labels);
	kiln_strv_release(&f->listed);
}

static int prune_filter_key(struct prune_filter *f, const char *key, const char *val, bool images,
                            struct kiln_err *e)
{
	if (!strcmp(key, "until")) {
		if (f->has_until)
			return kiln_err_set(e, KILN_E_INVALID,
			                    "more than one until filter specified");
		if (kiln_docker_timestamp(val, &f->until_ns, e) < 0)
			return -1;
		f->has_until = true;
		f->until = val;
	} else if (!strcmp(key, "label")) {
		kiln_strv_push(&f->labels, val);
	} else if (!strcmp(key, "label!")) {
		kiln_strv_push(&f->not_labels, val);
	} else if (images && !strcmp(key, "dangling")) {
		if (!strcasecmp(val, "false") || !strcmp(val, "0"))
			f->all = true;
		else if (strcasecmp(val, "true") && strcmp(val, "1"))
			return kiln_err_set(e, KILN_E_INVALID, "Invalid filter 'dangling=%s'", val);
	} else {
		return kiln_err_set(e, KILN_E_INVALID, "Invalid filter '%s'", key);
	}
	return 0;
}

int prune_filter_parse(const struct kiln_strv *args, struct prune_filter *f, bool images,
                       struct kiln_err *e)
{
	for (size_t i = 0; i < args->n; i++) {
		const char *a = args->v[i], *eq = strchr(a, '=');
		if (!eq)
			return kiln_err_set(
			    e, KILN_E_USAGE,
			    "invalid argument \"%s\" for \"--filter\" flag: bad format "
			    "of filter (expected name=value)",
			    a);
		_cleanup_free_ char *key = xstrndup(a, (size_t)(eq - a));
		if (prune_filter_key(f, key, eq + 1, images, e) < 0)
			return -1;
		if (!strcmp(key, "until") || !strcmp(key, "label") || !strcmp(key, "label!"))
			kiln_strv_push(&f->listed, a);
	}
	return 0;
}

/* docker's filters.MatchKVList: every KEY[=VALUE] is among the labels
 * (get returns a label's value or NULL). */
typedef const char *(*label_get_fn)(const void *obj, const char *key);

static bool labels_all_match(label_get_fn get, const void *obj, const struct kiln_strv *want)
{
	for (size_t i = 0; i < want->n; i++) {
		const char *eq = strchr(want->v[i], '=');
		_cleanup_free_ char *k =
		    eq ? xstrndup(want->v[i], (size_t)(eq - want->v[i])) : xstrdup(want->v[i]);
		const char *v = get ? get(obj, k) : NULL;
		if (!v || (eq && strcmp(v, eq + 1) != 0))
			return false;
	}
	return true;
}

/* An object with no readable creation time is docker's zero time: it is
 * before any until. get NULL: the object has no labels. */
static bool prune_passes(const struct prune_filter *f, const char *created, label_get_fn get,
                         const void *obj)
{
	time_t t = 0;
	if (f->has_until && created && kiln_parse_rfc3339(created, &t) == 0 &&
	    (int64_t)t * 1000000000LL > f->until_ns)
		return false;
	if (!labels_all_match(get, obj, &f->labels))
		return false;
	return !(f->not_labels.n && labels_all_match(get, obj, &f->not_labels));
}

static const char *image_label(const void *obj, const char *key)
{
	const struct img_image *img = obj;
	return img->config ? img_map_get(&img->config->config.labels, key) : NULL;
}

static const char *container_label(const void *obj, const char *key)
{
	const struct rt_container *c = obj;
	size_t n = strlen(key);
	for (char **l = c->labels; l && *l; l++)
		if (!strncmp(*l, key, n) && (*l)[n] == '=')
			return *l + n + 1;
	return NULL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* docker's prune -a asks to delete each reference of an image in turn
 * (sorted by full name): while a container uses the image, each one but
 * the last is untagged and the last refused (kept). Images with registry
 * digests are left alone. */
static void untag_in_use(struct kiln_ctx *ctx, const struct img_image *img, bool *header)
{
	if (img->n_repo_tags < 2 || img->n_repo_digests)
		return;
	char **refs = xcalloc(img->n_repo_tags, sizeof(*refs));
	memcpy(refs, img->repo_tags, img->n_repo_tags * sizeof(*refs));
	qsort(refs, img->n_repo_tags, sizeof(*refs), cmp_str);
	for (size_t t = 0; t + 1 < img->n_repo_tags; t++) {
		struct kiln_err e = KILN_ERR_INIT;
		bool deleted = false;
		if (img_store_untag(ctx->store, refs[t], true, &deleted, &e) < 0) {
			kiln_err_release(&e);
			continue;
		}
		if (!*header)
			printf("Deleted Images:\n");
		*header = true;
		_cleanup_free_ char *fam = img_ref_familiarize(refs[t]);
		printf("untagged: %s\n", fam);
	}
	free(refs);
}

/* Removes dangling images (or all with f->all) and damaged ones (nothing
 * can use them; `images` warns about them) that pass the filter, then
 * collects garbage. */
static int prune_images(struct kiln_ctx *ctx, const struct prune_filter *f, uint64_t *reclaimed)
{
	struct img_image **v = NULL;
	size_t n = 0;
	bool header = false;
	if (img_image_list_flags(ctx->store, IMG_LIST_DAMAGED, &v, &n, &ctx->err) < 0)
		return 1;
	for (size_t i = 0; i < n; i++) {
		if ((!f->all && v[i]->n_repo_tags && !v[i]->damaged) ||
		    !prune_passes(f, v[i]->created, image_label, v[i]))
			continue;
		if (image_in_use(ctx, v[i]->id)) {
			if (f->all)
				untag_in_use(ctx, v[i], &header);
			continue;
		}
		if (img_store_remove_image(ctx->store, v[i]->id, &ctx->err) < 0) {
			img_image_list_free(v, n);
			return 1;
		}
		if (!header)
			printf("Deleted Images:\n");
		header = true;
		for (size_t t = 0; t < v[i]->n_repo_tags; t++) {
			_cleanup_free_ char *fam = img_ref_familiarize(v[i]->repo_tags[t]);
			printf("untagged: %s\n", fam);
		}
		printf("deleted: %s\n", v[i]->id);
		*reclaimed += print_freed_layers(ctx, v[i], "deleted: %s\n");
	}
	img_image_list_free(v, n);
	if (header)
		printf("\n");
	struct img_gc_result res;
	if (img_store_gc(ctx->store, 0, &res, &ctx->err) < 0)
		return 1;
	return 0;
}

/* Stopped (created, exited, dead) containers that pass the filter, as
 * docker's container prune: "Deleted Containers:" and their IDs; their
 * writable layers are the reclaimed space. A container that cannot be
 * removed is reported and kept (rc 1). */
int prune_containers(struct kiln_ctx *ctx, const struct prune_filter *f, uint64_t *reclaimed)
{
	struct kiln_err err = KILN_ERR_INIT;
	struct rt_container **v = NULL;
	size_t n = 0;
	if (rt_container_list(ctx->root, &v, &n, &err) < 0)
		return kiln_cmd_fail(ctx, &err);
	bool header = false;
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		if ((v[i]->status != RT_EXITED && v[i]->status != RT_CREATED &&
		     v[i]->status != RT_DEAD) ||
		    !prune_passes(f, v[i]->created, container_label, v[i]))
			continue;
		uint64_t size = rt_container_size(v[i]);
		struct kiln_err e = KILN_ERR_INIT;
		if (rt_container_remove(ctx->root, v[i], false, &e) < 0) {
			kiln_report_error(ctx, &e);
			rc = 1;
			continue;
		}
		if (!header)
			printf("Deleted Containers:\n");
		header = true;
		printf("%s\n", v[i]->id);
		*reclaimed += size;
	}
	if (header)
		printf("\n");
	rt_container_list_free(v, n);
	return rc;
}

/* Every local volume no container uses (docker 20.10's system prune
 * --volumes: named and anonymous alike) that passes the label filters
 * (kiln's volumes have no labels). */
int prune_volumes(struct kiln_ctx *ctx, const struct prune_filter *f, uint64_t *reclaimed)
{
	struct kiln_err err = KILN_ERR_INIT;
	struct kiln_strv names = KILN_STRV_INIT;
	if (rt_volume_list(ctx->root, &names, &err) < 0)
		return kiln_cmd_fail(ctx, &err);
	bool header = false;
	for (size_t i = 0; i < names.n; i++) {
		_cleanup_free_ char *user = rt_volume_user(ctx->root, names.v[i]);
		if (user || !prune_passes(f, NULL, NULL, NULL))
			continue;
		uint64_t size = image_df_volume_size(ctx, names.v[i]);
		struct kiln_err e = KILN_ERR_INIT;
		if (rt_volume_remove(ctx->root, names.v[i], false, &e) < 0) {
			kiln_err_release(&e); /* in use by now: kept */
			continue;
		}
		if (!header)
			printf("Deleted Volumes:\n");
		header = true;
		printf("%s\n", names.v[i]);
		*reclaimed += size;
	}
	if (header)
		printf("\n");
	kiln_strv_release(&names);
	return 0;
}

/* Go's time.ParseDuration as far as BuildKit's until needs it: whole
 * seconds of NUMBER UNIT pairs (ns us ms s m h), its error wording. */
static int go_duration(const char *s, int64_t *secs, struct kiln_err *e)
{
	static const struct {
		const char *unit;
		double secs;
	} units[] = {{"ns", 1e-9}, {"us", 1e-6}, {"µs", 1e-6}, {"ms", 1e-3},
	             {"s", 1},     {"m", 60},    {"h", 3600}};
	const char *p = s;
	double total = 0;
	if (!strcmp(s, "0"))
		return *secs = 0, 0;
	while (*p) {
		char *end;
		double v = strtod(p, &end);
		if (end == p || !strchr("0123456789.", *p))
			return kiln_err_set(e, KILN_E_INVALID, "time: invalid duration \"%s\"", s);
		size_t ul = strcspn(end, "0123456789.");
		if (!ul)
			return kiln_err_set(e, KILN_E_INVALID,
			                    "time: missing unit in duration \"%s\"", s);
		size_t u = 0;
		while (u < sizeof(units) / sizeof(units[0]) &&
		       (strlen(units[u].unit) != ul || strncmp(units[u].unit, end, ul)))
			u++;
		if (u == sizeof(units) / sizeof(units[0]))
			return kiln_err_set(e, KILN_E_INVALID,
			                    "time: unknown unit \"%.*s\" in duration \"%s\"",
			                    (int)ul, end, s);
		total += v * units[u].secs;
		p = end + ul;
	}
	if (p == s)
		return kiln_err_set(e, KILN_E_INVALID, "time: invalid duration \"%s\"", s);
	*secs = (int64_t)total;
	return 0;
}

/* The build cache, as docker's builder prune (all with -a, else what no
 * image uses): "Deleted build cache objects:" and their IDs. Cache records
 * carry no labels: a label filter matches none of them, label!= all. */
static int prune_build_cache(struct kiln_ctx *ctx, const struct prune_filter *f,
                             uint64_t *reclaimed)
{
	struct cache_prune_opts o = {.all = f->all};
	if (f->has_until && go_duration(f->until, &o.until, &ctx->err) < 0) {
		kiln_err_wrap(&ctx->err, "failed to prune build cache: \"until\" filter expects a "
		                         "duration (e.g., '24h')");
		return 1;
	}
	if (f->labels.n)
		return 0;
	struct cache_du before = {0}, after = {0};
	struct cache_prune_result res = {0};
	if (cache_du(ctx->store, &before, &ctx->err) < 0)
		return 1;
	int rc = cache_prune(ctx->store, &o, &res, &ctx->err) < 0 ||
	         cache_du(ctx->store, &after, &ctx->err) < 0;
	bool header = false;
	for (size_t i = 0; !rc && i < before.n; i++) {
		size_t j = 0;
		while (j < after.n && strcmp(after.v[j].id, before.v[i].id))
			j++;
		if (j < after.n)
			continue;
		if (!header)
			printf("Deleted build cache objects:\n");
		header = true;
		printf("%s\n", before.v[i].id);
	}
	if (header)
		printf("\n");
	*reclaimed += res.bytes;
	cache_du_release(&before);
	cache_du_release(&after);
	return rc;
}

static void print_reclaimed(uint64_t reclaimed)
{
	_cleanup_free_ char *h = kiln_human_size_prec((double)reclaimed, 4);
	printf("Total reclaimed space: %s\n", h);
}

int cmd_image_prune(int argc, char **argv, struct kiln_ctx *ctx)
{
	bool force = false;
	struct prune_filter f = {0};
	struct kiln_strv filters = KILN_STRV_INIT;
	const struct kiln_opt opts[] = {
	    OPT_BOOL('a', "all", &f.all, "Remove all unused images, not just dangling ones"),
	    OPT_STRV(0, "filter", &filters, "filter",
	             "Provide filter values (e.g. 'until=<timestamp>')"),
	    OPT_BOOL('f', "force", &force, "Do not prompt for confirmation"), OPT_END};
	const struct kiln_usage usage = {"[OPTIONS]", "Remove unused images", 0, 0, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	/* docker's CLI builds the prompt before the daemon sees the filter; an
	 * answer other than y, or no answer, cancels silently (exit 0) */
	const char *warn = f.all ? "WARNING! This will remove all images without at least one "
	                           "container associated to them."
	                         : "WARNING! This will remove all dangling images.";
	uint64_t reclaimed = 0;
	int r = prune_filter_parse(&filters, &f, true, &ctx->err);
	if (r < 0)
		r = ctx->err.code == KILN_E_USAGE ? 125 : 1;
	else if (force || kiln_confirm(warn)) {
		r = prune_images(ctx, &f, &reclaimed);
		if (!r)
			print_reclaimed(reclaimed);
	}
	kiln_strv_release(&filters);
	prune_filter_release(&f);
	return r;
}

static int cmp_natural(const void *a, const void *b)
{
	return strverscmp(*(char *const *)a, *(char *const *)b);
}

/* docker 20.10's system prune prompt: what goes, then the filters. */
static char *system_prune_warning(const struct prune_filter *f, bool volumes)
{
	char *w = xasprintf(
	    "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by "
	    "at least one container\n%s  - %s\n  - %s\n",
	    volumes ? "  - all volumes not used by at least one container\n" : "",
	    f->all ? "all images without at least one container associated to them"
	           : "all dangling images",
	    f->all ? "all build cache" : "all dangling build cache");
	if (!f->listed.n)
		return w;
	qsort(f->listed.v, f->listed.n, sizeof(char *), cmp_natural);
	char *t = xasprintf("%s\n  Items to be pruned will be filtered with:\n", w);
	free(w);
	for (size_t i = 0; i < f->listed.n; i++) {
		w = xasprintf("%s  - %s\n", t, f->listed.v[i]);
		free(t);
		t = w;
	}
	return t;
}

/* Containers, (networks: kiln has none to prune), volumes with --volumes,
 * images, build cache, in docker's order, each section printed as it is
 * done; a failing section stops the rest. */
static int system_prune(struct kiln_ctx *ctx, const struct prune_filter *f, bool volumes)
{
	uint64_t reclaimed = 0;
	int rc = prune_containers(ctx, f, &reclaimed);
	if (!rc && volumes)
		rc = prune_volumes(ctx, f, &reclaimed);
	if (!rc)
		rc = prune_images(ctx, f, &reclaimed);
	if (!rc)
		rc = prune_build_cache(ctx, f, &reclaimed);
	if (!rc)
		print_reclaimed(reclaimed);
	return rc;
}

int cmd_system_prune(int argc, char **argv, struct kiln_ctx *ctx)
{
	bool force = false, volumes = false;
	struct prune_filter f = {0};
	struct kiln_strv filters = KILN_STRV_INIT;
	const struct kiln_opt opts[] = {
	    OPT_BOOL('a', "all", &f.all, "Remove all unused images not just dangling ones"),
	    OPT_STRV(0, "filter", &filters, "filter",
	             "Provide filter values (e.g. 'label=<key>=<value>')"),
	    OPT_BOOL('f', "force", &force, "Do not prompt for confirmation"),
	    OPT_BOOL(0, "volumes", &volumes, "Prune volumes"), OPT_END};
	const struct kiln_usage usage = {"[OPTIONS]", "Remove unused data", 0, 0, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	int r = prune_filter_parse(&filters, &f, false, &ctx->err);
	if (r < 0) {
		r = ctx->err.code == KILN_E_USAGE ? 125 : 1;
	} else if (volumes && f.has_until) { /* docker's CLI refuses it as is */
		fprintf(stderr,
		        "ERROR: The \"until\" filter is not supported with \"--volumes\"\n");
		r = 1;
	} else {
		_cleanup_free_ char *warn = system_prune_warning(&f, volumes);
		r = force || kiln_confirm(warn) ? system_prune(ctx, &f, volumes) : 0;
	}
	kiln_strv_release(&filters); /* f.until points into it */
	prune_filter_release(&f);
	return r;
}

int cmd_system_check(int argc, char **argv, struct kiln_ctx *ctx)
{
	bool repair = false;
	const struct kiln_opt opts[] = {
	    OPT_BOOL(0, "repair", &repair,
	             "First repair: remove stale temporary files, quarantine corrupt blobs, "
	             "remove damaged images and incomplete snapshots"),
	    OPT_END};
	const struct kiln_usage usage = {"[OPTIONS]", "Check the store's consistency", 0, 0, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	if (repair) {
		struct kiln_strv done = KILN_STRV_INIT;
		int r = img_store_repair(ctx->store, &done, &ctx->err);
		for (size_t i = 0; i < done.n; i++)
			printf("%s\n", done.v[i]);
		kiln_strv_release(&done);
		if (r < 0)
			return 1;
	}
	struct kiln_strv problems = KILN_STRV_INIT;
	int r = img_store_fsck(ctx->store, &problems, &ctx->err);
	for (size_t i = 0; i < problems.n; i++)
		printf("%s\n", problems.v[i]);
	kiln_strv_release(&problems);
	/* harmless, not problems, but shown: an interrupted build's temps,
	 * snapshots an earlier boot did not flush (unpacked again when used) */
	struct kiln_strv left = KILN_STRV_INIT, notes = KILN_STRV_INIT;
	img_store_leftover_temps(ctx->store, &left);
	for (size_t i = 0; i < left.n; i++)
		kiln_strv_pushf(&notes,
		                "leftover temporary file %s (of an interrupted build: the next "
		                "prune or `system check --repair` removes it)",
		                left.v[i]);
	size_t temps = left.n; /* the snapshots' hex after them */
	img_store_unsynced_snapshots(ctx->store, &left);
	for (size_t i = temps; i < left.n; i++)
		kiln_strv_pushf(&notes,
		                "snapshot %s was written in an earlier boot without a flush "
		                "(unpacked again from its blob when next needed; `system check "
		                "--repair` removes it)",
		                left.v[i]);
	for (size_t i = 0; i < notes.n; i++)
		printf("%s\n", notes.v[i]);
	kiln_strv_release(&left);
	kiln_strv_release(&notes);
	if (r == 0)
		printf("store is consistent\n");
	return r < 0 ? 1 : 0;
}

/* --- history ------------------------------------------------------------------ */

/* docker's formatter.Ellipsis: at most max characters, the last one "…". */
static char *ellipsis(const char *s, size_t max)
{
	if (kiln_display_width(s) <= max)
		return xstrdup(s);
	size_t i = 0, chars = 0;
	while (s[i] && chars < max - 1) {
		i++;
		while (((unsigned char)s[i] & 0xc0) == 0x80)
			i++;
		chars++;
	}
	return xasprintf("%.*s…", (int)i, s);
}

struct history_opts {
	bool no_trunc, human;
};

/* One row as docker's historyContext (its JSON has these keys, sorted). */
static json_t *history_row(const struct img_image *img, size_t k, int64_t size,
                           const struct history_opts *o)
{
	const struct img_history *e = &img->config->history[k];
	bool top = k + 1 == img->config->n_history;
	_cleanup_free_ char *id = !top          ? xstrdup("<missing>")
	                          : o->no_trunc ? xstrdup(img->id)
	                                        : xstrndup(kiln_digest_hex(img->id), 12);
	_cleanup_free_ char *at = kiln_time_rfc3339_local(e->created);
	_cleanup_free_ char *since = o->human ? kiln_since(e->created) : xstrdup(at);
	_cleanup_free_ char *by = xstrdup(e->created_by ? e->created_by : "");
	for (char *p = by; *p; p++)
		if (*p == '\t')
			*p = ' ';
	_cleanup_free_ char *shown = o->no_trunc ? xstrdup(by) : ellipsis(by, 45);
	_cleanup_free_ char *sz =
	    o->human ? kiln_human_size((double)size) : xasprintf("%lld", (long long)size);
	json_t *r = json_object();
	json_object_set_new(r, "Comment", json_string(e->comment ? e->comment : ""));
	json_object_set_new(r, "CreatedAt", json_string(at));
	json_object_set_new(r, "CreatedBy", json_string(shown));
	json_object_set_new(r, "CreatedSince", json_string(since));
	json_object_set_new(r, "ID", json_string(id));
	json_object_set_new(r, "Size", json_string(sz));
	return r;
}

static const char *const history_headers[][2] = {{"ID", "IMAGE"},
                                                 {"CreatedSince", "CREATED"},
                                                 {"CreatedAt", "CREATED AT"},
                                                 {"CreatedBy", "CREATED BY"},
                                                 {"Size", "SIZE"},
                                                 {"Comment", "COMMENT"},
                                                 {NULL, NULL}};

int cmd_history(int argc, char **argv, struct kiln_ctx *ctx)
{
	struct history_opts o = {.human = true};
	bool quiet = false;
	const char *format = NULL;
	const struct kiln_opt opts[] = {
	    OPT_STRING(0, "format", &format, "string",
	               "Format output using a custom template: 'table', 'table TEMPLATE', "
	               "'json', 'TEMPLATE'"),
	    OPT_BOOL('H', "human", &o.human, "Print sizes and dates in human readable format"),
	    OPT_BOOL(0, "no-trunc", &o.no_trunc, "Don't truncate output"),
	    OPT_BOOL('q', "quiet", &quiet, "Only show image IDs"), OPT_END};
	const struct kiln_usage usage = {"[OPTIONS] IMAGE", "Show the history of an image", 1, 1,
	                                 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	/* docker's NewHistoryFormat: -q and -H=false only change the table default */
	if (!format || !strcmp(format, "table"))
		format = quiet ? "{{.ID}}"
		         : o.human
		             ? "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{."
		               "Comment}}"
		             : "table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{."
		               "Comment}}";
	struct img_image *img = NULL;
	if (img_image_load(ctx->store, argv[1], &img, &ctx->err) < 0) {
		kiln_err_no_such_image(&ctx->err, argv[1]);
		return 1;
	}
	const struct img_config *c = img->config;
	json_t **rows = xcalloc(c->n_history + 1, sizeof(*rows));
	size_t n = 0, layer = img->manifest->n_layers;
	for (size_t k = c->n_history; k-- > 0;) {
		int64_t size = 0;
		if (!c->history[k].empty_layer && layer > 0)
			size = (int64_t)img_manifest_layer_usage(ctx->store, img->manifest, c,
			                                         --layer);
		rows[n++] = history_row(img, k, size, &o);
	}
	const struct kiln_tmpl_opts to = {.type = "*formatter.historyContext"};
	int rc = kiln_format_list(format, (void *const *)rows, n, history_headers, &to, stdout,
	                          &ctx->err) < 0;
	for (size_t i = 0; i < n; i++)
		json_decref(rows[i]);
	free(rows);
	img_image_free(img);
	return rc;
}
