/* Warming the first cgroup move of a start (rt_launch_warm_begin/_end in
 * runtime.h). Moving a process into a cgroup (a write to cgroup.procs, v1
 * and v2 alike) takes the kernel's cgroup_threadgroup_rwsem for writing,
 * whose first writer waits for a full RCU grace period (5-15 ms on these
 * hosts, 60 ms under a load of 17), holding cgroup_mutex meanwhile; a
 * writer that comes while another waits, or within a grace period after
 * the last one left, does not wait. So a child forked at the start of
 * `run` moves itself into the root group of one hierarchy (harmless: it
 * exits at once) and the grace period passes while kiln loads the image
 * and writes the record. The container's cgroup mkdirs (cgroup_mutex) wait
 * for the rest of it, and the init's move then finds it behind it. One
 * write: a child that kept writing held cgroup_mutex again and again under
 * load (each write waits for the lock's readers, forks and exits all over
 * the host), holding up kiln's mkdirs. Best effort: any failure only means
 * the start waits as before. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup-internal.h"
#include "runtime.h"

static pthread_mutex_t warm_mu = PTHREAD_MUTEX_INITIALIZER;
static pid_t warm_pid;

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

/* Keeps nothing of kiln's open (a store lock, the caller's stdio). */
__attribute__((noreturn)) static void warm_child(const char *target)
{
	int fd = open(target, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		_exit(1);
	if (fd > 0)
		close_range(0, (unsigned)fd - 1, 0);
	close_range((unsigned)fd + 1, ~0U, 0);
	_exit(write(fd, "0", 1) == 1 ? 0 : 1);
}

void rt_launch_warm_begin(void)
{
	pthread_mutex_lock(&warm_mu);
	_cleanup_free_ char *target = warm_pid ? NULL : warm_target();
	if (target) {
		pid_t pid = fork();
		if (pid == 0)
			warm_child(target);
		warm_pid = pid > 0 ? pid : 0;
	}
	pthread_mutex_unlock(&warm_mu);
}

/* Reaps the child: once the init's move is done its write is too (the
 * same grace period); on a path that never moved one, at most the rest
 * of a grace period. */
void rt_launch_warm_end(void)
{
	pthread_mutex_lock(&warm_mu);
	if (warm_pid > 0) {
		while (waitpid(warm_pid, NULL, 0) < 0 && errno == EINTR)
			;
		warm_pid = 0;
	}
	pthread_mutex_unlock(&warm_mu);
}
