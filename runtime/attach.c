/* Attaching a terminal or pipes to a container: the client side of the
 * monitor's attach socket (docker attach, run -it, start -ai) and the copy
 * loop of exec -t over its pty master. The caller's terminal is raw while
 * attached; its window size goes along at the start and on every SIGWINCH;
 * the detach keys (docker's escape proxy: Ctrl-P Ctrl-Q unless told
 * otherwise) end the session and leave the container running. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "runtime-internal.h"

int rt_detach_keys_parse(const char *s, char keys[RT_DETACH_KEYS_MAX], size_t *n,
                         struct kiln_err *err)
{
	static const char ctrl_tail[] = "@abcdefghijklmnopqrstuvwxyz[\\]^_";
	*n = 0;
	_cleanup_free_ char *copy = xstrdup(s ? s : "ctrl-p,ctrl-q");
	char *save = NULL;
	for (char *k = strtok_r(copy, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
		if (*n >= RT_DETACH_KEYS_MAX)
			return kiln_err_set(err, KILN_E_INVALID, "too many detach keys in `%s`", s);
		const char *hit = NULL;
		if (strlen(k) == 1) {
			keys[(*n)++] = k[0];
			continue;
		}
		if (!strncmp(k, "ctrl-", 5) && strlen(k) == 6)
			hit = strchr(ctrl_tail, k[5]);
		if (!hit || !k[5])
			return kiln_err_set(err, KILN_E_INVALID,
			                    "Invalid detach keys (%s) provided", s);
		keys[(*n)++] = (char)(hit - ctrl_tail);
	}
	if (*n == 0)
		return kiln_err_set(err, KILN_E_INVALID, "Invalid detach keys (%s) provided", s);
	return 0;
}

/* One attach session, whatever carries it. */
struct session {
	int in_fd, out_fd, err_fd;
	int conn;      /* the monitor's socket, or a pty master (raw) */
	bool raw;      /* conn is a pty master: plain bytes both ways */
	bool tty;      /* the container has a terminal: sizes go along */
	int size_from; /* the caller's terminal, or -1 */
	char keys[RT_DETACH_KEYS_MAX];
	size_t n_keys, matched;
	bool close_stdin;
	bool stdin_only; /* ends with stdin; conn is not read */
	/* out */
	bool got_exit, detached;
	int status;
};

static volatile sig_atomic_t winch;
static void on_winch(int sig)
{
	(void)sig;
	winch = 1;
}

static volatile pid_t proxy_pid;
static void on_proxied(int sig)
{
	if (proxy_pid > 0)
		kill(proxy_pid, sig);
}
static const int proxied[] = {SIGINT,  SIGTERM, SIGHUP,  SIGQUIT, SIGUSR1,
                              SIGUSR2, SIGALRM, SIGPIPE, SIGCONT};

static int to_conn(struct session *s, char type, const char *p, size_t n)
{
	if (s->raw)
		return type == RT_ATTACH_STDIN ? kiln_write_all(s->conn, p, n, NULL) : 0;
	return rt_attach_send(s->conn, type, p, n);
}

static void send_size(struct session *s)
{
	struct winsize ws;
	if (!s->tty || s->size_from < 0 || ioctl(s->size_from, TIOCGWINSZ, &ws) < 0)
		return;
	if (s->raw)
		ioctl(s->conn, TIOCSWINSZ, &ws);
	else
		rt_attach_send(s->conn, RT_ATTACH_RESIZE, &ws, sizeof(ws));
}

/* Stdin through the escape proxy: bytes that may start the detach keys
 * are held until they do (detach) or do not (sent after all). */
static void forward_input(struct session *s, const char *p, size_t n)
{
	char out[8192 + RT_DETACH_KEYS_MAX];
	size_t k = 0;
	for (size_t i = 0; i < n && !s->detached; i++) {
		if (p[i] == s->keys[s->matched]) {
			if (++s->matched == s->n_keys)
				s->detached = true;
			continue;
		}
		memcpy(out + k, s->keys, s->matched); /* held, then not a match */
		k += s->matched;
		s->matched = 0;
		if (p[i] == s->keys[0]) {
			s->matched = 1;
			if (s->n_keys == 1)
				s->detached = true;
		} else {
			out[k++] = p[i];
		}
	}
	if (k)
		to_conn(s, RT_ATTACH_STDIN, out, k);
}

/* What came from the container; false at its end. */
static bool from_conn(struct session *s)
{
	char buf[RT_ATTACH_MSG_MAX];
	ssize_t r = s->raw ? read(s->conn, buf, sizeof(buf)) : recv(s->conn, buf, sizeof(buf), 0);
	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (r <= 0) /* EOF, or EIO once the pty has no slave left */
		return false;
	if (s->raw) {
		kiln_write_all(s->out_fd, buf, (size_t)r, NULL);
		return true;
	}
	size_t n = (size_t)r - 1;
	if (buf[0] == RT_ATTACH_STDOUT || buf[0] == RT_ATTACH_STDERR) {
		int fd = buf[0] == RT_ATTACH_STDERR && !s->tty ? s->err_fd : s->out_fd;
		if (fd >= 0)
			kiln_write_all(fd, buf + 1, n, NULL);
	} else if (buf[0] == RT_ATTACH_EXIT && n == sizeof(int32_t)) {
		int32_t st;
		memcpy(&st, buf + 1, sizeof(st));
		s->status = st;
		s->got_exit = true;
	}
	return true;
}

static void loop(struct session *s)
{
	char buf[8192];
	bool in_open = s->in_fd >= 0;
	send_size(s);
	while (in_open || !s->stdin_only) {
		if (winch) {
			winch = 0;
			send_size(s);
		}
		struct pollfd p[2] = {{.fd = s->stdin_only ? -1 : s->conn, .events = POLLIN},
		                      {.fd = in_open ? s->in_fd : -1, .events = POLLIN}};
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if ((p[0].revents & (POLLIN | POLLHUP | POLLERR)) && !from_conn(s))
			return;
		if (!(p[1].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		ssize_t r = read(s->in_fd, buf, sizeof(buf));
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r > 0 && !s->tty) { /* docker's escape proxy is for terminals only */
			to_conn(s, RT_ATTACH_STDIN, buf, (size_t)r);
			continue;
		}
		if (r > 0) {
			forward_input(s, buf, (size_t)r);
			if (s->detached)
				return;
			continue;
		}
		in_open = false;
		if (s->close_stdin)
			to_conn(s, RT_ATTACH_EOF, NULL, 0);
	}
}

/* Runs the session with the caller's terminal raw (when it is one), the
 * window size kept in step and signals proxied to proxy_to (> 0). */
static void run_session(struct session *s, pid_t proxy_to)
{
	struct termios saved;
	bool raw = s->tty && s->in_fd >= 0 && isatty(s->in_fd) && tcgetattr(s->in_fd, &saved) == 0;
	if (raw) {
		struct termios t = saved;
		cfmakeraw(&t);
		tcsetattr(s->in_fd, TCSANOW, &t);
	}
	s->size_from = s->in_fd >= 0 && isatty(s->in_fd)     ? s->in_fd
	               : s->out_fd >= 0 && isatty(s->out_fd) ? s->out_fd
	                                                     : -1;
	struct sigaction sa = {.sa_handler = on_winch}, old_winch, old[KILN_ARRAY_SIZE(proxied)];
	sigemptyset(&sa.sa_mask);
	sigaction(SIGWINCH, &sa, &old_winch);
	if (proxy_to > 0) {
		proxy_pid = proxy_to;
		struct sigaction pa = {.sa_handler = on_proxied};
		sigemptyset(&pa.sa_mask);
		for (size_t i = 0; i < KILN_ARRAY_SIZE(proxied); i++)
			sigaction(proxied[i], &pa, &old[i]);
	}
	loop(s);
	if (proxy_to > 0) {
		for (size_t i = 0; i < KILN_ARRAY_SIZE(proxied); i++)
			sigaction(proxied[i], &old[i], NULL);
		proxy_pid = 0;
	}
	sigaction(SIGWINCH, &old_winch, NULL);
	if (raw)
		tcsetattr(s->in_fd, TCSANOW, &saved);
}

static int session_init(struct session *s, const struct rt_attach_opts *o, bool tty,
                        struct kiln_err *err)
{
	memset(s, 0, sizeof(*s));
	s->in_fd = o->in_fd;
	s->out_fd = o->out_fd;
	s->err_fd = o->err_fd;
	s->tty = tty;
	s->close_stdin = o->close_stdin;
	s->stdin_only = o->stdin_only;
	s->conn = -1;
	return rt_detach_keys_parse(o->detach_keys, s->keys, &s->n_keys, err);
}

int rt_container_attachable(const struct rt_container *c, struct kiln_err *err)
{
	bool alive = c->pid > 0 && c->pid_start && rt_pid_start_time(c->pid) == c->pid_start;
	if (!alive && c->status != RT_RESTARTING)
		return kiln_err_set(err, KILN_E_CONFLICT,
		                    "You cannot attach to a stopped container, start it first");
	if (c->status == RT_PAUSED)
		return kiln_err_set(err, KILN_E_CONFLICT,
		                    "You cannot attach to a paused container, unpause it first");
	return 0;
}

/* After the session: the exit status, from the monitor or the state. */
static int finish(const char *root, struct rt_container *c, struct session *s, int *status,
                  bool *detached, struct kiln_err *err)
{
	*detached = s->detached;
	if (s->detached || s->stdin_only) {
		*status = 0;
		return 0;
	}
	if (s->got_exit) {
		*status = s->status;
		return 0;
	}
	/* the monitor went away without a word (killed): what the state says */
	return rt_container_wait(root, c, status, err);
}

int rt_container_attach(const char *root, struct rt_container *c, const struct rt_attach_opts *o,
                        int *status, bool *detached, struct kiln_err *err)
{
	struct session s;
	*detached = false;
	if (session_init(&s, o, c->spec.tty, err) < 0 || rt_container_attachable(c, err) < 0)
		return -1;
	_cleanup_free_ char *path = rt_attach_path(root, c->id);
	struct kiln_err e = KILN_ERR_INIT;
	s.conn = rt_attach_connect(path, &e);
	if (s.conn < 0) {
		kiln_err_release(&e);
		return kiln_err_set(err, KILN_E_CONFLICT,
		                    "container `%s` cannot be attached to (a foreground --rm run "
		                    "writes to the kiln that started it)",
		                    c->id);
	}
	if (o->stdin_only)
		shutdown(s.conn, SHUT_RD);
	if (!c->spec.interactive)
		s.in_fd = -1;
	s.close_stdin = s.close_stdin || c->stdin_once; /* docker's StdinOnce */
	run_session(&s, o->sig_proxy && !c->spec.tty ? c->pid : 0);
	close(s.conn);
	return finish(root, c, &s, status, detached, err);
}

int rt_container_start_attach(const char *root, struct rt_container *c,
                              const struct rt_attach_opts *o, int *status, bool *detached,
                              struct kiln_err *err)
{
	struct session s;
	*detached = false;
	if (c->pid > 0 && c->pid_start && rt_pid_start_time(c->pid) == c->pid_start)
		return rt_container_attach(root, c, o, status, detached, err); /* running */
	if (session_init(&s, o, c->spec.tty, err) < 0)
		return -1;
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		return kiln_err_set(err, errno, "socketpair");
	if (o->stdin_only) /* the monitor mutes it: no output queued for it */
		shutdown(sp[0], SHUT_RD);
	int r = rt_monitor_spawn(root, c, sp[1], err);
	close(sp[1]);
	if (r < 0) {
		close(sp[0]);
		return -1;
	}
	struct rt_container *now = NULL;
	pid_t pid = 0;
	if (rt_container_load(root, c->id, &now, NULL) == 0) {
		pid = now->pid;
		rt_container_free(now);
	}
	s.conn = sp[0];
	if (!c->spec.interactive)
		s.in_fd = -1;
	run_session(&s, o->sig_proxy && !c->spec.tty ? pid : 0);
	close(s.conn);
	return finish(root, c, &s, status, detached, err);
}

int rt_pty_session(int master, const struct rt_attach_opts *o, bool *detached, struct kiln_err *err)
{
	struct session s;
	if (session_init(&s, o, true, err) < 0)
		return -1;
	s.conn = master;
	s.raw = true;
	run_session(&s, 0);
	*detached = s.detached;
	return 0;
}
