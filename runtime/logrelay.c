/* The stdio of a foreground container that has neither a pty nor a
 * monitor (`kiln run` without -d or -t, `start -a`): its stdout and stderr
 * are pipes, and a thread of the foreground kiln copies what comes out of
 * them to kiln's own stdout and stderr and, line by line, to the json-file
 * log, so `kiln logs` shows it as docker's does. The same thread serves
 * the container's attach socket as its monitor would (attach_server.c):
 * `kiln attach` from elsewhere gets the output, and with -i its stdin goes
 * into the container's stdin pipe beside kiln's own stdin. As with docker,
 * the order of stdout against stderr may differ from the one written. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "runtime-internal.h"

struct rt_log_relay {
	int log_fd;
	int out[2];  /* where each stream is copied: kiln's fds, or -1 */
	int w[2];    /* the container's stdout and stderr until started */
	int in_fd;   /* -i: kiln's stdin, copied into the container's; -1 */
	int stdin_r; /* -i: the container's stdin until started, or -1 */
	char *att_path;
	struct rt_attach_server att;
	struct rt_log_stream st[2];
	pthread_t thread;
	bool running; /* the thread, until joined */
};

struct sink {
	int *fd;
	struct rt_attach_server *att;
	char type;
};

static void copy_out(void *ctx, const char *p, size_t n)
{
	struct sink *k = ctx;
	rt_attach_broadcast(k->att, k->type, p, n);
	if (*k->fd < 0)
		return;
	struct kiln_err e = KILN_ERR_INIT;
	if (kiln_write_all(*k->fd, p, n, &e) < 0)
		*k->fd = -1; /* a reader gone (EPIPE): the log still gets it all */
	kiln_err_release(&e);
}

/* kiln's own stdin into the container's; false at its end. */
static bool copy_in(struct rt_log_relay *r)
{
	char buf[RT_ATTACH_MSG_MAX - 1];
	ssize_t n = read(r->in_fd, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0) { /* docker's StdinOnce: the end of run -i's stdin is the container's */
		rt_attach_stdin_close(&r->att);
		return false;
	}
	rt_attach_stdin(&r->att, buf, (size_t)n);
	return true;
}

static void *relay(void *arg)
{
	struct rt_log_relay *r = arg;
	sigset_t pipe_sig; /* EPIPE instead of SIGPIPE on a closed stdout */
	sigemptyset(&pipe_sig);
	sigaddset(&pipe_sig, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_sig, NULL);
	struct sink sinks[2] = {{&r->out[0], &r->att, RT_ATTACH_STDOUT},
	                        {&r->out[1], &r->att, RT_ATTACH_STDERR}};
	while (r->st[0].fd >= 0 || r->st[1].fd >= 0) {
		/* p[0], p[1]: the streams; p[2]: kiln's stdin (not while the
		 * container has stdin pending); then the attach server's */
		struct pollfd p[3 + 2 + RT_ATTACH_MAX_CLIENTS] = {
		    {.fd = r->st[0].fd, .events = POLLIN},
		    {.fd = r->st[1].fd, .events = POLLIN},
		    {.fd = r->att.pend_len ? -1 : r->in_fd, .events = POLLIN}};
		nfds_t n = 3 + rt_attach_pollfds(&r->att, p + 3);
		if (poll(p, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < 2; i++) {
			struct rt_log_stream *s = &r->st[i];
			if (s->fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (!rt_log_stream_read(r->log_fd, s, copy_out, &sinks[i])) {
				close(s->fd);
				s->fd = -1;
			}
		}
		if ((p[2].revents & (POLLIN | POLLHUP | POLLERR)) && !copy_in(r))
			r->in_fd = -1;
		rt_attach_serve(&r->att, p + 3, n - 3);
	}
	return NULL;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void relay_free(struct rt_log_relay *r)
{
	for (int i = 0; i < 2; i++)
		close_fd(&r->st[i].fd), close_fd(&r->w[i]);
	close_fd(&r->stdin_r);
	close_fd(&r->att.stdin_w);
	close_fd(&r->log_fd);
	if (r->att.listen_fd >= 0) {
		unlink(r->att_path);
		close(r->att.listen_fd);
	}
	free(r->att_path);
	free(r);
}

/* The pipes: the container's stdout and stderr, and its stdin with -i. */
static int open_pipes(struct rt_log_relay *r, bool interactive)
{
	int p[2];
	for (int i = 0; i < 2; i++) {
		if (pipe2(p, O_CLOEXEC) < 0)
			return -1;
		r->st[i].fd = p[0];
		r->w[i] = p[1];
	}
	if (interactive) {
		if (pipe2(p, O_CLOEXEC) < 0)
			return -1;
		r->stdin_r = p[0];
		r->att.stdin_w = p[1];
	}
	return 0;
}

struct rt_log_relay *rt_log_relay_open(const char *root, const char *id, struct rt_launch *l)
{
	struct rt_log_relay *r = xcalloc(1, sizeof(*r));
	_cleanup_free_ char *log_path = rt_container_log_path(root, id);
	r->att_path = rt_attach_path(root, id);
	r->log_fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	struct kiln_err e = KILN_ERR_INIT; /* not attachable then, still logged */
	rt_attach_server_init(&r->att, rt_attach_listen(r->att_path, &e));
	kiln_err_release(&e);
	r->st[0] = (struct rt_log_stream){.name = "stdout", .fd = -1};
	r->st[1] = (struct rt_log_stream){.name = "stderr", .fd = -1};
	r->w[0] = r->w[1] = r->stdin_r = -1;
	r->out[0] = l->stdout_fd;
	r->out[1] = l->stderr_fd;
	r->in_fd = l->stdin_fd;
	if (r->log_fd < 0 || open_pipes(r, l->stdin_fd >= 0) < 0 ||
	    pthread_create(&r->thread, NULL, relay, r) != 0) {
		relay_free(r);
		return NULL;
	}
	r->running = true;
	/* the thread runs from here: it reads until the write ends are gone */
	l->stdout_fd = r->w[0];
	l->stderr_fd = r->w[1];
	if (r->stdin_r >= 0)
		l->stdin_fd = r->stdin_r;
	return r;
}

void rt_log_relay_start(struct rt_log_relay *r)
{
	if (!r)
		return;
	for (int i = 0; i < 2; i++)
		close_fd(&r->w[i]);
	close_fd(&r->stdin_r);
}

void rt_log_relay_finish(struct rt_log_relay *r)
{
	if (!r || !r->running)
		return;
	rt_log_relay_start(r); /* never started: the pipes end here */
	pthread_join(r->thread, NULL);
	r->running = false;
}

void rt_log_relay_end(struct rt_log_relay *r, int status)
{
	if (!r)
		return;
	rt_log_relay_finish(r);
	rt_attach_end_run(&r->att, status);
	relay_free(r);
}
