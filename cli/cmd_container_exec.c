/* Commands on running containers: exec, pause, unpause, top, stats,
 * rename; and container prune. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "builder.h"
#include "cmd_container.h"
#include "cmd_image.h"
#include "format.h"

int cmd_exec(int argc, char **argv, struct kiln_ctx *ctx)
{
	bool detach = false, interactive = false, tty = false, privileged = false;
	const char *user = NULL, *workdir = NULL, *detach_keys = NULL;
	struct kiln_strv env = KILN_STRV_INIT;
	const struct kiln_opt opts[] = {
	    OPT_BOOL('d', "detach", &detach, "Detached mode: run command in the background"),
	    OPT_STRING(0, "detach-keys", &detach_keys, "string",
	               "Override the key sequence for detaching a container"),
	    OPT_STRV('e', "env", &env, "list", "Set environment variables"),
	    OPT_BOOL('i', "interactive", &interactive, "Keep STDIN open even if not attached"),
	    OPT_BOOL(0, "privileged", &privileged, "Give extended privileges to the command"),
	    OPT_BOOL('t', "tty", &tty, "Allocate a pseudo-TTY"),
	    OPT_STRING('u', "user", &user, "string",
	               "Username or UID (format: <name|uid>[:<group|gid>])"),
	    OPT_STRING('w', "workdir", &workdir, "string",
	               "Working directory inside the container"),
	    OPT_END};
	const struct kiln_usage usage = {"[OPTIONS] CONTAINER COMMAND [ARG...]",
	                                 "Execute a command in a running container", 2, -1,
	                                 OPTS_STOP_AT_POSITIONAL};
	int exit_code;
	if (kiln_opts_parse(ctx, opts, &usage, &argc, &argv, &exit_code) != 0) {
		kiln_strv_release(&env);
		return exit_code;
	}
	struct kiln_err err = KILN_ERR_INIT;
	struct rt_container *c = NULL;
	int status = 0, r;
	bool detached = false;
	r = rt_container_load(ctx->root, argv[1], &c, &err);
	if (r == 0 && !detach && kiln_check_tty(ctx, interactive, tty) < 0) {
		kiln_strv_release(&env);
		rt_container_free(c);
		return 1;
	}
	if (r == 0) {
		struct rt_exec_opts o = {.args = argv + 2,
		                         .env = env.v,
		                         .user = user,
		                         .workdir = workdir,
		                         .detach = detach,
		                         .privileged = privileged,
		                         .tty = tty,
		                         .detach_keys = detach_keys,
		                         .detached = &detached};
		struct rt_run_io io = {interactive ? STDIN_FILENO : -1, STDOUT_FILENO,
		                       STDERR_FILENO};
		fflush(stdout);
		r = rt_container_exec(ctx->root, c, &o, &io, &status, &err);
	}
	kiln_strv_release(&env);
	rt_container_free(c);
	if (r < 0) {
		int code = err.code == RT_E_EXEC_NOTFOUND || err.code == RT_E_EXEC_PERM
		               ? rt_exit_code_for(&err)
		               : 1;
		kiln_cmd_fail(ctx, &err);
		return code;
	}
	return kiln_attach_done(detached, status);
}

static int pause_cmd(int argc, char **argv, struct kiln_ctx *ctx, bool pause)
{
	const struct kiln_opt opts[] = {OPT_END};
	const struct kiln_usage usage = {
	    "CONTAINER [CONTAINER...]",
	    pause ? "Pause all processes within one or more containers"
	          : "Unpause all processes within one or more containers",
	    1, -1, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	int rc = 0;
	for (int i = 1; i < argc; i++) {
		struct kiln_err e = KILN_ERR_INIT;
		struct rt_container *c = NULL;
		if (rt_container_load(ctx->root, argv[i], &c, &e) < 0 ||
		    rt_container_pause(ctx->root, c, pause, &e) < 0) {
			kiln_report_error(ctx, &e);
			rc = 1;
		} else {
			printf("%s\n", argv[i]);
		}
		rt_container_free(c);
	}
	return rc;
}

int cmd_pause(int argc, char **argv, struct kiln_ctx *ctx)
{
	return pause_cmd(argc, argv, ctx, true);
}

int cmd_unpause(int argc, char **argv, struct kiln_ctx *ctx)
{
	return pause_cmd(argc, argv, ctx, false);
}

/* docker top runs the host's ps over the container's processes. */
int cmd_top(int argc, char **argv, struct kiln_ctx *ctx)
{
	const struct kiln_opt opts[] = {OPT_END};
	const struct kiln_usage usage = {"CONTAINER [ps OPTIONS]",
	                                 "Display the running processes of a container", 1, -1,
	                                 OPTS_STOP_AT_POSITIONAL};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	struct kiln_err err = KILN_ERR_INIT;
	struct rt_container *c = NULL;
	pid_t *pids = NULL;
	size_t n = 0;
	if (rt_container_load(ctx->root, argv[1], &c, &err) < 0 ||
	    rt_container_pids(c, &pids, &n, &err) < 0) {
		rt_container_free(c);
		return kiln_cmd_fail(ctx, &err);
	}
	rt_container_free(c);
	struct kiln_buf list;
	kiln_buf_init(&list, KILN_BUF_NOLIMIT, NULL);
	for (size_t i = 0; i < n; i++)
		kiln_buf_addf(&list, NULL, "%s%d", i ? "," : "", (int)pids[i]);
	free(pids);
	struct kiln_strv av = KILN_STRV_INIT;
	kiln_strv_push(&av, "ps");
	if (argc > 2)
		for (int i = 2; i < argc; i++)
			kiln_strv_push(&av, argv[i]);
	else
		kiln_strv_push(&av, "-f");
	kiln_strv_push(&av, "-p");
	kiln_strv_push(&av, n ? kiln_buf_str(&list) : "0");
	kiln_buf_release(&list);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		execvp("ps", av.v);
		_exit(127);
	}
	int st = 0;
	if (pid > 0)
		waitpid(pid, &st, 0);
	kiln_strv_release(&av);
	if (pid < 0 || !WIFEXITED(st) || WEXITSTATUS(st) == 127)
		return kiln_err_set(&ctx->err, 0, "running ps failed"), 1;
	return 0;
}

/* go-units BytesSize: "1.234MiB" */
static char *bytes_size(double v)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	size_t i = 0;
	while (v >= 1024 && i + 1 < KILN_ARRAY_SIZE(units)) {
		v /= 1024;
		i++;
	}
	return xasprintf("%.4g%s", v, units[i]);
}

static uint64_t host_memory(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
	return pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : 0;
}

/* One table of docker stats: CPU % over the wall time between the samples
 * a and b of each container (matched by position). */
static void stats_print(struct rt_container **v, size_t n, const struct rt_stats *a,
                        const struct rt_stats *b, double wall, bool all, bool no_trunc)
{
	struct kiln_table t = {.n_cols = 8};
	const char *h[] = {"CONTAINER ID", "NAME",    "CPU %",     "MEM USAGE / LIMIT",
	                   "MEM %",        "NET I/O", "BLOCK I/O", "PIDS"};
	kiln_table_add(&t, h);
	uint64_t hostmem = host_memory();
	for (size_t i = 0; i < n; i++) {
		bool running = v[i]->status == RT_RUNNING || v[i]->status == RT_PAUSED;
		if (!running && !all)
			continue;
		uint64_t limit = b[i].memory_limit && b[i].memory_limit != UINT64_MAX
		                     ? b[i].memory_limit
		                     : hostmem;
		double cpu = b[i].cpu_ns > a[i].cpu_ns && wall > 0
		                 ? (double)(b[i].cpu_ns - a[i].cpu_ns) / wall * 100
		                 : 0;
		_cleanup_free_ char *id = no_trunc ? xstrdup(v[i]->id) : xstrndup(v[i]->id, 12);
		_cleanup_free_ char *cpus = xasprintf("%.2f%%", cpu);
		_cleanup_free_ char *use = bytes_size((double)b[i].memory_usage);
		_cleanup_free_ char *lim = bytes_size((double)limit);
		_cleanup_free_ char *mem = xasprintf("%s / %s", use, lim);
		_cleanup_free_ char *memp = xasprintf(
		    "%.2f%%", limit ? (double)b[i].memory_usage * 100 / (double)limit : 0.0);
		_cleanup_free_ char *pids = xasprintf("%llu", (unsigned long long)b[i].pids);
		const char *row[] = {id, v[i]->name, cpus, mem, memp, "0B / 0B", "0B / 0B", pids};
		kiln_table_add(&t, row);
	}
	kiln_table_print(&t, stdout);
	kiln_table_release(&t);
	fflush(stdout);
}

/* The named containers, or every container (refreshed each frame). */
static int stats_load(struct kiln_ctx *ctx, int argc, char **argv, struct rt_container ***v,
                      size_t *n, struct kiln_err *err)
{
	*v = NULL;
	*n = 0;
	if (argc <= 1)
		return rt_container_list(ctx->root, v, n, err);
	*v = xcalloc((size_t)argc, sizeof(**v));
	for (int i = 1; i < argc; i++, (*n)++)
		if (rt_container_load(ctx->root, argv[i], &(*v)[*n], err) < 0) {
			rt_container_list_free(*v, *n);
			*v = NULL;
			*n = 0;
			return -1;
		}
	return 0;
}

static double since(struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double wall = (double)(t1.tv_sec - t0->tv_sec) * 1e9 + (double)(t1.tv_nsec - t0->tv_nsec);
	*t0 = t1;
	return wall;
}

/* Without --no-stream: a new frame every second, the screen cleared first
 * (docker's escape sequences), until interrupted or, without -a and
 * names, no container runs. */
int cmd_stats(int argc, char **argv, struct kiln_ctx *ctx)
{
	bool all = false, no_stream = false, no_trunc = false;
	const char *format = NULL;
	const struct kiln_opt opts[] = {
	    OPT_BOOL('a', "all", &all, "Show all containers (default shows just running)"),
	    OPT_STRING(0, "format", &format, "string", "Pretty-print images using a Go template"),
	    OPT_BOOL(0, "no-stream", &no_stream,
	             "Disable streaming stats and only pull the first result"),
	    OPT_BOOL(0, "no-trunc", &no_trunc, "Do not truncate output"), OPT_END};
	const struct kiln_usage usage = {"[OPTIONS] [CONTAINER...]",
	                                 "Display a live stream of container(s) resource usage "
	                                 "statistics",
	                                 0, -1, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	(void)format;
	struct kiln_err err = KILN_ERR_INIT;
	struct rt_container **v = NULL;
	size_t n = 0;
	if (stats_load(ctx, argc, argv, &v, &n, &err) < 0)
		return kiln_cmd_fail(ctx, &err);
	bool named = argc > 1;
	struct rt_stats *a = xcalloc(n + 1, sizeof(*a)), *b = xcalloc(n + 1, sizeof(*b));
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t i = 0; i < n; i++)
		rt_container_stats(v[i], &a[i], NULL);
	for (;;) {
		long ms = no_stream ? 500 : 1000;
		nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000 * 1000}, NULL);
		for (size_t i = 0; i < n; i++)
			rt_container_stats(v[i], &b[i], NULL);
		double wall = since(&t0);
		if (!no_stream)
			fputs("\033[2J\033[H", stdout);
		stats_print(v, n, a, b, wall, all || named, no_trunc);
		size_t running = 0;
		for (size_t i = 0; i < n; i++)
			running += v[i]->status == RT_RUNNING || v[i]->status == RT_PAUSED;
		if (no_stream || (!running && !all && !named))
			break;
		/* the next frame: a fresh list (containers come and go), each
		 * one's last sample carried over by ID */
		struct rt_container **nv = NULL;
		size_t nn = 0;
		if (stats_load(ctx, argc, argv, &nv, &nn, &err) < 0) {
			kiln_err_release(&err);
			continue;
		}
		struct rt_stats *na = xcalloc(nn + 1, sizeof(*na));
		for (size_t i = 0; i < nn; i++) {
			na[i] = (struct rt_stats){0};
			for (size_t j = 0; j < n; j++)
				if (!strcmp(nv[i]->id, v[j]->id))
					na[i] = b[j];
			if (!na[i].cpu_ns)
				rt_container_stats(nv[i], &na[i], NULL);
		}
		rt_container_list_free(v, n);
		free(a);
		free(b);
		v = nv, n = nn, a = na;
		b = xcalloc(n + 1, sizeof(*b));
	}
	free(a);
	free(b);
	rt_container_list_free(v, n);
	return 0;
}

int cmd_rename(int argc, char **argv, struct kiln_ctx *ctx)
{
	const struct kiln_opt opts[] = {OPT_END};
	const struct kiln_usage usage = {"CONTAINER NEW_NAME", "Rename a container", 2, 2, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	struct kiln_err err = KILN_ERR_INIT;
	struct rt_container *c = NULL;
	int r = rt_container_load(ctx->root, argv[1], &c, &err);
	if (r == 0)
		r = rt_container_rename(ctx->root, c, argv[2], &err);
	rt_container_free(c);
	return r < 0 ? kiln_cmd_fail(ctx, &err) : 0;
}

int cmd_container_prune(int argc, char **argv, struct kiln_ctx *ctx)
{
	bool force = false;
	struct kiln_strv filters = KILN_STRV_INIT;
	const struct kiln_opt opts[] = {
	    OPT_STRV(0, "filter", &filters, "filter",
	             "Provide filter values (e.g. \"until=<timestamp>\")"),
	    OPT_BOOL('f', "force", &force, "Do not prompt for confirmation"), OPT_END};
	const struct kiln_usage usage = {"[OPTIONS]", "Remove all stopped containers", 0, 0, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	struct prune_filter f = {0};
	int rc = prune_filter_parse(&filters, &f, false, &ctx->err);
	kiln_strv_release(&filters);
	uint64_t reclaimed = 0;
	if (rc < 0)
		rc = ctx->err.code == KILN_E_USAGE ? 125 : 1;
	else if (force || kiln_confirm("WARNING! This will remove all stopped containers.")) {
		rc = prune_containers(ctx, &f, &reclaimed);
		_cleanup_free_ char *h = kiln_human_size_prec((double)reclaimed, 4);
		printf("Total reclaimed space: %s\n", h);
	}
	prune_filter_release(&f);
	return rc;
}

int cmd_port(int argc, char **argv, struct kiln_ctx *ctx)
{
	const struct kiln_opt opts[] = {OPT_END};
	const struct kiln_usage usage = {
	    "CONTAINER [PRIVATE_PORT[/PROTO]]",
	    "List port mappings or a specific mapping for the container", 1, 2, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	struct kiln_err err = KILN_ERR_INIT;
	struct rt_container *c = NULL;
	if (rt_container_load(ctx->root, argv[1], &c, &err) < 0)
		return kiln_cmd_fail(ctx, &err);
	int want = 0;
	bool udp = false, found = false;
	if (argc > 2) {
		want = atoi(argv[2]);
		udp = strstr(argv[2], "/udp") != NULL;
	}
	/* ports are bound while it runs only (docker's NetworkSettings.Ports) */
	bool running = c->status == RT_RUNNING || c->status == RT_PAUSED;
	for (size_t i = 0; running && i < c->spec.n_ports; i++) {
		const struct rt_port *p = &c->spec.ports[i];
		if (want && (p->ctr_port != want || p->udp != udp))
			continue;
		found = true;
		const char *fmt = strchr(p->host_ip, ':') ? "[%s]:%d\n" : "%s:%d\n";
		if (!want)
			printf("%d/%s -> ", p->ctr_port, p->udp ? "udp" : "tcp");
		printf(fmt, p->host_ip, p->host_port);
	}
	if (want && !found)
		kiln_err_set(&ctx->err, KILN_E_NOTFOUND, "No public port '%d/%s' published for %s",
		             want, udp ? "udp" : "tcp", argv[1]);
	rt_container_free(c);
	return want && !found ? 1 : 0;
}

int cmd_diff(int argc, char **argv, struct kiln_ctx *ctx)
{
	const struct kiln_opt opts[] = {OPT_END};
	const struct kiln_usage usage = {"CONTAINER",
	                                 "Inspect changes to files or directories on a container's "
	                                 "filesystem",
	                                 1, 1, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	struct kiln_err err = KILN_ERR_INIT;
	struct rt_container *c = NULL;
	struct kiln_strv out = KILN_STRV_INIT;
	int r = rt_container_load(ctx->root, argv[1], &c, &err);
	if (r == 0)
		r = rt_container_diff(c, &out, &err);
	for (size_t i = 0; i < out.n; i++)
		printf("%s\n", out.v[i]);
	kiln_strv_release(&out);
	rt_container_free(c);
	return r < 0 ? kiln_cmd_fail(ctx, &err) : 0;
}

static int apply_changes(struct img_config *cfg, void *ud, struct kiln_err *err)
{
	return bld_apply_changes(cfg, ud, err);
}

int cmd_commit(int argc, char **argv, struct kiln_ctx *ctx)
{
	const char *author = NULL, *message = NULL;
	bool pause = true;
	struct kiln_strv changes = KILN_STRV_INIT;
	const struct kiln_opt opts[] = {
	    OPT_STRING('a', "author", &author, "string",
	               "Author (e.g., \"John Hannibal Smith <hannibal@a-team.com>\")"),
	    OPT_STRV('c', "change", &changes, "list",
	             "Apply Dockerfile instruction to the created image"),
	    OPT_STRING('m', "message", &message, "string", "Commit message"),
	    OPT_BOOL('p', "pause", &pause, "Pause container during commit"), OPT_END};
	const struct kiln_usage usage = {"[OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
	                                 "Create a new image from a container's changes", 1, 2, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	struct kiln_err err = KILN_ERR_INIT;
	struct rt_container *c = NULL;
	char id[KILN_DIGEST_LEN];
	struct rt_commit_opts o = {.ref = argc > 2 ? argv[2] : NULL,
	                           .message = message,
	                           .author = author,
	                           .pause = pause,
	                           .apply = changes.n ? apply_changes : NULL,
	                           .apply_ud = changes.v};
	int r = rt_container_load(ctx->root, argv[1], &c, &err);
	if (r == 0)
		r = rt_container_commit(ctx->store, c, &o, id, &err);
	kiln_strv_release(&changes);
	rt_container_free(c);
	if (r < 0)
		return kiln_cmd_fail(ctx, &err);
	printf("%s\n", id);
	return 0;
}
