/* attach, and the attached halves of run -it, start -ai and exec -t:
 * docker's flags into rt_attach_opts, one library call. */
#include <stdio.h>
#include <unistd.h>

#include "cli.h"
#include "runtime.h"

int kiln_attach_done(bool detached, int status)
{
	if (!detached)
		return status;
	fprintf(stderr, "read escape sequence\n"); /* docker's words, exit 0 */
	return 0;
}

int kiln_check_tty(struct kiln_ctx *ctx, bool attach_stdin, bool tty)
{
	if (!tty || !attach_stdin || isatty(STDIN_FILENO))
		return 0;
	ctx->err_prefix = "";
	return kiln_err_set(&ctx->err, KILN_E_INVALID, "the input device is not a TTY");
}

int cmd_attach(int argc, char **argv, struct kiln_ctx *ctx)
{
	const char *detach_keys = NULL;
	bool no_stdin = false, sig_proxy = true;
	const struct kiln_opt opts[] = {
	    OPT_STRING(0, "detach-keys", &detach_keys, "string",
	               "Override the key sequence for detaching a container"),
	    OPT_BOOL(0, "no-stdin", &no_stdin, "Do not attach STDIN"),
	    OPT_BOOL(0, "sig-proxy", &sig_proxy, "Proxy all received signals to the process"),
	    OPT_END};
	const struct kiln_usage usage = {
	    "[OPTIONS] CONTAINER",
	    "Attach local standard input, output, and error streams to a running container", 1, 1,
	    0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	struct kiln_err err = KILN_ERR_INIT;
	struct rt_container *c = NULL;
	struct rt_attach_opts o = {.in_fd = no_stdin ? -1 : STDIN_FILENO,
	                           .out_fd = STDOUT_FILENO,
	                           .err_fd = STDERR_FILENO,
	                           .detach_keys = detach_keys,
	                           .sig_proxy = sig_proxy};
	int status = 0;
	bool detached = false;
	fflush(stdout);
	if (rt_container_load(ctx->root, argv[1], &c, &err) < 0)
		return kiln_cmd_fail(ctx, &err);
	/* docker's order: the state, then the terminal; both printed bare */
	if (rt_container_attachable(c, &err) < 0 ||
	    kiln_check_tty(ctx, !no_stdin, c->spec.tty) < 0) {
		rt_container_free(c);
		ctx->err_prefix = "";
		return err.msg ? kiln_cmd_fail(ctx, &err) : 1;
	}
	if (rt_container_attach(ctx->root, c, &o, &status, &detached, &err) < 0) {
		rt_container_free(c);
		return kiln_cmd_fail(ctx, &err);
	}
	rt_container_free(c);
	return kiln_attach_done(detached, status);
}
