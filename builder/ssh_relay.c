/* RUN --mount=type=ssh with mode, uid or gid: BuildKit serves the agent on
 * a socket of its own made with those; binding the client's agent socket
 * would need chmod/chown of the client's own file. kiln relays instead: a
 * process forked for the step listens on DIR/ssh-N.sock (made with the
 * mode and owner asked for, bound at the mount's target) and joins each
 * connection to the agent's socket, byte for byte, both ways. It is killed
 * and reaped when the step's mounts are released (and dies with kiln:
 * PR_SET_PDEATHSIG). After fork it makes system calls only: every path and
 * address is prepared before. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "run-internal.h"

#define RELAY_MAX_CONNS 32

struct relay {
	struct sockaddr_un listen_at; /* relative to dir */
	struct sockaddr_un agent;     /* relative to agent_dir */
	char dir[PATH_MAX], agent_dir[PATH_MAX];
	mode_t mode;
	uid_t uid;
	gid_t gid;
};

static void write_all_raw(int fd, const char *p, ssize_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, (size_t)n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= w;
	}
}

/* Copies what fd has to its peer; false at its end or an error. */
static bool pass(int from, int to)
{
	char buf[16384];
	ssize_t n = read(from, buf, sizeof(buf));
	if (n < 0 && errno == EINTR)
		return true;
	if (n <= 0)
		return false;
	write_all_raw(to, buf, n);
	return true;
}

static void accept_one(int lfd, struct pollfd *p, size_t *n, const struct relay *r)
{
	int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return;
	int a = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*n + 2 > 1 + 2 * RELAY_MAX_CONNS || a < 0 ||
	    connect(a, (const struct sockaddr *)&r->agent, sizeof(r->agent)) < 0) {
		close(c);
		if (a >= 0)
			close(a);
		return;
	}
	p[(*n)++] = (struct pollfd){.fd = c, .events = POLLIN};
	p[(*n)++] = (struct pollfd){.fd = a, .events = POLLIN};
}

static _Noreturn void relay_main(const struct relay *r, int ready)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (dup2(ready, 3) < 0)
		_exit(1);
	close_range(4, ~0U, 0); /* nothing of kiln's stays open here */
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || chdir(r->dir) < 0 ||
	    bind(lfd, (const struct sockaddr *)&r->listen_at, sizeof(r->listen_at)) < 0 ||
	    listen(lfd, 16) < 0 || chmod(r->listen_at.sun_path, r->mode) < 0 ||
	    chown(r->listen_at.sun_path, r->uid, r->gid) < 0 || chdir(r->agent_dir) < 0)
		_exit(1);
	write_all_raw(3, "1", 1);
	close(3);
	struct pollfd p[1 + 2 * RELAY_MAX_CONNS];
	size_t n = 0;
	p[n++] = (struct pollfd){.fd = lfd, .events = POLLIN};
	for (;;) {
		if (poll(p, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		if (p[0].revents)
			accept_one(lfd, p, &n, r);
		for (size_t i = 1; i + 1 < n;) { /* pairs: client, agent */
			bool open = true;
			if (p[i].revents)
				open = pass(p[i].fd, p[i + 1].fd);
			if (open && p[i + 1].revents)
				open = pass(p[i + 1].fd, p[i].fd);
			if (open) {
				i += 2;
				continue;
			}
			close(p[i].fd); /* the last pair takes its place */
			close(p[i + 1].fd);
			p[i] = p[n - 2];
			p[i + 1] = p[n - 1];
			n -= 2;
		}
	}
}

static int relay_setup(struct relay *r, const char *dir, const char *name, const char *agent,
                       struct kiln_err *err)
{
	_cleanup_free_ char *real = realpath(agent, NULL);
	if (!real)
		return kiln_err_set(err, errno, "ssh agent socket `%s`", agent);
	const char *base = strrchr(real, '/') + 1;
	r->listen_at.sun_family = r->agent.sun_family = AF_UNIX;
	if (strlen(base) >= sizeof(r->agent.sun_path) ||
	    strlen(name) >= sizeof(r->listen_at.sun_path) || strlen(dir) >= sizeof(r->dir) ||
	    strlen(real) >= sizeof(r->agent_dir))
		return kiln_err_set(err, ENAMETOOLONG, "ssh agent socket `%s`", agent);
	memcpy(r->agent.sun_path, base, strlen(base) + 1);
	memcpy(r->listen_at.sun_path, name, strlen(name) + 1);
	memcpy(r->dir, dir, strlen(dir) + 1);
	memcpy(r->agent_dir, real, (size_t)(base - real));
	r->agent_dir[base - real] = '\0';
	return 0;
}

int bld_ssh_relay_start(struct bld_stage *st, const char *dir, size_t idx, const char *agent,
                        mode_t mode, uid_t uid, gid_t gid, pid_t *pid_out, char **path_out,
                        struct kiln_err *err)
{
	struct relay r = {.mode = mode, .uid = uid, .gid = gid};
	_cleanup_free_ char *name = xasprintf("ssh-%zu.sock", idx);
	if (relay_setup(&r, dir, name, agent, err) < 0)
		return -1;
	int ready[2];
	if (pipe2(ready, O_CLOEXEC) < 0)
		return kiln_err_set(err, errno, "pipe");
	pthread_mutex_lock(&st->b->mu); /* as the output reader: no printer mid-line */
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		close(ready[0]);
		relay_main(&r, ready[1]);
	}
	pthread_mutex_unlock(&st->b->mu);
	int saved = errno;
	close(ready[1]);
	char c = 0;
	ssize_t got = pid < 0 ? -1 : read(ready[0], &c, 1);
	while (got < 0 && errno == EINTR && pid > 0)
		got = read(ready[0], &c, 1);
	close(ready[0]);
	if (pid < 0)
		return kiln_err_set(err, saved, "starting the ssh relay");
	if (got != 1) { /* it could not listen: reaped here */
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		return kiln_err_set(err, KILN_E_INVALID, "ssh relay for `%s` did not start", agent);
	}
	*pid_out = pid;
	*path_out = kiln_path_join(dir, name);
	return 0;
}

void bld_ssh_relay_stop(pid_t pid)
{
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}
