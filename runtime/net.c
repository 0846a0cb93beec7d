/* The default network: a private network namespace connected to the
 * host's through slirp4netns (a user-mode TCP/IP stack from Debian), so the
 * container reaches what the host reaches without kiln touching the host's
 * firewall or routes. slirp4netns configures tap0 (10.0.2.100/24, gateway
 * 10.0.2.2, DNS 10.0.2.3) in the init's namespace before the init runs,
 * says so on a ready pipe, and exits when the process that launched the
 * container closes (or loses, by dying) the other end of its exit pipe. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime-internal.h"

#define SLIRP "slirp4netns"

static char *find_in_path(const char *name)
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

__attribute__((noreturn)) static void exec_slirp(const char *bin, const struct rt_launch *l,
                                                 int ready, int exitfd)
{
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
	char *argv[] = {(char *)SLIRP,
	                "--configure",
	                "--mtu=65520",
	                "--disable-host-loopback",
	                "--ready-fd=3",
	                "--exit-fd=4",
	                pid,
	                "tap0",
	                NULL};
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

int rt_net_setup(struct rt_launch *l, struct kiln_err *err)
{
	l->net_pid = 0;
	l->net_exit_fd = -1;
	if (l->spec->network != RT_NET_DEFAULT)
		return 0;
	_cleanup_free_ char *bin = find_in_path(SLIRP);
	if (!bin)
		return kiln_err_set(err, KILN_E_UNSUPPORTED,
		                    "the default network needs `%s` (apt-get install slirp4netns); "
		                    "use --network none or --network host",
		                    SLIRP);
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
	struct pollfd p = {.fd = ready[0], .events = POLLIN};
	char c = 0;
	int n;
	while ((n = poll(&p, 1, 20000)) < 0 && errno == EINTR)
		;
	bool ok = n == 1 && read(ready[0], &c, 1) == 1;
	close(ready[0]);
	if (!ok) {
		close(ex[1]);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		_cleanup_free_ char *why = slirp_log_tail(l);
		return kiln_err_set(err, 0, "setting up the default network: %s: %s", SLIRP, why);
	}
	l->net_pid = pid;
	l->net_exit_fd = ex[1];
	return 0;
}

void rt_net_release(struct rt_launch *l)
{
	if (l->net_exit_fd >= 0) {
		close(l->net_exit_fd); /* slirp4netns exits on it */
		l->net_exit_fd = -1;
	}
	if (l->net_pid > 0) {
		int i = 0;
		while (waitpid(l->net_pid, NULL, WNOHANG) == 0 && i++ < 200)
			nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
		if (i > 200) {
			kill(l->net_pid, SIGKILL);
			waitpid(l->net_pid, NULL, 0);
		}
		l->net_pid = 0;
	}
}
