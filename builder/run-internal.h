/* Private to builder/: what a RUN step mounts (run_mounts.c for
 * step_run.c). */
#ifndef KILN_BUILDER_RUN_INTERNAL_H
#define KILN_BUILDER_RUN_INTERNAL_H

#include "build-internal.h"
#include "runtime.h"

/* The mounts of one RUN: made by run_mounts_prepare under dir (the step's
 * scratch directory under ROOT/tmp), handed to the runtime, then undone by
 * run_mounts_release (locks dropped, copies removed, secrets' memfds closed). */
struct run_mounts {
	struct rt_mount *v;
	size_t n, cap;
	char *stubs; /* a lower dir holding the mount points that the
	              * rootfs lacks, so that none lands in the layer */
	int *locks;  /* cache mount locks (fds) */
	size_t n_locks;
	struct kiln_strv env; /* added to the step's env (secrets of env=) */
	char *ssh_sock;       /* SSH_AUTH_SOCK unless the step's env has one */
	size_t n_ssh;         /* ssh mounts so far (their default targets) */
	pid_t *relays;        /* ssh relays (ssh_relay.c), killed at release */
	size_t n_relays;
};

int run_mounts_prepare(struct bld_stage *st, const struct df_run *run, const char *dir,
                       struct run_mounts *m, struct kiln_err *err);
/* Adds a read-only bind of the file `host` at `target`. */
void run_mounts_add_bind(struct run_mounts *m, const char *host, const char *target, bool ro);
void run_mounts_release(struct run_mounts *m);

/* ssh_relay.c: a process serving the agent socket `agent` on
 * DIR/ssh-IDX.sock made with mode, uid and gid (path out), for a ssh
 * mount that asks for them; stopped (killed, reaped) by stop. */
int bld_ssh_relay_start(struct bld_stage *st, const char *dir, size_t idx, const char *agent,
                        mode_t mode, uid_t uid, gid_t gid, pid_t *pid_out, char **path_out,
                        struct kiln_err *err);
void bld_ssh_relay_stop(pid_t pid);

#endif
