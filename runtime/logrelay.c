/* The json-file log of a foreground container that has neither a pty nor
 * a monitor (`kiln run` without -d or -t, `start -a`): its stdout and
 * stderr are pipes, and a thread of the foreground kiln copies what comes
 * out of them to kiln's own stdout and stderr and, line by line, to the
 * log, so `kiln logs` shows it as docker's does. As with docker, the order
 * of stdout against stderr may differ from the one written. */
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
	int out[2]; /* where each stream is copied: kiln's fds, or -1 */
	int w[2];   /* write ends until started */
	struct rt_log_stream st[2];
	pthread_t thread;
};

static void copy_out(void *ctx, const char *p, size_t n)
{
	int *fd = ctx;
	if (*fd < 0)
		return;
	struct kiln_err e = KILN_ERR_INIT;
	if (kiln_write_all(*fd, p, n, &e) < 0)
		*fd = -1; /* a reader gone (EPIPE): the log still gets it all */
	kiln_err_release(&e);
}

static void *relay(void *arg)
{
	struct rt_log_relay *r = arg;
	sigset_t pipe_sig; /* EPIPE instead of SIGPIPE on a closed stdout */
	sigemptyset(&pipe_sig);
	sigaddset(&pipe_sig, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_sig, NULL);
	while (r->st[0].fd >= 0 || r->st[1].fd >= 0) {
		struct pollfd p[2] = {{.fd = r->st[0].fd, .events = POLLIN},
		                      {.fd = r->st[1].fd, .events = POLLIN}};
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < 2; i++) {
			struct rt_log_stream *s = &r->st[i];
			if (s->fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (!rt_log_stream_read(r->log_fd, s, copy_out, &r->out[i])) {
				close(s->fd);
				s->fd = -1;
			}
		}
	}
	return NULL;
}

struct rt_log_relay *rt_log_relay_open(const char *log_path, int out_fd, int err_fd, int *out_w,
                                       int *err_w)
{
	int log_fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (log_fd < 0)
		return NULL;
	int po[2], pe[2];
	if (pipe2(po, O_CLOEXEC) < 0) {
		close(log_fd);
		return NULL;
	}
	if (pipe2(pe, O_CLOEXEC) < 0) {
		close(po[0]), close(po[1]), close(log_fd);
		return NULL;
	}
	struct rt_log_relay *r = xcalloc(1, sizeof(*r));
	r->log_fd = log_fd;
	r->out[0] = out_fd;
	r->out[1] = err_fd;
	r->st[0] = (struct rt_log_stream){.name = "stdout", .fd = po[0]};
	r->st[1] = (struct rt_log_stream){.name = "stderr", .fd = pe[0]};
	r->w[0] = po[1];
	r->w[1] = pe[1];
	/* the thread runs from here: it reads until the write ends are gone */
	if (pthread_create(&r->thread, NULL, relay, r) != 0) {
		for (int i = 0; i < 2; i++)
			close(r->st[i].fd), close(r->w[i]);
		close(log_fd);
		free(r);
		return NULL;
	}
	*out_w = po[1];
	*err_w = pe[1];
	return r;
}

static void close_write_ends(struct rt_log_relay *r)
{
	for (int i = 0; i < 2; i++)
		if (r->w[i] >= 0) {
			close(r->w[i]);
			r->w[i] = -1;
		}
}

void rt_log_relay_start(struct rt_log_relay *r)
{
	if (r)
		close_write_ends(r);
}

void rt_log_relay_finish(struct rt_log_relay *r)
{
	if (!r)
		return;
	close_write_ends(r); /* never started: the pipes end here */
	pthread_join(r->thread, NULL);
	close(r->log_fd);
	free(r);
}
