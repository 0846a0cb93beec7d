/* A default network made ahead of a one-shot run (rt_netns_prepare in
 * runtime.h). The builder knows early that a RUN step will need one, so
 * the network namespace is made and slirp4netns started and configured
 * while the steps before it work: the run's init then joins that
 * namespace (setns in the clone intermediate, launch.c) instead of making
 * one, and does not wait for the helper's start-up (10-40 ms here). When
 * the run is over the helper is told to go (its exit pipe closed) and not
 * waited for: taking down its tap device costs 1-20 ms that the build's
 * next steps overlap; rt_netns_reap waits for those exits at the end of
 * the build. The namespace is made by the helper's own child before it
 * execs slirp4netns (unshare, then back to the host's) and handed over a
 * socket, so preparing costs the caller one fork and no wait. What the
 * container sees is the same as with a helper started
 * per run (net.c): eth0 10.0.2.100/24, gateway 10.0.2.2, DNS 10.0.2.3, a
 * namespace of its own that no other run shares. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net-internal.h"

struct rt_netns {
	int ns_fd;    /* the network namespace (nsfs), joined by the init */
	int sock;     /* the helper's child sends ns_fd on it */
	pid_t pid;    /* slirp4netns */
	int ready_fd; /* it writes a byte once eth0 is configured; -1 once read */
	int exit_fd;  /* closing it ends slirp4netns */
	int log_fd;   /* a memfd with its output, for the error */
};

/* Helpers stopped without waiting, reaped by rt_netns_reap. */
static pthread_mutex_t stopped_mu = PTHREAD_MUTEX_INITIALIZER;
static pid_t *stopped;
static size_t n_stopped, cap_stopped;

/* In the helper's child, before its exec: a new network namespace, sent
 * to kiln over sock and returned (for slirp4netns), while the process
 * itself goes back to the host's. */
static int new_netns(int sock, int log)
{
	int host = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	int ns = -1;
	if (host >= 0 && unshare(CLONE_NEWNET) == 0)
		ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	struct kiln_err e = KILN_ERR_INIT;
	if (ns < 0 || setns(host, CLONE_NEWNET) < 0 || rt_fd_send(sock, ns, &e) < 0) {
		dprintf(log, "making a network namespace: %s\n", strerror(e.code ? e.code : errno));
		_exit(127);
	}
	close(host);
	return ns;
}

__attribute__((noreturn)) static void exec_helper(const char *bin, int ready, int exitfd, int sock,
                                                  int log)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0); /* dies with the thread that prepared it */
	int ns = new_netns(sock, log);
	/* out of the way of 0-5 first, so no dup2 below clobbers a source */
	int from[] = {open("/dev/null", O_RDONLY | O_CLOEXEC), log, log, ready, exitfd, ns};
	for (size_t i = 0; i < KILN_ARRAY_SIZE(from); i++)
		if (from[i] < 0 || (from[i] = fcntl(from[i], F_DUPFD_CLOEXEC, 16)) < 0)
			_exit(127);
	for (int i = 0; i < (int)KILN_ARRAY_SIZE(from); i++)
		if (dup2(from[i], i) < 0)
			_exit(127);
	syscall(SYS_close_range, 6, ~0U, 0);
	char *argv[] = {
	    "slirp4netns", RT_SLIRP_COMMON_ARGS, "--netns-type=path", "/proc/self/fd/5", "eth0",
	    NULL};
	execv(bin, argv);
	_exit(127);
}

/* Reaps the stopped helpers that are gone already (wait: all of them). */
static void reap(bool wait)
{
	pthread_mutex_lock(&stopped_mu);
	size_t keep = 0;
	for (size_t i = 0; i < n_stopped; i++) {
		if (wait)
			rt_net_wait_exit(stopped[i], false);
		else if (waitpid(stopped[i], NULL, WNOHANG) == 0)
			stopped[keep++] = stopped[i];
	}
	n_stopped = keep;
	if (!keep) {
		free(stopped);
		stopped = NULL;
		cap_stopped = 0;
	}
	pthread_mutex_unlock(&stopped_mu);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

struct rt_netns *rt_netns_prepare(void)
{
	_cleanup_free_ char *bin = NULL;
	if (rt_net_helper_pick(&bin) != RT_NET_HELPER_SLIRP4NETNS)
		return NULL; /* pasta, or none: the run starts its own (or says why not) */
	reap(false);
	struct rt_netns *n = xcalloc(1, sizeof(*n));
	n->ns_fd = n->sock = n->ready_fd = n->exit_fd = -1;
	n->log_fd = (int)syscall(SYS_memfd_create, "slirp4netns.log", MFD_CLOEXEC);
	int ready[2] = {-1, -1}, ex[2] = {-1, -1}, sv[2] = {-1, -1};
	if (n->log_fd < 0 || pipe2(ready, O_CLOEXEC) < 0 || pipe2(ex, O_CLOEXEC) < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		for (int i = 0; i < 2; i++) {
			close_fd(&ready[i]);
			close_fd(&ex[i]);
			close_fd(&sv[i]);
		}
		rt_netns_free(n);
		return NULL;
	}
	n->pid = fork();
	if (n->pid == 0)
		exec_helper(bin, ready[1], ex[0], sv[1], n->log_fd);
	close(ready[1]);
	close(ex[0]);
	close(sv[1]);
	n->ready_fd = ready[0];
	n->exit_fd = ex[1];
	n->sock = sv[0];
	if (n->pid < 0) {
		n->pid = 0;
		rt_netns_free(n);
		return NULL;
	}
	return n;
}

int rt_netns_fd(const struct rt_netns *n)
{
	return n->ns_fd; /* once rt_netns_ready said so */
}

/* The last line slirp4netns wrote. */
static char *log_tail(const struct rt_netns *n)
{
	char buf[4096];
	ssize_t len = pread(n->log_fd, buf, sizeof(buf) - 1, 0);
	if (len <= 0)
		return xstrdup("no output");
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	buf[len] = 0;
	char *last = strrchr(buf, '\n');
	return xstrdup(last ? last + 1 : buf);
}

int rt_netns_ready(struct rt_netns *n, struct kiln_err *err)
{
	if (n->ns_fd >= 0)
		return 0;
	/* the namespace was sent before the exec, so it is there once the
	 * helper says eth0 is configured */
	struct kiln_err e = KILN_ERR_INIT;
	if (n->ready_fd >= 0 && rt_net_await_ready(&n->ready_fd) &&
	    rt_fd_recv(n->sock, &n->ns_fd, &e) == 0)
		return 0;
	kiln_err_release(&e);
	n->ns_fd = -1;
	close_fd(&n->ready_fd);
	close_fd(&n->exit_fd);
	rt_net_wait_exit(n->pid, true);
	n->pid = 0;
	_cleanup_free_ char *why = log_tail(n);
	return kiln_err_set(err, 0, "setting up the default network: slirp4netns: %s", why);
}

void rt_netns_free(struct rt_netns *n)
{
	if (!n)
		return;
	close_fd(&n->exit_fd); /* slirp4netns exits on it */
	close_fd(&n->ready_fd);
	close_fd(&n->ns_fd);
	close_fd(&n->sock);
	close_fd(&n->log_fd);
	if (n->pid > 0) {
		pthread_mutex_lock(&stopped_mu);
		if (n_stopped == cap_stopped) {
			cap_stopped = cap_stopped ? 2 * cap_stopped : 8;
			stopped = xreallocarray(stopped, cap_stopped, sizeof(*stopped));
		}
		stopped[n_stopped++] = n->pid;
		pthread_mutex_unlock(&stopped_mu);
	}
	free(n);
}

void rt_netns_reap(void)
{
	reap(true);
}
