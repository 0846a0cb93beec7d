/* Terminals for -t, as runc's console socket does it: the container's
 * process opens a pty in the container's own devpts instance (so `tty`
 * inside reads /dev/pts/N), makes the slave its stdio and controlling
 * terminal (the init also binds it onto /dev/console) and hands the master
 * over a unix socket (SCM_RIGHTS) to whoever keeps it: the monitor for a
 * container, the CLI (through the exec helper) for `exec -t`. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "runtime-internal.h"

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

int rt_pty_open_here(int *master, int *slave, char path[32], struct kiln_err *err)
{
	int m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0)
		return kiln_err_set(err, errno, "opening the container's `/dev/ptmx`");
	int unlock = 0, n = -1;
	if (ioctl(m, TIOCSPTLCK, &unlock) < 0 || ioctl(m, TIOCGPTN, &n) < 0) {
		int e = errno;
		close(m);
		return kiln_err_set(err, e, "setting up a pseudo-terminal");
	}
	snprintf(path, 32, "/dev/pts/%d", n);
	/* the peer by the master, never by a path someone could replace */
	int s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s < 0)
		s = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s < 0) {
		int e = errno;
		close(m);
		return kiln_err_set(err, e, "opening `%s`", path);
	}
	*master = m;
	*slave = s;
	return 0;
}

int rt_pty_make_stdio(int slave, struct kiln_err *err)
{
	for (int i = 0; i < 3; i++)
		if (dup2(slave, i) < 0)
			return kiln_err_set(err, errno, "setting up the terminal as stdio");
	if (slave > 2)
		close(slave);
	if (setsid() < 0 || ioctl(0, TIOCSCTTY, 0) < 0)
		return kiln_err_set(err, errno, "making the pty the controlling terminal");
	return 0;
}

int rt_pty_bind_console(const char *slave_path, struct kiln_err *err)
{
	int fd = open("/dev/console", O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return kiln_err_set(err, errno, "creating the container's `/dev/console`");
	close(fd);
	if (mount(slave_path, "/dev/console", NULL, MS_BIND, NULL) < 0)
		return kiln_err_set(err, errno, "binding `%s` onto /dev/console", slave_path);
	return 0;
}

int rt_fd_send(int sock, int fd, struct kiln_err *err)
{
	char byte = 'm';
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	memset(&u, 0, sizeof(u));
	struct msghdr msg = {.msg_iov = &iov,
	                     .msg_iovlen = 1,
	                     .msg_control = u.buf,
	                     .msg_controllen = sizeof(u.buf)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	ssize_t r;
	while ((r = sendmsg(sock, &msg, MSG_NOSIGNAL)) < 0 && errno == EINTR)
		;
	if (r < 0)
		return kiln_err_set(err, errno, "handing over the terminal");
	return 0;
}

int rt_fd_recv(int sock, int *fd, struct kiln_err *err)
{
	char byte;
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = {.msg_iov = &iov,
	                     .msg_iovlen = 1,
	                     .msg_control = u.buf,
	                     .msg_controllen = sizeof(u.buf)};
	ssize_t r;
	while ((r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
		;
	if (r < 0)
		return kiln_err_set(err, errno, "receiving the terminal");
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	if (r == 0 || !c || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int)))
		return kiln_err_set(err, 0, "the container's process sent no terminal");
	memcpy(fd, CMSG_DATA(c), sizeof(int));
	return 0;
}

int rt_pty_console(int sock, struct kiln_err *err)
{
	int m, s;
	char path[32];
	if (rt_pty_open_here(&m, &s, path, err) < 0)
		return -1;
	int r = rt_pty_bind_console(path, err);
	if (r == 0)
		r = rt_pty_make_stdio(s, err);
	else
		close(s);
	if (r == 0)
		r = rt_fd_send(sock, m, err);
	close(m);
	close(sock);
	return r;
}
