/* Image removal and space: rmi/image rm, image prune, history, system df,
 * system prune, system check (hidden). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "format.h"
#include "image.h"

/* Seam for the runtime: an image used by a container (ROOT/containers) may
 * not be removed without -f, nor pruned. No containers exist yet. */
static bool image_in_use(struct kiln_ctx *ctx, const char *id)
{
	(void)ctx;
	(void)id;
	return false;
}

static bool names_tag(const struct img_image *img, const char *arg)
{
	_cleanup_free_ char *norm = img_ref_normalize(arg, NULL);
	for (size_t i = 0; norm && i < img->n_repo_tags; i++)
		if (!strcmp(img->repo_tags[i], norm))
			return true;
	return false;
}

static int remove_one(struct kiln_ctx *ctx, const char *arg, bool force, struct kiln_err *e)
{
	struct img_image *img = NULL;
	if (img_image_load(ctx->store, arg, &img, e) < 0)
		return -1;
	int ret = 0;
	_cleanup_free_ char *sid = xstrndup(kiln_digest_hex(img->id), 12);
	if (image_in_use(ctx, img->id) && !force) {
		ret = kiln_err_set(e, KILN_E_CONFLICT,
		                   "conflict: unable to remove repository reference \"%s\" (must "
		                   "force) - container is using its referenced image %s",
		                   arg, sid);
	} else if (names_tag(img, arg)) {
		bool deleted = false;
		ret = img_store_untag(ctx->store, arg, false, &deleted, e);
		if (ret == 0) {
			_cleanup_free_ char *norm = img_ref_normalize(arg, NULL);
			_cleanup_free_ char *f = img_ref_familiarize(norm);
			printf("Untagged: %s\n", f);
			if (deleted)
				printf("Deleted: %s\n", img->id);
		}
	} else if (img->n_repo_tags > 1 && !force) {
		ret = kiln_err_set(e, KILN_E_CONFLICT,
		                   "conflict: unable to delete %s (must be forced) - image is "
		                   "referenced in multiple repositories",
		                   sid);
	} else {
		ret = img_store_remove_image(ctx->store, img->id, e);
		for (size_t i = 0; ret == 0 && i < img->n_repo_tags; i++) {
			_cleanup_free_ char *f = img_ref_familiarize(img->repo_tags[i]);
			printf("Untagged: %s\n", f);
		}
		if (ret == 0)
			printf("Deleted: %s\n", img->id);
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
	int rc = 0;
	for (int i = 1; i < argc; i++) {
		struct kiln_err e = KILN_ERR_INIT;
		if (remove_one(ctx, argv[i], force, &e) < 0) {
			kiln_report_error(ctx, &e);
			rc = 1;
		}
	}
	struct img_gc_result res;
	try_gc(ctx, &res);
	return rc;
}

/* Removes dangling images (or all with all) and collects garbage. */
static int prune_images(struct kiln_ctx *ctx, bool all, uint64_t *reclaimed)
{
	struct img_image **v = NULL;
	size_t n = 0;
	bool header = false;
	if (img_image_list(ctx->store, &v, &n, &ctx->err) < 0)
		return 1;
	for (size_t i = 0; i < n; i++) {
		if ((!all && v[i]->n_repo_tags) || image_in_use(ctx, v[i]->id))
			continue;
		if (img_store_remove_image(ctx->store, v[i]->id, &ctx->err) < 0) {
			img_image_list_free(v, n);
			return 1;
		}
		if (!header)
			printf("Deleted Images:\n");
		header = true;
		for (size_t t = 0; t < v[i]->n_repo_tags; t++) {
			_cleanup_free_ char *f = img_ref_familiarize(v[i]->repo_tags[t]);
			printf("untagged: %s\n", f);
		}
		printf("deleted: %s\n", v[i]->id);
	}
	img_image_list_free(v, n);
	if (header)
		printf("\n");
	struct img_gc_result res;
	if (img_store_gc(ctx->store, 0, &res, &ctx->err) < 0)
		return 1;
	*reclaimed = res.bytes_reclaimed;
	return 0;
}

int cmd_image_prune(int argc, char **argv, struct kiln_ctx *ctx)
{
	bool all = false, force = false;
	struct kiln_strv filters = KILN_STRV_INIT;
	const struct kiln_opt opts[] = {
	    OPT_BOOL('a', "all", &all, "Remove all unused images, not just dangling ones"),
	    OPT_STRV(0, "filter", &filters, "filter", "Provide filter values (not supported yet)"),
	    OPT_BOOL('f', "force", &force, "Do not prompt for confirmation"), OPT_END};
	const struct kiln_usage usage = {"[OPTIONS]", "Remove unused images", 0, 0, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	kiln_strv_release(&filters);
	const char *warn = all ? "WARNING! This will remove all images without at least one "
	                         "container associated to them."
	                       : "WARNING! This will remove all dangling images.";
	if (!force && !kiln_confirm(warn))
		return 0;
	uint64_t reclaimed = 0;
	if (prune_images(ctx, all, &reclaimed) != 0)
		return 1;
	_cleanup_free_ char *h = kiln_human_size((double)reclaimed);
	printf("Total reclaimed space: %s\n", h);
	return 0;
}

int cmd_system_prune(int argc, char **argv, struct kiln_ctx *ctx)
{
	bool all = false, force = false, volumes = false;
	const struct kiln_opt opts[] = {
	    OPT_BOOL('a', "all", &all, "Remove all unused images not just dangling ones"),
	    OPT_BOOL('f', "force", &force, "Do not prompt for confirmation"),
	    OPT_BOOL(0, "volumes", &volumes, "Prune anonymous volumes"), OPT_END};
	const struct kiln_usage usage = {"[OPTIONS]", "Remove unused data", 0, 0, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	_cleanup_free_ char *warn = xasprintf(
	    "WARNING! This will remove:\n  - all stopped containers\n%s  - %s\n  - %s\n",
	    volumes ? "  - all anonymous volumes not used by at least one container\n" : "",
	    all ? "all images without at least one container associated to them"
	        : "all dangling images",
	    all ? "all build cache" : "unused build cache");
	if (!force && !kiln_confirm(warn))
		return 0;
	uint64_t reclaimed = 0;
	if (prune_images(ctx, all, &reclaimed) != 0)
		return 1;
	_cleanup_free_ char *h = kiln_human_size((double)reclaimed);
	printf("Total reclaimed space: %s\n", h);
	return 0;
}

int cmd_system_df(int argc, char **argv, struct kiln_ctx *ctx)
{
	const struct kiln_opt opts[] = {OPT_END};
	const struct kiln_usage usage = {"[OPTIONS]", "Show kiln disk usage", 0, 0, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	struct img_image **v = NULL;
	size_t n = 0, active = 0;
	if (img_image_list(ctx->store, &v, &n, &ctx->err) < 0)
		return 1;
	for (size_t i = 0; i < n; i++)
		active += image_in_use(ctx, v[i]->id);
	img_image_list_free(v, n);
	uint64_t size = img_store_blobs_size(ctx->store);
	struct img_gc_result dry;
	struct kiln_err e = KILN_ERR_INIT;
	uint64_t reclaimable = size;
	if (active && img_store_gc(ctx->store, IMG_GC_TRY | IMG_GC_DRY_RUN, &dry, &e) == 0)
		reclaimable = dry.bytes_reclaimed;
	kiln_err_release(&e);
	_cleanup_free_ char *hs = kiln_human_size((double)size);
	_cleanup_free_ char *hr = kiln_human_size((double)reclaimable);
	_cleanup_free_ char *rec =
	    size ? xasprintf("%s (%llu%%)", hr, (unsigned long long)(reclaimable * 100 / size))
	         : xstrdup(hr);
	_cleanup_free_ char *total = xasprintf("%zu", n);
	_cleanup_free_ char *act = xasprintf("%zu", active);
	struct kiln_table t = {.n_cols = 5};
	const char *h[] = {"TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"};
	const char *img[] = {"Images", total, act, hs, rec};
	const char *ctr[] = {"Containers", "0", "0", "0B", "0B"};
	const char *vol[] = {"Local Volumes", "0", "0", "0B", "0B"};
	const char *bc[] = {"Build Cache", "0", "0", "0B", "0B"};
	kiln_table_add(&t, h);
	kiln_table_add(&t, img);
	kiln_table_add(&t, ctr);
	kiln_table_add(&t, vol);
	kiln_table_add(&t, bc);
	kiln_table_print(&t, stdout);
	kiln_table_release(&t);
	return 0;
}

int cmd_system_check(int argc, char **argv, struct kiln_ctx *ctx)
{
	bool repair = false;
	const struct kiln_opt opts[] = {
	    OPT_BOOL(0, "repair", &repair,
	             "First remove temporary files that no running kiln process holds"),
	    OPT_END};
	const struct kiln_usage usage = {"[OPTIONS]", "Check the store's consistency", 0, 0, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	if (repair) {
		size_t n = img_store_sweep_temps(ctx->store, 0);
		if (n)
			printf("removed %zu stale temporary file%s\n", n, n == 1 ? "" : "s");
	}
	struct kiln_strv problems = KILN_STRV_INIT;
	int r = img_store_fsck(ctx->store, &problems, &ctx->err);
	for (size_t i = 0; i < problems.n; i++)
		printf("%s\n", problems.v[i]);
	kiln_strv_release(&problems);
	if (r == 0)
		printf("store is consistent\n");
	return r < 0 ? 1 : 0;
}

/* --- history ------------------------------------------------------------------ */

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

int cmd_history(int argc, char **argv, struct kiln_ctx *ctx)
{
	bool no_trunc = false, quiet = false, human = true;
	const char *format = NULL;
	const struct kiln_opt opts[] = {
	    OPT_STRING(0, "format", &format, "string", "Format output using a custom template"),
	    OPT_BOOL('H', "human", &human, "Print sizes and dates in human readable format"),
	    OPT_BOOL(0, "no-trunc", &no_trunc, "Don't truncate output"),
	    OPT_BOOL('q', "quiet", &quiet, "Only show image IDs"), OPT_END};
	const struct kiln_usage usage = {"[OPTIONS] IMAGE", "Show the history of an image", 1, 1,
	                                 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	struct img_image *img = NULL;
	if (img_image_load(ctx->store, argv[1], &img, &ctx->err) < 0)
		return 1;
	const struct img_config *c = img->config;
	struct kiln_table t = {.n_cols = 5};
	const char *h[] = {"IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"};
	if (!quiet && !format)
		kiln_table_add(&t, h);
	size_t layer = img->manifest->n_layers;
	for (size_t k = c->n_history; k-- > 0;) {
		const struct img_history *e = &c->history[k];
		int64_t size = 0;
		if (!e->empty_layer && layer > 0)
			size = img->manifest->layers[--layer].size;
		_cleanup_free_ char *id =
		    k + 1 == c->n_history
		        ? (no_trunc ? xstrdup(img->id) : xstrndup(kiln_digest_hex(img->id), 12))
		        : xstrdup("<missing>");
		if (quiet) {
			printf("%s\n", id);
			continue;
		}
		_cleanup_free_ char *since = kiln_since(e->created);
		_cleanup_free_ char *by = xstrdup(e->created_by ? e->created_by : "");
		for (char *p = by; *p; p++)
			if (*p == '\t' || *p == '\n')
				*p = ' ';
		_cleanup_free_ char *shown = no_trunc ? xstrdup(by) : ellipsis(by, 45);
		_cleanup_free_ char *hs = kiln_human_size((double)size);
		_cleanup_free_ char *szs = human ? xstrdup(hs) : xasprintf("%lld", (long long)size);
		if (format) {
			printf("%s\t%s\t%s\t%s\t%s\n", id, since, shown, szs,
			       e->comment ? e->comment : "");
			continue;
		}
		const char *row[] = {id, since, shown, szs, e->comment ? e->comment : ""};
		kiln_table_add(&t, row);
	}
	kiln_table_print(&t, stdout);
	kiln_table_release(&t);
	img_image_free(img);
	return 0;
}
