/* The monitor's attach endpoint (conmon's attach socket): a SOCK_SEQPACKET
 * unix socket ROOT/containers/<id>/attach. Every attacher gets the
 * container's output as it comes, and may send stdin, stdin's end and
 * window sizes (the message format is in runtime-internal.h). Attachers
 * come and go; the container never waits for one: sends never block,
 * what a client's socket does not take is queued for it (bounded), and a
 * client whose queue is full is disconnected. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "runtime-internal.h"

char *rt_attach_path(const char *root, const char *id)
{
	return xasprintf("%s/%s/%s/attach", root, RT_CONTAINERS_DIR, id);
}

/* sun_path is short (108 bytes) and store paths may be longer: the
 * socket is named through an O_PATH fd of its directory (conmon's way). */
static int sock_addr(const char *path, struct sockaddr_un *a, int *dirfd, struct kiln_err *err)
{
	_cleanup_free_ char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	const char *base = slash ? slash + 1 : path;
	if (slash)
		*slash = 0;
	*dirfd = open(slash ? (*dir ? dir : "/") : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (*dirfd < 0)
		return kiln_err_set(err, errno, "opening `%s`", dir);
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	snprintf(a->sun_path, sizeof(a->sun_path), "/proc/self/fd/%d/%s", *dirfd, base);
	return 0;
}

int rt_attach_listen(const char *path, struct kiln_err *err)
{
	struct sockaddr_un a;
	int dirfd;
	if (sock_addr(path, &a, &dirfd, err) < 0)
		return -1;
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0) {
		close(dirfd);
		return kiln_err_set(err, errno, "socket");
	}
	unlink(path); /* a monitor killed before it could remove it */
	mode_t old = umask(0077);
	int r = bind(s, (struct sockaddr *)&a, sizeof(a));
	umask(old);
	if (r < 0 || listen(s, 16) < 0) {
		int e = errno;
		close(s);
		close(dirfd);
		return kiln_err_set(err, e, "listening on `%s`", path);
	}
	close(dirfd);
	return s;
}

int rt_attach_connect(const char *path, struct kiln_err *err)
{
	struct sockaddr_un a;
	int dirfd;
	if (sock_addr(path, &a, &dirfd, err) < 0)
		return -1;
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0) {
		close(dirfd);
		return kiln_err_set(err, errno, "socket");
	}
	int r = connect(s, (struct sockaddr *)&a, sizeof(a));
	int e = errno;
	close(dirfd);
	if (r < 0) {
		close(s);
		return kiln_err_set(err, e, "connecting to `%s`", path);
	}
	return s;
}

/* One message in buf: the type byte, the payload cut to fit; its length. */
static size_t make_msg(char buf[RT_ATTACH_MSG_MAX], char type, const void *p, size_t n)
{
	if (n > RT_ATTACH_MSG_MAX - 1)
		n = RT_ATTACH_MSG_MAX - 1;
	buf[0] = type;
	if (n)
		memcpy(buf + 1, p, n);
	return n + 1;
}

int rt_attach_send(int fd, char type, const void *p, size_t n)
{
	char buf[RT_ATTACH_MSG_MAX];
	size_t len = make_msg(buf, type, p, n);
	ssize_t r;
	while ((r = send(fd, buf, len, MSG_NOSIGNAL)) < 0 && errno == EINTR)
		;
	return r == (ssize_t)len ? 0 : -1;
}

void rt_attach_server_init(struct rt_attach_server *s, int listen_fd)
{
	memset(s, 0, sizeof(*s));
	s->listen_fd = listen_fd;
	s->master = s->stdin_w = -1;
}

void rt_attach_add(struct rt_attach_server *s, int fd)
{
	if (fd < 0)
		return;
	if (s->n >= RT_ATTACH_MAX_CLIENTS) {
		close(fd);
		return;
	}
	s->q[s->n] = (struct rt_attach_queue){0};
	s->fds[s->n++] = fd;
}

static void drop(struct rt_attach_server *s, size_t i)
{
	close(s->fds[i]);
	free(s->q[i].buf);
	s->n--;
	s->fds[i] = s->fds[s->n];
	s->q[i] = s->q[s->n];
	s->q[s->n] = (struct rt_attach_queue){0};
}

/* One message without blocking: 1 sent, 0 the socket is full, -1 gone. */
static int try_send(int fd, const char *msg, size_t len)
{
	ssize_t r;
	while ((r = send(fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL)) < 0 && errno == EINTR)
		;
	if (r >= 0)
		return 1;
	return errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS ? 0 : -1;
}

/* Queues a message behind the others; false when that would pass the bound. */
static bool enqueue(struct rt_attach_queue *q, const char *msg, size_t len)
{
	uint32_t n = (uint32_t)len;
	if (q->len - q->off + sizeof(n) + len > RT_ATTACH_QUEUE_MAX)
		return false;
	if (q->off && q->len + sizeof(n) + len > q->cap) { /* move the rest to the front */
		memmove(q->buf, q->buf + q->off, q->len - q->off);
		q->len -= q->off;
		q->off = 0;
	}
	if (q->len + sizeof(n) + len > q->cap) {
		size_t cap = q->cap ? q->cap : 64 * 1024;
		while (cap < q->len + sizeof(n) + len)
			cap *= 2;
		q->buf = xrealloc(q->buf, cap);
		q->cap = cap;
	}
	memcpy(q->buf + q->len, &n, sizeof(n));
	memcpy(q->buf + q->len + sizeof(n), msg, len);
	q->len += sizeof(n) + len;
	return true;
}

/* Sends what client i has queued, as far as its socket takes it. An
 * emptied queue is freed (the monitor stays small). A client that no
 * longer takes output (it hung up, or shut its reading side: an attacher
 * of stdin alone) is muted, not dropped: the stdin it sent before is
 * still in its socket and is read until its end. */
static bool flush(struct rt_attach_server *s, size_t i)
{
	struct rt_attach_queue *q = &s->q[i];
	while (q->off < q->len) {
		uint32_t n;
		memcpy(&n, q->buf + q->off, sizeof(n));
		int r = try_send(s->fds[i], q->buf + q->off + sizeof(n), n);
		if (r < 0)
			break; /* gone: what it sent is still read (mute) */
		if (r == 0)
			return true;
		q->off += sizeof(n) + n;
	}
	bool mute = q->off < q->len || q->mute;
	free(q->buf);
	*q = (struct rt_attach_queue){.mute = mute};
	return true;
}

void rt_attach_broadcast(struct rt_attach_server *s, char type, const void *p, size_t n)
{
	char msg[RT_ATTACH_MSG_MAX];
	size_t len = make_msg(msg, type, p, n);
	for (size_t i = 0; i < s->n;) {
		int r = s->q[i].mute ? 1 : s->q[i].len ? 0 : try_send(s->fds[i], msg, len);
		if (r < 0)
			s->q[i].mute = true; /* gone: its stdin is still read */
		if (r == 0 && !enqueue(&s->q[i], msg, len))
			drop(s, i); /* too far behind */
		else
			i++;
	}
}

static int stdin_fd(const struct rt_attach_server *s)
{
	return s->master >= 0 ? s->master : s->stdin_w;
}

/* Writes what the container's stdin takes now (never blocking: a
 * container that does not read its stdin must not stop the monitor);
 * the rest stays pending. Dropped when the stdin is gone. */
static void stdin_push(struct rt_attach_server *s)
{
	int to = stdin_fd(s);
	while (to >= 0 && s->pend_off < s->pend_len) {
		ssize_t w = write(to, s->pend + s->pend_off, s->pend_len - s->pend_off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return;
		if (w < 0) {
			if (to == s->stdin_w) {
				close(s->stdin_w);
				s->stdin_w = -1;
			}
			break;
		}
		s->pend_off += (size_t)w;
	}
	s->pend_off = s->pend_len = 0;
}

void rt_attach_stdin(struct rt_attach_server *s, const char *p, size_t n)
{
	int to = stdin_fd(s);
	if (to < 0 || !n)
		return;
	if (n > sizeof(s->pend))
		n = sizeof(s->pend);
	fcntl(to, F_SETFL, fcntl(to, F_GETFL) | O_NONBLOCK);
	memcpy(s->pend, p, n);
	s->pend_off = 0;
	s->pend_len = n;
	stdin_push(s);
}

void rt_attach_stdin_close(struct rt_attach_server *s)
{
	if (s->stdin_w >= 0) {
		close(s->stdin_w);
		s->stdin_w = -1;
	}
}

size_t rt_attach_pollfds(struct rt_attach_server *s, struct pollfd *p)
{
	size_t k = 0;
	if (s->listen_fd >= 0)
		p[k++] = (struct pollfd){.fd = s->listen_fd, .events = POLLIN};
	/* while stdin is pending the clients are not read (they wait until
	 * the container takes it), but their queues still drain */
	s->stdin_polled = s->pend_len > 0;
	if (s->stdin_polled)
		p[k++] = (struct pollfd){.fd = stdin_fd(s), .events = POLLOUT};
	for (size_t i = 0; i < s->n; i++) {
		short ev = (short)((s->pend_len ? 0 : POLLIN) | (s->q[i].len ? POLLOUT : 0));
		if (ev)
			p[k++] = (struct pollfd){.fd = s->fds[i], .events = ev};
	}
	return k;
}

/* One message from a client: stdin, its end, a window size. */
static bool client_message(struct rt_attach_server *s, int fd)
{
	char buf[RT_ATTACH_MSG_MAX];
	ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (r < 0)
		return errno == EINTR || errno == EAGAIN;
	if (r == 0)
		return false;
	size_t n = (size_t)r - 1;
	switch (buf[0]) {
	case RT_ATTACH_STDIN: rt_attach_stdin(s, buf + 1, n); break;
	case RT_ATTACH_EOF: rt_attach_stdin_close(s); break;
	case RT_ATTACH_RESIZE:
		if (s->master >= 0 && n == sizeof(struct winsize)) {
			struct winsize ws;
			memcpy(&ws, buf + 1, sizeof(ws));
			ioctl(s->master, TIOCSWINSZ, &ws);
		}
		break;
	default: break;
	}
	return true;
}

void rt_attach_serve(struct rt_attach_server *s, const struct pollfd *p, size_t np)
{
	size_t k = 0;
	if (s->listen_fd >= 0 && k < np && p[k].fd == s->listen_fd) {
		if (p[k].revents & POLLIN) {
			int c;
			while ((c = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
				rt_attach_add(s, c);
		}
		k++;
	}
	if (s->stdin_polled) { /* the container's stdin (not when it became
		                * pending after the poll: a run's own stdin) */
		if (k < np && p[k].revents)
			stdin_push(s);
		k++;
	}
	/* p holds the clients as they were when polled (a drop reorders s) */
	struct pollfd ready[RT_ATTACH_MAX_CLIENTS];
	size_t n = 0;
	for (; k < np && n < RT_ATTACH_MAX_CLIENTS; k++)
		if (p[k].revents)
			ready[n++] = p[k];
	for (size_t j = 0; j < n; j++)
		for (size_t i = 0; i < s->n; i++) {
			if (s->fds[i] != ready[j].fd)
				continue;
			short ev = ready[j].revents;
			if (ev & POLLOUT)
				flush(s, i);
			/* one message, unless stdin is pending now (another
			 * client's, read in this round): it waits in its
			 * socket, even after a hang-up, never over the other */
			if ((ev & (POLLIN | POLLHUP | POLLERR)) && !s->pend_len &&
			    !client_message(s, ready[j].fd))
				drop(s, i);
			break;
		}
}

/* The run's end: each client's queue gets up to 2 s in all to drain. */
static void drain_all(struct rt_attach_server *s)
{
	int64_t until = rt_mono_ns() + 2000000000LL;
	for (;;) {
		struct pollfd p[RT_ATTACH_MAX_CLIENTS];
		nfds_t n = 0;
		for (size_t i = 0; i < s->n; i++)
			if (s->q[i].len)
				p[n++] = (struct pollfd){.fd = s->fds[i], .events = POLLOUT};
		int64_t left = until - rt_mono_ns();
		if (!n || left <= 0 || poll(p, n, (int)(left / 1000000) + 1) <= 0)
			return;
		for (nfds_t j = 0; j < n; j++)
			for (size_t i = 0; i < s->n; i++)
				if (s->fds[i] == p[j].fd) {
					if (p[j].revents)
						flush(s, i);
					break;
				}
	}
}

void rt_attach_end_run(struct rt_attach_server *s, int status)
{
	int32_t st = status;
	rt_attach_broadcast(s, RT_ATTACH_EXIT, &st, sizeof(st));
	drain_all(s);
	while (s->n)
		drop(s, 0);
	if (s->stdin_w >= 0)
		close(s->stdin_w);
	if (s->master >= 0)
		close(s->master);
	s->stdin_w = s->master = -1;
	s->pend_off = s->pend_len = 0;
}
