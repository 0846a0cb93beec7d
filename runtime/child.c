/* The container's init, from clone to execve: waits for the parent to have
 * placed it in its cgroup, enters a cgroup namespace, builds its
 * filesystem and pivots into it, sets hostname, loopback and rlimits,
 * resolves the user inside the container, drops privileges (no_new_privs,
 * identity and capabilities, seccomp) and execs the command as Go's
 * exec.LookPath finds it. Any failure is sent to the parent over error_fd
 * (close-on-exec: EOF there means the exec happened). With spec->init a
 * tiny init stays PID 1, forwards signals and reaps orphans. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime-internal.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

__attribute__((noreturn)) static void child_fail(struct rt_child *c, struct kiln_err *err)
{
	struct rt_child_error m;
	memset(&m, 0, sizeof(m));
	m.code = err->code;
	char *msg = kiln_err_format(err);
	snprintf(m.msg, sizeof(m.msg), "%s", msg);
	free(msg);
	ssize_t w = write(c->error_fd, &m, sizeof(m));
	(void)w;
	_exit(1);
}

static int setup_stdio(struct rt_child *c, struct kiln_err *err)
{
	const struct rt_launch *l = c->l;
	int fds[3] = {l->stdin_fd, l->stdout_fd, l->stderr_fd};
	/* copy them above 2 first so that dup2 onto 0..2 cannot clobber one */
	int tmp[3];
	for (int i = 0; i < 3; i++) {
		int src = fds[i] >= 0 ? fds[i] : c->devnull_fd;
		tmp[i] = fcntl(src, F_DUPFD_CLOEXEC, 3);
		if (tmp[i] < 0)
			return kiln_err_set(err, errno, "duplicating stdio");
	}
	for (int i = 0; i < 3; i++) {
		if (dup2(tmp[i], i) < 0)
			return kiln_err_set(err, errno, "setting up stdio");
		close(tmp[i]);
	}
	return 0;
}

/* -t: once in its rootfs, a pty of the container's own devpts as stdio,
 * controlling terminal and /dev/console; the master goes to the launcher. */
static int setup_tty(struct rt_child *c, struct kiln_err *err)
{
	if (!c->l->spec->tty || c->l->console_sock <= 0)
		return 0;
	return rt_pty_console(c->l->console_sock, err);
}

static int loopback_up(struct kiln_err *err)
{
	_cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return kiln_err_set(err, errno, "socket for loopback");
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return kiln_err_set(err, errno, "reading flags of `lo`");
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		return kiln_err_set(err, errno, "bringing `lo` up");
	return 0;
}

static int apply_rlimits(const struct rt_spec *s, struct kiln_err *err)
{
	for (size_t i = 0; i < s->n_rlimits; i++) {
		struct rlimit rl = {.rlim_cur = s->rlimits[i].soft, .rlim_max = s->rlimits[i].hard};
		if (setrlimit(s->rlimits[i].resource, &rl) < 0)
			return kiln_err_set(
			    err, errno,
			    "setting rlimit %d to %llu:%llu (above the caller's hard "
			    "limit?)",
			    s->rlimits[i].resource, (unsigned long long)rl.rlim_cur,
			    (unsigned long long)rl.rlim_max);
	}
	return 0;
}

static char *read_small(const char *path)
{
	char *data = NULL;
	size_t len;
	if (kiln_read_file(path, 4u << 20, &data, &len, NULL) < 0)
		return NULL;
	return data;
}

static const char *env_get(char *const *env, const char *key)
{
	size_t klen = strlen(key);
	for (size_t i = 0; env && env[i]; i++)
		if (!strncmp(env[i], key, klen) && env[i][klen] == '=')
			return env[i] + klen + 1;
	return NULL;
}

/* Final environment: the spec's plus HOME from the user's entry. */
static char **final_env(const struct rt_spec *s, const char *home)
{
	size_t n = rt_strv_len(s->env);
	char **env = xcalloc(n + 2, sizeof(char *));
	memcpy(env, s->env, n * sizeof(char *));
	if (!env_get(s->env, "HOME"))
		env[n] = xasprintf("HOME=%s", home);
	return env;
}

/* Go's exec.LookPath with runc's messages. Returns the path to exec
 * (allocated). */
static char *look_path(const char *name, char *const *env, struct kiln_err *err)
{
	struct stat st;
	if (strchr(name, '/')) {
		if (stat(name, &st) < 0) {
			int e = errno;
			char msg[128];
			snprintf(msg, sizeof(msg), "%s", strerror(e));
			msg[0] = (char)tolower((unsigned char)msg[0]); /* Go's wording */
			kiln_err_set(err, e == ENOENT ? RT_E_EXEC_NOTFOUND : RT_E_EXEC_PERM,
			             "exec: \"%s\": stat %s: %s", name, name, msg);
			return NULL;
		}
		if (S_ISDIR(st.st_mode) || !(st.st_mode & 0111))
			return kiln_err_set(err, RT_E_EXEC_PERM, "exec: \"%s\": permission denied",
			                    name),
			       NULL;
		return xstrdup(name);
	}
	const char *path = env_get(env, "PATH");
	_cleanup_free_ char *copy = xstrdup(path ? path : "");
	for (char *p = copy, *next; p; p = next) {
		next = strchr(p, ':');
		if (next)
			*next++ = 0;
		char *cand = xasprintf("%s/%s", *p ? p : ".", name);
		if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111))
			return cand;
		free(cand);
	}
	kiln_err_set(err, RT_E_EXEC_NOTFOUND, "exec: \"%s\": executable file not found in $PATH",
	             name);
	return NULL;
}

/* The command starts with every signal at its default and none blocked:
 * an ignored SIGINT or SIGPIPE (the monitor ignores both) would otherwise
 * be inherited through execve, and Ctrl-C could not stop a `sleep`. */
static void reset_signals(void)
{
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

__attribute__((noreturn)) static void exec_command(struct rt_child *c, char **env)
{
	struct kiln_err err = KILN_ERR_INIT;
	const struct rt_spec *s = c->l->spec;
	if (!s->args || !s->args[0]) {
		kiln_err_set(&err, KILN_E_INVALID, "no command specified");
		child_fail(c, &err);
	}
	char *path = look_path(s->args[0], env, &err);
	if (!path)
		child_fail(c, &err);
	/* with no_new_privs the filter goes on last; without it the kernel
	 * wants CAP_SYS_ADMIN, so it went on before the identity switch */
	if (c->l->sc && s->no_new_privs && rt_seccomp_load(c->l->sc, &err) < 0)
		child_fail(c, &err);
	syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
	reset_signals();
	execve(path, s->args, env);
	int e = errno;
	kiln_err_set(&err,
	             e == EACCES || e == ENOEXEC || e == EISDIR ? RT_E_EXEC_PERM
	             : e == ENOENT                              ? RT_E_EXEC_NOTFOUND
	                                                        : e,
	             "exec: \"%s\": %s", s->args[0], strerror(e));
	child_fail(c, &err);
}

static volatile pid_t init_child;
static void init_forward(int sig)
{
	if (init_child > 0)
		kill(init_child, sig);
}

/* --init: PID 1 forks the command, forwards every signal it can catch to
 * it, reaps everything, and exits as the command did. */
__attribute__((noreturn)) static void run_init(struct rt_child *c, char **env)
{
	pid_t pid = fork();
	if (pid < 0) {
		struct kiln_err err = KILN_ERR_INIT;
		kiln_err_set(&err, errno, "forking the command under --init");
		child_fail(c, &err);
	}
	if (pid == 0)
		exec_command(c, env);
	close(c->error_fd);
	init_child = pid;
	struct sigaction sa = {.sa_handler = init_forward};
	sigemptyset(&sa.sa_mask);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGCHLD && sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &sa, NULL);
	for (;;) {
		int st;
		pid_t r = waitpid(-1, &st, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			_exit(1);
		if (r == pid)
			_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	}
}

static int resolve_user(const struct rt_spec *s, struct rt_identity *id, char **home,
                        struct kiln_err *err)
{
	_cleanup_free_ char *passwd = read_small("/etc/passwd");
	_cleanup_free_ char *group = read_small("/etc/group");
	return rt_user_resolve(s->user, s->build_sandbox ? RT_GROUPS_BUILDKIT : RT_GROUPS_DOCKER,
	                       passwd, group, id, home, err);
}

static int setup_fs(struct rt_child *c, struct kiln_err *err)
{
	const struct rt_spec *s = c->l->spec;
	if (rt_mounts_setup(c->l, err) < 0 || rt_mounts_finish(s, err) < 0)
		return -1;
	const char *host = s->hostname ? s->hostname : c->l->id;
	/* a build's RUN keeps its own hostname on the host network too
	 * (BuildKit's); the UTS namespace is always the container's own */
	if ((s->network != RT_NET_HOST || s->build_sandbox) && sethostname(host, strlen(host)) < 0)
		return kiln_err_set(err, errno, "setting the hostname `%s`", host);
	const char *domain = s->domainname;
	if (domain && s->network != RT_NET_HOST && setdomainname(domain, strlen(domain)) < 0)
		return kiln_err_set(err, errno, "setting the domain name `%s`", domain);
	if (s->network != RT_NET_HOST && loopback_up(err) < 0)
		return -1;
	const char *cwd = s->cwd && *s->cwd ? s->cwd : "/";
	if (kiln_mkdir_p(cwd, 0755, NULL) < 0 || chdir(cwd) < 0)
		return kiln_err_set(err, errno, "chdir to cwd (\"%s\") set in config.json failed",
		                    cwd);
	return 0;
}

void rt_child_main(struct rt_child *c)
{
	struct kiln_err err = KILN_ERR_INIT;
	const struct rt_spec *s = c->l->spec;
	c->joining = false;
	/* the process that waits for it is its lifeline: a container whose
	 * monitor is gone (kill -9) dies too, and then reads exited */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	/* the rootfs is made while the parent places us in the cgroup (on
	 * cgroup v1 an attach waits for an RCU grace period, 10-15 ms); the
	 * cgroup namespace and everything after it wait for the go, and so
	 * does a failure (the parent is writing to the sync pipe) */
	int r = setup_stdio(c, &err) < 0 || setup_fs(c, &err) < 0 || setup_tty(c, &err) < 0;
	char go;
	if (read(c->sync_fd, &go, 1) != 1)
		_exit(1); /* the parent gave up */
	close(c->sync_fd);
	if (r == 0 && unshare(CLONE_NEWCGROUP) < 0 && errno != EINVAL)
		r = kiln_err_set(&err, errno, "entering a cgroup namespace");
	if (r == 0)
		rt_cgroup_mounts_apply(s->privileged);
	if (r != 0 || apply_rlimits(s, &err) < 0)
		child_fail(c, &err);
	rt_child_exec(c);
}

void rt_child_exec(struct rt_child *c)
{
	struct kiln_err err = KILN_ERR_INIT;
	const struct rt_spec *s = c->l->spec;
	if (c->joining) { /* exec: in the namespaces already, mounts as they are */
		const char *cwd = s->cwd && *s->cwd ? s->cwd : "/";
		if (c->tty_slave > 0 ? rt_pty_make_stdio(c->tty_slave, &err) < 0
		                     : setup_stdio(c, &err) < 0)
			child_fail(c, &err);
		if (chdir(cwd) < 0) {
			kiln_err_set(&err, errno, "chdir to cwd (\"%s\") set in config.json failed",
			             cwd);
			child_fail(c, &err);
		}
	}
	struct rt_identity id;
	char *home = NULL;
	if (resolve_user(s, &id, &home, &err) < 0)
		child_fail(c, &err);
	char **env = final_env(s, home);
	if (s->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		kiln_err_set(&err, errno, "setting no_new_privs");
		child_fail(c, &err);
	}
	if (c->l->sc && !s->no_new_privs && rt_seccomp_load(c->l->sc, &err) < 0)
		child_fail(c, &err);
	if (rt_identity_apply(&id, c->caps, &err) < 0)
		child_fail(c, &err);
	if (s->init)
		run_init(c, env);
	exec_command(c, env);
}
