/* Joining a running container: exec (a helper process placed in the
 * container's cgroup enters its namespaces and forks the command, which
 * then takes the same user switch, capabilities and seccomp filter as the
 * init), pause/unpause, processes, stats, rename. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime-internal.h"

static bool alive(const struct rt_container *c)
{
	return c->pid > 0 && c->pid_start && rt_pid_start_time(c->pid) == c->pid_start;
}

static int not_running(const struct rt_container *c, struct kiln_err *err)
{
	return kiln_err_set(err, KILN_E_CONFLICT, "Container %s is not running", c->id);
}

/* The container's spec with exec's overrides (args, env, user, cwd). */
static void exec_spec(const struct rt_container *c, const struct rt_exec_opts *o, struct rt_spec *s)
{
	memset(s, 0, sizeof(*s));
	struct kiln_strv env = KILN_STRV_INIT;
	for (size_t i = 0; c->spec.env && c->spec.env[i]; i++)
		kiln_strv_push(&env, c->spec.env[i]);
	for (size_t i = 0; o->env && o->env[i]; i++) {
		const char *kv = o->env[i], *eq = strchr(kv, '=');
		size_t klen = eq ? (size_t)(eq - kv) : strlen(kv);
		bool done = false;
		for (size_t k = 0; k < env.n && !done; k++)
			if (!strncmp(env.v[k], kv, klen) && env.v[k][klen] == '=') {
				free(env.v[k]);
				env.v[k] = xstrdup(kv);
				done = true;
			}
		if (!done && eq)
			kiln_strv_push(&env, kv);
	}
	s->env = env.v ? env.v : xcalloc(1, sizeof(char *));
	s->args = rt_strv_dup(o->args);
	s->cwd = xstrdup(o->workdir && *o->workdir ? o->workdir : c->spec.cwd ? c->spec.cwd : "/");
	const char *user = o->user ? o->user : c->spec.user;
	s->user = user && *user ? xstrdup(user) : NULL;
	s->privileged = c->spec.privileged || o->privileged;
	s->no_new_privs = c->spec.no_new_privs && !o->privileged;
	s->cap_add = rt_strv_dup(c->spec.cap_add);
	s->cap_drop = rt_strv_dup(c->spec.cap_drop);
	s->seccomp_unconfined = c->spec.seccomp_unconfined;
	s->seccomp_profile = c->spec.seccomp_profile ? xstrdup(c->spec.seccomp_profile) : NULL;
	s->tty = o->tty;
}

static const char *const ns_names[] = {"ipc", "uts", "net", "pid", "cgroup", "mnt"};
#define N_NS KILN_ARRAY_SIZE(ns_names)

static int open_namespaces(const struct rt_container *c, int fds[N_NS], struct kiln_err *err)
{
	for (size_t i = 0; i < N_NS; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)c->pid, ns_names[i]);
		fds[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0) {
			int e = errno;
			for (size_t k = 0; k < i; k++)
				close(fds[k]);
			return e == ENOENT ? not_running(c, err)
			                   : kiln_err_set(err, e, "opening `%s`", path);
		}
	}
	if (!alive(c)) { /* the pid was reused while we opened them */
		for (size_t k = 0; k < N_NS; k++)
			close(fds[k]);
		return not_running(c, err);
	}
	return 0;
}

static volatile pid_t exec_child;
static void exec_forward(int sig)
{
	if (exec_child > 0)
		kill(exec_child, sig);
}

/* exec -t, in the helper (inside the container's mount namespace): a pty
 * of the container's devpts; the master goes to the CLI (unless detached:
 * exec -dt, whose output docker discards), the slave to the command. */
static int tty_open(struct rt_child *ch, int *master, bool detach)
{
	struct kiln_err err = KILN_ERR_INIT;
	char path[32];
	int slave = -1;
	if (rt_pty_open_here(master, &slave, path, &err) < 0 ||
	    (!detach && rt_fd_send(ch->l->console_sock, *master, &err) < 0)) {
		struct rt_child_error m = {
		    .code = err.code > 0 && err.code < KILN_E_BASE ? 0 : err.code};
		char *msg = kiln_err_format(&err);
		snprintf(m.msg, sizeof(m.msg), "%s", msg);
		free(msg);
		kiln_write_all(ch->error_fd, &m, sizeof(m), NULL);
		kiln_err_release(&err);
		return -1;
	}
	ch->tty_slave = slave;
	return 0;
}

/* Until the command ends: once the CLI has gone (detached: its end of the
 * console socket hangs up; exec -dt: from the start, sock -1), the helper
 * keeps the master and drains it, so the command neither gets SIGHUP nor
 * blocks on a full terminal. */
static void tty_wait(int sock, int master, pid_t pid)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	bool draining = sock < 0;
	char buf[4096];
	while (pidfd >= 0) {
		struct pollfd p[3] = {{.fd = pidfd, .events = POLLIN},
		                      {.fd = draining ? -1 : sock, .events = 0},
		                      {.fd = draining ? master : -1, .events = POLLIN}};
		if (poll(p, 3, -1) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		if (p[1].revents & (POLLHUP | POLLERR))
			draining = true;
		if ((p[2].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    read(master, buf, sizeof(buf)) <= 0)
			draining = false, master = -1, sock = -1;
	}
	if (pidfd >= 0)
		close(pidfd);
}

/* The helper: waits to be in the cgroup, enters the namespaces, forks the
 * command (PID namespaces apply to children), forwards signals to it and
 * exits as it did. */
__attribute__((noreturn)) static void helper(struct rt_child *ch, int ns[N_NS], bool detach)
{
	char go;
	if (read(ch->sync_fd, &go, 1) != 1)
		_exit(1);
	close(ch->sync_fd);
	for (size_t i = 0; i < N_NS; i++) {
		if (setns(ns[i], 0) < 0 && !(errno == EINVAL && i == 4)) {
			struct kiln_err err = KILN_ERR_INIT;
			kiln_err_set(&err, errno, "entering the container's %s namespace",
			             ns_names[i]);
			struct rt_child_error m = {.code = 0};
			snprintf(m.msg, sizeof(m.msg), "%s: %s", err.msg, strerror(err.code));
			kiln_write_all(ch->error_fd, &m, sizeof(m), NULL);
			_exit(1);
		}
		close(ns[i]);
	}
	int master = -1;
	if (ch->l->spec->tty && tty_open(ch, &master, detach) < 0)
		_exit(1);
	pid_t pid = fork();
	if (pid == 0) {
		ch->joining = true;
		rt_child_exec(ch);
	}
	close(ch->error_fd);
	if (pid < 0)
		_exit(1);
	if (detach || master >= 0) /* this helper stays to reap, holding none of the CLI's fds */
		for (int i = 0; i < 3 && ch->devnull_fd >= 0; i++)
			dup2(ch->devnull_fd, i);
	if (master >= 0) {
		close(ch->tty_slave);
		/* out of the CLI's session: the caller's terminal going away
		 * (after a detach) must not SIGHUP it, nor through it the command */
		setsid();
	}
	exec_child = pid;
	struct sigaction sa = {.sa_handler = exec_forward};
	sigemptyset(&sa.sa_mask);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGCHLD && sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &sa, NULL);
	if (master >= 0)
		tty_wait(detach ? -1 : ch->l->console_sock, master, pid);
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			_exit(1);
	_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}

static int wait_helper(pid_t pid, int *status, struct kiln_err *err)
{
	static const int proxied[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
	struct sigaction old[KILN_ARRAY_SIZE(proxied)];
	exec_child = pid;
	struct sigaction sa = {.sa_handler = exec_forward};
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < KILN_ARRAY_SIZE(proxied); i++)
		sigaction(proxied[i], &sa, &old[i]);
	int st = 0;
	pid_t r;
	while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
		;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(proxied); i++)
		sigaction(proxied[i], &old[i], NULL);
	exec_child = 0;
	if (r < 0)
		return kiln_err_set(err, errno, "waiting for the exec'd process");
	*status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	return 0;
}

/* exec -t in the CLI: the master from the helper, the caller's terminal
 * copied to and from it; detached, the helper is left to reap. */
static int tty_session(pid_t helper, int sock, const struct rt_run_io *io,
                       const struct rt_exec_opts *o, int *status, struct kiln_err *err)
{
	int master = -1;
	bool detached = false;
	struct rt_attach_opts ao = {.in_fd = io->stdin_fd,
	                            .out_fd = io->stdout_fd,
	                            .err_fd = io->stderr_fd,
	                            .detach_keys = o->detach_keys};
	int r = rt_fd_recv(sock, &master, err);
	if (r == 0)
		r = rt_pty_session(master, &ao, &detached, err);
	if (master >= 0)
		close(master);
	if (r < 0)
		kill(helper, SIGKILL);
	if (o->detached)
		*o->detached = detached;
	if (r == 0 && detached) {
		*status = 0;
		return 0;
	}
	int w = wait_helper(helper, status, err);
	return r < 0 ? r : w;
}

int rt_container_exec(const char *root, const struct rt_container *c, const struct rt_exec_opts *o,
                      const struct rt_run_io *io, int *status, struct kiln_err *err)
{
	(void)root;
	if (!alive(c))
		return not_running(c, err);
	if (c->status == RT_PAUSED)
		return kiln_err_set(err, KILN_E_CONFLICT,
		                    "Container %s is paused, unpause the container before exec",
		                    c->id);
	struct rt_spec spec;
	exec_spec(c, o, &spec);
	bool attach = io && !o->detach;
	struct rt_launch l = {.spec = &spec,
	                      .id = c->id,
	                      .stdin_fd = attach ? io->stdin_fd : -1,
	                      .stdout_fd = attach ? io->stdout_fd : -1,
	                      .stderr_fd = attach ? io->stderr_fd : -1};
	uint64_t caps = 0;
	int ns[N_NS], sync[2] = {-1, -1}, errp[2] = {-1, -1}, console[2] = {-1, -1};
	int r = rt_launch_caps(&spec, &caps, err);
	if (r == 0)
		r = rt_launch_seccomp(&spec, caps, &l.sc, err);
	if (r == 0)
		r = rt_cgroup_open(c->id, &l.cg, err);
	if (r == 0 && open_namespaces(c, ns, err) < 0)
		r = -1;
	if (r < 0)
		goto out;
	if (pipe2(sync, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 ||
	    (spec.tty && !o->detach &&
	     socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, console) < 0)) {
		r = kiln_err_set(err, errno, "pipe");
		goto out_ns;
	}
	l.console_sock = console[1];
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		close(sync[1]);
		close(errp[0]);
		struct rt_child ch = {.l = &l,
		                      .caps = caps,
		                      .sync_fd = sync[0],
		                      .error_fd = errp[1],
		                      .devnull_fd = devnull};
		helper(&ch, ns, o->detach);
	}
	if (devnull >= 0)
		close(devnull);
	close(sync[0]);
	close(errp[1]);
	if (console[1] >= 0)
		close(console[1]);
	sync[0] = errp[1] = console[1] = -1;
	if (pid < 0) {
		r = kiln_err_set(err, errno, "forking the exec helper");
		goto out_ns;
	}
	r = rt_cgroup_add_pid(l.cg, pid, err);
	if (r == 0 && write(sync[1], "g", 1) != 1)
		r = kiln_err_set(err, errno, "starting the exec helper");
	close(sync[1]);
	sync[1] = -1;
	if (r == 0)
		r = rt_read_verdict(errp[0], err);
	if (r < 0) {
		/* the helper exits (sync closed before "go") or reaps the
		 * command that failed and exits */
		waitpid(pid, NULL, 0);
	} else if (o->detach) {
		*status = 0;
	} else if (spec.tty) { /* attached */
		r = tty_session(pid, console[0], io, o, status, err);
	} else {
		r = wait_helper(pid, status, err);
	}
out_ns:
	for (size_t i = 0; i < N_NS; i++)
		close(ns[i]);
	for (int i = 0; i < 2; i++) {
		if (sync[i] >= 0)
			close(sync[i]);
		if (errp[i] >= 0)
			close(errp[i]);
		if (console[i] >= 0)
			close(console[i]);
	}
out:
	rt_cgroup_free(l.cg);
	rt_seccomp_free(l.sc);
	rt_spec_release(&spec);
	return r;
}

int rt_container_pause(const char *root, struct rt_container *c, bool pause, struct kiln_err *err)
{
	if (!alive(c))
		return not_running(c, err);
	if (pause && c->status == RT_PAUSED)
		return kiln_err_set(err, KILN_E_CONFLICT, "Container %s is already paused", c->id);
	if (!pause && c->status != RT_PAUSED)
		return kiln_err_set(err, KILN_E_CONFLICT, "Container %s is not paused", c->id);
	struct rt_cgroup *cg = NULL;
	if (rt_cgroup_open(c->id, &cg, err) < 0)
		return -1;
	int lock = rt_container_lock(root, c->id, err);
	int r = lock < 0 ? -1 : rt_cgroup_freeze(cg, pause, err);
	rt_cgroup_free(cg);
	if (r == 0) {
		struct rt_container *now = NULL;
		r = rt_container_read(root, c->id, &now, err);
		if (r == 0) {
			now->status = pause ? RT_PAUSED : RT_RUNNING;
			r = rt_state_save(root, now, err);
			c->status = now->status;
			rt_container_free(now);
		}
	}
	if (lock >= 0)
		close(lock);
	return r;
}

int rt_container_pids(const struct rt_container *c, pid_t **pids, size_t *n, struct kiln_err *err)
{
	if (!alive(c))
		return not_running(c, err);
	struct rt_cgroup *cg = NULL;
	if (rt_cgroup_open(c->id, &cg, err) < 0)
		return -1;
	int r = rt_cgroup_pids(cg, pids, n, err);
	rt_cgroup_free(cg);
	return r;
}

int rt_container_stats(const struct rt_container *c, struct rt_stats *st, struct kiln_err *err)
{
	memset(st, 0, sizeof(*st));
	if (!alive(c))
		return 0; /* docker shows zeros for a stopped container */
	struct rt_cgroup *cg = NULL;
	if (rt_cgroup_open(c->id, &cg, err) < 0)
		return -1;
	struct rt_cgroup_stats s;
	int r = rt_cgroup_stats(cg, &s, err);
	rt_cgroup_free(cg);
	if (r == 0) {
		st->cpu_ns = s.cpu_usage_ns;
		st->memory_usage = s.memory_usage;
		st->memory_limit = s.memory_limit;
		st->pids = s.pids_current;
	}
	return r;
}

int rt_container_rename(const char *root, struct rt_container *c, const char *name,
                        struct kiln_err *err)
{
	const char *n = name[0] == '/' ? name + 1 : name;
	if (!rt_name_valid(n))
		return kiln_err_set(
		    err, KILN_E_INVALID,
		    "Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are "
		    "allowed",
		    name);
	static const char same[] = "Renaming a container with the same name as its current name";
	if (!strcmp(n, c->name))
		return kiln_err_set(err, KILN_E_INVALID, "%s", same);
	int lock = rt_container_lock(root, c->id, err);
	if (lock < 0)
		return -1;
	/* the record as it is under the lock: another rename may have given
	 * it this name since c was loaded (and the name is then its own) */
	struct rt_container *now = NULL;
	int r = rt_container_read(root, c->id, &now, err);
	if (r == 0 && now->name && !strcmp(now->name, n))
		r = kiln_err_set(err, KILN_E_INVALID, "%s", same);
	if (r == 0)
		r = rt_name_reserve(root, n, c->id, err);
	if (r == 0) {
		char *old = now->name;
		now->name = xstrdup(n);
		r = rt_config_save(root, now, err);
		if (r == 0)
			rt_name_release(root, old, c->id);
		else
			rt_name_release(root, n, c->id);
		free(old);
		free(c->name);
		c->name = xstrdup(now->name);
	}
	rt_container_free(now);
	close(lock);
	return r;
}
