/* run and create: docker's flags into rt_create_opts, one library call. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"
#include "image.h"
#include "runtime.h"

/* Flag values as parsed, before conversion. */
struct run_flags {
	struct kiln_strv env, env_file, volumes, tmpfs, cap_add, cap_drop, security_opt, ulimits,
	    labels, publish, mounts, expose, attach;
	const char *name, *workdir, *user, *entrypoint, *hostname, *domainname, *network, *memory,
	    *memory_swap, *cpus, *restart, *health_cmd, *health_interval, *health_timeout,
	    *health_start_period, *detach_keys, *pull;
	long health_retries;
	bool no_healthcheck;
	long cpu_shares, pids_limit;
	unsigned streams; /* -a, parsed */
	bool rm, interactive, tty, detach, init, read_only, privileged, sig_proxy, publish_all;
};

static void run_flags_release(struct run_flags *f)
{
	struct kiln_strv *v[] = {&f->env,     &f->env_file, &f->volumes,      &f->tmpfs,
	                         &f->cap_add, &f->cap_drop, &f->security_opt, &f->ulimits,
	                         &f->labels,  &f->publish,  &f->mounts,       &f->expose,
	                         &f->attach};
	for (size_t i = 0; i < KILN_ARRAY_SIZE(v); i++)
		kiln_strv_release(v[i]);
}

static void create_opts_release(struct rt_create_opts *o)
{
	for (size_t i = 0; i < o->n_mounts; i++)
		rt_mount_release(&o->mounts[i]);
	free(o->mounts);
	free(o->rlimits);
	kiln_strv_free(o->entrypoint);
	kiln_strv_free(o->expose);
}

static int add_mount(struct rt_create_opts *o, const char *spec, bool tmpfs, struct kiln_err *err)
{
	struct rt_mount m;
	if ((tmpfs ? rt_parse_tmpfs(spec, &m, err) : rt_parse_volume(spec, &m, err)) < 0)
		return -1;
	o->mounts = xreallocarray(o->mounts, o->n_mounts + 1, sizeof(*o->mounts));
	o->mounts[o->n_mounts++] = m;
	return 0;
}

static int resources(const struct run_flags *f, struct rt_create_opts *o, struct kiln_err *err)
{
	if (f->memory && rt_parse_bytes(f->memory, &o->limits.memory, err) < 0)
		return -1;
	if (f->memory_swap) {
		if (!strcmp(f->memory_swap, "-1"))
			o->limits.memory_swap = -1;
		else if (rt_parse_bytes(f->memory_swap, &o->limits.memory_swap, err) < 0)
			return -1;
		if (o->limits.memory_swap > 0 && !o->limits.memory)
			return kiln_err_set(err, KILN_E_INVALID,
			                    "You should always set the Memory limit when using "
			                    "Memoryswap limit, see usage");
		if (o->limits.memory_swap > 0 && o->limits.memory_swap < o->limits.memory)
			return kiln_err_set(
			    err, KILN_E_INVALID,
			    "Minimum memoryswap limit should be larger than memory limit, "
			    "see usage");
	}
	if (o->limits.memory && o->limits.memory < 6 * 1024 * 1024)
		return kiln_err_set(err, KILN_E_INVALID, "Minimum memory limit allowed is 6MB");
	if (f->cpus && rt_parse_cpus(f->cpus, &o->limits, err) < 0)
		return -1;
	o->limits.cpu_shares = f->cpu_shares;
	o->limits.pids_limit = f->pids_limit;
	for (size_t i = 0; i < f->ulimits.n; i++) {
		o->rlimits = xreallocarray(o->rlimits, o->n_rlimits + 1, sizeof(*o->rlimits));
		if (rt_parse_ulimit(f->ulimits.v[i], &o->rlimits[o->n_rlimits], err) < 0)
			return -1;
		o->n_rlimits++;
	}
	return 0;
}

static int to_create_opts(const struct run_flags *f, char **args, struct rt_create_opts *o,
                          struct kiln_err *err)
{
	memset(o, 0, sizeof(*o));
	o->args = args;
	if (f->entrypoint) {
		o->entrypoint_set = true;
		o->entrypoint = xcalloc(2, sizeof(char *));
		if (*f->entrypoint)
			o->entrypoint[0] = xstrdup(f->entrypoint);
	}
	o->env = f->env.v;
	o->env_file = f->env_file.v;
	o->workdir = f->workdir;
	o->user = f->user;
	o->hostname = f->hostname;
	o->domainname = f->domainname;
	o->tty = f->tty;
	o->interactive = f->interactive;
	o->init = f->init;
	o->readonly_rootfs = f->read_only;
	o->privileged = f->privileged;
	o->rm = f->rm;
	o->cap_add = f->cap_add.v;
	o->cap_drop = f->cap_drop.v;
	o->security_opt = f->security_opt.v;
	o->name = f->name;
	o->labels = f->labels.v;
	o->detach = f->detach;
	o->attach = f->streams;
	if (f->network && rt_parse_network(f->network, &o->network, err) < 0)
		return -1;
	for (size_t i = 0; i < f->volumes.n; i++)
		if (add_mount(o, f->volumes.v[i], false, err) < 0)
			return -1;
	for (size_t i = 0; i < f->tmpfs.n; i++)
		if (add_mount(o, f->tmpfs.v[i], true, err) < 0)
			return -1;
	for (size_t i = 0; i < f->mounts.n; i++) {
		struct rt_mount m;
		if (rt_parse_mount(f->mounts.v[i], &m, err) < 0)
			return -1;
		o->mounts = xreallocarray(o->mounts, o->n_mounts + 1, sizeof(*o->mounts));
		o->mounts[o->n_mounts++] = m;
	}
	o->restart = f->restart;
	o->health_cmd = f->health_cmd;
	o->health_retries = (int)f->health_retries;
	o->no_healthcheck = f->no_healthcheck;
	if ((f->health_interval &&
	     rt_parse_duration(f->health_interval, &o->health_interval, err) < 0) ||
	    (f->health_timeout &&
	     rt_parse_duration(f->health_timeout, &o->health_timeout, err) < 0) ||
	    (f->health_start_period &&
	     rt_parse_duration(f->health_start_period, &o->health_start_period, err) < 0))
		return -1;
	o->publish = f->publish.v;
	o->publish_all = f->publish_all;
	struct kiln_strv expose = KILN_STRV_INIT;
	for (size_t i = 0; i < f->expose.n; i++)
		if (rt_parse_expose(f->expose.v[i], &expose, err) < 0) {
			kiln_strv_release(&expose);
			return -1;
		}
	o->expose = expose.v;
	return resources(f, o, err);
}

#define RUN_FLAG_TABLE(f)                                                                          \
	OPT_STRV('a', "attach", &(f).attach, "list", "Attach to STDIN, STDOUT or STDERR"),         \
	    OPT_STRV(0, "cap-add", &(f).cap_add, "list", "Add Linux capabilities"),                \
	    OPT_STRV(0, "cap-drop", &(f).cap_drop, "list", "Drop Linux capabilities"),             \
	    OPT_INT(0, "cpu-shares", &(f).cpu_shares, "int", "CPU shares (relative weight)"),      \
	    OPT_STRING(0, "cpus", &(f).cpus, "decimal", "Number of CPUs"),                         \
	    OPT_STRING(0, "domainname", &(f).domainname, "string", "Container NIS domain name"),   \
	    OPT_STRING(0, "entrypoint", &(f).entrypoint, "string",                                 \
	               "Overwrite the default ENTRYPOINT of the image"),                           \
	    OPT_STRV('e', "env", &(f).env, "list", "Set environment variables"),                   \
	    OPT_STRV(0, "expose", &(f).expose, "list", "Expose a port or a range of ports"),       \
	    OPT_STRV(0, "env-file", &(f).env_file, "list",                                         \
	             "Read in a file of environment variables"),                                   \
	    OPT_STRING(0, "health-cmd", &(f).health_cmd, "string",                                 \
	               "Command to run to check health"),                                          \
	    OPT_STRING(0, "health-interval", &(f).health_interval, "duration",                     \
	               "Time between running the check (ms|s|m|h)"),                               \
	    OPT_STRING(                                                                            \
	        0, "health-start-period", &(f).health_start_period, "duration",                    \
	        "Start period for the container to initialize before starting health-retries "     \
	        "countdown (ms|s|m|h) (default 0s)"),                                              \
	    OPT_STRING(0, "health-timeout", &(f).health_timeout, "duration",                       \
	               "Maximum time to allow one check to run (ms|s|m|h) (default 0s)"),          \
	    OPT_INT(0, "health-retries", &(f).health_retries, "int",                               \
	            "Consecutive failures needed to report unhealthy"),                            \
	    OPT_STRING('h', "hostname", &(f).hostname, "string", "Container host name"),           \
	    OPT_BOOL(                                                                              \
	        0, "init", &(f).init,                                                              \
	        "Run an init inside the container that forwards signals and reaps processes"),     \
	    OPT_BOOL('i', "interactive", &(f).interactive,                                         \
	             "Keep STDIN open even if not attached"),                                      \
	    OPT_STRV('l', "label", &(f).labels, "list", "Set meta data on a container"),           \
	    OPT_STRING('m', "memory", &(f).memory, "bytes", "Memory limit"),                       \
	    OPT_STRING(0, "memory-swap", &(f).memory_swap, "bytes",                                \
	               "Swap limit equal to memory plus swap: '-1' to enable unlimited swap"),     \
	    OPT_STRV(0, "mount", &(f).mounts, "mount",                                             \
	             "Attach a filesystem mount to the container"),                                \
	    OPT_STRING(0, "name", &(f).name, "string", "Assign a name to the container"),          \
	    OPT_BOOL(0, "no-healthcheck", &(f).no_healthcheck,                                     \
	             "Disable any container-specified HEALTHCHECK"),                               \
	    OPT_STRING(0, "network", &(f).network, "network",                                      \
	               "Connect a container to a network (none, host, default)"),                  \
	    OPT_INT(0, "pids-limit", &(f).pids_limit, "int",                                       \
	            "Tune container pids limit (set -1 for unlimited)"),                           \
	    OPT_BOOL(0, "privileged", &(f).privileged,                                             \
	             "Give extended privileges to this container"),                                \
	    OPT_STRV('p', "publish", &(f).publish, "list",                                         \
	             "Publish a container's port(s) to the host"),                                 \
	    OPT_BOOL('P', "publish-all", &(f).publish_all,                                         \
	             "Publish all exposed ports to random ports"),                                 \
	    OPT_STRING(0, "pull", &(f).pull, "string",                                             \
	               "Pull image before running (\"always\"|\"missing\"|\"never\")"),            \
	    OPT_BOOL(0, "read-only", &(f).read_only,                                               \
	             "Mount the container's root filesystem as read only"),                        \
	    OPT_STRING(0, "restart", &(f).restart, "string",                                       \
	               "Restart policy to apply when a container exits"),                          \
	    OPT_BOOL(0, "rm", &(f).rm, "Automatically remove the container when it exits"),        \
	    OPT_STRV(0, "security-opt", &(f).security_opt, "list", "Security Options"),            \
	    OPT_BOOL('t', "tty", &(f).tty, "Allocate a pseudo-TTY"),                               \
	    OPT_STRV(0, "tmpfs", &(f).tmpfs, "list", "Mount a tmpfs directory"),                   \
	    OPT_STRV(0, "ulimit", &(f).ulimits, "ulimit", "Ulimit options"),                       \
	    OPT_STRING('u', "user", &(f).user, "string",                                           \
	               "Username or UID (format: <name|uid>[:<group|gid>])"),                      \
	    OPT_STRV('v', "volume", &(f).volumes, "list", "Bind mount a volume"),                  \
	    OPT_STRING('w', "workdir", &(f).workdir, "string",                                     \
	               "Working directory inside the container")

/* -a's values (any case) into f->streams: docker's flag error otherwise. */
static int parse_attach(struct kiln_ctx *ctx, struct run_flags *f)
{
	static const struct {
		const char *name;
		unsigned bit;
	} streams[] = {
	    {"stdin", RT_STREAM_STDIN}, {"stdout", RT_STREAM_STDOUT}, {"stderr", RT_STREAM_STDERR}};
	for (size_t i = 0; i < f->attach.n; i++) {
		size_t k = 0;
		while (k < KILN_ARRAY_SIZE(streams) && strcasecmp(f->attach.v[i], streams[k].name))
			k++;
		if (k == KILN_ARRAY_SIZE(streams))
			return kiln_err_set(
			    &ctx->err, KILN_E_USAGE,
			    "invalid argument \"%s\" for \"-a, --attach\" flag: valid "
			    "streams are STDIN, STDOUT and STDERR",
			    f->attach.v[i]);
		f->streams |= streams[k].bit;
	}
	return 0;
}

/* *daemon: the error (if any) came after the flags were checked, where
 * docker's CLI reports its daemon's answer. */
static int create_container(struct kiln_ctx *ctx, struct run_flags *f, int argc, char **argv,
                            struct rt_container **c, bool *daemon, struct kiln_err *err)
{
	/* errors as docker's CLI prints them: its own (flags) as "kiln: ...",
	 * the rest as its daemon's */
	ctx->err_prefix = "kiln: ";
	ctx->err_see_help = true;
	for (size_t i = 0; i < f->publish.n; i++)
		if (rt_publish_check(f->publish.v[i], err) < 0)
			return -1;
	struct rt_create_opts o;
	int r = to_create_opts(f, argc > 2 ? argv + 2 : NULL, &o, err);
	*daemon = r == 0;
	if (r == 0) {
		ctx->err_prefix = "kiln: Error response from daemon: ";
		r = kiln_pull_for_run(ctx, argv[1], f->pull, err);
	}
	if (r == 0)
		r = rt_container_create(ctx->store, argv[1], &o, c, err);
	create_opts_release(&o);
	return r;
}

/* run -a stdin without stdout or stderr, as docker's: the ID printed,
 * the container started under its monitor, kiln's stdin copied to it
 * (with -i) or read and dropped until its end; exit 0, the container
 * running on. */
static void run_stdin_only(struct kiln_ctx *ctx, struct rt_container *c, const struct run_flags *f,
                           struct kiln_err *err)
{
	printf("%s\n", c->id);
	fflush(stdout);
	if (c->spec.interactive) {
		struct rt_attach_opts ao = {.in_fd = STDIN_FILENO,
		                            .out_fd = -1,
		                            .err_fd = -1,
		                            .detach_keys = f->detach_keys,
		                            .sig_proxy = f->sig_proxy,
		                            .close_stdin = true,
		                            .stdin_only = true};
		int status;
		bool detached;
		rt_container_start_attach(ctx->root, c, &ao, &status, &detached, err);
		return;
	}
	if (rt_container_start(ctx->root, c, err) < 0)
		return;
	char buf[8192];
	ssize_t n;
	while ((n = read(STDIN_FILENO, buf, sizeof(buf))) != 0)
		if (n < 0 && errno != EINTR)
			break;
}

int cmd_run(int argc, char **argv, struct kiln_ctx *ctx)
{
	struct run_flags f = {.sig_proxy = true};
	const struct kiln_opt opts[] = {
	    RUN_FLAG_TABLE(f),
	    OPT_BOOL('d', "detach", &f.detach,
	             "Run container in background and print container ID"),
	    OPT_STRING(0, "detach-keys", &f.detach_keys, "string",
	               "Override the key sequence for detaching a container"),
	    OPT_BOOL(0, "sig-proxy", &f.sig_proxy, "Proxy received signals to the process"),
	    OPT_END};
	const struct kiln_usage usage = {"[OPTIONS] IMAGE [COMMAND] [ARG...]",
	                                 "Run a command in a new container", 1, -1,
	                                 OPTS_STOP_AT_POSITIONAL};
	int exit_code;
	if (kiln_opts_parse(ctx, opts, &usage, &argc, &argv, &exit_code) != 0) {
		run_flags_release(&f);
		return exit_code == 1 ? 125 : exit_code;
	}
	if (parse_attach(ctx, &f) < 0) {
		run_flags_release(&f);
		return 125;
	}
	/* docker 20.10's words and exit code: -a with -d; a terminal
	 * attached to stdin that is none (CheckTty) */
	if (f.streams && f.detach) {
		ctx->err_prefix = "";
		kiln_err_set(&ctx->err, KILN_E_INVALID, "Conflicting options: -a and -d");
		run_flags_release(&f);
		return 1;
	}
	if (!f.detach &&
	    kiln_check_tty(ctx, f.interactive || (f.streams & RT_STREAM_STDIN), f.tty) < 0) {
		run_flags_release(&f);
		return 1;
	}
	struct kiln_err err = KILN_ERR_INIT;
	struct rt_container *c = NULL;
	int status = 0;
	bool daemon = false;
	if (!f.tty) /* -t starts under a monitor that outlives the wait */
		rt_launch_warm_begin();
	if (create_container(ctx, &f, argc, argv, &c, &daemon, &err) == 0 && f.detach) {
		if (rt_container_start(ctx->root, c, &err) == 0)
			printf("%s\n", c->id);
		rt_launch_warm_end();
	} else if (c && !c->attach_stdout && !c->attach_stderr) { /* -a stdin alone */
		rt_launch_warm_end();
		run_stdin_only(ctx, c, &f, &err);
	} else if (c && f.tty) { /* under its monitor: detachable */
		struct rt_attach_opts ao = {.in_fd = c->attach_stdin ? STDIN_FILENO : -1,
		                            .out_fd = c->attach_stdout ? STDOUT_FILENO : -1,
		                            .err_fd = c->attach_stderr ? STDERR_FILENO : -1,
		                            .detach_keys = f.detach_keys,
		                            .sig_proxy = f.sig_proxy,
		                            .close_stdin = true};
		bool detached = false;
		fflush(stdout);
		if (rt_container_start_attach(ctx->root, c, &ao, &status, &detached, &err) == 0)
			status = kiln_attach_done(detached, status);
	} else if (c) { /* -a: the others go to the log only */
		struct rt_run_io io = {c->attach_stdin ? STDIN_FILENO : -1,
		                       c->attach_stdout ? STDOUT_FILENO : -1,
		                       c->attach_stderr ? STDERR_FILENO : -1};
		fflush(stdout);
		rt_container_run_attached(ctx->root, c, &io, f.sig_proxy, &status, &err);
	}
	rt_launch_warm_end();
	run_flags_release(&f);
	rt_container_free(c);
	if (err.msg) {
		int code = rt_exit_code_for(&err);
		kiln_cmd_fail(ctx, &err);
		return code;
	}
	return status;
}

int cmd_create(int argc, char **argv, struct kiln_ctx *ctx)
{
	struct run_flags f = {0};
	const struct kiln_opt opts[] = {RUN_FLAG_TABLE(f), OPT_END};
	const struct kiln_usage usage = {"[OPTIONS] IMAGE [COMMAND] [ARG...]",
	                                 "Create a new container", 1, -1, OPTS_STOP_AT_POSITIONAL};
	int exit_code;
	if (kiln_opts_parse(ctx, opts, &usage, &argc, &argv, &exit_code) != 0) {
		run_flags_release(&f);
		return exit_code == 1 ? 125 : exit_code;
	}
	if (parse_attach(ctx, &f) < 0) {
		run_flags_release(&f);
		return 125;
	}
	struct kiln_err err = KILN_ERR_INIT;
	struct rt_container *c = NULL;
	bool daemon = false;
	create_container(ctx, &f, argc, argv, &c, &daemon, &err);
	run_flags_release(&f);
	if (err.msg && daemon) { /* docker 20.10's create: its daemon's error, exit 1 */
		ctx->err_prefix = "Error response from daemon: ";
		ctx->err_see_help = false;
		kiln_cmd_fail(ctx, &err);
		return 1;
	}
	if (err.msg) {
		kiln_cmd_fail(ctx, &err);
		return 125;
	}
	printf("%s\n", c->id);
	rt_container_free(c);
	return 0;
}
