/* Unpacking a layer while it downloads: the blob bytes go to the store's
 * blob writer and, through a pipe, to a thread that unpacks the snapshot
 * (img_snapshot_from_fd verifies digest and diffID before publishing it),
 * so a pulled image runs without reading its layers a second time. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "reg-internal.h"

#define UNPACK_PIPE_SIZE (1 << 20)

static void *unpacker(void *arg)
{
	struct reg_unpack *u = arg;
	u->ret = img_snapshot_from_fd(u->s, &u->layer, u->rfd, &u->err);
	close(u->rfd);
	u->rfd = -1;
	return NULL;
}

int reg_unpack_start(struct reg_unpack *u, struct img_store *s, const struct img_layer *l,
                     struct kiln_err *err)
{
	memset(u, 0, sizeof(*u));
	u->wfd = u->rfd = -1;
	u->s = s;
	u->layer = *l;
	u->layer.media_type = NULL; /* not needed: the stream says what it is */
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return kiln_err_set(err, errno, "pipe");
	fcntl(p[1], F_SETPIPE_SZ, UNPACK_PIPE_SIZE); /* best effort */
	u->rfd = p[0];
	u->wfd = p[1];
	if (pthread_create(&u->th, NULL, unpacker, u) != 0) {
		close(p[0]);
		close(p[1]);
		u->rfd = u->wfd = -1;
		return kiln_err_set(err, EAGAIN, "starting the unpack thread");
	}
	u->running = true;
	kiln_debug("registry: unpacking %s while it downloads", l->digest);
	return 0;
}

int reg_unpack_feed(struct reg_unpack *u, const void *p, size_t n, struct kiln_err *err)
{
	if (!u->running)
		return 0;
	if (kiln_write_all(u->wfd, p, n, err) < 0)
		return kiln_err_wrap(err, "unpacking layer %s", u->layer.diff_id);
	return 0;
}

int reg_unpack_finish(struct reg_unpack *u, bool complete, struct kiln_err *err)
{
	if (!u->running)
		return 0;
	close(u->wfd);
	u->wfd = -1;
	pthread_join(u->th, NULL);
	u->running = false;
	int ret = u->ret;
	if (ret < 0 && complete)
		kiln_err_move(err, &u->err);
	kiln_err_release(&u->err);
	return complete ? ret : 0;
}
