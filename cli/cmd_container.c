/* Container lifecycle commands: ps, start, stop, kill, wait, rm, inspect. */
#include "cmd_container.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format.h"
#include "image.h"

/* --- ps ---------------------------------------------------------------------- */
struct ps_filter {
	struct kiln_strv status, name, ancestor, label, id;
};

static void ps_filter_release(struct ps_filter *f)
{
	kiln_strv_release(&f->status);
	kiln_strv_release(&f->name);
	kiln_strv_release(&f->ancestor);
	kiln_strv_release(&f->label);
	kiln_strv_release(&f->id);
}

static int ps_filter_parse(const struct kiln_strv *in, struct ps_filter *f, struct kiln_err *err)
{
	static const char *const states[] = {"created", "restarting", "running", "removing",
	                                     "paused",  "exited",     "dead"};
	for (size_t i = 0; i < in->n; i++) {
		const char *s = in->v[i], *eq = strchr(s, '=');
		if (!eq)
			return kiln_err_set(err, KILN_E_USAGE,
			                    "bad format of filter (expected name=value)");
		size_t klen = (size_t)(eq - s);
		const char *v = eq + 1;
		if (klen == 6 && !strncmp(s, "status", 6)) {
			bool ok = false;
			for (size_t k = 0; k < KILN_ARRAY_SIZE(states); k++)
				ok |= !strcmp(states[k], v);
			if (!ok)
				return kiln_err_set(err, KILN_E_USAGE, "invalid filter 'status=%s'",
				                    v);
			kiln_strv_push(&f->status, v);
		} else if (klen == 4 && !strncmp(s, "name", 4)) {
			kiln_strv_push(&f->name, v);
		} else if (klen == 8 && !strncmp(s, "ancestor", 8)) {
			kiln_strv_push(&f->ancestor, v);
		} else if (klen == 5 && !strncmp(s, "label", 5)) {
			kiln_strv_push(&f->label, v);
		} else if (klen == 2 && !strncmp(s, "id", 2)) {
			kiln_strv_push(&f->id, v);
		} else {
			return kiln_err_set(err, KILN_E_USAGE, "invalid filter '%.*s'", (int)klen,
			                    s);
		}
	}
	return 0;
}

static bool ancestor_match(const struct rt_container *c, const char *want)
{
	const char *hex = kiln_digest_hex(want);
	if (c->image_id && strlen(hex) >= 4 &&
	    !strncmp(kiln_digest_hex(c->image_id), hex, strlen(hex)))
		return true;
	_cleanup_free_ char *a = img_ref_normalize(want, NULL);
	_cleanup_free_ char *b = img_ref_normalize(c->image, NULL);
	return a && b && !strcmp(a, b);
}

static bool label_match(const struct rt_container *c, const char *want)
{
	bool has_value = strchr(want, '=') != NULL;
	size_t klen = has_value ? (size_t)(strchr(want, '=') - want) : strlen(want);
	for (size_t i = 0; c->labels && c->labels[i]; i++) {
		const char *l = c->labels[i];
		if (has_value ? !strcmp(l, want)
		              : !strncmp(l, want, klen) && (l[klen] == '=' || !l[klen]))
			return true;
	}
	return false;
}

static bool ps_match(const struct ps_filter *f, const struct rt_container *c)
{
	bool ok = !f->status.n;
	for (size_t i = 0; i < f->status.n && !ok; i++)
		ok = !strcmp(f->status.v[i], rt_status_name(c->status));
	if (!ok)
		return false;
	ok = !f->name.n;
	for (size_t i = 0; i < f->name.n && !ok; i++)
		ok = strstr(c->name, f->name.v[i]) != NULL;
	if (!ok)
		return false;
	ok = !f->id.n;
	for (size_t i = 0; i < f->id.n && !ok; i++)
		ok = !strncmp(c->id, f->id.v[i], strlen(f->id.v[i]));
	if (!ok)
		return false;
	ok = !f->ancestor.n;
	for (size_t i = 0; i < f->ancestor.n && !ok; i++)
		ok = ancestor_match(c, f->ancestor.v[i]);
	if (!ok)
		return false;
	for (size_t i = 0; i < f->label.n; i++) /* labels: all must match */
		if (!label_match(c, f->label.v[i]))
			return false;
	return true;
}

static const char *const ps_headers[][2] = {{"ID", "CONTAINER ID"},      {"Image", "IMAGE"},
                                            {"Command", "COMMAND"},      {"RunningFor", "CREATED"},
                                            {"CreatedAt", "CREATED AT"}, {"Status", "STATUS"},
                                            {"Ports", "PORTS"},          {"Names", "NAMES"},
                                            {"State", "STATE"},          {"Size", "SIZE"},
                                            {"Labels", "LABELS"},        {"Mounts", "MOUNTS"},
                                            {"Networks", "NETWORKS"},    {NULL, NULL}};

/* docker's SIZE: "2B (virtual 2.14MB)": the writable layer, then with the image. */
static void set_size(struct kiln_ctx *ctx, json_t *row, const struct rt_container *c)
{
	uint64_t rw = rt_container_size(c), image = 0;
	struct img_image *img = NULL;
	if (ctx->store || img_store_open(ctx->root, &ctx->store, NULL) == 0)
		if (img_image_load(ctx->store, c->image_id, &img, NULL) == 0) {
			image = (uint64_t)img->size;
			img_image_free(img);
		}
	_cleanup_free_ char *a = kiln_human_size((double)rw);
	_cleanup_free_ char *b = kiln_human_size((double)(rw + image));
	json_object_set_new(row, "Size", json_sprintf("%s (virtual %s)", a, b));
}

#define PS_DEFAULT_FORMAT                                                                          \
	"table "                                                                                   \
	"{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"

int cmd_ps(int argc, char **argv, struct kiln_ctx *ctx)
{
	bool all = false, quiet = false, no_trunc = false, latest = false, size = false;
	long last = -1;
	const char *format = NULL;
	struct kiln_strv filters = KILN_STRV_INIT;
	const struct kiln_opt opts[] = {
	    OPT_BOOL('a', "all", &all, "Show all containers (default shows just running)"),
	    OPT_STRV('f', "filter", &filters, "filter",
	             "Filter output based on conditions provided"),
	    OPT_STRING(0, "format", &format, "string",
	               "Format output using a custom template: 'table', 'table TEMPLATE', 'json', "
	               "'TEMPLATE'"),
	    OPT_INT('n', "last", &last, "int",
	            "Show n last created containers (includes all states)"),
	    OPT_BOOL('l', "latest", &latest,
	             "Show the latest created container (includes all states)"),
	    OPT_BOOL(0, "no-trunc", &no_trunc, "Don't truncate output"),
	    OPT_BOOL('q', "quiet", &quiet, "Only display container IDs"),
	    OPT_BOOL('s', "size", &size, "Display total file sizes"),
	    OPT_END};
	const struct kiln_usage usage = {"[OPTIONS]", "List containers", 0, 0, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	struct ps_filter f = {0};
	struct kiln_err err = KILN_ERR_INIT;
	if (ps_filter_parse(&filters, &f, &err) < 0) {
		kiln_strv_release(&filters);
		ps_filter_release(&f);
		kiln_cmd_fail(ctx, &err);
		return 125;
	}
	kiln_strv_release(&filters);
	if (latest)
		last = 1;
	if (last > 0 || f.status.n)
		all = true;
	struct rt_container **v = NULL;
	size_t n = 0;
	if (rt_container_list(ctx->root, &v, &n, &err) < 0) {
		ps_filter_release(&f);
		return kiln_cmd_fail(ctx, &err);
	}
	json_t **rows = xcalloc(n + 1, sizeof(*rows));
	size_t nr = 0;
	for (size_t i = 0; i < n && (last < 0 || (long)i < last); i++) {
		bool running = v[i]->status == RT_RUNNING || v[i]->status == RT_PAUSED ||
		               v[i]->status == RT_RESTARTING;
		if ((!all && !running) || !ps_match(&f, v[i]))
			continue;
		rows[nr] = ctr_ps_json(v[i], no_trunc);
		if (size)
			set_size(ctx, rows[nr], v[i]);
		nr++;
	}
	int rc = 0;
	if (quiet) {
		for (size_t i = 0; i < nr; i++)
			printf("%s\n", json_string_value(json_object_get(rows[i], "ID")));
	} else {
		const char *fmt = !format || !strcmp(format, "table")
		                      ? (size ? PS_DEFAULT_FORMAT "\t{{.Size}}" : PS_DEFAULT_FORMAT)
		                      : format;
		const struct kiln_tmpl_opts o = {.type = "*formatter.ContainerContext"};
		rc = kiln_format_list(fmt, (void *const *)rows, nr, ps_headers, &o, stdout,
		                      &ctx->err) < 0;
	}
	for (size_t i = 0; i < nr; i++)
		json_decref(rows[i]);
	free(rows);
	rt_container_list_free(v, n);
	ps_filter_release(&f);
	return rc;
}

/* --- commands over several containers ---------------------------------------- */
typedef int (*ctr_action)(struct kiln_ctx *ctx, struct rt_container *c, const char *arg, void *ud,
                          struct kiln_err *err);

/* Runs fn on each named container; an error is reported and the others
 * still run (docker's behaviour); the exit code is 1 if any failed. */
static int for_each(struct kiln_ctx *ctx, int argc, char **argv, ctr_action fn, void *ud)
{
	int rc = 0;
	for (int i = 1; i < argc; i++) {
		struct kiln_err e = KILN_ERR_INIT;
		struct rt_container *c = NULL;
		if (rt_container_load(ctx->root, argv[i], &c, &e) < 0 ||
		    fn(ctx, c, argv[i], ud, &e) < 0) {
			kiln_report_error(ctx, &e);
			rc = 1;
		}
		rt_container_free(c);
	}
	return rc;
}

struct rm_opts {
	bool force, volumes;
};

static int rm_one(struct kiln_ctx *ctx, struct rt_container *c, const char *arg, void *ud,
                  struct kiln_err *err)
{
	struct rm_opts *o = ud;
	if (rt_container_remove(ctx->root, c, o->force, err) < 0)
		return kiln_err_wrap(err, "Error response from daemon");
	if (o->volumes)
		rt_container_remove_volumes(ctx->root, c);
	printf("%s\n", arg);
	return 0;
}

int cmd_rm(int argc, char **argv, struct kiln_ctx *ctx)
{
	struct rm_opts o = {0};
	bool link = false;
	const struct kiln_opt opts[] = {
	    OPT_BOOL('f', "force", &o.force,
	             "Force the removal of a running container (uses SIGKILL)"),
	    OPT_BOOL('l', "link", &link, "Remove the specified link"),
	    OPT_BOOL('v', "volumes", &o.volumes,
	             "Remove anonymous volumes associated with the container"),
	    OPT_END};
	const struct kiln_usage usage = {"[OPTIONS] CONTAINER [CONTAINER...]",
	                                 "Remove one or more containers", 1, -1, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	if (link) /* --link names a link to remove, never the container: kiln has none */
		return kiln_err_set(&ctx->err, KILN_E_NOTFOUND,
		                    "Error response from daemon: %s: kiln has no container links "
		                    "(nothing was removed)",
		                    argv[1]),
		       1;
	return for_each(ctx, argc, argv, rm_one, &o);
}

static int kill_one(struct kiln_ctx *ctx, struct rt_container *c, const char *arg, void *ud,
                    struct kiln_err *err)
{
	if (rt_container_kill(ctx->root, c, *(int *)ud, err) < 0)
		return kiln_err_wrap(err, "Error response from daemon: Cannot kill container: %s",
		                     arg);
	printf("%s\n", arg);
	return 0;
}

int cmd_kill(int argc, char **argv, struct kiln_ctx *ctx)
{
	const char *signal = "KILL";
	const struct kiln_opt opts[] = {
	    OPT_STRING('s', "signal", &signal, "string", "Signal to send to the container"),
	    OPT_END};
	const struct kiln_usage usage = {"[OPTIONS] CONTAINER [CONTAINER...]",
	                                 "Kill one or more running containers", 1, -1, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	int sig;
	struct kiln_err err = KILN_ERR_INIT;
	if (rt_signal_parse(signal, &sig, &err) < 0)
		return kiln_cmd_fail(ctx, &err);
	return for_each(ctx, argc, argv, kill_one, &sig);
}

static int stop_one(struct kiln_ctx *ctx, struct rt_container *c, const char *arg, void *ud,
                    struct kiln_err *err)
{
	if (rt_container_stop(ctx->root, c, (int)*(long *)ud, err) < 0)
		return -1;
	printf("%s\n", arg);
	return 0;
}

int cmd_stop(int argc, char **argv, struct kiln_ctx *ctx)
{
	long timeout = 10;
	const struct kiln_opt opts[] = {
	    OPT_INT('t', "time", &timeout, "int", "Seconds to wait for stop before killing it"),
	    OPT_END};
	const struct kiln_usage usage = {"[OPTIONS] CONTAINER [CONTAINER...]",
	                                 "Stop one or more running containers", 1, -1, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	return for_each(ctx, argc, argv, stop_one, &timeout);
}

static int wait_one(struct kiln_ctx *ctx, struct rt_container *c, const char *arg, void *ud,
                    struct kiln_err *err)
{
	(void)arg, (void)ud;
	int code;
	if (rt_container_wait(ctx->root, c, &code, err) < 0)
		return -1;
	printf("%d\n", code);
	fflush(stdout);
	return 0;
}

int cmd_wait(int argc, char **argv, struct kiln_ctx *ctx)
{
	const struct kiln_opt opts[] = {OPT_END};
	const struct kiln_usage usage = {
	    "CONTAINER [CONTAINER...]",
	    "Block until one or more containers stop, then print their "
	    "exit codes",
	    1, -1, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	return for_each(ctx, argc, argv, wait_one, NULL);
}

static int start_one(struct kiln_ctx *ctx, struct rt_container *c, const char *arg, void *ud,
                     struct kiln_err *err)
{
	(void)ud;
	if (rt_container_start(ctx->root, c, err) < 0)
		return kiln_err_wrap(err, "Error response from daemon");
	printf("%s\n", arg);
	fflush(stdout);
	return 0;
}

static int restart_one(struct kiln_ctx *ctx, struct rt_container *c, const char *arg, void *ud,
                       struct kiln_err *err)
{
	if (rt_container_stop(ctx->root, c, (int)*(long *)ud, err) < 0)
		return -1;
	struct rt_container *again = NULL;
	int r = rt_container_load(ctx->root, c->id, &again, err);
	if (r == 0)
		r = start_one(ctx, again, arg, NULL, err);
	rt_container_free(again);
	return r;
}

int cmd_restart(int argc, char **argv, struct kiln_ctx *ctx)
{
	long timeout = 10;
	const struct kiln_opt opts[] = {
	    OPT_INT('t', "time", &timeout, "int", "Seconds to wait for stop before killing it"),
	    OPT_END};
	const struct kiln_usage usage = {"[OPTIONS] CONTAINER [CONTAINER...]",
	                                 "Restart one or more containers", 1, -1, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	return for_each(ctx, argc, argv, restart_one, &timeout);
}

int cmd_logs(int argc, char **argv, struct kiln_ctx *ctx)
{
	bool follow = false, timestamps = false, details = false;
	const char *tail = "all", *since = NULL, *until = NULL;
	const struct kiln_opt opts[] = {
	    OPT_BOOL(0, "details", &details, "Show extra details provided to logs"),
	    OPT_BOOL('f', "follow", &follow, "Follow log output"),
	    OPT_STRING(
	        0, "since", &since, "string",
	        "Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m "
	        "for 42 minutes)"),
	    OPT_STRING('n', "tail", &tail, "string",
	               "Number of lines to show from the end of the logs"),
	    OPT_BOOL('t', "timestamps", &timestamps, "Show timestamps"),
	    OPT_STRING(0, "until", &until, "string",
	               "Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. "
	               "42m for 42 minutes)"),
	    OPT_END};
	const struct kiln_usage usage = {"[OPTIONS] CONTAINER", "Fetch the logs of a container", 1,
	                                 1, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	struct rt_logs_opts o = {.follow = follow, .timestamps = timestamps, .tail = -1};
	struct kiln_err err = KILN_ERR_INIT;
	if (strcmp(tail, "all")) {
		char *end;
		o.tail = strtol(tail, &end, 10);
		if (*end || end == tail)
			o.tail = -1; /* docker shows everything for a bad --tail */
	}
	if ((since && rt_parse_timestamp(since, &o.since_ns, &err) < 0) ||
	    (until && rt_parse_timestamp(until, &o.until_ns, &err) < 0))
		return kiln_cmd_fail(ctx, &err);
	struct rt_container *c = NULL;
	if (rt_container_load(ctx->root, argv[1], &c, &err) < 0)
		return kiln_cmd_fail(ctx, &err);
	fflush(stdout);
	int r = rt_container_logs(ctx->root, c, &o, STDOUT_FILENO, STDERR_FILENO, &err);
	rt_container_free(c);
	return r < 0 ? kiln_cmd_fail(ctx, &err) : 0;
}

int cmd_start(int argc, char **argv, struct kiln_ctx *ctx)
{
	bool attach = false, interactive = false;
	const char *detach_keys = NULL;
	const struct kiln_opt opts[] = {
	    OPT_BOOL('a', "attach", &attach, "Attach STDOUT/STDERR and forward signals"),
	    OPT_STRING(0, "detach-keys", &detach_keys, "string",
	               "Override the key sequence for detaching a container"),
	    OPT_BOOL('i', "interactive", &interactive, "Attach container's STDIN"), OPT_END};
	const struct kiln_usage usage = {"[OPTIONS] CONTAINER [CONTAINER...]",
	                                 "Start one or more stopped containers", 1, -1, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	struct kiln_err err = KILN_ERR_INIT;
	if (attach && argc > 2)
		return kiln_err_set(&ctx->err, KILN_E_USAGE,
		                    "you cannot start and attach multiple containers at once"),
		       1;
	if (!attach && !interactive)
		return for_each(ctx, argc, argv, start_one, NULL);
	struct rt_container *c = NULL;
	if (rt_container_load(ctx->root, argv[1], &c, &err) < 0)
		return kiln_cmd_fail(ctx, &err);
	struct rt_run_io io = {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO};
	if (interactive)
		c->spec.interactive = true;
	int status = 0, r;
	bool detached = false;
	if (c->spec.tty) { /* under its monitor: detachable */
		struct rt_attach_opts ao = {.in_fd = interactive ? STDIN_FILENO : -1,
		                            .out_fd = STDOUT_FILENO,
		                            .err_fd = STDERR_FILENO,
		                            .detach_keys = detach_keys,
		                            .sig_proxy = true,
		                            .close_stdin = true};
		r = rt_container_start_attach(ctx->root, c, &ao, &status, &detached, &err);
	} else {
		r = rt_container_run_attached(ctx->root, c, &io, true, &status, &err);
	}
	rt_container_free(c);
	if (r < 0) {
		kiln_cmd_fail(ctx, &err);
		return 1;
	}
	return kiln_attach_done(detached, status);
}

/* --- inspect --------------------------------------------------------------------- */
static const char *const ctr_kinds[][2] = {
    {"Labels", "map"},
    {"Env", "slice"},
    {"Cmd", "slice"},
    {"Entrypoint", "slice"},
    {"Binds", "slice"},
    {"CapAdd", "slice"},
    {"CapDrop", "slice"},
    {"Tmpfs", "map"},
    {"Ports", "map"},
    {"Data", "map"},
    {"OnBuild", "slice"},
    {"Volumes", "map"},
    /* fields docker's types omit when empty: a template still reads them */
    {"Shell", "slice"},
    {"ExposedPorts", "map"},
    {"Healthcheck", "ptr"},
    {"StopSignal", "string"},
    {"StopTimeout", "ptr"},
    {"MacAddress", "string"},
    {"NetworkDisabled", "bool"},
    {"ArgsEscaped", "bool"},
    {"Init", "ptr"},
    {"StorageOpt", "map"},
    {"Sysctls", "map"},
    {"ExecIDs", "slice"},
    {NULL, NULL}};

int cmd_container_inspect(int argc, char **argv, struct kiln_ctx *ctx)
{
	const char *format = NULL;
	bool size = false;
	const struct kiln_opt opts[] = {
	    OPT_STRING('f', "format", &format, "string",
	               "Format output using a custom template: 'json', 'TEMPLATE'"),
	    OPT_BOOL('s', "size", &size, "Display total file sizes"), OPT_END};
	const struct kiln_usage usage = {"[OPTIONS] CONTAINER [CONTAINER...]",
	                                 "Display detailed information on one or more containers",
	                                 1, -1, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	json_t *all = json_array();
	int rc = 0;
	for (int i = 1; i < argc; i++) {
		struct rt_container *c = NULL;
		struct kiln_err e = KILN_ERR_INIT;
		if (rt_container_load(ctx->root, argv[i], &c, &e) < 0) {
			kiln_report_error(ctx, &e);
			rc = 1;
			continue;
		}
		json_array_append_new(all, ctr_inspect_json(ctx->root, c));
		rt_container_free(c);
	}
	if (!format || !strcmp(format, "json")) {
		_cleanup_free_ char *j = kiln_json_dump(all, !format);
		printf("%s\n", j);
	} else {
		struct kiln_err e = KILN_ERR_INIT;
		struct kiln_tmpl *t = kiln_tmpl_parse_raw(format, &e);
		if (!t) {
			json_decref(all);
			kiln_err_move(&ctx->err, &e);
			kiln_err_wrap(&ctx->err, "template parsing error");
			return 64;
		}
		const struct kiln_tmpl_opts o = {.kinds = ctr_kinds, .raw_fallback = true};
		struct kiln_buf b;
		kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
		for (size_t i = 0; i < json_array_size(all); i++) {
			if (kiln_tmpl_render(t, json_array_get(all, i), &o, &b, &e) < 0) {
				kiln_report_error(ctx, &e);
				rc = 1;
				continue;
			}
			kiln_buf_addch(&b, '\n', NULL);
		}
		fputs(b.len ? kiln_buf_str(&b) : "", stdout);
		kiln_buf_release(&b);
		kiln_tmpl_free(t);
	}
	json_decref(all);
	return rc;
}
