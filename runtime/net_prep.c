/* A default network made ahead of a one-shot run (rt_netns_prepare in
 * runtime.h). The builder knows early that a RUN step will need one, so
 * the network namespace is made and slirp4netns started and configured
 * while the steps before it work: the run's init then joins that
 * namespace (setns in the clone intermediate, launch.c) instead of making
 * one, and does not wait for the helper's start-up (10-40 ms here). When
 * the run is over the helper is told to go (its exit pipe closed) and not
 * waited for: taking down its tap device costs 1-20 ms that the build's
 * next steps overlap; rt_netns_reap waits for those exits at the end of
 * the build. What the container sees is the same as with a helper started
 * per run (net.c): eth0 10.0.2.100/24, gateway 10.0.2.2, DNS 10.0.2.3, a
 * namespace of its own that no other run shares. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net-internal.h"

struct rt_netns {
	int ns_fd;    /* the network namespace (nsfs), joined by the init */
	pid_t pid;    /* slirp4netns */
	int ready_fd; /* it writes a byte once eth0 is configured; -1 once read */
	int exit_fd;  /* closing it ends slirp4netns */
	int log_fd;   /* a memfd with its output, for the error */
};

/* Helpers stopped without waiting, reaped by rt_netns_reap. */
static pthread_mutex_t stopped_mu = PTHREAD_MUTEX_INITIALIZER;
static pid_t *stopped;
static size_t n_stopped, cap_stopped;

/* A new network namespace, held by an fd: a forked child unshares it and
 * waits until the parent has opened it. */
static int new_netns(void)
{
	int up[2], down[2];
	if (pipe2(up, O_CLOEXEC) < 0)
		return -1;
	if (pipe2(down, O_CLOEXEC) < 0) {
		close(up[0]), close(up[1]);
		return -1;
	}
	pid_t pid = fork();
	if (pid == 0) {
		close(up[0]);
		close(down[1]); /* the parent's close ends the read below */
		char c = unshare(CLONE_NEWNET) == 0 ? 'y' : 'n';
		if (write(up[1], &c, 1) == 1)
			while (read(down[0], &c, 1) < 0 && errno == EINTR)
				;
		_exit(0);
	}
	close(up[1]);
	close(down[0]);
	int fd = -1;
	char c = 0;
	if (pid > 0 && read(up[0], &c, 1) == 1 && c == 'y') {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	close(up[0]);
	close(down[1]);
	if (pid > 0)
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	return fd;
}

__attribute__((noreturn)) static void exec_helper(const char *bin, int ready, int exitfd, int ns,
                                                  int log)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0); /* dies with the thread that prepared it */
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
	    "slirp4netns",  "--configure", "--mtu=65520",       "--disable-host-loopback",
	    "--ready-fd=3", "--exit-fd=4", "--netns-type=path", "/proc/self/fd/5",
	    "eth0",         NULL};
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
	n->ready_fd = n->exit_fd = -1;
	n->ns_fd = new_netns();
	n->log_fd = (int)syscall(SYS_memfd_create, "slirp4netns.log", MFD_CLOEXEC);
	int ready[2] = {-1, -1}, ex[2] = {-1, -1};
	if (n->ns_fd < 0 || n->log_fd < 0 || pipe2(ready, O_CLOEXEC) < 0 ||
	    pipe2(ex, O_CLOEXEC) < 0)
		goto fail;
	n->pid = fork();
	if (n->pid == 0)
		exec_helper(bin, ready[1], ex[0], n->ns_fd, n->log_fd);
	close(ready[1]);
	close(ex[0]);
	n->ready_fd = ready[0];
	n->exit_fd = ex[1];
	if (n->pid < 0) {
		n->pid = 0;
		rt_netns_free(n);
		return NULL;
	}
	return n;
fail:
	for (int i = 0; i < 2; i++) {
		close_fd(&ready[i]);
		close_fd(&ex[i]);
	}
	rt_netns_free(n);
	return NULL;
}

int rt_netns_fd(const struct rt_netns *n)
{
	return n->ns_fd;
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
	if (n->ready_fd < 0)
		return 0;
	if (rt_net_await_ready(&n->ready_fd))
		return 0;
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
