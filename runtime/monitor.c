/* The per-container monitor (conmon's job, daemonless kiln's "daemon" of
 * one container): a forked kiln process, session leader, re-parented away
 * from the CLI, holding no store fd. It launches the container with its
 * stdout and stderr on pipes, writes them to the json-file log, reports
 * the start to the CLI over a pipe, records the exit, applies the restart
 * policy while it lives and removes an --rm container at the end. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime-internal.h"

struct start_result {
	int ok;
	int code; /* kiln_err code when !ok */
	char msg[2048];
};

char *rt_container_log_path(const char *root, const char *id)
{
	return xasprintf("%s/%s/%s/%s-json.log", root, RT_CONTAINERS_DIR, id, id);
}

char *rt_stop_marker_path(const char *root, const char *id)
{
	return xasprintf("%s/%s/%s/stopped", root, RT_CONTAINERS_DIR, id);
}

/* --- json-file log ------------------------------------------------------------ */

static void json_escape(struct kiln_buf *b, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];
		switch (ch) {
		case '"': kiln_buf_addstr(b, "\\\"", NULL); break;
		case '\\': kiln_buf_addstr(b, "\\\\", NULL); break;
		case '\n': kiln_buf_addstr(b, "\\n", NULL); break;
		case '\r': kiln_buf_addstr(b, "\\r", NULL); break;
		case '\t': kiln_buf_addstr(b, "\\t", NULL); break;
		case '<':
		case '>':
		case '&': kiln_buf_addf(b, NULL, "\\u%04x", ch); break; /* as Go's encoder */
		default:
			if (ch < 0x20)
				kiln_buf_addf(b, NULL, "\\u%04x", ch);
			else
				kiln_buf_addch(b, (char)ch, NULL);
		}
	}
}

static void log_write(int log_fd, const char *stream, const char *p, size_t n)
{
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	_cleanup_free_ char *now = rt_now_rfc3339();
	kiln_buf_addstr(&b, "{\"log\":\"", NULL);
	json_escape(&b, p, n);
	kiln_buf_addf(&b, NULL, "\",\"stream\":\"%s\",\"time\":\"%s\"}\n", stream, now);
	if (log_fd >= 0)
		kiln_write_all(log_fd, b.data, b.len, NULL);
	kiln_buf_release(&b);
}

/* Writes every complete line of s; the rest too when flush or when the
 * buffer is full (a line longer than RT_LOG_LINE_MAX is split, as docker's). */
void rt_log_lines(int log_fd, struct rt_log_stream *s, bool flush)
{
	size_t start = 0;
	for (size_t i = 0; i < s->len; i++)
		if (s->buf[i] == '\n') {
			log_write(log_fd, s->name, s->buf + start, i + 1 - start);
			start = i + 1;
		}
	bool full = start == 0 && s->len == sizeof(s->buf);
	if ((flush || full) && s->len > start) {
		log_write(log_fd, s->name, s->buf + start, s->len - start);
		start = s->len;
	}
	memmove(s->buf, s->buf + start, s->len - start);
	s->len -= start;
}

int rt_log_stream_read(int log_fd, struct rt_log_stream *s,
                       void (*sink)(void *ctx, const char *p, size_t n), void *ctx)
{
	char *to = s->buf + s->len;
	ssize_t r = read(s->fd, to, sizeof(s->buf) - s->len);
	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return 1;
	if (r <= 0) { /* EOF, or EIO from a master without slaves */
		rt_log_lines(log_fd, s, true);
		return 0;
	}
	sink(ctx, to, (size_t)r);
	s->len += (size_t)r;
	rt_log_lines(log_fd, s, false);
	return 1;
}

static void to_stdout(void *att, const char *p, size_t n)
{
	rt_attach_broadcast(att, RT_ATTACH_STDOUT, p, n);
}

static void to_stderr(void *att, const char *p, size_t n)
{
	rt_attach_broadcast(att, RT_ATTACH_STDERR, p, n);
}

/* Copies the container's output into the log and to the attachers until
 * both streams end (a pty master reads EIO once no slave is left), serving
 * attachers and running the health check every interval meanwhile. */
static void pump(int log_fd, struct rt_log_stream *st, struct rt_attach_server *att,
                 const char *root, struct rt_container *c)
{
	int64_t started = rt_mono_ns();
	int64_t next = c->health_test ? started + c->health_interval : 0;
	for (;;) {
		/* both streams always polled (fd -1 is ignored): p[i] is st[i] */
		struct pollfd p[4 + RT_ATTACH_MAX_CLIENTS] = {{.fd = st[0].fd, .events = POLLIN},
		                                              {.fd = st[1].fd, .events = POLLIN}};
		if (st[0].fd < 0 && st[1].fd < 0)
			return;
		nfds_t n = 2 + rt_attach_pollfds(att, p + 2);
		int timeout = -1;
		if (next) {
			int64_t left = next - rt_mono_ns();
			timeout = left <= 0 ? 0 : (int)(left / 1000000 + 1);
		}
		int pr = poll(p, n, timeout);
		if (pr < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (next && rt_mono_ns() >= next) {
			rt_health_check(root, c, started);
			next = rt_mono_ns() + c->health_interval;
		}
		if (pr == 0)
			continue;
		for (int i = 0; i < 2; i++) {
			if (st[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (rt_log_stream_read(log_fd, &st[i], i ? to_stderr : to_stdout, att))
				continue;
			if (st[i].fd != att->master)
				close(st[i].fd);
			st[i].fd = -1;
		}
		rt_attach_serve(att, p + 2, n - 2);
	}
}

/* --- the monitor ------------------------------------------------------------------ */
static void report(int *fd, const struct kiln_err *err)
{
	if (*fd < 0)
		return;
	struct start_result r;
	memset(&r, 0, sizeof(r));
	r.ok = err == NULL;
	if (err) {
		r.code = err->code;
		char *m = kiln_err_format(err);
		snprintf(r.msg, sizeof(r.msg), "%s", m);
		free(m);
	}
	kiln_write_all(*fd, &r, sizeof(r), NULL);
	close(*fd);
	*fd = -1;
}

static void save_state(const char *root, struct rt_container *c)
{
	int lock = rt_container_lock(root, c->id, NULL);
	_cleanup_free_ char *dir = rt_container_dir(root, c->id);
	if (kiln_path_exists(dir))
		rt_state_save(root, c, NULL);
	if (lock >= 0)
		close(lock);
}

/* The run's stdio: -t a socket the init sends its pty master over, else
 * pipes for stdout and stderr (and stdin with -i). fds: [0] read end of
 * stdout, [1] its write end, [2]/[3] stderr, [4]/[5] stdin, -1 unused. */
static int open_stdio(const struct rt_container *c, int fds[6], struct kiln_err *err)
{
	for (int i = 0; i < 6; i++)
		fds[i] = -1;
	int r = 0;
	if (c->spec.tty)
		r = socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds);
	else if (pipe2(fds, O_CLOEXEC) < 0 || pipe2(fds + 2, O_CLOEXEC) < 0 ||
	         (c->spec.interactive && pipe2(fds + 4, O_CLOEXEC) < 0))
		r = -1;
	if (r < 0) {
		int e = errno;
		for (int i = 0; i < 6; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		return kiln_err_set(err, e, "pipe");
	}
	return 0;
}

/* One run of the container: launch, pump, wait. Returns -1 when it could
 * not start (err set), else 0 with *status. */
static int run_once(const char *root, struct rt_container *c, int log_fd, int *result_fd,
                    struct rt_attach_server *att, int *status, struct kiln_err *err)
{
	int fds[6];
	if (open_stdio(c, fds, err) < 0)
		return -1;
	bool tty = c->spec.tty;
	_cleanup_free_ char *dir = rt_container_dir(root, c->id);
	_cleanup_free_ char *rootfs = kiln_path_join(dir, "rootfs");
	struct rt_launch l = {.spec = &c->spec,
	                      .id = c->id,
	                      .rootfs = rootfs,
	                      .files_dir = dir,
	                      .stdin_fd = fds[4],
	                      .stdout_fd = tty ? -1 : fds[1],
	                      .stderr_fd = tty ? -1 : fds[3],
	                      .console_sock = tty ? fds[1] : -1,
	                      .volatile_rootfs = c->auto_remove};
	int r = rt_launch_start(&l, err);
	for (int i = 1; i < 6; i += 2)
		if (i != 5 && fds[i] >= 0)
			close(fds[i]);
	if (fds[4] >= 0)
		close(fds[4]);
	att->stdin_w = fds[5];
	if (r == 0 && tty) {
		int master = -1;
		r = rt_fd_recv(fds[0], &master, err);
		close(fds[0]);
		fds[0] = att->master = master;
		if (r < 0) {
			kill(l.pid, SIGKILL);
			rt_launch_wait(&l, false, &(int){0}, NULL);
			rt_launch_release(&l);
		}
	}
	if (r < 0) {
		for (int i = 0; i < 4; i += 2)
			if (fds[i] >= 0)
				close(fds[i]);
		rt_attach_end_run(att, 125);
		return -1;
	}
	malloc_trim(0);             /* compiling the seccomp filter grew the heap: give it back */
	if (!kiln_path_exists(dir)) /* removed (rm -f) while a restart began */
		kill(l.pid, SIGKILL);
	c->status = RT_RUNNING;
	c->pid = l.pid;
	c->pid_start = l.pid_start;
	c->monitor_pid = getpid();
	c->exit_code = 0; /* docker's while it runs */
	free(c->started);
	c->started = rt_now_rfc3339();
	free(c->error);
	c->error = NULL;
	free(c->health_status);
	c->health_status = c->health_test ? xstrdup("starting") : NULL;
	c->failing_streak = 0;
	save_state(root, c);
	report(result_fd, NULL);

	struct rt_log_stream st[2] = {{.name = "stdout", .fd = fds[0]},
	                              {.name = "stderr", .fd = fds[2]}};
	pump(log_fd, st, att, root, c);
	rt_launch_wait(&l, false, status, err);
	if (l.cg) {
		struct rt_cgroup_stats s;
		struct kiln_err e = KILN_ERR_INIT;
		if (rt_cgroup_stats(l.cg, &s, &e) == 0)
			c->oom_killed = s.oom_killed;
		kiln_err_release(&e);
	}
	rt_launch_release(&l);
	return 0;
}

/* Stopped by the user (or removed) since it started. */
static bool stopped(const char *root, const struct rt_container *c)
{
	_cleanup_free_ char *marker = rt_stop_marker_path(root, c->id);
	_cleanup_free_ char *dir = rt_container_dir(root, c->id);
	return kiln_path_exists(marker) || !kiln_path_exists(dir);
}

static bool should_restart(const char *root, const struct rt_container *c, int status)
{
	if (!c->restart_policy || !strcmp(c->restart_policy, "no") || stopped(root, c))
		return false;
	if (!strcmp(c->restart_policy, "on-failure"))
		return status != 0 && (c->restart_max == 0 || c->restart_count < c->restart_max);
	return true; /* always, unless-stopped */
}

/* fd 3: the result pipe; fd 4 (when attach_fd): the first attacher. */
__attribute__((noreturn)) static void monitor_main(const char *root, struct rt_container *c,
                                                   int result_fd, int attach_fd)
{
	/* keep only the result pipe and the first attacher: no store lock, no
	 * terminal */
	int keep[2] = {fcntl(result_fd, F_DUPFD_CLOEXEC, 10),
	               attach_fd >= 0 ? fcntl(attach_fd, F_DUPFD_CLOEXEC, 10) : -1};
	for (int i = 0; i < 2; i++)
		if (keep[i] >= 0)
			dup3(keep[i], 3 + i, O_CLOEXEC);
	result_fd = 3;
	attach_fd = keep[1] >= 0 ? 4 : -1;
	syscall(SYS_close_range, attach_fd >= 0 ? 5 : 4, ~0U, 0);
	int devnull = open("/dev/null", O_RDWR);
	for (int i = 0; i < 3 && devnull >= 0; i++)
		dup2(devnull, i);
	if (devnull > 2)
		close(devnull);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	prctl(PR_SET_NAME, "kiln-monitor", 0, 0, 0);
	if (chdir("/") < 0)
		_exit(1);

	_cleanup_free_ char *log_path = rt_container_log_path(root, c->id);
	int log_fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	_cleanup_free_ char *att_path = rt_attach_path(root, c->id);
	struct rt_attach_server att;
	rt_attach_server_init(&att, rt_attach_listen(att_path, NULL));
	rt_attach_add(&att, attach_fd);
	long delay_ms = 100;
	struct kiln_err failed = KILN_ERR_INIT; /* reported once recorded (and removed) */
	for (;;) {
		struct kiln_err err = KILN_ERR_INIT;
		int status = 0;
		if (run_once(root, c, log_fd, &result_fd, &att, &status, &err) < 0) {
			status = rt_exit_code_for(&err);
			free(c->error);
			c->error = kiln_err_format(&err);
			if (result_fd >= 0)
				kiln_err_move(&failed, &err);
		}
		kiln_err_release(&err);
		c->exit_code = status;
		c->pid = 0;
		c->pid_start = 0;
		free(c->finished);
		c->finished = rt_now_rfc3339();
		bool again = c->error == NULL && should_restart(root, c, status);
		c->status = again ? RT_RESTARTING : RT_EXITED;
		if (!again && !c->auto_remove) /* else removed next: not abandoned */
			c->monitor_pid = 0;
		save_state(root, c);
		rt_attach_end_run(&att, status); /* after the state: attachers read it */
		if (!again)
			break;
		nanosleep(&(struct timespec){delay_ms / 1000, (delay_ms % 1000) * 1000000L}, NULL);
		if (delay_ms < 60000)
			delay_ms *= 2;
		c->restart_count++;
		if (stopped(root, c)) { /* while we waited */
			c->status = RT_EXITED;
			c->monitor_pid = 0;
			save_state(root, c);
			break;
		}
	}
	if (att.listen_fd >= 0) {
		unlink(att_path);
		close(att.listen_fd);
	}
	if (log_fd >= 0)
		close(log_fd);
	if (c->auto_remove && rt_container_remove(root, c, true, NULL) == 0)
		rt_container_remove_volumes(root, c);
	if (result_fd >= 0)
		report(&result_fd, &failed);
	_exit(0); /* no atexit handlers, no leak check: this is a fork */
}

static int read_result(int fd, struct kiln_err *err)
{
	struct start_result r;
	size_t got = 0;
	while (got < sizeof(r)) {
		ssize_t n = read(fd, (char *)&r + got, sizeof(r) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got < sizeof(r))
		return kiln_err_set(err, 0, "the container's monitor exited before starting it");
	if (r.ok)
		return 0;
	r.msg[sizeof(r.msg) - 1] = 0;
	return kiln_err_set(err, r.code > 0 && r.code < KILN_E_BASE ? 0 : r.code, "%s", r.msg);
}

/* kiln-monitor beside this kiln (allocated), or NULL. */
static char *monitor_program(void)
{
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return NULL;
	self[n] = 0;
	char *slash = strrchr(self, '/');
	if (!slash)
		return NULL;
	*slash = 0;
	char *p = xasprintf("%s/kiln-monitor", self);
	if (access(p, X_OK) == 0)
		return p;
	free(p);
	return NULL;
}

/* In the monitor's process: kiln-monitor with the result pipe on fd 3 and
 * the attacher on fd 4; returns only when it could not be exec'd. */
static void exec_monitor(const char *prog, const char *root, const char *id, int result_fd,
                         int attach_fd)
{
	int keep[2] = {fcntl(result_fd, F_DUPFD_CLOEXEC, 10),
	               attach_fd >= 0 ? fcntl(attach_fd, F_DUPFD_CLOEXEC, 10) : -1};
	for (int i = 0; i < 2; i++)
		if (keep[i] >= 0 && dup2(keep[i], 3 + i) < 0)
			return;
	char *argv[] = {(char *)"kiln-monitor", (char *)root, (char *)id,
	                (char *)(keep[1] >= 0 ? "attach" : "-"), NULL};
	execv(prog, argv);
	for (int i = 0; i < 2; i++)
		if (keep[i] >= 0)
			close(keep[i]);
}

int rt_monitor_main(int argc, char **argv)
{
	if (argc != 4 || fcntl(3, F_GETFD) < 0) {
		fprintf(stderr, "kiln-monitor: started by kiln, not by hand\n");
		return 2;
	}
	struct rt_container *c = NULL;
	struct kiln_err err = KILN_ERR_INIT;
	if (rt_container_read(argv[1], argv[2], &c, &err) < 0) {
		int fd = 3;
		report(&fd, &err);
		kiln_err_release(&err);
		return 1;
	}
	monitor_main(argv[1], c, 3, strcmp(argv[3], "attach") ? -1 : 4);
}

int rt_monitor_spawn(const char *root, struct rt_container *c, int attach_fd, struct kiln_err *err)
{
	if (rt_container_check_lowers(c, err) < 0)
		return -1;
	_cleanup_free_ char *prog = monitor_program();
	_cleanup_free_ char *marker = rt_stop_marker_path(root, c->id);
	unlink(marker);
	int res[2];
	if (pipe2(res, O_CLOEXEC) < 0)
		return kiln_err_set(err, errno, "pipe");
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		close(res[0]), close(res[1]);
		return kiln_err_set(err, errno, "forking the monitor");
	}
	if (pid == 0) {
		close(res[0]);
		setsid();
		pid_t m = fork(); /* the monitor is not the CLI's child */
		if (m != 0)
			_exit(m < 0);
		if (prog) /* a fresh, small process; else this fork of kiln */
			exec_monitor(prog, root, c->id, res[1], attach_fd);
		monitor_main(root, c, res[1], attach_fd);
	}
	close(res[1]);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	int r = read_result(res[0], err);
	close(res[0]);
	return r;
}

int rt_container_start(const char *root, struct rt_container *c, struct kiln_err *err)
{
	if (c->pid > 0 && c->pid_start && rt_pid_start_time(c->pid) == c->pid_start)
		return 0; /* already running: docker's start is a no-op then */
	return rt_monitor_spawn(root, c, -1, err);
}
