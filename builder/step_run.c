/* RUN: one process in a build container (the runtime's rt_run_process)
 * over the stage's layers:
 *   lower dirs   img_snapshot_dirs() of every layer of the stage (topmost
 *                first; layers this build wrote are unpacked as needed),
 *                under a stub layer holding the mount points the rootfs
 *                lacks (run_mounts.c)
 *   upper dir    ROOT/tmp/run-step-XXXXXX/upper: becomes the step's layer
 *                (img_layer_create with overlay_upper: whiteouts, opaque
 *                dirs), then the layer's snapshot (img_snapshot_adopt),
 *                so no later step unpacks it again. Like BuildKit, a RUN
 *                that changes nothing still makes a layer: an empty tar.
 *   argv         exec form as written; shell form through the stage's
 *                SHELL (default /bin/sh -c); heredocs as BuildKit's
 *                dispatcher: a lone heredoc runs its body (a file under
 *                /dev/pipes/ when it starts with "#!"), else the command
 *                line and the bodies go to the shell together
 *   env          the stage's Env, then the ARGs visible to the step (ENV
 *                wins; proxy args included: they never reach history)
 *   cwd, user    WorkingDir (made if missing), User
 *   network      RUN --network, else kiln build --network, else default
 *   stdout/err   one pipe read by a thread into the progress sink
 *                ("#N 0.412 line"), the last lines kept for the error
 * A non-zero exit fails the step with BuildKit's words and the last lines
 * of output. The scratch directory is removed in every case; SIGINT or
 * SIGTERM while the process runs kills it (rt_run_process: EINTR). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "run-internal.h"

#define TAIL_LINES   10
#define LINE_MAX_LEN 8192

/* The output reader is a forked process, not a thread: the runtime clones
 * the container's init from this process, and a thread holding a lock
 * (malloc's, stdio's) at that moment would leave the init stuck on it. */
struct pump {
	const struct bld_progress *p;
	int id, fd, tail_fd;
	char *tail[TAIL_LINES]; /* ring of the last lines */
	size_t n;
};

static void pump_line(struct pump *p, const char *line)
{
	if (p->p && p->p->log)
		p->p->log(p->p->ud, p->id, line);
	size_t i = p->n++ % TAIL_LINES;
	free(p->tail[i]);
	p->tail[i] = xstrdup(line);
}

static int cmp_int(const void *a, const void *b)
{
	return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b);
}

/* The reader keeps stdio, its pipe, its tail file and the progress sink's
 * fd only: a fork keeps every fd of the parent, and the write end of a
 * concurrent step's output pipe held here would keep that step's reader
 * from its EOF (two readers holding each other's: a build that never
 * ends). */
static void keep_only_fds(int pipe_fd, int tail_fd, int sink_fd)
{
	int keep[3] = {pipe_fd, tail_fd, sink_fd > 2 ? sink_fd : pipe_fd};
	qsort(keep, 3, sizeof(*keep), cmp_int);
	unsigned from = 3;
	for (size_t i = 0; i < 3; i++) {
		if ((unsigned)keep[i] > from)
			syscall(SYS_close_range, from, (unsigned)keep[i] - 1, 0);
		if ((unsigned)keep[i] + 1 > from)
			from = (unsigned)keep[i] + 1;
	}
	syscall(SYS_close_range, from, ~0U, 0);
}

__attribute__((noreturn)) static void pump_main(struct pump *p)
{
	const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
	for (size_t i = 0; i < KILN_ARRAY_SIZE(sigs); i++)
		signal(sigs[i], SIG_IGN); /* reads to EOF, which the container's end brings */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	char *line = xmalloc(LINE_MAX_LEN + 1);
	size_t len = 0;
	char buf[4096];
	for (;;) {
		ssize_t n = read(p->fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n' || len == LINE_MAX_LEN) {
				line[len] = '\0';
				pump_line(p, line);
				len = 0;
				if (buf[i] == '\n')
					continue;
			}
			if (buf[i] != '\r')
				line[len++] = buf[i];
		}
	}
	if (len) {
		line[len] = '\0';
		pump_line(p, line);
	}
	size_t first = p->n > TAIL_LINES ? p->n - TAIL_LINES : 0;
	for (size_t i = first; i < p->n; i++) {
		const char *l = p->tail[i % TAIL_LINES];
		if (kiln_write_all(p->tail_fd, l, strlen(l), NULL) < 0 ||
		    kiln_write_all(p->tail_fd, "\n", 1, NULL) < 0)
			break;
	}
	_exit(0);
}

static bool heredoc_only(const struct df_cmdline *c)
{
	if (c->argv.n != 1 || c->n_files != 1)
		return false;
	const char *a = c->argv.v[0];
	return !strncmp(a, "<<", 2) && !strpbrk(a, " \t\n");
}

/* "<<-" bodies lose their lines' leading tabs. */
static char *heredoc_body(const struct df_heredoc *h)
{
	if (!h->chomp)
		return xstrdup(h->content);
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	bool bol = true;
	for (const char *p = h->content; *p; p++) {
		if (bol && *p == '\t')
			continue;
		bol = *p == '\n';
		kiln_buf_addch(&b, *p, NULL);
	}
	return kiln_buf_detach(&b, NULL);
}

/* The process's argv (see the header comment). */
static int make_args(struct bld_stage *st, const struct df_cmdline *c, const char *dir,
                     struct run_mounts *m, struct kiln_strv *args, struct kiln_err *err)
{
	if (c->exec_form) {
		for (size_t i = 0; i < c->argv.n; i++)
			kiln_strv_push(args, c->argv.v[i]);
		return args->n ? 0 : kiln_err_set(err, KILN_E_INVALID, "RUN without a command");
	}
	char *script = NULL;
	if (heredoc_only(c)) {
		char *body = heredoc_body(&c->files[0]);
		if (!strncmp(body, "#!", 2) && !m) {
			free(body);
			kiln_strv_pushf(args, "/dev/pipes/%s", c->files[0].name);
			return 0;
		}
		if (!strncmp(body, "#!", 2)) {
			/* the name is the Dockerfile's: never part of a host path */
			_cleanup_free_ char *host = kiln_path_join(dir, "pipe");
			int r = kiln_write_file_atomic(host, body, strlen(body), 0755, err);
			free(body);
			if (r < 0)
				return -1;
			_cleanup_free_ char *target = xasprintf("/dev/pipes/%s", c->files[0].name);
			run_mounts_add_bind(m, host, target, true);
			kiln_strv_push(args, target);
			return 0;
		}
		script = body;
	} else {
		struct kiln_buf b;
		kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
		for (size_t i = 0; i < c->argv.n; i++)
			kiln_buf_addf(&b, NULL, "%s%s", i ? " " : "", c->argv.v[i]);
		for (size_t i = 0; i < c->n_files; i++)
			kiln_buf_addf(&b, NULL, "\n%s%s", c->files[i].content, c->files[i].name);
		script = kiln_buf_detach(&b, NULL);
	}
	char **shell = st->cfg->config.shell;
	if (shell && shell[0]) {
		for (size_t i = 0; shell[i]; i++)
			kiln_strv_push(args, shell[i]);
	} else {
		kiln_strv_push(args, "/bin/sh");
		kiln_strv_push(args, "-c");
	}
	kiln_strv_push_take(args, script);
	return 0;
}

static bool env_has(const struct kiln_strv *env, const char *key)
{
	size_t kl = strlen(key);
	for (size_t i = 0; i < env->n; i++)
		if (!strncmp(env->v[i], key, kl) && env->v[i][kl] == '=')
			return true;
	return false;
}

/* The stage's Env (an ARG set after an ENV of its name in its place),
 * then its ARGs that no ENV shadows, then the mounts'. */
static char **make_env(struct bld_stage *st, const struct run_mounts *m)
{
	struct kiln_strv env = KILN_STRV_INIT;
	char **ce = st->cfg->config.env;
	for (size_t i = 0; ce && ce[i]; i++) {
		size_t kl = strcspn(ce[i], "=");
		kiln_strv_pushf(&env, "%.*s=%s", (int)kl, ce[i], bld_stage_lookup(st, ce[i], kl));
	}
	for (size_t i = 0; i < st->args.n; i++) {
		size_t kl = strcspn(st->args.v[i], "=");
		bool shadowed = false;
		for (size_t k = 0; ce && ce[k] && !shadowed; k++)
			shadowed = !strncmp(ce[k], st->args.v[i], kl) && ce[k][kl] == '=';
		if (!shadowed)
			kiln_strv_push(&env, st->args.v[i]);
	}
	/* the predefined proxy args reach RUN without an ARG (never history) */
	const struct kiln_strv *ba = &st->b->g.build_args;
	for (size_t i = 0; i < ba->n; i++) {
		size_t kl = strcspn(ba->v[i], "=");
		_cleanup_free_ char *k = xstrndup(ba->v[i], kl);
		bool have = false;
		for (size_t j = 0; j < env.n && !have; j++)
			have = !strncmp(env.v[j], ba->v[i], kl) && env.v[j][kl] == '=';
		if (!have && ba->v[i][kl] == '=' && df_arg_is_predefined(k))
			kiln_strv_push(&env, ba->v[i]);
	}
	for (size_t i = 0; i < m->env.n; i++)
		kiln_strv_push(&env, m->env.v[i]);
	/* as BuildKit's exec op: both only where the env has none */
	if (m->ssh_sock && !env_has(&env, "SSH_AUTH_SOCK"))
		kiln_strv_pushf(&env, "SSH_AUTH_SOCK=%s", m->ssh_sock);
	if (!env_has(&env, "PATH"))
		kiln_strv_push(&env,
		               "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	return env.v;
}

static int make_network(const struct bld_stage *st, enum df_network n, enum rt_network_mode *out,
                        struct kiln_err *err)
{
	switch (n) {
	case DF_NET_NONE: *out = RT_NET_NONE; return 0;
	case DF_NET_HOST: *out = RT_NET_HOST; return 0;
	case DF_NET_DEFAULT: *out = RT_NET_DEFAULT; return 0;
	case DF_NET_UNSET: break;
	}
	const char *o = st->b->o->network;
	*out = RT_NET_DEFAULT;
	return o && *o ? rt_parse_network(o, out, err) : 0;
}

/* A RUN (instruction as written) that gets the default network. */
static bool wants_default_net(const struct bld_stage *st, const struct df_instr *in)
{
	enum rt_network_mode mode = RT_NET_NONE;
	struct kiln_err e = KILN_ERR_INIT;
	bool yes = in->kind == DF_I_RUN && make_network(st, in->u.run.network, &mode, &e) == 0 &&
	           mode == RT_NET_DEFAULT;
	kiln_err_release(&e);
	return yes;
}

void bld_run_net_ahead(struct bld_stage *st, const struct df_instr *in)
{
	const struct df_stage *ds = st->st;
	size_t i = 0; /* a trigger's step: any RUN of the stage */
	for (size_t k = 0; k < ds->n_instrs; k++)
		if (&ds->instrs[k] == in)
			i = k + 1;
	for (; i < ds->n_instrs && !st->net; i++)
		if (wants_default_net(st, &ds->instrs[i]))
			st->net = rt_netns_prepare();
}

void bld_run_net_drop(struct bld_stage *st)
{
	rt_netns_free(st->net);
	st->net = NULL;
}

/* Every layer's snapshot, topmost first, under the stub layer. */
static int make_lowers(struct bld_stage *st, const struct run_mounts *m, char ***out,
                       struct kiln_err *err)
{
	char **dirs = NULL;
	if (st->fs.mu)
		pthread_mutex_lock(st->fs.mu);
	int r = img_snapshot_dirs(st->b->s, st->fs.layers, st->fs.n, &dirs, err);
	if (st->fs.mu)
		pthread_mutex_unlock(st->fs.mu);
	if (r < 0)
		return -1;
	struct kiln_strv v = KILN_STRV_INIT;
	if (m->stubs)
		kiln_strv_push(&v, m->stubs);
	/* a layer twice in the stack (two RUNs that changed nothing) is
	 * listed once, at its topmost place: overlay refuses repeated lower
	 * dirs, and the lower copy could only show what the upper one does */
	for (size_t i = 0; dirs && dirs[i]; i++)
		if (!kiln_strv_contains(&v, dirs[i]))
			kiln_strv_push(&v, dirs[i]);
	kiln_strv_free(dirs);
	if (!v.v) /* FROM scratch: the runtime's own init layer is the only lower */
		v.v = xcalloc(1, sizeof(char *));
	*out = v.v;
	return 0;
}

static char *join_args(char **v)
{
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	for (size_t i = 0; v && v[i]; i++)
		kiln_buf_addf(&b, NULL, "%s%s", i ? " " : "", v[i]);
	return kiln_buf_detach(&b, NULL);
}

static int failed(const struct bld_step *step, const struct rt_spec *spec, const char *tail,
                  int status, struct kiln_err *err)
{
	_cleanup_free_ char *cmd = join_args(spec->args);
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	kiln_buf_addf(&b, NULL, "process \"%s\" did not complete successfully: exit code: %d", cmd,
	              status);
	if (tail && *tail)
		kiln_buf_addf(&b, NULL, "\n------\n > %s:\n%s------", step->name, tail);
	_cleanup_free_ char *msg = kiln_buf_detach(&b, NULL);
	return kiln_err_set(err, 0, "%s", msg);
}

/* Runs the process with its output pumped into the progress sink. */
static int run(struct bld_stage *st, struct bld_step *step, const char *dir,
               const struct rt_spec *spec, struct kiln_err *err)
{
	_cleanup_free_ char *tail_path = kiln_path_join(dir, "tail");
	int tail_fd = open(tail_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (tail_fd < 0)
		return kiln_err_set(err, errno, "creating `%s`", tail_path);
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0) {
		close(tail_fd);
		return kiln_err_set(err, errno, "pipe");
	}
	struct pump p = {.p = st->b->p, .id = step->id, .fd = fds[0], .tail_fd = tail_fd};
	rt_fork_lock(); /* sanitizer builds: no other thread mid-malloc (runtime.h) */
	pthread_mutex_lock(&st->b->mu); /* no printer mid-line in the copy */
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		close(fds[1]);
		keep_only_fds(p.fd, tail_fd, st->b->p ? st->b->p->fd : -1);
		pump_main(&p);
	}
	int saved = errno;
	pthread_mutex_unlock(&st->b->mu);
	rt_fork_unlock();
	close(fds[0]);
	if (pid < 0) {
		close(fds[1]);
		close(tail_fd);
		return kiln_err_set(err, saved, "starting the output reader");
	}
	struct rt_run_io io = {.stdin_fd = -1, .stdout_fd = fds[1], .stderr_fd = fds[1]};
	int status = 0;
	int r = rt_run_process(img_store_root(st->b->s), spec, &io, &status, err);
	close(fds[1]);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	if (r == 0 && status != 0) {
		char *tail = NULL;
		size_t len = 0;
		if (lseek(tail_fd, 0, SEEK_SET) < 0 ||
		    kiln_read_fd(tail_fd, 1u << 20, "output", &tail, &len, NULL) < 0)
			tail = NULL;
		r = failed(step, spec, tail, status, err);
		free(tail);
	}
	close(tail_fd);
	return r;
}

static int make_spec(struct bld_stage *st, struct bld_step *step, const char *dir,
                     struct run_mounts *m, struct rt_spec *spec, struct kiln_err *err)
{
	const struct df_run *run = &step->x.u.run;
	const struct img_config *c = st->cfg;
	struct kiln_strv args = KILN_STRV_INIT;
	int r = make_args(st, &run->cmd, dir, m, &args, err);
	spec->args = args.v;
	if (r == 0)
		r = make_network(st, run->network, &spec->network, err);
	if (r == 0)
		r = run_mounts_prepare(st, run, dir, m, err);
	if (r == 0)
		r = make_lowers(st, m, &spec->lower_dirs, err);
	if (r < 0)
		return -1;
	spec->env = make_env(st, m);
	spec->cwd =
	    xstrdup(c->config.working_dir && *c->config.working_dir ? c->config.working_dir : "/");
	spec->user = c->config.user && *c->config.user ? xstrdup(c->config.user) : NULL;
	spec->build_sandbox = true;
	spec->hostname = xstrdup("buildkitsandbox");
	spec->upper_dir = kiln_path_join(dir, "upper");
	spec->work_dir = kiln_path_join(dir, "work");
	if (mkdir(spec->upper_dir, 0755) < 0 || mkdir(spec->work_dir, 0700) < 0)
		return kiln_err_set(err, errno, "creating the step's upper dir");
	/* the mounts move into the spec (rt_spec_release frees them) */
	spec->mounts = m->v;
	spec->n_mounts = m->n;
	m->v = NULL;
	m->n = m->cap = 0;
	return 0;
}

char *bld_run_created_by(struct bld_stage *st, const struct bld_step *step)
{
	struct kiln_strv args = KILN_STRV_INIT;
	if (make_args(st, &step->x.u.run.cmd, NULL, NULL, &args, NULL) < 0) {
		kiln_strv_release(&args);
		_cleanup_free_ char *f = df_instr_format(&step->x);
		return xasprintf("%s # buildkit", f);
	}
	/* BuildKit's runCommandString: "|N K=V..." for every ARG the stage
	 * declared, valued or not, each with the value the build's env gives
	 * it (an ENV's where one shadows it, "" where none; a proxy arg is
	 * one when declared: docker shows it; undeclared ones reach the RUN's
	 * env only) */
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	kiln_buf_addstr(&b, "RUN ", NULL);
	const struct kiln_strv *decl = &st->arg_decl;
	if (decl->n)
		kiln_buf_addf(&b, NULL, "|%zu ", decl->n);
	for (size_t i = 0; i < decl->n; i++) {
		const char *v = bld_stage_lookup(st, decl->v[i], strlen(decl->v[i]));
		kiln_buf_addf(&b, NULL, "%s=%s ", decl->v[i], v ? v : "");
	}
	_cleanup_free_ char *cmd = join_args(args.v);
	kiln_strv_release(&args);
	kiln_buf_addf(&b, NULL, "%s # buildkit", cmd);
	return kiln_buf_detach(&b, NULL);
}

/* The upper dir just tarred becomes the layer's snapshot, so the next step
 * that needs it (a RUN on top, a lookup of a path) does not unpack the
 * blob again. Only a shortcut: on failure the snapshot is unpacked from
 * the blob when needed, as for any other layer. */
static void keep_snapshot(struct bld_build *b, const struct bld_step *step, const char *upper)
{
	struct kiln_err e = KILN_ERR_INIT;
	if (img_snapshot_adopt(b->s, &step->layer, upper, b->epoch, &e) < 0)
		kiln_debug("%s", e.msg);
	kiln_err_release(&e);
}

int bld_step_run(struct bld_stage *st, struct bld_step *step, struct kiln_err *err)
{
	struct bld_build *b = st->b;
	_cleanup_free_ char *tmp = xasprintf("%s/tmp", img_store_root(b->s));
	if (kiln_mkdir_p(tmp, 0700, err) < 0)
		return -1;
	int slot;
	_cleanup_free_ char *dir = bld_scratch_mkdir(tmp, "run-step", &slot, err);
	if (!dir)
		return -1;
	/* the network's start-up passes while the snapshots and the spec are
	 * made (one made ahead for this step is taken; the next RUN's starts
	 * meanwhile) */
	if (!st->net && wants_default_net(st, step->in))
		st->net = rt_netns_prepare();
	struct run_mounts m = {0};
	struct rt_spec spec = {0};
	int r = make_spec(st, step, dir, &m, &spec, err);
	if (r == 0 && spec.network == RT_NET_DEFAULT) {
		spec.netns = TAKE_PTR(st->net);
		bld_run_net_ahead(st, step->in);
	}
	/* the first cgroup move's RCU grace period passes while the container
	 * is started (cgroup_warm.c): begun before the snapshots, it was over
	 * when they were, and the init's move waited for a grace period again */
	if (r == 0)
		rt_launch_warm_begin();
	if (r == 0)
		r = run(st, step, dir, &spec, err);
	rt_launch_warm_end();      /* when the run never started */
	rt_netns_free(spec.netns); /* its helper's exit is awaited at the build's end */
	spec.netns = NULL;
	if (r == 0) {
		struct img_layer_opts lo = {IMG_COMPRESS_NONE, true, b->epoch};
		r = img_layer_create(b->s, spec.upper_dir, &lo, &step->layer, err);
	}
	if (r == 0)
		keep_snapshot(b, step, spec.upper_dir);
	rt_spec_release(&spec);
	run_mounts_release(&m);
	bld_scratch_remove(dir, slot);
	return r;
}
