/* Build cache commands: builder prune, builder du (docker buildx's), and
 * build history (also builder history) ls|inspect|diff|trace: past builds,
 * each step with its reason, two builds compared step by step, a build as
 * a Chrome trace-event file. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "cli.h"
#include "format.h"

/* Go durations made of h, m, s parts ("24h", "1h30m", "90s"). */
static int parse_duration(const char *s, int64_t *out, struct kiln_err *err)
{
	int64_t total = 0;
	const char *p = s;
	while (*p) {
		char *end;
		double v = strtod(p, &end);
		if (end == p || v < 0)
			goto bad;
		double unit = *end == 'h' ? 3600 : *end == 'm' ? 60 : *end == 's' ? 1 : 0;
		if (!unit)
			goto bad;
		total += (int64_t)(v * unit);
		p = end + 1;
	}
	if (p == s)
		goto bad;
	*out = total;
	return 0;
bad:
	return kiln_err_set(err, KILN_E_USAGE, "invalid duration `%s` (e.g. 24h, 90m)", s);
}

/* docker's RAMInBytes: "512MB", "10g", "1024" (binary multiples). */
static int parse_size(const char *s, uint64_t *out, struct kiln_err *err)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || v < 0)
		return kiln_err_set(err, KILN_E_USAGE, "invalid size `%s`", s);
	static const char units[] = "bkmgtp";
	const char *u = *end ? strchr(units, tolower((unsigned char)*end)) : units;
	if (!u || (*end && end[1] && strcasecmp(end + 1, "b") && strcasecmp(end + 1, "ib")))
		return kiln_err_set(err, KILN_E_USAGE, "invalid size `%s`", s);
	double m = 1;
	for (const char *k = units; k < u; k++)
		m *= 1024;
	*out = (uint64_t)(v * m);
	return 0;
}

int cmd_builder_prune(int argc, char **argv, struct kiln_ctx *ctx)
{
	bool all = false, force = false;
	const char *keep = NULL;
	struct kiln_strv filters = KILN_STRV_INIT;
	const struct kiln_opt opts[] = {
	    OPT_BOOL('a', "all", &all, "Remove all unused build cache, not just dangling ones"),
	    OPT_STRV(0, "filter", &filters, "filter", "Provide filter values (e.g. \"until=24h\")"),
	    OPT_BOOL('f', "force", &force, "Do not prompt for confirmation"),
	    OPT_STRING(0, "keep-storage", &keep, "bytes", "Amount of disk space to keep for cache"),
	    OPT_END};
	const struct kiln_usage usage = {"[OPTIONS]", "Remove build cache", 0, 0, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	struct cache_prune_opts o = {.all = all};
	int rc = 0;
	for (size_t i = 0; i < filters.n && !rc; i++) {
		if (!strncmp(filters.v[i], "until=", 6))
			rc = parse_duration(filters.v[i] + 6, &o.until, &ctx->err) < 0 ? 125 : 0;
		else
			rc = kiln_err_set(&ctx->err, KILN_E_USAGE,
			                  "invalid filter `%s` (until=DURATION)", filters.v[i]) < 0
			         ? 125
			         : 0;
	}
	kiln_strv_release(&filters);
	if (!rc && keep && parse_size(keep, &o.keep_storage, &ctx->err) < 0)
		rc = 125;
	if (rc)
		return rc;
	const char *warn = all ? "WARNING! This will remove all build cache."
	                       : "WARNING! This will remove all dangling build cache.";
	if (!force && !kiln_confirm(warn))
		return 0;
	struct cache_prune_result res;
	if (cache_prune(ctx->store, &o, &res, &ctx->err) < 0)
		return 1;
	_cleanup_free_ char *h = kiln_human_size_prec((double)res.bytes, 4);
	printf("Total:\t%s\n", h);
	return 0;
}

int cmd_builder_du(int argc, char **argv, struct kiln_ctx *ctx)
{
	bool verbose = false;
	const struct kiln_opt opts[] = {
	    OPT_BOOL(0, "verbose", &verbose, "Provide a more verbose output"), OPT_END};
	const struct kiln_usage usage = {"[OPTIONS]", "Disk usage", 0, 0, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	struct cache_du du;
	if (cache_du(ctx->store, &du, &ctx->err) < 0)
		return 1;
	struct kiln_table t = {.n_cols = 4};
	const char *head[] = {"ID", "RECLAIMABLE", "SIZE", "LAST ACCESSED"};
	kiln_table_add(&t, head);
	int64_t now = time(NULL);
	for (size_t i = 0; i < du.n; i++) {
		_cleanup_free_ char *size = kiln_human_size((double)du.v[i].size);
		_cleanup_free_ char *ago = kiln_human_duration(now - du.v[i].last_used);
		_cleanup_free_ char *when = xasprintf("%s ago", ago);
		const char *row[] = {du.v[i].id, du.v[i].shared ? "false" : "true", size, when};
		kiln_table_add(&t, row);
	}
	kiln_table_print(&t, stdout);
	kiln_table_release(&t);
	_cleanup_free_ char *rec = kiln_human_size_prec((double)du.reclaimable, 4);
	_cleanup_free_ char *tot = kiln_human_size_prec((double)du.total, 4);
	printf("Reclaimable:\t%s\nTotal:\t\t%s\n", rec, tot);
	cache_du_release(&du);
	return 0;
}

static void count(const struct cache_build *b, size_t *hits, size_t *misses)
{
	*hits = *misses = 0;
	for (size_t i = 0; i < b->n_steps; i++) {
		*hits += b->steps[i].result == CACHE_STEP_HIT;
		*misses += b->steps[i].result == CACHE_STEP_MISS;
	}
}

static int history_ls(struct kiln_ctx *ctx)
{
	struct kiln_strv ids = KILN_STRV_INIT;
	if (cache_build_list(ctx->store, &ids, &ctx->err) < 0)
		return 1;
	struct kiln_table t = {.n_cols = 7};
	const char *head[] = {"BUILD ID", "CREATED",    "DURATION", "TARGET",
	                      "TAGS",     "RUN/CACHED", "HIT RATIO"};
	kiln_table_add(&t, head);
	for (size_t i = ids.n; i-- > 0;) {
		struct cache_build b;
		struct kiln_err e = KILN_ERR_INIT;
		if (cache_build_load(ctx->store, ids.v[i], &b, &e) < 0) {
			kiln_err_release(&e);
			continue;
		}
		size_t hits, misses;
		count(&b, &hits, &misses);
		_cleanup_free_ char *ago = kiln_human_duration(time(NULL) - b.started);
		_cleanup_free_ char *created = xasprintf("%s ago", ago);
		_cleanup_free_ char *dur = xasprintf("%.1fs", b.secs);
		_cleanup_free_ char *rc = xasprintf("%zu/%zu", misses, hits);
		_cleanup_free_ char *ratio =
		    hits + misses ? xasprintf("%zu%%", hits * 100 / (hits + misses)) : xstrdup("-");
		const char *row[] = {b.id,   created, dur,  *b.target ? b.target : "(last stage)",
		                     b.tags, rc,      ratio};
		kiln_table_add(&t, row);
		cache_build_release(&b);
	}
	kiln_table_print(&t, stdout);
	kiln_table_release(&t);
	kiln_strv_release(&ids);
	return 0;
}

/* A build by id, a unique prefix of one, or "last" (the newest). */
static int find_build(struct kiln_ctx *ctx, const char *want, struct cache_build *b)
{
	struct kiln_strv ids = KILN_STRV_INIT;
	if (cache_build_list(ctx->store, &ids, &ctx->err) < 0)
		return -1;
	const char *pick = NULL;
	size_t found = 0;
	for (size_t i = 0; i < ids.n; i++)
		if (!strncmp(ids.v[i], want, strlen(want)) && *want) {
			pick = ids.v[i];
			found++;
		}
	if (!strcmp(want, "last") && ids.n) {
		pick = ids.v[ids.n - 1];
		found = 1;
	}
	int r = found == 1 ? cache_build_load(ctx->store, pick, b, &ctx->err)
	                   : kiln_err_set(&ctx->err, KILN_E_NOTFOUND, "no build `%s`%s", want,
	                                  found > 1 ? " (ambiguous prefix)" : "");
	kiln_strv_release(&ids);
	return r;
}

static int history_inspect(struct kiln_ctx *ctx, const char *id)
{
	struct cache_build b;
	if (find_build(ctx, id, &b) < 0)
		return 1;
	size_t hits, misses;
	count(&b, &hits, &misses);
	double saved = 0;
	for (size_t i = 0; i < b.n_steps; i++)
		saved += b.steps[i].result == CACHE_STEP_HIT ? b.steps[i].saved : 0;
	printf("Build:\t\t%s\nContext:\t%s\nDockerfile:\t%s\nTarget:\t\t%s\nTags:\t\t%s\n"
	       "Image:\t\t%s\nDuration:\t%.1fs\nSteps:\t\t%zu run, %zu cached (%.1fs saved)\n\n",
	       b.id, b.context, b.dockerfile, *b.target ? b.target : "(last stage)", b.tags,
	       b.image_id, b.secs, misses, hits, saved);
	for (size_t i = 0; i < b.n_steps; i++) {
		const struct cache_step_info *s = &b.steps[i];
		printf("%s (line %d)\n  key %s, %s", s->name, s->line, s->key,
		       s->result == CACHE_STEP_HIT ? "CACHED" : "ran");
		if (s->result == CACHE_STEP_HIT)
			printf(", %.2fs saved\n", s->saved);
		else
			printf(" in %.2fs: %s\n", s->secs, s->reason ? s->reason : "");
	}
	cache_build_release(&b);
	return 0;
}

static int history_diff(struct kiln_ctx *ctx, const char *ida, const char *idb)
{
	struct cache_build a, b;
	if (find_build(ctx, ida, &a) < 0)
		return 1;
	if (find_build(ctx, idb, &b) < 0) {
		cache_build_release(&a);
		return 1;
	}
	_cleanup_free_ char *text = cache_build_diff(ctx->store, &a, &b);
	fputs(text, stdout);
	cache_build_release(&a);
	cache_build_release(&b);
	return 0;
}

static int history_trace(struct kiln_ctx *ctx, const char *id, const char *out)
{
	struct cache_build b;
	if (find_build(ctx, id, &b) < 0)
		return 1;
	_cleanup_free_ char *json = cache_build_trace_json(&b);
	cache_build_release(&b);
	if (!out || !strcmp(out, "-")) {
		fputs(json, stdout);
		return 0;
	}
	return kiln_write_file_atomic(out, json, strlen(json), 0644, &ctx->err) < 0 ? 1 : 0;
}

#define HISTORY_USAGE "ls | inspect BUILD | diff A B | trace BUILD [-o FILE]"

/* `kiln builder history` and `kiln build history` (cmd_build hands over). */
int cmd_builder_history(int argc, char **argv, struct kiln_ctx *ctx)
{
	const char *out = NULL;
	const struct kiln_opt opts[] = {
	    OPT_STRING('o', "output", &out, "file", "trace: write the trace to this file"),
	    OPT_END};
	const struct kiln_usage usage = {HISTORY_USAGE, "Past builds and why their steps ran", 1, 3,
	                                 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	const char *verb = argv[1];
	if (!strcmp(verb, "ls") && argc == 2)
		return history_ls(ctx);
	if (!strcmp(verb, "inspect") && argc == 3)
		return history_inspect(ctx, argv[2]);
	if (!strcmp(verb, "diff") && argc == 4)
		return history_diff(ctx, argv[2], argv[3]);
	if (!strcmp(verb, "trace") && argc == 3)
		return history_trace(ctx, argv[2], out);
	kiln_err_set(&ctx->err, KILN_E_USAGE, "usage: kiln build history " HISTORY_USAGE);
	return 125;
}
