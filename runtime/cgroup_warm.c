/* Warming the first cgroup move of a start (rt_launch_warm_begin/_end in
 * runtime.h). Moving a process into a cgroup (a write to cgroup.procs, v1
 * and v2 alike) takes the kernel's cgroup_threadgroup_rwsem for writing,
 * whose first writer waits for a full RCU grace period (5-15 ms on these
 * hosts, most of a `run --rm` when nothing else overlaps it); a writer that
 * comes while another holds it, or within a grace period after the last one
 * left, does not wait. So a child forked at the start of `run` moves itself
 * into the root group of one hierarchy (harmless: it only loops and exits)
 * every WARM_TICK_MS until killed (or kiln is gone), and the container's own move,
 * some milliseconds later, finds the grace period behind it. Best effort:
 * any failure only means the start waits as before. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup-internal.h"
#include "runtime.h"

#define WARM_TICK_MS   2
#define WARM_MAX_TICKS 500 /* stop after about a second whatever happens */

static pthread_mutex_t warm_mu = PTHREAD_MUTEX_INITIALIZER;
static pid_t warm_pid;
static int warm_fd = -1; /* the child stops when every copy is closed */

/* The root group of a hierarchy without controllers when there is one
 * (name=systemd), else of the first; v2: its root. */
static char *warm_target(void)
{
	struct cg_mounts m;
	struct kiln_err e = KILN_ERR_INIT;
	if (cg_mounts_detect(&m, &e) < 0) {
		kiln_err_release(&e);
		return NULL;
	}
	const char *dir = m.n_v1 ? m.v1[0].path : m.v2;
	for (size_t i = 0; i < m.n_v1; i++)
		if (m.v1[i].ctrls == CG_SYSTEMD)
			dir = m.v1[i].path;
	char *p = dir ? kiln_path_join(dir, "cgroup.procs") : NULL;
	cg_mounts_release(&m);
	return p;
}

/* Keeps nothing of kiln's open (a store lock, the caller's stdio): the
 * group's cgroup.procs on fd 0, the stop pipe on fd 1. */
__attribute__((noreturn)) static void warm_child(const char *target, int stop_fd)
{
	int fd = open(target, O_WRONLY);
	if (fd < 2 || stop_fd < 2 || dup2(stop_fd, 1) != 1 || dup2(fd, 0) != 0)
		_exit(0);
	close_range(2, ~0U, 0);
	for (int i = 0; i < WARM_MAX_TICKS; i++) {
		if (write(0, "0", 1) < 0)
			break;
		struct pollfd p = {.fd = 1, .events = POLLIN};
		if (poll(&p, 1, WARM_TICK_MS) != 0)
			break; /* closed (or kiln is gone) */
	}
	_exit(0);
}

void rt_launch_warm_begin(void)
{
	pthread_mutex_lock(&warm_mu);
	_cleanup_free_ char *target = warm_pid ? NULL : warm_target();
	int p[2];
	if (target && pipe2(p, O_CLOEXEC) == 0) {
		pid_t pid = fork();
		if (pid == 0) {
			close(p[1]);
			warm_child(target, p[0]);
		}
		close(p[0]);
		if (pid > 0) {
			warm_pid = pid;
			warm_fd = p[1];
		} else {
			close(p[1]);
		}
	}
	pthread_mutex_unlock(&warm_mu);
}

void rt_launch_warm_end(void)
{
	pthread_mutex_lock(&warm_mu);
	if (warm_pid > 0) {
		/* the container's init holds a copy of warm_fd until its exec */
		kill(warm_pid, SIGKILL);
		close(warm_fd);
		while (waitpid(warm_pid, NULL, 0) < 0 && errno == EINTR)
			;
		warm_pid = 0;
		warm_fd = -1;
	}
	pthread_mutex_unlock(&warm_mu);
}
