/* The default network through pasta (Debian's passt package), the
 * alternative to slirp4netns (rt_net_helper_pick says which runs and why):
 * a user-mode TCP/IP stack that forwards the
 * container's traffic through ordinary sockets of this (the host's) network
 * namespace, so nothing of the host's firewall or routes changes.
 *
 * pasta runs in the foreground as a child of the launcher (monitor or
 * attached kiln) with PR_SET_PDEATHSIG, so it cannot outlive it: pasta
 * keeps the namespace it serves open and does not quit when the
 * namespace's processes are gone. It joins the namespace through an fd the
 * child opened (/proc/self/fd/3): pasta drops its capabilities before it
 * opens the namespace and could not open /proc/PID/ns/net itself. It says
 * it is ready (interface configured, ports bound) by writing its pid file,
 * here a FIFO the launcher reads. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net-internal.h"

#define READY_TIMEOUT_MS 20000

const char *rt_net_helper_name(enum rt_net_helper h)
{
	return h == RT_NET_HELPER_PASTA         ? "pasta"
	       : h == RT_NET_HELPER_SLIRP4NETNS ? "slirp4netns"
	                                        : "none";
}

static char *find_bin(const char *name)
{
	const char *path = getenv("PATH");
	_cleanup_free_ char *copy = xstrdup(path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
	char *save = NULL;
	for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		char *p = xasprintf("%s/%s", d, name);
		if (access(p, X_OK) == 0)
			return p;
		free(p);
	}
	return NULL;
}

enum rt_net_helper rt_net_helper_pick(char **path)
{
	const char *want = getenv("KILN_NET_HELPER");
	*path = NULL;
	if (want && *want) {
		bool pasta = !strcmp(want, "pasta");
		if (!pasta && strcmp(want, "slirp4netns"))
			return RT_NET_HELPER_NONE;
		*path = find_bin(want);
		return !*path  ? RT_NET_HELPER_NONE
		       : pasta ? RT_NET_HELPER_PASTA
		               : RT_NET_HELPER_SLIRP4NETNS;
	}
	/* slirp4netns first: Debian 12's pasta (passt 2023-03-09) never passes
	 * on the far side's FIN once the container has half-closed a TCP
	 * connection (`printf 'GET ...' | nc HOST 80` hangs after the reply) */
	if ((*path = find_bin("slirp4netns")))
		return RT_NET_HELPER_SLIRP4NETNS;
	if ((*path = find_bin("pasta")))
		return RT_NET_HELPER_PASTA;
	return RT_NET_HELPER_NONE;
}

/* "-t 127.0.0.1/8080:80" (pasta's syntax); all addresses: no prefix. */
static void port_args(const struct rt_spec *s, bool udp, struct kiln_strv *argv)
{
	bool any = false;
	for (size_t i = 0; i < s->n_ports; i++) {
		const struct rt_port *p = &s->ports[i];
		if (p->udp != udp)
			continue;
		bool all = !strcmp(p->host_ip, "0.0.0.0") || !strcmp(p->host_ip, "::");
		kiln_strv_push(argv, udp ? "-u" : "-t");
		kiln_strv_pushf(argv, "%s%s%d:%d", all ? "" : p->host_ip, all ? "" : "/",
		                p->host_port, p->ctr_port);
		any = true;
	}
	if (!any) {
		kiln_strv_push(argv, udp ? "-u" : "-t");
		kiln_strv_push(argv, "none");
	}
}

static void build_argv(const struct rt_launch *l, const char *fifo, struct kiln_strv *argv)
{
	static const char *const fixed[] = {
	    "pasta", "--foreground", "--quiet", "--config-net", "--runas", "0", "--ipv4-only",
	    "--ns-ifname", "eth0", "--address", "10.0.2.100", "--netmask", "24", "--gateway",
	    "10.0.2.2", "--dns-forward", "10.0.2.3", "--no-map-gw",
	    /* the namespace reaches no port of the host's loopback */
	    "-T", "none", "-U", "none", "--no-netns-quit", "--netns", "/proc/self/fd/3"};
	for (size_t i = 0; i < KILN_ARRAY_SIZE(fixed); i++)
		kiln_strv_push(argv, fixed[i]);
	kiln_strv_push(argv, "--pid");
	kiln_strv_push(argv, fifo);
	port_args(l->spec, false, argv);
	port_args(l->spec, true, argv);
}

__attribute__((noreturn)) static void exec_pasta(const char *bin, const struct rt_launch *l,
                                                 char **argv, const char *log, pid_t parent)
{
	/* pasta fails to start with a signal ignored (the monitor ignores
	 * SIGPIPE, SIGHUP, SIGINT): give it the default dispositions */
	sigset_t all;
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (getppid() != parent)
		_exit(1); /* the launcher died before the line above */
	char ns[64];
	snprintf(ns, sizeof(ns), "/proc/%d/ns/net", (int)l->pid);
	int nsfd = open(ns, O_RDONLY | O_CLOEXEC);
	int logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (nsfd < 0 || dup2(nsfd, 3) < 0)
		_exit(126);
	if (null >= 0)
		dup2(null, 0);
	if (logfd >= 0)
		dup2(logfd, 1), dup2(logfd, 2);
	syscall(SYS_close_range, 4, ~0U, 0);
	execv(bin, argv);
	_exit(127);
}

/* Waits for pasta's pid on the FIFO: 0 ready, -1 it exited (pidfd
 * readable, or EOF) or hung. */
static int wait_ready(int fd, pid_t pid)
{
	_cleanup_close_ int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	char buf[32];
	size_t got = 0;
	for (;;) {
		struct pollfd p[2] = {{.fd = fd, .events = POLLIN},
		                      {.fd = pidfd, .events = POLLIN}};
		int n = poll(p, pidfd >= 0 ? 2 : 1, READY_TIMEOUT_MS);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		if (!(p[0].revents & (POLLIN | POLLHUP)))
			return -1; /* it exited without opening the FIFO */
		ssize_t r = read(fd, buf + got, sizeof(buf) - 1 - got);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r <= 0)
			return got ? 0 : -1; /* EOF: pasta closed it (after writing, or dying) */
		got += (size_t)r;
		if (memchr(buf, '\n', got) || got == sizeof(buf) - 1)
			return 0;
	}
}

/* Why pasta failed: a published port that cannot be bound (docker's
 * message), else the last line of its log. */
static int pasta_failed(const struct rt_launch *l, struct kiln_err *err)
{
	const struct rt_spec *s = l->spec;
	for (size_t i = 0; i < s->n_ports; i++)
		if (rt_port_busy(&s->ports[i]))
			return rt_port_taken_err(err, l->id, &s->ports[i]);
	_cleanup_free_ char *log = xasprintf("%s/pasta.log", l->files_dir);
	char *data = NULL;
	size_t len = 0;
	if (kiln_read_file(log, 1u << 16, &data, &len, NULL) < 0 || !len) {
		free(data);
		return kiln_err_set(err, 0, "setting up the default network: pasta: no output");
	}
	while (len && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		data[--len] = 0;
	char *last = strrchr(data, '\n');
	kiln_err_set(err, 0, "setting up the default network: pasta: %s", last ? last + 1 : data);
	free(data);
	return -1;
}

int rt_net_pasta_start(struct rt_launch *l, const char *bin, struct kiln_err *err)
{
	_cleanup_free_ char *fifo = xasprintf("%s/pasta.ready", l->files_dir);
	unlink(fifo);
	if (mkfifo(fifo, 0600) < 0)
		return kiln_err_set(err, errno, "creating `%s`", fifo);
	int rfd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (rfd < 0) {
		unlink(fifo);
		return kiln_err_set(err, errno, "opening `%s`", fifo);
	}
	_cleanup_free_ char *log = xasprintf("%s/pasta.log", l->files_dir);
	struct kiln_strv argv = KILN_STRV_INIT;
	build_argv(l, fifo, &argv);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0)
		exec_pasta(bin, l, argv.v, log, parent);
	kiln_strv_release(&argv);
	int r = pid < 0 ? kiln_err_set(err, errno, "starting pasta") : 0;
	if (r == 0 && wait_ready(rfd, pid) < 0) {
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		r = pasta_failed(l, err);
	}
	close(rfd);
	unlink(fifo);
	if (r == 0)
		l->net_pid = pid;
	return r;
}

/* --- the helper's record ------------------------------------------------------ */
static char *pid_path(const char *files_dir)
{
	return xasprintf("%s/net.pid", files_dir);
}

void rt_net_pid_write(const struct rt_launch *l)
{
	_cleanup_free_ char *p = pid_path(l->files_dir);
	_cleanup_free_ char *data = xasprintf("%d %llu\n", (int)l->net_pid,
	                                      (unsigned long long)rt_pid_start_time(l->net_pid));
	struct kiln_err e = KILN_ERR_INIT;
	if (rt_write_file_replace(p, data, strlen(data), 0600, &e) < 0)
		kiln_err_release(&e); /* the helper dies with its launcher anyway */
}

void rt_net_pid_remove(const char *files_dir)
{
	_cleanup_free_ char *p = pid_path(files_dir);
	unlink(p);
}

void rt_net_reap_recorded(const char *files_dir)
{
	_cleanup_free_ char *p = pid_path(files_dir);
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	if (kiln_read_file(p, 256, &data, &len, NULL) < 0)
		return;
	int pid = 0;
	unsigned long long start = 0;
	if (sscanf(data, "%d %llu", &pid, &start) == 2 && pid > 0 && start &&
	    rt_pid_start_time(pid) == start)
		kill(pid, SIGKILL);
	unlink(p);
}
