/* volume create, ls, inspect, rm, prune (docker's local driver). */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cmd_image.h"
#include "format.h"
#include "runtime.h"

int cmd_volume_create(int argc, char **argv, struct kiln_ctx *ctx)
{
	const char *driver = "local";
	const struct kiln_opt opts[] = {
	    OPT_STRING('d', "driver", &driver, "string", "Specify volume driver name"), OPT_END};
	const struct kiln_usage usage = {"[OPTIONS] [VOLUME]", "Create a volume", 0, 1, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	if (strcmp(driver, "local"))
		return kiln_err_set(&ctx->err, KILN_E_UNSUPPORTED,
		                    "error looking up volume plugin %s: plugin \"%s\" not found",
		                    driver, driver),
		       1;
	struct kiln_err err = KILN_ERR_INIT;
	char *name = NULL;
	if (rt_volume_create(ctx->root, argc > 1 ? argv[1] : NULL, &name, &err) < 0)
		return kiln_cmd_fail(ctx, &err);
	printf("%s\n", name);
	free(name);
	return 0;
}

int cmd_volume_ls(int argc, char **argv, struct kiln_ctx *ctx)
{
	bool quiet = false;
	const struct kiln_opt opts[] = {OPT_BOOL('q', "quiet", &quiet, "Only display volume names"),
	                                OPT_END};
	const struct kiln_usage usage = {"[OPTIONS]", "List volumes", 0, 0, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	struct kiln_err err = KILN_ERR_INIT;
	struct kiln_strv names = KILN_STRV_INIT;
	if (rt_volume_list(ctx->root, &names, &err) < 0)
		return kiln_cmd_fail(ctx, &err);
	struct kiln_table t = {.n_cols = 2};
	const char *h[] = {"DRIVER", "VOLUME NAME"};
	if (!quiet)
		kiln_table_add(&t, h);
	for (size_t i = 0; i < names.n; i++) {
		if (quiet) {
			printf("%s\n", names.v[i]);
			continue;
		}
		const char *row[] = {"local", names.v[i]};
		kiln_table_add(&t, row);
	}
	if (!quiet)
		kiln_table_print(&t, stdout);
	kiln_table_release(&t);
	kiln_strv_release(&names);
	return 0;
}

int cmd_volume_inspect(int argc, char **argv, struct kiln_ctx *ctx)
{
	const char *format = NULL;
	const struct kiln_opt opts[] = {
	    OPT_STRING('f', "format", &format, "string", "Format output using a custom template"),
	    OPT_END};
	const struct kiln_usage usage = {"[OPTIONS] VOLUME [VOLUME...]",
	                                 "Display detailed information on one or more volumes", 1,
	                                 -1, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	json_t *all = json_array();
	int rc = 0;
	for (int i = 1; i < argc; i++) {
		struct kiln_err e = KILN_ERR_INIT;
		struct rt_volume v;
		if (rt_volume_get(ctx->root, argv[i], &v, &e) < 0) {
			kiln_report_error(ctx, &e);
			rc = 1;
			continue;
		}
		json_array_append_new(all, json_pack("{s:s,s:s,s:n,s:s,s:s,s:n,s:s}", "CreatedAt",
		                                     v.created, "Driver", "local", "Labels",
		                                     "Mountpoint", v.mountpoint, "Name", v.name,
		                                     "Options", "Scope", "local"));
		rt_volume_release(&v);
	}
	if (format) {
		struct kiln_err e = KILN_ERR_INIT;
		struct kiln_tmpl *t = kiln_tmpl_parse_raw(format, &e);
		if (!t) {
			json_decref(all);
			kiln_err_move(&ctx->err, &e);
			return 64;
		}
		struct kiln_buf b;
		kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
		const struct kiln_tmpl_opts o = {.raw_fallback = true};
		for (size_t i = 0; i < json_array_size(all); i++) {
			if (kiln_tmpl_render(t, json_array_get(all, i), &o, &b, &e) < 0) {
				kiln_report_error(ctx, &e);
				rc = 1;
				continue;
			}
			kiln_buf_addch(&b, '\n', NULL);
		}
		fputs(kiln_buf_str(&b), stdout);
		kiln_buf_release(&b);
		kiln_tmpl_free(t);
	} else {
		_cleanup_free_ char *j = kiln_json_dump(all, true);
		printf("%s\n", j);
	}
	json_decref(all);
	return rc;
}

int cmd_volume_rm(int argc, char **argv, struct kiln_ctx *ctx)
{
	bool force = false;
	const struct kiln_opt opts[] = {
	    OPT_BOOL('f', "force", &force, "Force the removal of one or more volumes"), OPT_END};
	const struct kiln_usage usage = {"[OPTIONS] VOLUME [VOLUME...]",
	                                 "Remove one or more volumes", 1, -1, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	int rc = 0;
	for (int i = 1; i < argc; i++) {
		struct kiln_err e = KILN_ERR_INIT;
		if (rt_volume_remove(ctx->root, argv[i], force, &e) < 0) {
			kiln_err_wrap(&e, "Error response from daemon");
			kiln_report_error(ctx, &e);
			rc = 1;
			continue;
		}
		printf("%s\n", argv[i]);
	}
	return rc;
}

int cmd_volume_prune(int argc, char **argv, struct kiln_ctx *ctx)
{
	bool force = false;
	const struct kiln_opt opts[] = {
	    OPT_BOOL('f', "force", &force, "Do not prompt for confirmation"), OPT_END};
	const struct kiln_usage usage = {"[OPTIONS]", "Remove all unused local volumes", 0, 0, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	if (!force && !kiln_confirm("WARNING! This will remove all local volumes not used by at "
	                            "least one container."))
		return 0;
	const struct prune_filter all = {0};
	uint64_t reclaimed = 0;
	int rc = prune_volumes(ctx, &all, &reclaimed);
	if (rc)
		return rc;
	_cleanup_free_ char *h = kiln_human_size_prec((double)reclaimed, 4);
	printf("Total reclaimed space: %s\n", h);
	return 0;
}
