/* runtime: isolated containers over image snapshots, daemonless.
 * Layer 2: uses image/ and common/ only (never the parser).
 *
 * Two ways in:
 *   - rt_run_process(): one process in a fresh, throw-away container over
 *     caller-given layer dirs, with the caller's fds, returning its exit
 *     status. This is how the builder runs a RUN step: it keeps the upper
 *     dir afterwards and makes a layer of it. Nothing is persisted.
 *   - containers (rt_container_*): a spec made from an image config and run
 *     options, persisted under ROOT/containers/<id>/, with docker's
 *     lifecycle (create, start, wait, kill, remove) so that any later kiln
 *     process sees it.
 *
 * On disk, under the store root:
 *   ROOT/containers/<id>/config.json   the container (spec, image, name, times)
 *   ROOT/containers/<id>/state.json    status, pid, exit code, times
 *   ROOT/containers/<id>/{upper,work}/ the container's writable layer
 *   ROOT/containers/<id>/{hosts,hostname,resolv.conf}
 *   ROOT/containers/<id>/rootfs/       mount point (mounted only inside the
 *                                      container's own mount namespace)
 *   ROOT/containers/names/<name>       symlink to the id (unique names)
 *   ROOT/gc-roots/container-<id>       the image's manifest digest (keeps
 *                                      the image alive while the container is)
 *
 * Exit codes of a container that could not start follow docker's: errors
 * carry RT_E_EXEC_NOTFOUND (127) or RT_E_EXEC_PERM (126); any other failure
 * to run is kiln's own (125): see rt_exit_code_for(). */
#ifndef KILN_RUNTIME_H
#define KILN_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common.h"

struct img_store;
struct img_config;

/* Error codes of a command that could not be invoked (kiln_err.code). */
#define RT_E_EXEC_NOTFOUND (KILN_E_BASE + 100) /* exit 127 */
#define RT_E_EXEC_PERM     (KILN_E_BASE + 101) /* exit 126 */
/* 127, 126 or 125 for an error from a start. */
int rt_exit_code_for(const struct kiln_err *err);

enum rt_network_mode {
	RT_NET_DEFAULT, /* a private network namespace reaching out through
	                 * slirp4netns (10.0.2.100, gateway 10.0.2.2, DNS 10.0.2.3) */
	RT_NET_NONE,    /* a private network namespace with loopback only */
	RT_NET_HOST,    /* the host's network namespace */
};

/* RT_MOUNT_SECRET (rt_run_process only): a file that exists nowhere on
 * the host. The init copies the bytes of data_fd (read from offset 0 to
 * its end; a memfd, owned like the strings) into a tmpfs
 * mounted in the container's own mount namespace, owned uid:gid with mode,
 * and binds it read-only (nosuid, nodev, noexec) at target: it goes with
 * the namespace, and the memfd with the caller, even after a SIGKILL. */
enum rt_mount_type { RT_MOUNT_BIND, RT_MOUNT_TMPFS, RT_MOUNT_SECRET };
struct rt_mount {
	enum rt_mount_type type;
	char *source;  /* host path (bind); NULL for tmpfs and secret */
	char *target;  /* absolute path in the container */
	char *options; /* tmpfs: "size=64m,mode=1777" (may be NULL) */
	char
	    *volume; /* a volume's name ("" before an anonymous one is made); source is its _data */
	bool readonly;
	/* bind: source is a path without symlinks that a container may write
	 * under (a build's cache mount): the init opens it refusing any
	 * symlink (openat2 RESOLVE_NO_SYMLINKS) and binds what it opened, so a
	 * component swapped for a symlink after the caller resolved it fails
	 * the mount instead of leading it onto the host */
	bool exact_source;
	bool nocopy; /* a volume: no copy of the image's content at target (-v ...:nocopy) */
	bool listed; /* -v's anonymous volume: docker's Config.Volumes lists its
	              * target (--mount's never); read at create only */
	int data_fd; /* secret: its bytes (closed by rt_mount_release and
	              * rt_spec_release) */
	uid_t uid;   /* secret: owner and mode of the file */
	gid_t gid;
	mode_t mode;
};

/* -p: a host port forwarded to a container port (default network). */
struct rt_port {
	char *host_ip; /* "0.0.0.0", "127.0.0.1" */
	int host_port, ctr_port;
	bool udp;
};

/* Resource limits; 0 means "not set". */
struct rt_limits {
	int64_t memory;      /* bytes */
	int64_t memory_swap; /* bytes of memory+swap; -1 unlimited */
	int64_t cpu_quota;   /* microseconds per cpu_period (--cpus) */
	int64_t cpu_period;
	int64_t cpu_shares;
	int64_t pids_limit; /* -1 unlimited */
};

struct rt_rlimit {
	int resource; /* RLIMIT_* */
	uint64_t soft, hard;
};

/* What runs and how it is confined. Strings and vectors are owned
 * (rt_spec_release frees them); vectors are NULL-terminated. */
struct rt_spec {
	char **args;       /* argv (entrypoint + cmd resolved) */
	char **env;        /* KEY=VALUE, final (image env merged with options) */
	char **config_env; /* docker's Config.Env: -e/--env-file, then the image's
	                    * entries they leave (no PATH/HOSTNAME/TERM of the
	                    * runtime); NULL in records from before it was kept */
	char *cwd;         /* absolute; "/" when empty */
	char *user;        /* "name", "uid", "uid:gid", "name:group" or NULL (root) */
	char *hostname;
	char *domainname; /* --domainname (the UTS domain name), NULL: none */
	bool tty;         /* stdio is a terminal */
	bool interactive; /* keep stdin open (else /dev/null) */
	bool init;        /* a tiny init as PID 1 that reaps and forwards signals */

	char **lower_dirs; /* layer dirs, topmost first */
	char *upper_dir, *work_dir;
	bool readonly_rootfs;

	struct rt_mount *mounts;
	size_t n_mounts;
	enum rt_network_mode network;
	struct rt_netns *netns; /* RT_NET_DEFAULT: join this prepared network
	                         * (rt_netns_prepare) instead of making one;
	                         * the caller's: rt_spec_release leaves it */
	struct rt_port *ports;  /* published (default network only) */
	size_t n_ports;
	struct rt_limits limits;
	struct rt_rlimit *rlimits; /* --ulimit; the rest default to the caller's */
	size_t n_rlimits;

	bool privileged;
	char **cap_add, **cap_drop;
	bool seccomp_unconfined;
	char *seccomp_profile; /* docker JSON profile bytes, or NULL for the default */
	bool no_new_privs;     /* set for every non-privileged container */
	char *stop_signal;     /* "SIGTERM" (default) */
	/* a build's RUN, run as BuildKit runs one: its supplementary groups
	 * (runtime/user.c), its hostname kept on the host network too, its
	 * two-line /etc/hosts, no /etc/hostname bound; not stored */
	bool build_sandbox;
};
void rt_spec_release(struct rt_spec *s);
/* What a non-privileged container sees masked (an empty file or a
 * read-only tmpfs over it) and read-only, NULL-terminated: docker's
 * HostConfig.MaskedPaths and ReadonlyPaths. */
extern const char *const rt_masked_paths[];
extern const char *const rt_readonly_paths[];

/* docker's -a/--attach: the streams a foreground run attaches. */
enum rt_stream_flags {
	RT_STREAM_STDIN = 1 << 0,
	RT_STREAM_STDOUT = 1 << 1,
	RT_STREAM_STDERR = 1 << 2,
};

/* docker's run options that shape a spec from an image config. */
struct rt_create_opts {
	char **args;       /* trailing args (replace Cmd), may be NULL */
	char **entrypoint; /* --entrypoint (a single word in docker; "" clears) */
	bool entrypoint_set;
	char **env;      /* -e/--env: "K=V" or "K" (taken from the caller's env) */
	char **env_file; /* --env-file paths */
	const char *workdir, *user, *hostname, *domainname;
	bool tty, interactive, init, readonly_rootfs, privileged, rm;
	struct rt_mount *mounts;
	size_t n_mounts;
	enum rt_network_mode network;
	struct rt_limits limits;
	struct rt_rlimit *rlimits;
	size_t n_rlimits;
	char **cap_add, **cap_drop;
	char **security_opt;     /* "seccomp=unconfined", "seccomp=FILE.json",
	                            "no-new-privileges[:true]" */
	const char *name;        /* NULL: a generated docker-style name */
	const char *restart;     /* --restart: "no", "always", "unless-stopped", "on-failure[:N]" */
	char **publish;          /* -p "[IP:][HOSTPORT:]CTRPORT[/tcp|udp]" */
	bool publish_all;        /* -P: the image's ExposedPorts on free host ports */
	const char *health_cmd;  /* --health-cmd (a shell command) */
	int64_t health_interval; /* --health-interval, ns (0: image's or 30 s) */
	int health_retries;      /* --health-retries (0: image's or 3) */
	int64_t health_timeout;  /* --health-timeout, ns (0: image's or 30 s) */
	int64_t health_start_period; /* --health-start-period, ns (0: image's or 0) */
	bool no_healthcheck;         /* --no-healthcheck */
	char **labels;               /* "K=V" */
	char **expose;               /* --expose, as rt_parse_expose gives them ("80/tcp") */
	bool detach;     /* run -d: stdio not attached (docker's Config.Attach* false) */
	unsigned attach; /* -a: RT_STREAM_* (0: stdout and stderr); -i adds stdin */
};

/* Fills spec from image config cfg and options (docker's merge rules: -e
 * over --env-file over the image's Env, PATH defaulted, HOSTNAME set;
 * trailing args replace Cmd; --entrypoint replaces Entrypoint and clears
 * Cmd; -w over WorkingDir; -u over User). Lower dirs are left to the caller. */
int rt_spec_from_config(const struct img_config *cfg, const struct rt_create_opts *o,
                        const char *hostname, struct rt_spec *spec, struct kiln_err *err);

/* --- one-shot (the builder's RUN steps) ------------------------------------ */
struct rt_run_io {
	int stdin_fd, stdout_fd, stderr_fd; /* -1: /dev/null */
};
/* Runs spec->args in a new container over spec->lower_dirs with
 * spec->upper_dir/work_dir as its writable layer (both must exist and be
 * on the same filesystem; the upper dir is left as the process left it),
 * with stdio on io's fds, and waits for it. *status is docker's exit code:
 * the process's status, 128+N if killed by signal N. root is the store
 * root (its tmp/ holds the per-run hosts files). Errors: the process could
 * not be started (rt_exit_code_for tells 125/126/127); EINTR when SIGINT,
 * SIGTERM, SIGHUP or SIGQUIT reached kiln while it waited (the container is
 * then SIGKILLed and cleaned up before the return). */
int rt_run_process(const char *root, const struct rt_spec *spec, const struct rt_run_io *io,
                   int *status, struct kiln_err *err);
/* rt_run_cancel(true): every rt_run_process of this process now running,
 * and any started until rt_run_cancel(false), is SIGKILLed and returns
 * ECANCELED ("canceled"): a build stops its other stages' steps when one
 * fails, as BuildKit cancels them. */
void rt_run_cancel(bool on);
/* Around a fork whose child runs C code (mallocs) before its execve, in a
 * process with other threads: serialised against container starts in
 * AddressSanitizer builds, whose allocator is not fork-safe (launch.c);
 * no-ops otherwise. */
void rt_fork_lock(void);
void rt_fork_unlock(void);
bool rt_run_canceled(void);

/* A default network made ahead of a one-shot run (net_prep.c): its own
 * network namespace with slirp4netns started and configuring it in the
 * background, for spec.netns of a later rt_run_process, which then skips
 * the helper's start-up (10-40 ms). One per run, never shared. NULL when
 * the helper is not slirp4netns (pasta) or anything fails: the run then
 * makes its own as before, and reports a failure of its own. The helper
 * dies with the thread that prepared it (PR_SET_PDEATHSIG): prepare on the
 * thread that runs the process. free tells the helper to go without
 * waiting for its exit (1-20 ms: its tap device goes); rt_netns_reap waits
 * for every helper let go so (the end of a build). NULL is a no-op. */
struct rt_netns;
struct rt_netns *rt_netns_prepare(void);
void rt_netns_free(struct rt_netns *n);
void rt_netns_reap(void);

/* --- containers ------------------------------------------------------------ */
#define RT_HEALTH_LOG_MAX 5 /* docker's maxLogEntries */
enum rt_status {
	RT_CREATED,
	RT_RUNNING,
	RT_PAUSED,
	RT_RESTARTING,
	RT_EXITED,
	RT_DEAD,
	RT_REMOVING,
};
const char *rt_status_name(enum rt_status s); /* docker's: "created", "running"... */

struct rt_container {
	char id[65];
	char *name;       /* without the leading "/" */
	char *image;      /* as the user named it ("busybox") */
	char *image_id;   /* "sha256:..." config digest */
	char *created;    /* RFC 3339 with nanoseconds */
	bool auto_remove; /* --rm */
	struct rt_spec spec;
	char **cmd, **entrypoint; /* as resolved, for inspect/ps */
	char **labels;            /* "K=V" */
	/* docker's Config.ExposedPorts ("80/tcp"): the image's, then -p's
	 * container ports and --expose; NULL in records from before it was kept */
	char **exposed_ports;
	/* docker's Config.Volumes: the image's VOLUMEs, then -v's anonymous
	 * targets (not --mount's); NULL in records from before it was kept */
	char **volumes;
	char *restart_policy;    /* "no", "always", "unless-stopped", "on-failure" */
	char **health_test;      /* HEALTHCHECK: {"CMD-SHELL", cmd} or {"CMD", argv...}, or NULL */
	int64_t health_interval; /* nanoseconds (default 30 s) */
	int health_retries;      /* default 3 */
	int64_t health_timeout;  /* nanoseconds (default 30 s) */
	int64_t health_start_period; /* nanoseconds (default 0) */
	int restart_max;             /* on-failure:N (0: no limit) */
	/* docker's Config.AttachStdin/Stdout/Stderr and StdinOnce: whether the
	 * creating command attached them (not run -d); stdin_once: an
	 * attacher's end of stdin is the container's (run -i, create -i) */
	bool attach_stdin, attach_stdout, attach_stderr, stdin_once;

	/* state.json */
	enum rt_status status;
	pid_t pid;                /* container init (host pid), 0 when not running */
	uint64_t pid_start;       /* its start time (clock ticks since boot), against pid reuse */
	pid_t monitor_pid;        /* the process that waits for it */
	int exit_code;            /* docker's State.ExitCode */
	char *started, *finished; /* RFC 3339, NULL when never */
	char *error;              /* State.Error */
	bool oom_killed;
	int restart_count;
	char *health_status; /* "starting", "healthy", "unhealthy", or NULL */
	int failing_streak;
	char *health_output; /* the last check's output */
	/* State.Health.Log: the last RT_HEALTH_LOG_MAX results, oldest first */
	struct rt_health_result {
		char *start, *end; /* RFC 3339 with nanoseconds */
		int exit_code;     /* -1: timed out or could not run */
		char *output;
	} health_log[RT_HEALTH_LOG_MAX];
	int n_health_log;
};
void rt_container_free(struct rt_container *c);
/* Frees and empties c's health_log. */
void rt_health_log_clear(struct rt_container *c);

/* Creates a container (state "created") from image name_or_id: resolves the
 * image (KILN_E_NOTFOUND "No such image: X" when absent), unpacks its
 * snapshots, reserves the name (KILN_E_CONFLICT with docker's message when
 * taken), writes the GC root, then config.json and state.json. */
int rt_container_create(struct img_store *s, const char *image, const struct rt_create_opts *o,
                        struct rt_container **out, struct kiln_err *err);

/* Loads a container by full ID, unique ID prefix or name ("No such
 * container: X"). The state is refreshed: a "running" container whose
 * process is gone reads "exited". */
int rt_container_load(const char *root, const char *id_or_name, struct rt_container **out,
                      struct kiln_err *err);
/* Every container, newest first. */
int rt_container_list(const char *root, struct rt_container ***out, size_t *n,
                      struct kiln_err *err);
void rt_container_list_free(struct rt_container **v, size_t n);

/* Starts the container's process with stdio on io's fds and waits for it
 * in this process, forwarding SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1,
 * SIGUSR2, SIGWINCH... to it when sig_proxy; records running, then exited
 * with its exit code; removes the container afterwards if it was created
 * with --rm. *status: docker's exit code. */
int rt_container_run_attached(const char *root, struct rt_container *c, const struct rt_run_io *io,
                              bool sig_proxy, int *status, struct kiln_err *err);

/* A container start waits for one RCU grace period (5-15 ms here) when it
 * moves its init into its cgroup; begin, called first thing on a path that
 * starts a container (run), lets that wait pass while kiln prepares (a
 * short-lived child keeps it passed, see cgroup_warm.c); end, once the
 * container started, stops the child. Best effort, no error. */
void rt_launch_warm_begin(void);
void rt_launch_warm_end(void);

/* Starts the container in the background under its monitor, a small
 * process of its own (conmon's job; kiln stays daemonless): it owns the
 * container's stdout and stderr and writes them to
 * ROOT/containers/<id>/<id>-json.log in docker's json-file format, records
 * the exit code and finish time, restarts it as its --restart policy says,
 * and removes an --rm container. Returns once the command has exec'd (or
 * with why it could not: see rt_exit_code_for). */
int rt_container_start(const char *root, struct rt_container *c, struct kiln_err *err);
char *rt_container_log_path(const char *root, const char *id);
/* The kiln-monitor program (runtime/monitor/main.c): `kiln-monitor ROOT ID
 * attach|-` with the start-result pipe on fd 3 (and the first attacher on
 * fd 4). kiln execs it from its own directory when it is there (a small
 * process: no CLI heap, no curl or OpenSSL), else runs the monitor in a
 * fork of itself. */
int rt_monitor_main(int argc, char **argv);

/* docker logs: the json-file log, filtered. */
struct rt_logs_opts {
	bool follow, timestamps;
	long tail;                  /* -1: all */
	int64_t since_ns, until_ns; /* 0: unbounded (Unix time in nanoseconds) */
};
/* Writes the stdout lines to out_fd and the stderr lines to err_fd; with
 * follow and c running (or paused), keeps reading until that run ends, as
 * docker (a restart, by the policy or by hand, ends the follow too). */
int rt_container_logs(const char *root, const struct rt_container *c, const struct rt_logs_opts *o,
                      int out_fd, int err_fd, struct kiln_err *err);
/* "2013-01-02T13:23:37Z", "1360000000.5", "10m", "1h30m" (before now) ->
 * Unix nanoseconds, as docker's --since/--until. */
int rt_parse_timestamp(const char *s, int64_t *ns, struct kiln_err *err);
/* Go durations as docker's --health-interval: "1s", "500ms", "1m30s". */
int rt_parse_duration(const char *s, int64_t *ns, struct kiln_err *err);

/* docker exec: a process in a running container's namespaces and cgroup,
 * with its capabilities, seccomp filter and no_new_privs; env is added to
 * the container's, user and workdir override its own. */
struct rt_exec_opts {
	char **args, **env;
	const char *user, *workdir;
	bool detach, privileged;
	/* -t: a pty from the container's devpts; io's stdin (when >= 0) and
	 * stdout are the caller's terminal, copied raw until the command ends
	 * or detach_keys (docker's syntax; NULL: ctrl-p,ctrl-q) are typed,
	 * which sets *detached (when non-NULL) and leaves the command running */
	bool tty;
	const char *detach_keys;
	bool *detached;
};
int rt_container_exec(const char *root, const struct rt_container *c, const struct rt_exec_opts *o,
                      const struct rt_run_io *io, int *status, struct kiln_err *err);

/* --- attaching (attach.c; the monitor's end is attach_server.c) ------------ */
#define RT_DETACH_KEYS_MAX 16
struct rt_attach_opts {
	int in_fd;               /* -1: stdin not attached (--no-stdin, no -i) */
	int out_fd, err_fd;      /* with -t everything comes on out_fd */
	const char *detach_keys; /* docker's syntax; NULL: "ctrl-p,ctrl-q" */
	bool sig_proxy;          /* signals to kiln go to the container (not with -t) */
	bool close_stdin;        /* stdin's end closes the container's (run -i, start -ai) */
	/* run -a stdin alone: no output is taken, and the session ends with
	 * stdin's end (status 0, the container running on), as docker's */
	bool stdin_only;
};
/* docker's --detach-keys: comma-separated, each a single character or
 * ctrl-a..ctrl-z, ctrl-@, ctrl-[, ctrl-\, ctrl-], ctrl-^, ctrl-_. */
int rt_detach_keys_parse(const char *s, char keys[RT_DETACH_KEYS_MAX], size_t *n,
                         struct kiln_err *err);
/* docker attach: through the container's monitor (its attach socket),
 * output streamed, stdin (when the container has -i) and window sizes
 * sent, the caller's terminal raw for a -t container. Ends with *status
 * the container's exit code, or *detached when the detach keys were
 * typed (the container keeps running). A stopped or paused container is
 * KILN_E_CONFLICT with docker's message. */
int rt_container_attach(const char *root, struct rt_container *c, const struct rt_attach_opts *o,
                        int *status, bool *detached, struct kiln_err *err);
/* rt_container_attach's first check alone (docker attach makes it before
 * its CLI checks the terminal): KILN_E_CONFLICT with docker's message
 * when c is stopped or paused. */
int rt_container_attachable(const struct rt_container *c, struct kiln_err *err);
/* run -it, start -ai: starts the container under its monitor with this
 * process attached from before its first byte, then as rt_container_attach
 * (start errors as rt_container_start's). */
int rt_container_start_attach(const char *root, struct rt_container *c,
                              const struct rt_attach_opts *o, int *status, bool *detached,
                              struct kiln_err *err);

/* pause/unpause through the freezer; the state reads paused/running. */
int rt_container_pause(const char *root, struct rt_container *c, bool pause, struct kiln_err *err);
/* The container's processes (host pids, sorted) from its cgroup. */
int rt_container_pids(const struct rt_container *c, pid_t **pids, size_t *n, struct kiln_err *err);
struct rt_stats {
	uint64_t cpu_ns, memory_usage, memory_limit, pids; /* memory_limit UINT64_MAX: none */
};
int rt_container_stats(const struct rt_container *c, struct rt_stats *st, struct kiln_err *err);
/* docker rename: the new name must be valid and free. */
int rt_container_rename(const char *root, struct rt_container *c, const char *name,
                        struct kiln_err *err);

/* Sends sig to the container's init (KILN_E_CONFLICT "container X is not
 * running" otherwise). */
int rt_container_kill(const char *root, struct rt_container *c, int sig, struct kiln_err *err);
/* STOPSIGNAL (or SIGTERM), then SIGKILL after timeout_sec; waits until it
 * is gone. A container not running is left as it is. */
int rt_container_stop(const char *root, struct rt_container *c, int timeout_sec,
                      struct kiln_err *err);
/* Waits until the container is not running; *exit_code its exit code. */
int rt_container_wait(const char *root, struct rt_container *c, int *exit_code,
                      struct kiln_err *err);
/* Removes the container (its dir, name, GC root). A running container
 * needs force (killed first), else KILN_E_CONFLICT with docker's message. */
int rt_container_remove(const char *root, struct rt_container *c, bool force, struct kiln_err *err);

/* True when a container (any state) uses image id (rmi, image prune);
 * *user receives the first such container's ID when non-NULL. */
bool rt_image_in_use(const char *root, const char *image_id, char **user);

/* docker diff: the container's changes against its image, from its upper
 * dir: "A /path", "C /path", "D /path", sorted by path. */
int rt_container_diff(const struct rt_container *c, struct kiln_strv *out, struct kiln_err *err);

/* Bytes of the container's writable layer (regular files of its upper dir). */
uint64_t rt_container_size(const struct rt_container *c);

/* docker commit: the upper dir becomes a layer on top of the image's,
 * with a config from the image's plus the container's own (as docker's:
 * Env as the container was created, -e and --env-file over the image's,
 * never the runtime's PATH/HOSTNAME/TERM; Cmd, Entrypoint, WorkingDir,
 * User, Labels, ExposedPorts with -p and --expose, Volumes with -v's
 * anonymous ones), then apply (commit -c) edits it; the history entry is
 * created by the container's Cmd. */
struct rt_commit_opts {
	const char *ref; /* NULL: untagged */
	const char *message, *author;
	bool pause; /* freeze a running container while its layer is made */
	int (*apply)(struct img_config *cfg, void *ud, struct kiln_err *err);
	void *apply_ud;
};
int rt_container_commit(struct img_store *s, struct rt_container *c, const struct rt_commit_opts *o,
                        char image_id[KILN_DIGEST_LEN], struct kiln_err *err);

/* --- docker cp (cp.c) ---------------------------------------------------------
 * docker 20.10's rules: SRC ending in "/." copies a directory's contents; an
 * existing DEST directory receives SRC under its own name, a missing DEST
 * is created with SRC's content under DEST's name (its parent must exist;
 * a trailing "/" on a missing DEST is "no such directory" for a file);
 * "-" is a tar stream. Paths in the container never leave its root
 * (symlinks resolved inside it); a running container is copied to and
 * from live (volumes included), a stopped one through its layers and
 * volumes. Ownership as docker 20.10: into the container, the source's
 * uid/gid are kept; with -a and a container user, that user (resolved in
 * the container's /etc/passwd); out of it, files belong to the caller.
 * cname is the container as the user named it (for messages: "No such
 * container:path: C:/x"). */
struct rt_cp_opts {
	bool archive;     /* -a */
	bool follow_link; /* -L: follow a symlink SRC (one level) */
};
/* dest NULL or "-": the tar goes to out_fd. */
int rt_container_copy_from(const char *root, const struct rt_container *c, const char *cname,
                           const char *src, const char *dest, int out_fd,
                           const struct rt_cp_opts *o, struct kiln_err *err);
/* src NULL or "-": a tar read from in_fd (dest must be a directory). */
int rt_container_copy_to(const char *root, const struct rt_container *c, const char *cname,
                         const char *src, int in_fd, const char *dest, const struct rt_cp_opts *o,
                         struct kiln_err *err);

/* --- volumes (volume.c): ROOT/volumes/<name>/_data ------------------------ */
struct rt_volume {
	char *name, *created, *mountpoint;
};
/* name NULL or "": an anonymous volume (64 hex). Existing: success. */
int rt_volume_create(const char *root, const char *name, char **name_out, struct kiln_err *err);
int rt_volume_get(const char *root, const char *name, struct rt_volume *v, struct kiln_err *err);
void rt_volume_release(struct rt_volume *v);
int rt_volume_list(const char *root, struct kiln_strv *names, struct kiln_err *err);
/* The ID of a container using the volume (allocated), or NULL. */
char *rt_volume_user(const char *root, const char *name);
/* Refused while a container uses it (docker's message); force: a missing
 * volume is no error. */
int rt_volume_remove(const char *root, const char *name, bool force, struct kiln_err *err);
bool rt_volume_is_anonymous(const char *name);
char *rt_volume_path(const char *root, const char *name);
/* rm -v and --rm: the container's anonymous volumes (after its removal). */
void rt_container_remove_volumes(const char *root, const struct rt_container *c);

/* docker's signal names: "SIGKILL", "KILL", "9" -> 9 (KILN_E_INVALID
 * "Invalid signal: X" otherwise). */
int rt_signal_parse(const char *s, int *sig, struct kiln_err *err);

/* --- docker's option syntaxes (opts.c) --------------------------------------- */
/* "512m", "1g", "100k", "1024" (bytes; b/k/m/g/t/p, optional trailing "b",
 * any case) as docker's RAMInBytes. */
int rt_parse_bytes(const char *s, int64_t *out, struct kiln_err *err);
/* --cpus "1.5" -> quota 150000 per period 100000. */
int rt_parse_cpus(const char *s, struct rt_limits *l, struct kiln_err *err);
/* --ulimit "nofile=1024:2048" or "nproc=512" (soft = hard). */
int rt_parse_ulimit(const char *s, struct rt_rlimit *out, struct kiln_err *err);
/* The --ulimit name of an RLIMIT_* ("nofile"), "" when it has none. */
const char *rt_ulimit_name(int resource);
/* -v "/host:/ctr[:ro|rw]" (a bind), "name:/ctr[:ro]" (a named volume),
 * "/ctr" (an anonymous volume: volume ""). Fields allocated. */
int rt_parse_volume(const char *s, struct rt_mount *out, struct kiln_err *err);
/* --mount "type=bind|volume|tmpfs,source=S,target=T[,readonly][,tmpfs-size=N]
 * [,tmpfs-mode=M]" (docker's keys and aliases: src, dst, destination, ro). */
int rt_parse_mount(const char *s, struct rt_mount *out, struct kiln_err *err);
/* --tmpfs "/ctr[:opts]". */
int rt_parse_tmpfs(const char *s, struct rt_mount *out, struct kiln_err *err);
/* --expose "80", "53/udp", "8000-8010[/proto]": each port appended to
 * out as "80/tcp" (docker's messages). */
int rt_parse_expose(const char *s, struct kiln_strv *out, struct kiln_err *err);
/* --network "none", "host", "default"/"bridge" (docker's message for others). */
int rt_parse_network(const char *s, enum rt_network_mode *out, struct kiln_err *err);
void rt_mount_release(struct rt_mount *m);
/* Checks one -p value with docker's syntax and messages (ranges, IPs,
 * protocols) without binding anything: what `run` checks before a pull. */
int rt_publish_check(const char *s, struct kiln_err *err);

#endif
