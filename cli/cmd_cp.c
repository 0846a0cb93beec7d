/* kiln cp: docker's argument rules (CONTAINER:PATH, a local path with a
 * colon written ./a:b, "-" for a tar stream); the copy is the runtime's. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "runtime.h"

/* docker's splitCpArg: an absolute path or "./x:y" is local. */
static void split_arg(const char *arg, char **container, const char **path)
{
	const char *colon = strchr(arg, ':');
	*container = NULL;
	*path = arg;
	if (arg[0] == '/' || !colon || arg[0] == '.')
		return;
	*container = xstrndup(arg, (size_t)(colon - arg));
	*path = colon + 1;
}

int cmd_cp(int argc, char **argv, struct kiln_ctx *ctx)
{
	struct rt_cp_opts o = {0};
	const struct kiln_opt opts[] = {
	    OPT_BOOL('a', "archive", &o.archive, "Archive mode (copy all uid/gid information)"),
	    OPT_BOOL('L', "follow-link", &o.follow_link, "Always follow symbol link in SRC_PATH"),
	    OPT_END};
	const struct kiln_usage usage = {
	    "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tkiln cp [OPTIONS] SRC_PATH|- "
	    "CONTAINER:DEST_PATH",
	    "Copy files/folders between a container and the local filesystem", 2, 2, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	_cleanup_free_ char *sc = NULL, *dc = NULL;
	const char *sp, *dp;
	split_arg(argv[1], &sc, &sp);
	split_arg(argv[2], &dc, &dp);
	struct kiln_err err = KILN_ERR_INIT;
	if (sc && dc)
		return kiln_err_set(&ctx->err, KILN_E_INVALID,
		                    "copying between containers is not supported"),
		       1;
	if (!sc && !dc)
		return kiln_err_set(&ctx->err, KILN_E_INVALID,
		                    "must specify at least one container source"),
		       1;
	const char *cname = sc ? sc : dc, *cpath = sc ? sp : dp;
	struct rt_container *c = NULL;
	if (rt_container_load(ctx->root, cname, &c, &err) < 0) {
		if (err.code != KILN_E_NOTFOUND)
			return kiln_cmd_fail(ctx, &err);
		kiln_err_release(&err);
		kiln_err_set(&err, KILN_E_NOTFOUND, "No such container:path: %s:%s", cname, cpath);
		return kiln_cmd_fail(ctx, &err);
	}
	int r = sc ? rt_container_copy_from(ctx->root, c, cname, sp, dp, STDOUT_FILENO, &o, &err)
	           : rt_container_copy_to(ctx->root, c, cname, sp, STDIN_FILENO, dp, &o, &err);
	rt_container_free(c);
	fflush(stdout);
	return r < 0 ? kiln_cmd_fail(ctx, &err) : 0;
}
