/* The default network: a private network namespace connected to the
 * host's through slirp4netns (a user-mode TCP/IP stack from Debian), so the
 * container reaches what the host reaches without kiln touching the host's
 * firewall or routes. pasta can take its place (net_pasta.c,
 * rt_net_helper_pick). slirp4netns configures eth0 (10.0.2.100/24, gateway
 * 10.0.2.2, DNS 10.0.2.3) in the init's namespace before the init runs,
 * says so on a ready pipe, and exits when the process that launched the
 * container closes (or loses, by dying) the other end of its exit pipe. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "net-internal.h"

#define SLIRP "slirp4netns"

__attribute__((noreturn)) static void exec_slirp(const char *bin, const struct rt_launch *l,
                                                 int ready, int exitfd)
{
	/* dies with the launcher even before it reads the exit pipe */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	/* fds 3 and 4 only; output to a log next to the container's files */
	if (dup2(ready, 3) < 0 || dup2(exitfd, 4) < 0)
		_exit(127);
	syscall(SYS_close_range, 5, ~0U, 0);
	char log[4096];
	snprintf(log, sizeof(log), "%s/slirp4netns.log", l->files_dir);
	int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null >= 0)
		dup2(null, 0);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	char pid[32];
	snprintf(pid, sizeof(pid), "%d", (int)l->pid);
	/* the API socket (for -p) by a relative name: sun_path is short */
	bool api = l->spec->n_ports > 0 && chdir(l->files_dir) == 0;
	/* SLIRP COMMON... [--api-socket=slirp.sock] PID eth0 */
	char *argv[] = {(char *)SLIRP, RT_SLIRP_COMMON_ARGS, NULL, NULL, NULL, NULL};
	size_t n = KILN_ARRAY_SIZE(argv) - 4;
	if (api)
		argv[n++] = "--api-socket=slirp.sock";
	argv[n++] = pid;
	argv[n] = "eth0";
	execv(bin, argv);
	_exit(127);
}

static char *slirp_log_tail(const struct rt_launch *l)
{
	_cleanup_free_ char *p = xasprintf("%s/slirp4netns.log", l->files_dir);
	char *data = NULL;
	size_t len = 0;
	if (kiln_read_file(p, 1u << 16, &data, &len, NULL) < 0 || !len) {
		free(data);
		return xstrdup("no output");
	}
	while (len && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		data[--len] = 0;
	char *last = strrchr(data, '\n');
	char *out = xstrdup(last ? last + 1 : data);
	free(data);
	return out;
}

/* One request to slirp4netns's API socket (files_dir/slirp.sock, reached
 * through an O_PATH fd of the dir: the full path may not fit sun_path). */
static int slirp_api(const struct rt_launch *l, const char *req, struct kiln_buf *reply,
                     struct kiln_err *err)
{
	_cleanup_close_ int dir = open(l->files_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	_cleanup_close_ int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (dir < 0 || s < 0)
		return kiln_err_set(err, errno, "connecting to %s", SLIRP);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof(a.sun_path), "/proc/self/fd/%d/slirp.sock", dir);
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0)
		return kiln_err_set(err, errno, "connecting to %s's API socket", SLIRP);
	if (kiln_write_all(s, req, strlen(req), err) < 0)
		return -1;
	shutdown(s, SHUT_WR);
	char buf[1024];
	ssize_t n;
	while ((n = read(s, buf, sizeof(buf))) > 0)
		kiln_buf_add(reply, buf, (size_t)n, NULL);
	return 0;
}

static int publish_ports(const struct rt_launch *l, struct kiln_err *err)
{
	const struct rt_spec *s = l->spec;
	for (size_t i = 0; i < s->n_ports; i++) {
		const struct rt_port *p = &s->ports[i];
		_cleanup_free_ char *req =
		    xasprintf("{\"execute\": \"add_hostfwd\", \"arguments\": {\"proto\": \"%s\", "
		              "\"host_addr\": \"%s\", \"host_port\": %d, \"guest_port\": %d}}",
		              p->udp ? "udp" : "tcp", p->host_ip, p->host_port, p->ctr_port);
		struct kiln_buf reply;
		kiln_buf_init(&reply, 1u << 16, "slirp4netns reply");
		int r = slirp_api(l, req, &reply, err);
		bool ok = r == 0 && strstr(kiln_buf_str(&reply), "\"return\"");
		_cleanup_free_ char *why = kiln_buf_detach(&reply, NULL);
		if (r < 0)
			return -1;
		if (!ok && rt_port_busy(p))
			return rt_port_taken_err(err, l->id, p);
		if (!ok)
			return kiln_err_set(err, 0, "publishing %s:%d: %s: %s", p->host_ip,
			                    p->host_port, SLIRP, why);
	}
	return 0;
}

int rt_net_start(struct rt_launch *l, struct kiln_err *err)
{
	l->net_pid = 0;
	l->net_exit_fd = -1;
	l->net_ready_fd = -1;
	if (l->spec->network != RT_NET_DEFAULT || l->spec->netns)
		return 0; /* none, host, or a prepared one (net_prep.c) */
	rt_net_reap_recorded(l->files_dir);
	_cleanup_free_ char *bin = NULL;
	enum rt_net_helper helper = rt_net_helper_pick(&bin);
	if (helper == RT_NET_HELPER_NONE)
		return kiln_err_set(err, KILN_E_UNSUPPORTED,
		                    "the default network needs `%s` or `pasta` (apt-get install "
		                    "slirp4netns or passt); use --network none or --network host",
		                    SLIRP);
	if (helper == RT_NET_HELPER_PASTA) {
		if (rt_net_pasta_start(l, bin, err) < 0)
			return -1;
		rt_net_pid_write(l);
		return 0;
	}
	int ready[2], ex[2];
	if (pipe2(ready, O_CLOEXEC) < 0)
		return kiln_err_set(err, errno, "pipe");
	if (pipe2(ex, O_CLOEXEC) < 0) {
		close(ready[0]), close(ready[1]);
		return kiln_err_set(err, errno, "pipe");
	}
	pid_t pid = fork();
	if (pid == 0)
		exec_slirp(bin, l, ready[1], ex[0]);
	close(ready[1]);
	close(ex[0]);
	if (pid < 0) {
		close(ready[0]), close(ex[1]);
		return kiln_err_set(err, errno, "starting %s", SLIRP);
	}
	l->net_pid = pid;
	l->net_exit_fd = ex[1];
	l->net_ready_fd = ready[0];
	return 0;
}

bool rt_net_await_ready(int *ready_fd)
{
	struct pollfd p = {.fd = *ready_fd, .events = POLLIN};
	char c = 0;
	int n;
	while ((n = poll(&p, 1, 20000)) < 0 && errno == EINTR)
		;
	bool ok = n == 1 && read(*ready_fd, &c, 1) == 1;
	close(*ready_fd);
	*ready_fd = -1;
	return ok;
}

int rt_net_ready(struct rt_launch *l, struct kiln_err *err)
{
	if (l->spec->network == RT_NET_DEFAULT && l->spec->netns)
		return rt_netns_ready(l->spec->netns, err);
	if (l->net_ready_fd < 0) /* none, host, pasta (ready when started) */
		return 0;
	if (!rt_net_await_ready(&l->net_ready_fd)) {
		close(l->net_exit_fd);
		l->net_exit_fd = -1;
		kill(l->net_pid, SIGKILL);
		waitpid(l->net_pid, NULL, 0);
		l->net_pid = 0;
		_cleanup_free_ char *why = slirp_log_tail(l);
		return kiln_err_set(err, 0, "setting up the default network: %s: %s", SLIRP, why);
	}
	rt_net_pid_write(l);
	if (publish_ports(l, err) < 0) {
		rt_net_release(l);
		return -1;
	}
	return 0;
}

int rt_net_setup(struct rt_launch *l, struct kiln_err *err)
{
	return rt_net_start(l, err) < 0 ? -1 : rt_net_ready(l, err);
}

void rt_net_release(struct rt_launch *l)
{
	if (l->net_ready_fd >= 0) { /* started, never awaited */
		close(l->net_ready_fd);
		l->net_ready_fd = -1;
	}
	if (l->spec && l->spec->n_ports && l->files_dir) {
		_cleanup_free_ char *sock = kiln_path_join(l->files_dir, "slirp.sock");
		unlink(sock);
	}
	bool piped = l->net_exit_fd >= 0;
	if (piped) {
		close(l->net_exit_fd); /* slirp4netns exits on it */
		l->net_exit_fd = -1;
	}
	if (l->net_pid > 0) {
		rt_net_wait_exit(l->net_pid, !piped); /* pasta: no exit pipe */
		l->net_pid = 0;
		rt_net_pid_remove(l->files_dir);
	}
}

void rt_net_wait_exit(pid_t pid, bool kill_first)
{
	if (kill_first)
		kill(pid, SIGKILL);
	/* up to 2 s; slirp4netns takes 1-20 ms to exit once its exit pipe
	 * closes (removing its tap device): told by a pidfd at once, naps
	 * without one (a nap overshot the exit by up to 16 ms) */
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd >= 0) {
		struct pollfd p = {.fd = pidfd, .events = POLLIN};
		while (poll(&p, 1, 2000) < 0 && errno == EINTR)
			;
		close(pidfd);
	}
	int i = 0;
	long nap = 250 * 1000;
	while (waitpid(pid, NULL, WNOHANG) == 0 && i++ < 210) {
		nanosleep(&(struct timespec){0, nap}, NULL);
		nap = nap < 10 * 1000 * 1000 ? nap * 2 : nap;
	}
	if (i > 210) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
}
