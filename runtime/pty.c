/* Terminals for -t: a pty pair from the host's devpts (the container gets
 * the slave as stdio, controlling terminal and /dev/console), and the
 * foreground copy loop of an attached `run -t`: the caller's terminal in
 * raw mode, keys to the master, output to stdout, window size kept in step
 * (SIGWINCH). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "runtime-internal.h"

int rt_pty_open(int *master, int *slave, char **slave_path, struct kiln_err *err)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0)
		return kiln_err_set(err, errno, "opening a pseudo-terminal");
	char name[128];
	if (grantpt(m) < 0 || unlockpt(m) < 0 || ptsname_r(m, name, sizeof(name)) != 0) {
		int e = errno;
		close(m);
		return kiln_err_set(err, e, "setting up a pseudo-terminal");
	}
	int s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s < 0) {
		int e = errno;
		close(m);
		return kiln_err_set(err, e, "opening `%s`", name);
	}
	*master = m;
	*slave = s;
	*slave_path = xstrdup(name);
	return 0;
}

static volatile sig_atomic_t winch;
static void on_winch(int sig)
{
	(void)sig;
	winch = 1;
}

static void copy_winsize(int from, int to)
{
	struct winsize ws;
	if (ioctl(from, TIOCGWINSZ, &ws) == 0)
		ioctl(to, TIOCSWINSZ, &ws);
}

static bool write_full(int fd, const char *p, size_t n)
{
	return kiln_write_all(fd, p, n, NULL) == 0;
}

/* Copies until the init has exited and the master has nothing left. */
int rt_pty_pump(int master, int in_fd, int out_fd, pid_t pid, int *status, struct kiln_err *err)
{
	struct termios saved;
	bool raw = in_fd >= 0 && isatty(in_fd) && tcgetattr(in_fd, &saved) == 0;
	if (raw) {
		struct termios t = saved;
		cfmakeraw(&t);
		tcsetattr(in_fd, TCSANOW, &t);
	}
	int tty_src = in_fd >= 0 && isatty(in_fd) ? in_fd : isatty(out_fd) ? out_fd : -1;
	struct sigaction sa = {.sa_handler = on_winch}, old;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGWINCH, &sa, &old);
	if (tty_src >= 0)
		copy_winsize(tty_src, master);
	int st = 0;
	bool exited = false, in_open = in_fd >= 0;
	char buf[16384];
	for (;;) {
		if (winch) {
			winch = 0;
			if (tty_src >= 0)
				copy_winsize(tty_src, master);
		}
		if (!exited) {
			pid_t r = waitpid(pid, &st, WNOHANG);
			if (r == pid)
				exited = true;
		}
		struct pollfd p[2] = {{.fd = master, .events = POLLIN},
		                      {.fd = in_open ? in_fd : -1, .events = POLLIN}};
		int n = poll(p, 2, exited ? 0 : 100);
		if (n < 0 && errno != EINTR)
			break;
		if (n <= 0) {
			if (exited)
				break; /* nothing left to read */
			continue;
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t r = read(master, buf, sizeof(buf));
			if (r > 0)
				write_full(out_fd, buf, (size_t)r);
			else if (r < 0 && errno == EIO && exited)
				break; /* every slave closed */
			else if (r == 0)
				break;
		}
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t r = read(in_fd, buf, sizeof(buf));
			if (r > 0)
				write_full(master, buf, (size_t)r);
			else if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN))
				in_open = false;
		}
	}
	if (!exited)
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
	sigaction(SIGWINCH, &old, NULL);
	if (raw)
		tcsetattr(in_fd, TCSANOW, &saved);
	(void)err;
	*status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	return 0;
}
