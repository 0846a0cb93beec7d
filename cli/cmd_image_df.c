/* system df [-v] [--format]: docker 20.10's disk usage summary and, with
 * -v, its four tables (images, containers, local volumes, build cache).
 * Sizes are docker's: an image's layers by the bytes of their files
 * (img_layer_usage), the Images total over distinct layers (chain IDs),
 * containers by their writable layer, volumes by their files. */
#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cache.h"
#include "cli.h"
#include "cmd_container.h"
#include "cmd_image.h"
#include "format.h"
#include "image.h"
#include "runtime.h"

struct df_layer {
	const char *chain; /* borrowed from a df's chain vectors */
	uint64_t size;
	unsigned refs;
};

struct df {
	struct img_image **imgs;
	size_t n_imgs;
	struct image_df *per; /* one per image */
	uint64_t layers_size;
	struct rt_container **ctrs;
	size_t n_ctrs;
	struct kiln_strv vols;
	struct cache_du cache;
};

static int cmp_layer(const void *a, const void *b)
{
	return strcmp(((const struct df_layer *)a)->chain, ((const struct df_layer *)b)->chain);
}

/* docker's layerRefs: how many images hold each chain ID; an image's
 * SharedSize sums its layers held by more than one. */
static void count_layers(struct kiln_ctx *ctx, struct df *d)
{
	struct kiln_strv *chains = xcalloc(d->n_imgs + 1, sizeof(*chains));
	struct df_layer *L = NULL;
	size_t n = 0, cap = 0;
	for (size_t i = 0; i < d->n_imgs; i++) {
		img_config_chain_ids(d->imgs[i]->config, &chains[i]);
		for (size_t j = 0; j < chains[i].n && j < d->imgs[i]->manifest->n_layers; j++) {
			KILN_GROW(L, cap, n + 1);
			L[n++] = (struct df_layer){chains[i].v[j],
			                           img_manifest_layer_usage(ctx->store,
			                                                    d->imgs[i]->manifest,
			                                                    d->imgs[i]->config, j),
			                           1};
		}
	}
	if (n)
		qsort(L, n, sizeof(*L), cmp_layer);
	size_t k = 0; /* merge equal chains */
	for (size_t i = 0; i < n; i++) {
		if (k && !strcmp(L[k - 1].chain, L[i].chain)) {
			L[k - 1].refs++;
			continue;
		}
		L[k++] = L[i];
		d->layers_size += L[i].size;
	}
	for (size_t i = 0; i < d->n_imgs; i++)
		for (size_t j = 0; j < chains[i].n; j++) {
			struct df_layer key = {.chain = chains[i].v[j]};
			const struct df_layer *l =
			    k ? bsearch(&key, L, k, sizeof(*L), cmp_layer) : NULL;
			if (l && l->refs > 1)
				d->per[i].shared += (int64_t)l->size;
		}
	for (size_t i = 0; i < d->n_imgs; i++)
		kiln_strv_release(&chains[i]);
	free(chains);
	free(L);
}

static int df_load(struct kiln_ctx *ctx, struct df *d)
{
	if (img_image_list(ctx->store, &d->imgs, &d->n_imgs, &ctx->err) < 0)
		return -1;
	d->per = xcalloc(d->n_imgs + 1, sizeof(*d->per));
	struct kiln_err e = KILN_ERR_INIT;
	if (rt_container_list(ctx->root, &d->ctrs, &d->n_ctrs, &e) < 0 ||
	    rt_volume_list(ctx->root, &d->vols, &e) < 0 ||
	    cache_du(ctx->store, &d->cache, &e) < 0) {
		kiln_debug("system df: %s", e.msg); /* shown as empty */
		kiln_err_release(&e);
	}
	for (size_t i = 0; i < d->n_imgs; i++)
		for (size_t c = 0; c < d->n_ctrs; c++)
			d->per[i].containers += !strcmp(d->ctrs[c]->image_id, d->imgs[i]->id);
	count_layers(ctx, d);
	return 0;
}

static void df_release(struct df *d)
{
	img_image_list_free(d->imgs, d->n_imgs);
	free(d->per);
	rt_container_list_free(d->ctrs, d->n_ctrs);
	kiln_strv_release(&d->vols);
	cache_du_release(&d->cache);
}

static bool ctr_active(const struct rt_container *c)
{
	return c->status == RT_RUNNING || c->status == RT_PAUSED || c->status == RT_RESTARTING;
}

static size_t ctr_volumes(const struct rt_container *c, const char *name)
{
	size_t n = 0;
	for (size_t i = 0; i < c->spec.n_mounts; i++)
		n += c->spec.mounts[i].volume && (!name || !strcmp(c->spec.mounts[i].volume, name));
	return n;
}

/* docker's directory.Size: every entry but directories, once per inode. */
static uint64_t du_total;
static struct kiln_strv du_seen;
static int du_one(const char *p, const struct stat *st, int type, struct FTW *f)
{
	(void)p, (void)f;
	if (type == FTW_D || type == FTW_DP || !st->st_size)
		return 0;
	if (st->st_nlink > 1) {
		char key[48];
		snprintf(key, sizeof(key), "%llu:%llu", (unsigned long long)st->st_dev,
		         (unsigned long long)st->st_ino);
		if (kiln_strv_contains(&du_seen, key))
			return 0;
		kiln_strv_push(&du_seen, key);
	}
	du_total += (uint64_t)st->st_size;
	return 0;
}

uint64_t image_df_volume_size(struct kiln_ctx *ctx, const char *name)
{
	_cleanup_free_ char *p = rt_volume_path(ctx->root, name);
	du_total = 0;
	nftw(p, du_one, 16, FTW_PHYS);
	kiln_strv_release(&du_seen);
	return du_total;
}

static char *with_percent(uint64_t part, uint64_t total, int prec)
{
	_cleanup_free_ char *h = kiln_human_size_prec((double)part, prec);
	return total ? xasprintf("%s (%llu%%)", h, (unsigned long long)(part * 100 / total))
	             : xstrdup(h);
}

static json_t *summary_row(const char *type, size_t total, size_t active, uint64_t size,
                           char *reclaimable)
{
	_cleanup_free_ char *s = kiln_human_size_prec((double)size, 4);
	json_t *o = json_pack("{s:o, s:s, s:s, s:o, s:s}", "Active", json_sprintf("%zu", active),
	                      "Reclaimable", reclaimable, "Size", s, "TotalCount",
	                      json_sprintf("%zu", total), "Type", type); /* sorted, as Go's */
	free(reclaimable);
	return o;
}

/* docker's four summary rows. */
static void summary_rows(struct kiln_ctx *ctx, const struct df *d, json_t *rows[4])
{
	size_t active = 0;
	uint64_t used = 0, ctr_total = 0, ctr_idle = 0, vol_total = 0, vol_idle = 0;
	size_t ctr_active_n = 0, vol_active = 0;
	for (size_t i = 0; i < d->n_imgs; i++)
		if (d->per[i].containers) {
			active++;
			used += (uint64_t)(d->imgs[i]->size - d->per[i].shared);
		}
	for (size_t i = 0; i < d->n_ctrs; i++) {
		uint64_t rw = rt_container_size(d->ctrs[i]);
		ctr_total += rw;
		if (ctr_active(d->ctrs[i]))
			ctr_active_n++;
		else
			ctr_idle += rw;
	}
	for (size_t i = 0; i < d->vols.n; i++) {
		size_t links = 0;
		for (size_t c = 0; c < d->n_ctrs; c++)
			links += ctr_volumes(d->ctrs[c], d->vols.v[i]);
		uint64_t sz = image_df_volume_size(ctx, d->vols.v[i]);
		vol_total += sz;
		vol_active += links > 0;
		vol_idle += links ? 0 : sz;
	}
	uint64_t rec = d->layers_size > used ? d->layers_size - used : 0;
	rows[0] = summary_row("Images", d->n_imgs, active, d->layers_size,
	                      with_percent(rec, d->layers_size, 4));
	rows[1] = summary_row("Containers", d->n_ctrs, ctr_active_n, ctr_total,
	                      with_percent(ctr_idle, ctr_total, 4));
	rows[2] = summary_row("Local Volumes", d->vols.n, vol_active, vol_total,
	                      with_percent(vol_idle, vol_total, 4));
	rows[3] = summary_row("Build Cache", d->cache.n, 0, d->cache.total,
	                      kiln_human_size_prec((double)d->cache.reclaimable, 4));
}

static const char *const df_headers[][2] = {
    {"Type", "TYPE"}, {"TotalCount", "TOTAL"},        {"Active", "ACTIVE"},
    {"Size", "SIZE"}, {"Reclaimable", "RECLAIMABLE"}, {NULL, NULL}};

/* --- -v ------------------------------------------------------------------------- */

static json_t *image_rows(const struct df *d, bool trunc)
{
	json_t *a = json_array();
	for (size_t i = 0; i < d->n_imgs; i++) {
		const struct img_image *img = d->imgs[i];
		_cleanup_free_ char *repo = xstrdup("<none>"), *tag = xstrdup("<none>");
		struct img_ref r;
		if (img->n_repo_tags && img_ref_parse(img->repo_tags[0], 0, &r, NULL) == 0) {
			if (r.tag) { /* docker shows the first tag only */
				free(repo);
				free(tag);
				repo = img_ref_familiar_name(&r);
				tag = xstrdup(r.tag);
			}
			img_ref_release(&r);
		}
		json_array_append_new(a,
		                      image_row_json(img, repo, tag, "<none>", !trunc, &d->per[i]));
	}
	return a;
}

static json_t *container_rows(const struct df *d, bool trunc)
{
	json_t *a = json_array();
	for (size_t i = 0; i < d->n_ctrs; i++) {
		json_t *o = ctr_ps_json(d->ctrs[i], !trunc);
		_cleanup_free_ char *sz = kiln_human_size((double)rt_container_size(d->ctrs[i]));
		json_object_set_new(o, "Size", json_string(sz));
		json_object_set_new(o, "LocalVolumes",
		                    json_sprintf("%zu", ctr_volumes(d->ctrs[i], NULL)));
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *volume_rows(struct kiln_ctx *ctx, const struct df *d)
{
	json_t *a = json_array();
	for (size_t i = 0; i < d->vols.n; i++) {
		size_t links = 0;
		for (size_t c = 0; c < d->n_ctrs; c++)
			links += ctr_volumes(d->ctrs[c], d->vols.v[i]) > 0;
		_cleanup_free_ char *sz =
		    kiln_human_size_prec((double)image_df_volume_size(ctx, d->vols.v[i]), 4);
		json_array_append_new(a, json_pack("{s:s, s:o, s:s, s:s, s:s, s:s}", "Driver",
		                                   "local", "Links", json_sprintf("%zu", links),
		                                   "Mountpoint", "", "Name", d->vols.v[i], "Scope",
		                                   "local", "Size", sz));
	}
	return a;
}

static int cmp_last_used(const void *a, const void *b)
{
	int64_t x = ((const struct cache_du_entry *)a)->last_used;
	int64_t y = ((const struct cache_du_entry *)b)->last_used;
	return (x > y) - (x < y);
}

/* kiln's build cache: a record (its layer) or a RUN --mount=type=cache
 * directory; kiln keeps when each was last used, not when it was made or
 * how often, so CREATED reads the last use and USAGE "N/A". */
static json_t *cache_rows(struct df *d, bool trunc)
{
	json_t *a = json_array();
	if (d->cache.n)
		qsort(d->cache.v, d->cache.n, sizeof(*d->cache.v), cmp_last_used);
	for (size_t i = 0; i < d->cache.n; i++) {
		const struct cache_du_entry *c = &d->cache.v[i];
		_cleanup_free_ char *id = trunc ? xstrndup(c->id, 12) : xstrdup(c->id);
		_cleanup_free_ char *sz = kiln_human_size((double)c->size);
		_cleanup_free_ char *ago = kiln_human_duration(time(NULL) - c->last_used);
		_cleanup_free_ char *since = xasprintf("%s ago", ago);
		json_array_append_new(
		    a, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "CacheType",
		                 c->is_mount ? "exec.cachemount" : "regular", "CreatedSince", since,
		                 "ID", id, "LastUsedSince", since, "Shared",
		                 c->shared ? "true" : "false", "Size", sz, "UsageCount", "N/A"));
	}
	return a;
}

struct df_table {
	const char *title, *format, *const (*headers)[2];
};
static const char *const img_h[][2] = {{"Repository", "REPOSITORY"},
                                       {"Tag", "TAG"},
                                       {"ID", "IMAGE ID"},
                                       {"CreatedSince", "CREATED"},
                                       {"VirtualSize", "SIZE"},
                                       {"SharedSize", "SHARED SIZE"},
                                       {"UniqueSize", "UNIQUE SIZE"},
                                       {"Containers", "CONTAINERS"},
                                       {NULL, NULL}};
static const char *const ctr_h[][2] = {{"ID", "CONTAINER ID"},
                                       {"Image", "IMAGE"},
                                       {"Command", "COMMAND"},
                                       {"LocalVolumes", "LOCAL VOLUMES"},
                                       {"Size", "SIZE"},
                                       {"RunningFor", "CREATED"},
                                       {"Status", "STATUS"},
                                       {"Names", "NAMES"},
                                       {NULL, NULL}};
static const char *const vol_h[][2] = {
    {"Name", "VOLUME NAME"}, {"Links", "LINKS"}, {"Size", "SIZE"}, {NULL, NULL}};
static const char *const bc_h[][2] = {{"ID", "CACHE ID"},
                                      {"CacheType", "CACHE TYPE"},
                                      {"Size", "SIZE"},
                                      {"CreatedSince", "CREATED"},
                                      {"LastUsedSince", "LAST USED"},
                                      {"UsageCount", "USAGE"},
                                      {"Shared", "SHARED"},
                                      {NULL, NULL}};
static const struct df_table df_tables[] = {
    {"Images space usage:\n\n",
     "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.VirtualSize}}\t{{."
     "SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}",
     img_h},
    {"\nContainers space usage:\n\n",
     "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{."
     "Status}}\t{{.Names}}",
     ctr_h},
    {"\nLocal Volumes space usage:\n\n", "table {{.Name}}\t{{.Links}}\t{{.Size}}", vol_h},
    {NULL,
     "table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{."
     "UsageCount}}\t{{.Shared}}",
     bc_h},
};

static int verbose_table(const struct df *d, json_t *all, struct kiln_err *err)
{
	static const char *const keys[] = {"Images", "Containers", "Volumes", "BuildCache"};
	for (size_t t = 0; t < 4; t++) {
		json_t *a = json_object_get(all, keys[t]);
		if (df_tables[t].title) {
			fputs(df_tables[t].title, stdout);
		} else {
			_cleanup_free_ char *h = kiln_human_size((double)d->cache.total);
			printf("\nBuild cache usage: %s\n\n", h);
		}
		size_t n = json_array_size(a);
		json_t **objs = xcalloc(n + 1, sizeof(*objs));
		for (size_t i = 0; i < n; i++)
			objs[i] = json_array_get(a, i);
		const struct kiln_tmpl_opts o = {0};
		int r = kiln_format_list(df_tables[t].format, (void *const *)objs, n,
		                         df_tables[t].headers, &o, stdout, err);
		free(objs);
		if (r < 0)
			return -1;
	}
	return 0;
}

static int verbose(struct kiln_ctx *ctx, struct df *d, const char *format)
{
	bool table = !format || !strcmp(format, "table");
	json_t *all = json_pack("{s:o, s:o, s:o, s:o}", "Images", image_rows(d, table),
	                        "Containers", container_rows(d, table), "Volumes",
	                        volume_rows(ctx, d), "BuildCache", cache_rows(d, table));
	int r;
	if (table) {
		r = verbose_table(d, all, &ctx->err);
	} else { /* one template over the whole (docker's diskUsageContext) */
		struct kiln_tmpl *t = kiln_tmpl_parse(format, &ctx->err);
		struct kiln_buf out;
		kiln_buf_init(&out, KILN_BUF_NOLIMIT, NULL);
		const struct kiln_tmpl_opts o = {.type = "*formatter.diskUsageContext"};
		r = t ? kiln_tmpl_render(t, all, &o, &out, &ctx->err) : -1;
		if (r == 0)
			printf("%s\n", kiln_buf_str(&out));
		kiln_buf_release(&out);
		kiln_tmpl_free(t);
	}
	json_decref(all);
	return r < 0 ? 1 : 0;
}

int cmd_system_df(int argc, char **argv, struct kiln_ctx *ctx)
{
	bool verb = false;
	const char *format = NULL;
	const struct kiln_opt opts[] = {
	    OPT_STRING(0, "format", &format, "string", "Pretty-print images using a Go template"),
	    OPT_BOOL('v', "verbose", &verb, "Show detailed information on space usage"), OPT_END};
	const struct kiln_usage usage = {"[OPTIONS]", "Show kiln disk usage", 0, 0, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	struct df d = {0};
	if (df_load(ctx, &d) < 0)
		return 1;
	int rc;
	if (verb) {
		rc = verbose(ctx, &d, format);
	} else {
		json_t *rows[4];
		summary_rows(ctx, &d, rows);
		const struct kiln_tmpl_opts o = {.type = "*formatter.diskUsageImagesContext"};
		rc =
		    kiln_format_list(format && strcmp(format, "table") ? format
		                                                       : "table {{.Type}}\t{{."
		                                                         "TotalCount}}\t{{.Active}}"
		                                                         "\t{{.Size}}\t{{."
		                                                         "Reclaimable}}",
		                     (void *const *)rows, 4, df_headers, &o, stdout, &ctx->err) < 0;
		for (size_t i = 0; i < 4; i++)
			json_decref(rows[i]);
	}
	df_release(&d);
	return rc;
}
