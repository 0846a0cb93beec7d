/* runtime/runtime-internal.h: what the runtime's files share. Private to
 * runtime/ (the public header is runtime.h). */
#ifndef KILN_RUNTIME_INTERNAL_H
#define KILN_RUNTIME_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "runtime.h"
#include "sys-internal.h"

#define RT_CONTAINERS_DIR "containers"
#define RT_NAMES_DIR      "containers/names"
#define RT_VOLUMES_DIR    "volumes"

/* --- launching a container's process (launch.c, child.c) ---------------- */
struct rt_launch {
	/* in */
	const struct rt_spec *spec;
	const char *id;        /* cgroup name, hostname default */
	const char *rootfs;    /* the overlay's mount point */
	const char *files_dir; /* holds hosts, hostname, resolv.conf */
	int stdin_fd, stdout_fd, stderr_fd;
	const char *console;  /* unused (NULL): the pty comes from console_sock */
	int console_sock;     /* -t (when > 0): the init opens a pty in the
	                       * container's devpts, makes it stdio and
	                       * /dev/console, and sends the master here */
	bool volatile_rootfs; /* the upper dir is thrown away after the run
	                       * (--rm, a build step): overlay's `volatile`,
	                       * no sync of the upper fs when it goes */
	/* out */
	pid_t pid;          /* container init, host pid */
	uint64_t pid_start; /* its start time */
	struct rt_cgroup *cg;
	struct rt_seccomp *sc;
	pid_t net_pid;    /* slirp4netns of the default network */
	int net_exit_fd;  /* closing it ends slirp4netns */
	int net_ready_fd; /* slirp4netns writes a byte when it is ready */
};
/* Makes the files of files_dir, the cgroup, clones the init into its
 * namespaces and returns once it has exec'd the command (or with the
 * error of why it could not). On failure nothing is left running. */
int rt_launch_start(struct rt_launch *l, struct kiln_err *err);

/* --- json-file log (monitor.c, logrelay.c) ---------------------------------- */
#define RT_LOG_LINE_MAX (16 * 1024) /* docker splits longer lines too */
struct rt_log_stream {
	const char *name; /* "stdout", "stderr" */
	int fd;           /* read end, -1 at EOF */
	char buf[RT_LOG_LINE_MAX];
	size_t len;
};
/* Writes every complete line of s to the log as docker's json-file does;
 * the rest too when flush or when the buffer is full. */
void rt_log_lines(int log_fd, struct rt_log_stream *s, bool flush);
/* One read of s->fd (a pipe or a pty master): the bytes go to sink, then
 * line by line to the log. 0 at the end of the stream (EOF, or EIO from a
 * master without slaves; the rest logged, s->fd left to the caller), else
 * 1 (a retry included). Shared by the monitor and the foreground relay. */
int rt_log_stream_read(int log_fd, struct rt_log_stream *s,
                       void (*sink)(void *ctx, const char *p, size_t n), void *ctx);
/* A foreground container without a pty and without a monitor keeps a log
 * and is attachable as a monitored one is: its stdout and stderr (and its
 * stdin with -i) are pipes that a thread of the foreground kiln serves,
 * copying the output to kiln's own fds, the log and the attachers of
 * ROOT/containers/<id>/attach, and kiln's stdin and the attachers' into
 * the container's. */
struct rt_log_relay;
/* Opens the log, the attach socket and the pipes, and starts the thread:
 * l's stdio fds (kiln's; stdin -1 without -i) are replaced by the
 * container's ends. NULL (l untouched) when it cannot: the container then
 * uses kiln's fds itself. */
struct rt_log_relay *rt_log_relay_open(const char *root, const char *id, struct rt_launch *l);
/* Once the container holds its copies of the pipe ends: closes ours, so
 * the pipes end when the container's processes are gone. */
void rt_log_relay_start(struct rt_log_relay *r);
/* Waits until both output pipes end (all writers gone; at once when never
 * started): everything is logged and copied. NULL is a no-op. */
void rt_log_relay_finish(struct rt_log_relay *r);
/* Then, once the exit is recorded: the attachers get status and are let
 * go (as the monitor's at the end of a run), the socket is removed, r is
 * freed. NULL is a no-op. */
void rt_log_relay_end(struct rt_log_relay *r, int status);

/* Waits for the init, forwarding the usual signals when sig_proxy; *status
 * is docker's exit code. */
int rt_launch_wait(struct rt_launch *l, bool sig_proxy, int *status, struct kiln_err *err);
/* Removes the cgroup (killing anything left in it) and frees l's outputs. */
void rt_launch_release(struct rt_launch *l);
/* One-shot runs (rt_run_process): from begin to end, SIGINT, SIGTERM,
 * SIGHUP and SIGQUIT to kiln are caught; once rt_oneshot_pid() names the
 * container's init (at once, or later when the signal came first) it is
 * SIGKILLed. end restores the handlers and returns the signal caught, or 0. */
struct rt_oneshot_signals {
	int slot;
};
void rt_oneshot_begin(struct rt_oneshot_signals *s);
void rt_oneshot_pid(struct rt_oneshot_signals *s, pid_t pid);
int rt_oneshot_end(struct rt_oneshot_signals *s);

/* The default network (net.c): slirp4netns for the init's namespace,
 * started once the init exists (start) and awaited, with -p published,
 * before it runs (ready): the cgroup move waits in between. */
int rt_net_start(struct rt_launch *l, struct kiln_err *err);
int rt_net_ready(struct rt_launch *l, struct kiln_err *err);
int rt_net_setup(struct rt_launch *l, struct kiln_err *err); /* both at once */
void rt_net_release(struct rt_launch *l);
/* A prepared network (net_prep.c): the namespace the init joins, and the
 * wait for its helper to have configured it (the error names why not). */
int rt_netns_fd(const struct rt_netns *n);
int rt_netns_ready(struct rt_netns *n, struct kiln_err *err);

/* What the child needs besides the launch (child.c). */
struct rt_child {
	const struct rt_launch *l;
	uint64_t caps;
	int sync_fd;  /* parent -> child: go */
	int error_fd; /* child -> parent: an error message, EOF on exec */
	int devnull_fd;
	bool joining;  /* exec into a running container (rt_child_exec only) */
	int tty_slave; /* exec -t (when > 0): the pty slave, made stdio and
	                * controlling terminal instead of the launch's fds */
};
/* Never returns: sets the container up and execs its command, or writes
 * the error to error_fd and exits 1. */
__attribute__((noreturn)) void rt_child_main(struct rt_child *c);

/* Never returns: from the user switch to execve (what exec shares with a
 * container's init); with c->joining, first stdio and the working dir. */
__attribute__((noreturn)) void rt_child_exec(struct rt_child *c);
/* Reads a child's verdict from its close-on-exec error pipe (launch.c):
 * 0 when it exec'd (EOF), else its error (init and exec alike). */
int rt_read_verdict(int fd, struct kiln_err *err);
/* The capability set and seccomp filter a spec asks for (launch.c). */
int rt_launch_caps(const struct rt_spec *s, uint64_t *caps, struct kiln_err *err);
int rt_launch_seccomp(const struct rt_spec *s, uint64_t caps, struct rt_seccomp **sc,
                      struct kiln_err *err);

/* The message the child sends when it fails. */
struct rt_child_error {
	int code; /* kiln_err code */
	char msg[2048];
};

/* --- mounts inside the container (mounts.c), child side ------------------ */
/* Mounts the rootfs (overlay) at l->rootfs and everything under it: /proc,
 * /dev, /sys, the spec's mounts, the hosts files. Then pivots into it. */
int rt_mounts_setup(const struct rt_launch *l, struct kiln_err *err);
/* docker cp of a stopped container, in a private mount namespace: the
 * overlay at rootfs and the spec's binds and volumes on it (no tmpfs).
 * Returns an O_PATH fd of the rootfs. */
int rt_mounts_copy_view(const struct rt_spec *s, const char *rootfs, struct kiln_err *err);
/* /sys/fs/cgroup as docker 20.10 shows it (cgroup_mount.c): the host's
 * hierarchies noted before pivot_root, mounted once the init is in its
 * cgroup namespace (best effort, no error). */
void rt_cgroup_mounts_collect(void);
void rt_cgroup_mounts_apply(bool privileged);
/* After pivot_root: masked and read-only paths, read-only rootfs. */
int rt_mounts_finish(const struct rt_spec *spec, struct kiln_err *err);

/* --- users (user.c) -------------------------------------------------------- */
/* Which supplementary groups a process gets: docker run's and exec's (the
 * primary gid plus the groups listing a user named without a group) or a
 * build RUN's, BuildKit's (only those groups; none when no USER is set). */
enum rt_groups_rule {
	RT_GROUPS_DOCKER,
	RT_GROUPS_BUILDKIT,
};
/* Resolves spec ("name", "uid", "uid:gid", "name:group", "") against the
 * contents of /etc/passwd and /etc/group (either may be NULL: absent),
 * supplementary groups by rule (user.c says how each differs).
 * *home receives the user's home (allocated, "/" if unknown). */
int rt_user_resolve(const char *spec, enum rt_groups_rule rule, const char *passwd,
                    const char *group, struct rt_identity *id, char **home, struct kiln_err *err);

/* --- ids, names, times (names.c) ------------------------------------------- */
void rt_id_generate(char out[65]);
/* docker's namesgenerator: "adjective_surname". Allocated. */
char *rt_name_generate(void);
/* docker's name rule: [a-zA-Z0-9][a-zA-Z0-9_.-]+ */
bool rt_name_valid(const char *name);
/* RFC 3339 UTC with nanoseconds, as docker's Created (allocated). */
char *rt_now_rfc3339(void);
/* Start time of pid (field 22 of /proc/PID/stat), 0 if gone. */
uint64_t rt_pid_start_time(pid_t pid);

/* --- state (state.c) ------------------------------------------------------- */
char *rt_container_dir(const char *root, const char *id);
/* Replaces path atomically (temp + rename) without flushing: for files
 * remade at every start. */
int rt_write_file_replace(const char *path, const char *data, size_t len, mode_t mode,
                          struct kiln_err *err);
int rt_state_save(const char *root, const struct rt_container *c, struct kiln_err *err);
int rt_config_save(const char *root, const struct rt_container *c, struct kiln_err *err);
int rt_container_read(const char *root, const char *id, struct rt_container **out,
                      struct kiln_err *err);
/* Takes the container's lock (exclusive); returns the fd. */
int rt_container_lock(const char *root, const char *id, struct kiln_err *err);
/* Reserves name for id (KILN_E_CONFLICT when taken). */
int rt_name_reserve(const char *root, const char *name, const char *id, struct kiln_err *err);
void rt_name_release(const char *root, const char *name, const char *id);

/* --- terminals (pty.c) ------------------------------------------------------ */
/* A pty pair from the devpts of the current root ("/dev/ptmx"); path is
 * the slave's ("/dev/pts/N"). */
int rt_pty_open_here(int *master, int *slave, char path[32], struct kiln_err *err);
/* slave becomes fds 0-2 (and is closed) in a new session whose
 * controlling terminal it is. */
int rt_pty_make_stdio(int slave, struct kiln_err *err);
/* Binds slave_path onto /dev/console (created when missing). */
int rt_pty_bind_console(const char *slave_path, struct kiln_err *err);
/* The init's side of -t: a pty, /dev/console, stdio, the master sent over
 * sock (closed afterwards). */
int rt_pty_console(int sock, struct kiln_err *err);
/* One fd over a unix socket (SCM_RIGHTS); the received one is O_CLOEXEC. */
int rt_fd_send(int sock, int fd, struct kiln_err *err);
int rt_fd_recv(int sock, int *fd, struct kiln_err *err);

/* --- attaching (attach_server.c: the monitor's side; attach.c: clients) ----
 * ROOT/containers/<id>/attach, SOCK_SEQPACKET; one message = a type byte
 * and its payload. Client -> monitor: STDIN bytes, EOF (close the
 * container's stdin), RESIZE (a struct winsize). Monitor -> client: STDOUT
 * and STDERR bytes, EXIT (int32 status) at the end of a run, then EOF. */
#define RT_ATTACH_STDIN       'i'
#define RT_ATTACH_EOF         'e'
#define RT_ATTACH_RESIZE      'w'
#define RT_ATTACH_STDOUT      '1'
#define RT_ATTACH_STDERR      '2'
#define RT_ATTACH_EXIT        'x'
#define RT_ATTACH_MSG_MAX     (16 * 1024 + 1)
#define RT_ATTACH_MAX_CLIENTS 16
char *rt_attach_path(const char *root, const char *id);
int rt_attach_listen(const char *path, struct kiln_err *err);
int rt_attach_connect(const char *path, struct kiln_err *err);
/* One message (payload cut at RT_ATTACH_MSG_MAX - 1); -1 when it failed. */
int rt_attach_send(int fd, char type, const void *p, size_t n);
struct pollfd;
/* Output a client's socket did not take yet, whole messages (a 4-byte
 * length, then the message); a client whose queue would pass
 * RT_ATTACH_QUEUE_MAX is disconnected, never waited for. */
#define RT_ATTACH_QUEUE_MAX (1024 * 1024)
struct rt_attach_queue {
	char *buf;
	size_t off, len, cap;
	bool mute; /* takes no more output (gone, or reads stdin only) */
};
struct rt_attach_server {
	int listen_fd;
	int fds[RT_ATTACH_MAX_CLIENTS];
	struct rt_attach_queue q[RT_ATTACH_MAX_CLIENTS];
	size_t n;
	int master;  /* -t: the pty master (stdin and sizes go there) */
	int stdin_w; /* -i without -t: the container's stdin pipe */
	/* stdin the container has not taken yet: while any waits, the
	 * clients are not read (they wait, never the monitor) */
	size_t pend_off, pend_len;
	bool stdin_polled; /* rt_attach_pollfds gave the stdin a slot */
	char pend[RT_ATTACH_MSG_MAX];
};
void rt_attach_server_init(struct rt_attach_server *s, int listen_fd);
void rt_attach_add(struct rt_attach_server *s, int fd);
void rt_attach_broadcast(struct rt_attach_server *s, char type, const void *p, size_t n);
/* Stdin for the container (a client's, or a foreground run's own): what
 * its stdin does not take now stays pending (s->pend_len), and nothing
 * more is read until it has. n is at most RT_ATTACH_MSG_MAX. */
void rt_attach_stdin(struct rt_attach_server *s, const char *p, size_t n);
/* Closes the container's stdin pipe (its reader sees EOF). */
void rt_attach_stdin_close(struct rt_attach_server *s);
/* The fds to poll (listen socket, stdin, clients): at most 2 + MAX_CLIENTS. */
size_t rt_attach_pollfds(struct rt_attach_server *s, struct pollfd *p);
/* Accepts and reads what poll found on the fds rt_attach_pollfds gave. */
void rt_attach_serve(struct rt_attach_server *s, const struct pollfd *p, size_t np);
/* A run ended: EXIT to every client, what they have queued sent for up
 * to 2 s in all, clients dropped, the run's stdin and master closed. */
void rt_attach_end_run(struct rt_attach_server *s, int status);

/* exec -t's copy loop over its pty master (attach.c): until the master
 * reads EOF/EIO or the detach keys are typed (*detached). */
int rt_pty_session(int master, const struct rt_attach_opts *o, bool *detached,
                   struct kiln_err *err);

/* docker's copy-up (volume.c): when volume name is empty, the image's
 * directory at target (through the layer dirs lowers, topmost first) is
 * copied into it with its owner and mode; nothing when the image has no
 * directory there. */
int rt_volume_copy_up(const char *root, char *const *lowers, const char *target, const char *name,
                      struct kiln_err *err);

/* --rm of an attached run: the container disappears at once, its files
 * are deleted by a detached process (container.c). */
int rt_container_remove_detached(const char *root, struct rt_container *c, struct kiln_err *err);
/* Before a record goes (the container lock held): c's exit code to every
 * `wait` announced in its waiters dir (lifecycle.c). */
void rt_waiters_notify(const char *root, const char *id, int status);
/* ROOT/gc-roots/container-<id>: what keeps a container's image (allocated). */
char *rt_gc_root_path(const char *root, const char *id);
/* Moves a record's directory into ROOT/tmp/kiln-rm-<id>, where it is
 * swept as any kiln temp tree: its new path (allocated), or NULL when it
 * could not be moved. The caller holds the record's lock. */
char *rt_record_unpublish(const char *root, const char *id);
/* A record directory without config.json whose lock nobody holds is a
 * create that was killed: moved into ROOT/tmp, its GC root unlinked
 * (state.c). True when it was dropped or is gone. */
bool rt_drop_killed_create(const char *root, const char *id);

/* --- the init layer (container.c) -------------------------------------------- */
/* Makes dir a layer with the mount points the runtime binds or mounts
 * (etc/hosts, etc/hostname, etc/resolv.conf, dev, proc, sys), and docker's
 * etc/mtab -> /proc/mounts. */
int rt_init_layer(const char *dir, struct kiln_err *err);
/* Before a start mounts c's lower dirs: fails naming c and its image when
 * one of its snapshots is not trusted in this boot (missing, or left
 * unsynced by an earlier boot: its bytes may be torn), never mounted. */
int rt_container_check_lowers(const struct rt_container *c, struct kiln_err *err);
/* init followed by lower (allocated). */
char **rt_lowers_with_init(const char *init, char *const *lower);

/* --- monitor (monitor.c) ---------------------------------------------------- */
/* ROOT/containers/<id>/stopped: the user stopped it, no restart policy
 * applies until the next start. */
char *rt_stop_marker_path(const char *root, const char *id);
/* Starts the container under a new monitor; attach_fd (or -1) is its first
 * attacher, served from before the container starts (nothing is missed). */
int rt_monitor_spawn(const char *root, struct rt_container *c, int attach_fd, struct kiln_err *err);

/* --- HEALTHCHECK (health.c) ------------------------------------------------ */
int64_t rt_mono_ns(void); /* CLOCK_MONOTONIC in nanoseconds */
/* Go's time.Duration String() ("1s", "1.5s", "500ms", "1m30s"). */
void rt_go_duration(int64_t ns, char *buf, size_t size);
/* Runs c's health test once and records the result in c and state.json;
 * started_ns (rt_mono_ns) is when the container started. */
void rt_health_check(const char *root, struct rt_container *c, int64_t started_ns);

/* --- spec helpers (spec.c) --------------------------------------------------- */
char **rt_strv_dup(char *const *v);
size_t rt_strv_len(char *const *v);

#endif
