/* Running containers: attached runs (this process waits and records the
 * end), kill, stop, wait, and the builder's one-shot rt_run_process. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runtime-internal.h"

static const struct {
	const char *name;
	int sig;
} signals[] = {
    {"ABRT", SIGABRT}, {"ALRM", SIGALRM}, {"BUS", SIGBUS},       {"CHLD", SIGCHLD},
    {"CLD", SIGCHLD},  {"CONT", SIGCONT}, {"FPE", SIGFPE},       {"HUP", SIGHUP},
    {"ILL", SIGILL},   {"INT", SIGINT},   {"IO", SIGIO},         {"IOT", SIGIOT},
    {"KILL", SIGKILL}, {"PIPE", SIGPIPE}, {"POLL", SIGPOLL},     {"PROF", SIGPROF},
    {"PWR", SIGPWR},   {"QUIT", SIGQUIT}, {"SEGV", SIGSEGV},     {"STKFLT", SIGSTKFLT},
    {"STOP", SIGSTOP}, {"SYS", SIGSYS},   {"TERM", SIGTERM},     {"TRAP", SIGTRAP},
    {"TSTP", SIGTSTP}, {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},     {"URG", SIGURG},
    {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"VTALRM", SIGVTALRM}, {"WINCH", SIGWINCH},
    {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ},
};

int rt_signal_parse(const char *s, int *sig, struct kiln_err *err)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*s && !*end) {
		if (v <= 0 || v > 64)
			return kiln_err_set(err, KILN_E_INVALID, "Invalid signal: %s", s);
		*sig = (int)v;
		return 0;
	}
	const char *n = strncasecmp(s, "SIG", 3) ? s : s + 3;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(signals); i++)
		if (!strcasecmp(n, signals[i].name)) {
			*sig = signals[i].sig;
			return 0;
		}
	if (!strncasecmp(n, "RTMIN", 5) || !strncasecmp(n, "RTMAX", 5)) {
		long off = n[5] ? strtol(n + 5, &end, 10) : 0;
		if (!n[5] || !*end) {
			*sig =
			    n[3] == 'I' || n[3] == 'i' ? SIGRTMIN + (int)off : SIGRTMAX + (int)off;
			if (*sig >= SIGRTMIN && *sig <= SIGRTMAX)
				return 0;
		}
	}
	return kiln_err_set(err, KILN_E_INVALID, "Invalid signal: %s", s);
}

static bool alive(const struct rt_container *c)
{
	return c->pid > 0 && c->pid_start && rt_pid_start_time(c->pid) == c->pid_start;
}

static void launch_for(const char *root, struct rt_container *c, const struct rt_run_io *io,
                       struct rt_launch *l, char **dir, char **rootfs)
{
	*dir = rt_container_dir(root, c->id);
	*rootfs = kiln_path_join(*dir, "rootfs");
	memset(l, 0, sizeof(*l));
	l->spec = &c->spec;
	l->id = c->id;
	l->rootfs = *rootfs;
	l->files_dir = *dir;
	l->stdin_fd = io && c->spec.interactive ? io->stdin_fd : -1;
	l->stdout_fd = io ? io->stdout_fd : -1;
	l->stderr_fd = io ? io->stderr_fd : -1;
	l->volatile_rootfs = c->auto_remove;
}

/* Records the end of a run; false when the container is gone (rm -f). */
static void record_exit(const char *root, struct rt_container *c, int status, struct rt_launch *l)
{
	int lock = rt_container_lock(root, c->id, NULL);
	_cleanup_free_ char *dir = rt_container_dir(root, c->id);
	_cleanup_free_ char *cfg = kiln_path_join(dir, "config.json");
	if (l && l->cg) {
		struct rt_cgroup_stats st;
		struct kiln_err e = KILN_ERR_INIT;
		if (rt_cgroup_stats(l->cg, &st, &e) == 0)
			c->oom_killed = st.oom_killed;
		kiln_err_release(&e);
	}
	c->status = RT_EXITED;
	c->exit_code = status;
	c->pid = 0;
	c->pid_start = 0;
	if (!c->auto_remove) /* else we remove it next: not abandoned (drop_abandoned) */
		c->monitor_pid = 0;
	free(c->finished);
	c->finished = rt_now_rfc3339();
	if (kiln_path_exists(cfg))
		rt_state_save(root, c, NULL);
	if (lock >= 0)
		close(lock);
}

int rt_container_run_attached(const char *root, struct rt_container *c, const struct rt_run_io *io,
                              bool sig_proxy, int *status, struct kiln_err *err)
{
	if (c->spec.tty) { /* the pty stays with a monitor: detachable */
		bool detached = false;
		struct rt_attach_opts o = {.in_fd = io ? io->stdin_fd : -1,
		                           .out_fd = io ? io->stdout_fd : STDOUT_FILENO,
		                           .err_fd = io ? io->stderr_fd : STDERR_FILENO,
		                           .close_stdin = true};
		int r = rt_container_start_attach(root, c, &o, status, &detached, err);
		if (r == 0 && detached)
			*status = 0;
		return r;
	}
	if (rt_container_check_lowers(c, err) < 0)
		return -1;
	int lock = rt_container_lock(root, c->id, err);
	if (lock < 0)
		return -1;
	if (alive(c)) {
		close(lock);
		return kiln_err_set(err, KILN_E_CONFLICT, "container %s is already running", c->id);
	}
	struct rt_launch l;
	_cleanup_free_ char *dir = NULL, *rootfs = NULL;
	launch_for(root, c, io, &l, &dir, &rootfs);
	/* logged and attachable as a monitored container is (--rm too, as
	 * docker's: its log goes with it) */
	struct rt_log_relay *relay = rt_log_relay_open(root, c->id, &l);
	int started = rt_launch_start(&l, err);
	rt_log_relay_start(relay);
	if (started < 0) {
		rt_log_relay_finish(relay);
		free(c->error);
		c->error = kiln_err_format(err);
		close(lock);
		record_exit(root, c, rt_exit_code_for(err), NULL);
		rt_log_relay_end(relay, rt_exit_code_for(err));
		if (c->auto_remove && rt_container_remove(root, c, true, NULL) == 0)
			rt_container_remove_volumes(root, c);
		return -1;
	}
	c->status = RT_RUNNING;
	c->pid = l.pid;
	c->pid_start = l.pid_start;
	c->monitor_pid = getpid();
	c->exit_code = 0;
	free(c->error);
	c->error = NULL;
	free(c->started);
	c->started = rt_now_rfc3339();
	int r = rt_state_save(root, c, err);
	close(lock);
	if (r < 0)
		kiln_warn("recording the start of %s: %s", c->id, err->msg), kiln_err_release(err);

	r = rt_launch_wait(&l, sig_proxy, status, err);
	if (r < 0) /* not ours to wait for after all: best info */
		*status = 255;
	rt_log_relay_finish(relay); /* the container's processes are gone */
	bool anon = false;          /* anonymous volumes go before we return (docker's --rm) */
	for (size_t i = 0; i < c->spec.n_mounts; i++)
		anon = anon || (c->spec.mounts[i].volume &&
		                rt_volume_is_anonymous(c->spec.mounts[i].volume));
	/* an --rm record without anonymous volumes goes at once (renamed
	 * away): its end is only written when that fails */
	bool quick = c->auto_remove && !anon;
	if (!quick)
		record_exit(root, c, *status, &l);
	rt_log_relay_end(relay, *status); /* after the state: attachers read it */
	c->pid = 0;                       /* reaped */
	rt_launch_release(&l);
	if (c->auto_remove) {
		struct kiln_err e = KILN_ERR_INIT;
		c->exit_code = *status; /* for a `wait` on it (rt_waiters_notify) */
		if ((anon ? rt_container_remove(root, c, true, &e)
		          : rt_container_remove_detached(root, c, &e)) < 0) {
			if (quick)
				record_exit(root, c, *status, NULL);
			kiln_warn("removing %s: %s", c->id, e.msg);
			kiln_err_release(&e);
		} else {
			rt_container_remove_volumes(root, c);
		}
	}
	return r;
}

int rt_container_kill(const char *root, struct rt_container *c, int sig, struct kiln_err *err)
{
	(void)root;
	if (!alive(c))
		return kiln_err_set(err, KILN_E_CONFLICT, "Container %s is not running", c->id);
	if (kill(c->pid, sig) < 0)
		return kiln_err_set(err, errno, "Cannot kill container: %s", c->id);
	return 0;
}

/* Waits up to timeout_ms for the init to be gone. */
static bool wait_gone(const struct rt_container *c, long timeout_ms)
{
	for (long t = 0;; t += 20) {
		if (!alive(c))
			return true;
		if (t >= timeout_ms)
			return false;
		nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
	}
}

/* After the init is gone: give its monitor a moment to record the end;
 * with no monitor left, record it ourselves. */
static void settle(const char *root, struct rt_container *c, int sig)
{
	for (int i = 0; i < 100; i++) {
		struct rt_container *now = NULL;
		if (rt_container_read(root, c->id, &now, NULL) < 0)
			return; /* removed (--rm) */
		bool done = now->status != RT_RUNNING && now->status != RT_PAUSED;
		bool monitor = now->monitor_pid > 0 && rt_pid_start_time(now->monitor_pid) != 0;
		if (done) {
			c->status = now->status;
			c->exit_code = now->exit_code;
		}
		rt_container_free(now);
		if (done)
			return;
		if (!monitor)
			break;
		nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
	}
	record_exit(root, c, 128 + sig, NULL);
}

int rt_container_stop(const char *root, struct rt_container *c, int timeout_sec,
                      struct kiln_err *err)
{
	_cleanup_free_ char *marker = rt_stop_marker_path(root, c->id);
	_cleanup_free_ char *dir = rt_container_dir(root, c->id);
	if (kiln_path_exists(dir)) /* the monitor must not restart it */
		rt_write_file_replace(marker, "", 0, 0600, NULL);
	/* between two runs of a restart policy: let its monitor see the
	 * marker and settle (it may have been starting the next run) */
	for (int i = 0; i < 250 && !alive(c) && c->status == RT_RESTARTING; i++) {
		nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
		struct rt_container *now = NULL;
		if (rt_container_load(root, c->id, &now, NULL) < 0)
			return 0;
		c->status = now->status;
		c->pid = now->pid;
		c->pid_start = now->pid_start;
		rt_container_free(now);
	}
	if (!alive(c))
		return 0;
	if (c->status == RT_PAUSED) /* a frozen process cannot act on a signal */
		rt_container_pause(root, c, false, NULL);
	int sig = SIGTERM;
	if (c->spec.stop_signal && rt_signal_parse(c->spec.stop_signal, &sig, NULL) < 0)
		sig = SIGTERM;
	if (timeout_sec != 0 && kill(c->pid, sig) == 0 &&
	    wait_gone(c, timeout_sec < 0 ? 10000L : timeout_sec * 1000L)) {
		settle(root, c, sig);
		return 0;
	}
	if (alive(c) && kill(c->pid, SIGKILL) < 0 && errno != ESRCH)
		return kiln_err_set(err, errno, "Cannot kill container: %s", c->id);
	if (!wait_gone(c, 30000))
		return kiln_err_set(err, KILN_E_CONFLICT, "container %s did not stop", c->id);
	settle(root, c, SIGKILL);
	return 0;
}

/* --- waiters ---------------------------------------------------------------
 * An --rm container's record goes as it ends (a foreground run renames it
 * away without writing its end), so a `wait` announces itself: a file of
 * its own in ROOT/containers/<id>/waiters, made under the container lock
 * while the record is there. Whoever removes the record first writes the
 * exit code into every such file, under the same lock (rt_waiters_notify),
 * and the waiter reads it through its open fd after the file is gone. With
 * nobody waiting that costs the remover one failed opendir. */
static char *waiters_dir(const char *root, const char *id)
{
	_cleanup_free_ char *dir = rt_container_dir(root, id);
	return kiln_path_join(dir, "waiters");
}

void rt_waiters_notify(const char *root, const char *id, int status)
{
	_cleanup_free_ char *wdir = waiters_dir(root, id);
	_cleanup_closedir_ DIR *d = opendir(wdir);
	if (!d)
		return;
	char msg[16];
	int n = snprintf(msg, sizeof(msg), "%d\n", status);
	for (struct dirent *e; (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		int fd = openat(dirfd(d), e->d_name, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			continue;
		if (pwrite(fd, msg, (size_t)n, 0) < 0)
			kiln_debug("telling a waiter of %s: %s", id, strerror(errno));
		close(fd);
	}
}

/* Our file among the waiters (its path in *path), or -1 when the record is
 * gone already. */
static int waiter_register(const char *root, const char *id, char **path)
{
	int lock = rt_container_lock(root, id, NULL);
	if (lock < 0)
		return -1;
	_cleanup_free_ char *dir = rt_container_dir(root, id);
	_cleanup_free_ char *cfg = kiln_path_join(dir, "config.json");
	_cleanup_free_ char *wdir = waiters_dir(root, id);
	int fd = -1;
	if (kiln_path_exists(cfg) && (mkdir(wdir, 0700) == 0 || errno == EEXIST)) {
		char rnd[65];
		rt_id_generate(rnd);
		*path = xasprintf("%s/%d-%.16s", wdir, (int)getpid(), rnd);
		fd = open(*path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	}
	close(lock);
	return fd;
}

/* The exit code written into our file, if any yet. */
static bool waiter_read(int fd, int *exit_code)
{
	char buf[16];
	ssize_t n = fd < 0 ? -1 : pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0 || buf[n - 1] != '\n')
		return false;
	buf[n] = 0;
	*exit_code = atoi(buf);
	return true;
}

static void waiter_release(const char *root, const char *id, int fd, char *path)
{
	if (fd < 0)
		return;
	close(fd);
	int lock = rt_container_lock(root, id, NULL);
	_cleanup_free_ char *wdir = waiters_dir(root, id);
	unlink(path);
	rmdir(wdir); /* fails while another waits */
	if (lock >= 0)
		close(lock);
	free(path);
}

int rt_container_wait(const char *root, struct rt_container *c, int *exit_code,
                      struct kiln_err *err)
{
	int fd = -1, r = 0;
	char *path = NULL;
	for (;;) {
		if (waiter_read(fd, exit_code))
			break;
		struct rt_container *now = NULL;
		if (rt_container_load(root, c->id, &now, err) < 0) {
			/* removed: the code its end left us (read after the load:
			 * it is written before the record goes) */
			r = waiter_read(fd, exit_code) ? 0 : -1;
			if (r == 0)
				kiln_err_release(err);
			break;
		}
		bool done = now->status != RT_RUNNING && now->status != RT_PAUSED &&
		            now->status != RT_RESTARTING;
		*exit_code = now->exit_code;
		rt_container_free(now);
		if (done)
			break;
		if (fd < 0 && !path) /* once; then look again at once */
			fd = waiter_register(root, c->id, &path);
		else
			nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
	}
	waiter_release(root, c->id, fd, path);
	return r;
}

int rt_run_process(const char *root, const struct rt_spec *spec, const struct rt_run_io *io,
                   int *status, struct kiln_err *err)
{
	char id[65];
	rt_id_generate(id);
	_cleanup_free_ char *dir = xasprintf("%s/tmp/run-%s", root, id);
	_cleanup_free_ char *rootfs = kiln_path_join(dir, "rootfs");
	_cleanup_free_ char *init = kiln_path_join(dir, "init");
	if (kiln_mkdir_p(rootfs, 0700, err) < 0 || rt_init_layer(init, err) < 0) {
		kiln_rm_rf(dir, NULL);
		return -1;
	}
	if (spec->build_sandbox) { /* no /etc/hostname is bound over the image's */
		_cleanup_free_ char *hn = kiln_path_join(init, "etc/hostname");
		unlink(hn);
	}
	/* the caller's upper dir must not get the runtime's mount points */
	struct rt_spec with_init = *spec;
	with_init.lower_dirs = rt_lowers_with_init(init, spec->lower_dirs);
	struct rt_launch l = {.spec = &with_init,
	                      .id = id,
	                      .rootfs = rootfs,
	                      .files_dir = dir,
	                      .stdin_fd = io ? io->stdin_fd : -1,
	                      .stdout_fd = io ? io->stdout_fd : -1,
	                      .stderr_fd = io ? io->stderr_fd : -1,
	                      .volatile_rootfs = true}; /* the caller tars the upper dir */
	struct rt_oneshot_signals sigs;
	rt_oneshot_begin(&sigs);
	int r = rt_launch_start(&l, err);
	if (r == 0) {
		rt_oneshot_pid(&sigs, l.pid);
		r = rt_launch_wait(&l, false, status, err);
		rt_launch_release(&l);
	}
	int sig = rt_oneshot_end(&sigs);
	if (r == 0 && sig)
		r = kiln_err_set(err, EINTR, "interrupted by SIG%s", sigabbrev_np(sig));
	else if (r == 0 && rt_run_canceled())
		r = kiln_err_set(err, ECANCELED, "canceled");
	kiln_strv_free(with_init.lower_dirs);
	kiln_rm_rf(dir, NULL);
	return r;
}
