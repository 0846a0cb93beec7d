/* docker cp: both directions, docker 20.10's path rules (pkg/archive's
 * CopyInfo*, PrepareArchiveCopy, the daemon's archive endpoints).
 *
 * The container side always runs in a forked worker, which streams a tar
 * to or from this process as dockerd does to its CLI: for a running
 * container the worker works in a private copy of its mount namespace
 * with what docker does not show detached (running_view); for a stopped one it unshares a mount
 * namespace and mounts the container's overlay and volumes there, holding the container lock so no
 * start races it. Every path in the container is resolved with RESOLVE_IN_ROOT, so symlinks and
 * ".." never leave its root. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cp-internal.h"

enum cp_op { CP_STAT, CP_GET, CP_PUT };
struct cp_job {
	enum cp_op op;
	const char *path; /* in the container */
	bool follow;      /* GET -L */
	bool rebase;      /* GET: the top entry keeps the name asked for (-L) */
	int data_fd;      /* GET: the tar goes there; PUT: it comes from there */
	bool copy_uidgid; /* PUT -a */
};
/* worker -> parent before any data */
struct cp_head {
	uint32_t mode; /* 0: not found */
	char link[PATH_MAX];
	char path[PATH_MAX];    /* GET: the path archived (after -L) */
	char top[NAME_MAX + 1]; /* GET: the archive's top entry */
};

static bool alive(const struct rt_container *c)
{
	return c->pid > 0 && c->pid_start && rt_pid_start_time(c->pid) == c->pid_start;
}

static int not_found(const char *cname, const char *path, struct kiln_err *err)
{
	return kiln_err_set(err, KILN_E_NOTFOUND, "No such container:path: %s:%s", cname, path);
}

/* --- the worker (container side) -------------------------------------------- */
/* A mount point docker's archive endpoints see in a running container:
 * the rootfs, the spec's binds and volumes, the hosts files (the daemon
 * mounts those over the rootfs it reads); not /proc, /sys, /dev and its
 * submounts, nor tmpfs mounts. */
static bool docker_visible(const struct rt_container *c, const char *mp)
{
	static const char *const net_files[] = {"/", "/etc/hosts", "/etc/hostname",
	                                        "/etc/resolv.conf"};
	for (size_t i = 0; i < KILN_ARRAY_SIZE(net_files); i++)
		if (!strcmp(mp, net_files[i]))
			return true;
	for (size_t i = 0; i < c->spec.n_mounts; i++) {
		const struct rt_mount *m = &c->spec.mounts[i];
		if (m->type == RT_MOUNT_BIND && m->target) {
			_cleanup_free_ char *t = rt_go_clean(m->target);
			if (!strcmp(mp, t))
				return true;
		}
	}
	return false;
}

/* mountinfo's mount point field, its \ooo escapes decoded in place. */
static char *mount_point(char *line)
{
	char *f = line;
	for (int i = 0; i < 4 && f; i++)
		f = strchr(f, ' ') ? strchr(f, ' ') + 1 : NULL;
	char *end = f ? strchr(f, ' ') : NULL;
	if (!end)
		return NULL;
	*end = 0;
	size_t w = 0;
	for (size_t r = 0; f[r]; r++, w++) {
		unsigned v;
		if (f[r] == '\\' && sscanf(f + r + 1, "%3o", &v) == 1 && v < 256) {
			f[w] = (char)v;
			r += 3;
		} else {
			f[w] = f[r];
		}
	}
	f[w] = 0;
	return f;
}

/* A running container as docker's cp sees it: the worker joins a private
 * copy of the container's mount namespace and detaches (there only) every
 * mount docker_visible leaves out, innermost first, so /proc, /sys and the
 * /dev tmpfs are the rootfs's own (empty) directories and no device of
 * the runtime's /dev is read. A bind under a detached mount goes with it. */
static int running_view(const struct rt_container *c, struct kiln_err *err)
{
	char p[64];
	snprintf(p, sizeof(p), "/proc/%d/ns/mnt", (int)c->pid);
	_cleanup_close_ int ns = open(p, O_RDONLY | O_CLOEXEC);
	int proc = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC); /* kept: rt_cp_set_proc */
	if (ns < 0 || proc < 0 || !alive(c))
		return kiln_err_set(err, ns < 0 ? errno : ESRCH, "container %s stopped", c->id);
	rt_cp_set_proc(proc);
	if (setns(ns, CLONE_NEWNS) < 0 || unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return kiln_err_set(err, errno, "entering the mounts of container %s", c->id);
	int mi = openat(proc, "self/mountinfo", O_RDONLY | O_CLOEXEC);
	char *data = NULL;
	size_t len = 0;
	if (mi < 0 || kiln_read_fd(mi, 16u << 20, "mountinfo", &data, &len, err) < 0) {
		if (mi >= 0)
			close(mi);
		return mi < 0 ? kiln_err_set(err, errno, "reading the container's mountinfo") : -1;
	}
	close(mi);
	struct kiln_strv mps = KILN_STRV_INIT;
	for (char *save = NULL, *l = strtok_r(data, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		char *mp = mount_point(l);
		if (mp && !docker_visible(c, mp))
			kiln_strv_push(&mps, mp);
	}
	free(data);
	for (size_t i = mps.n; i-- > 0;)
		umount2(mps.v[i], MNT_DETACH | UMOUNT_NOFOLLOW); /* gone with a parent: EINVAL */
	kiln_strv_release(&mps);
	int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? kiln_err_set(err, errno, "opening the container's root") : fd;
}

static int worker_root(const char *root, const struct rt_container *c, struct kiln_err *err)
{
	if (alive(c))
		return running_view(c, err);
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return kiln_err_set(err, errno, "making a mount namespace");
	_cleanup_free_ char *dir = rt_container_dir(root, c->id);
	_cleanup_free_ char *rootfs = kiln_path_join(dir, "rootfs");
	return rt_mounts_copy_view(&c->spec, rootfs, err);
}

/* The daemon's ResolvePath + lstat: the directory part followed inside
 * the root, the last element not. *name is "." for the directory itself. */
static int resolve(int rootfd, const char *path, char **abs, char **name, struct stat *st,
                   struct kiln_err *err)
{
	_cleanup_free_ char *j = rt_go_join("/", path);
	*abs = rt_go_preserve_trailing(j, path);
	const char *slash = strrchr(*abs, '/');
	_cleanup_free_ char *dir = xstrndup(*abs, (size_t)(slash - *abs + 1));
	*name = xstrdup(slash[1] && strcmp(slash + 1, ".") ? slash + 1 : ".");
	int fd = rt_cp_open_in(rootfd, dir, O_PATH | O_DIRECTORY);
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR
		           ? kiln_err_set(err, KILN_E_NOTFOUND, "not found")
		           : kiln_err_set(err, errno, "resolving `%s`", *abs);
	if (fstatat(fd, *name, st, AT_SYMLINK_NOFOLLOW) < 0) {
		int e = errno;
		close(fd);
		return e == ENOENT ? kiln_err_set(err, KILN_E_NOTFOUND, "not found")
		                   : kiln_err_set(err, e, "lstat `%s`", *abs);
	}
	return fd;
}

static int job_stat(int rootfd, const char *path, struct cp_head *h, struct kiln_err *err)
{
	_cleanup_free_ char *abs = NULL, *name = NULL;
	struct stat st;
	_cleanup_close_ int fd = resolve(rootfd, path, &abs, &name, &st, err);
	if (fd < 0)
		return err->code == KILN_E_NOTFOUND ? (kiln_err_release(err), 0) : -1;
	h->mode = st.st_mode;
	if (S_ISLNK(st.st_mode) && readlinkat(fd, name, h->link, sizeof(h->link) - 1) < 0)
		return kiln_err_set(err, errno, "reading the link `%s`", abs);
	return 0;
}

static int job_get(int rootfd, const struct rt_container *c, const struct cp_job *j, int head_fd,
                   struct kiln_err *err)
{
	struct cp_head h = {0};
	_cleanup_free_ char *path = xstrdup(j->path), *rebase = NULL;
	_cleanup_free_ char *abs = NULL, *name = NULL;
	struct stat st;
	int fd = resolve(rootfd, path, &abs, &name, &st, err);
	if (fd >= 0 && j->follow && S_ISLNK(st.st_mode)) { /* -L: one level, as docker */
		char link[PATH_MAX];
		ssize_t n = readlinkat(fd, name, link, sizeof(link) - 1);
		close(fd);
		if (n < 0)
			return kiln_err_set(err, errno, "reading the link `%s`", abs);
		link[n] = 0;
		_cleanup_free_ char *pdir = NULL, *pbase = NULL;
		rt_go_split_dir_entry(path, &pdir, &pbase);
		char *target = link[0] == '/' ? rt_go_clean(link) : rt_go_join(pdir, link);
		rebase = rt_go_rebase_name(path, &target);
		free(path), free(abs), free(name);
		path = target, abs = name = NULL;
		fd = resolve(rootfd, path, &abs, &name, &st, err);
	}
	snprintf(h.path, sizeof(h.path), "%s", path);
	if (fd < 0) {
		if (err->code != KILN_E_NOTFOUND)
			return -1;
		kiln_err_release(err);
		return kiln_write_all(head_fd, &h, sizeof(h), err);
	}
	_cleanup_close_ int pfd = fd;
	h.mode = st.st_mode;
	_cleanup_free_ char *top = j->rebase && rebase ? xstrdup(rebase) : rt_go_base(abs);
	snprintf(h.top, sizeof(h.top), "%s", top);
	if (kiln_write_all(head_fd, &h, sizeof(h), err) < 0)
		return -1;
	close(head_fd);
	_cleanup_free_ char *ctr = rt_go_clean(abs);
	struct rt_cp_src src = {
	    .dirfd = pfd, .name = name, .top = top, .ctr_path = ctr, .mounts = &c->spec};
	return rt_cp_tar_write(&src, j->data_fd, err);
}

static uint64_t mnt_of(int fd)
{
	struct statx sx;
	return statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &sx) < 0 ? 0 : sx.stx_mnt_id;
}

/* -a: the container's user, resolved in the container's own files. */
static int container_owner(int rootfd, const struct rt_container *c, struct rt_cp_dest *d,
                           struct kiln_err *err)
{
	const char *files[] = {"/etc/passwd", "/etc/group"};
	char *data[2] = {NULL, NULL};
	for (int i = 0; i < 2; i++) {
		int fd = rt_cp_open_in(rootfd, files[i], O_RDONLY | O_NONBLOCK);
		size_t len;
		if (fd >= 0 && kiln_read_fd(fd, 4u << 20, files[i], &data[i], &len, NULL) < 0)
			data[i] = NULL;
		if (fd >= 0)
			close(fd);
	}
	struct rt_identity id = {0};
	char *home = NULL;
	int r = rt_user_resolve(c->spec.user, RT_GROUPS_DOCKER, data[0], data[1], &id, &home, err);
	free(data[0]), free(data[1]), free(home), free(id.groups);
	if (r < 0 && err->code == KILN_E_NOTFOUND) /* not the path's "No such container:path" */
		err->code = KILN_E_INVALID;
	d->force_owner = r == 0;
	d->uid = id.uid;
	d->gid = id.gid;
	return r;
}

static int job_put(int rootfd, const struct rt_container *c, const struct cp_job *j,
                   struct kiln_err *err)
{
	_cleanup_free_ char *abs = rt_go_join("/", j->path);
	_cleanup_close_ int fd = rt_cp_open_in(rootfd, abs, O_PATH | O_DIRECTORY);
	if (fd < 0)
		return errno == ENOENT    ? kiln_err_set(err, KILN_E_NOTFOUND, "not found")
		       : errno == ENOTDIR ? kiln_err_set(err, KILN_E_INVALID,
		                                         "extraction point is not a directory")
		                          : kiln_err_set(err, errno, "resolving `%s`", abs);
	struct statvfs vfs;
	bool ro = fstatvfs(fd, &vfs) == 0 && (vfs.f_flag & ST_RDONLY);
	bool in_root = mnt_of(fd) == mnt_of(rootfd);
	if (in_root && (ro || c->spec.readonly_rootfs))
		return kiln_err_set(err, KILN_E_CONFLICT, "container rootfs is marked read-only");
	if (!in_root && ro)
		return kiln_err_set(err, KILN_E_CONFLICT, "mounted volume is marked read-only");
	struct rt_cp_dest d = {.dirfd = fd, .chown = true};
	if (j->copy_uidgid && c->spec.user && *c->spec.user &&
	    container_owner(rootfd, c, &d, err) < 0)
		return -1;
	return rt_cp_extract(&d, j->data_fd, err);
}

__attribute__((noreturn)) static void worker_main(const char *root, const struct rt_container *c,
                                                  const struct cp_job *j, int head_fd, int err_fd)
{
	struct kiln_err e = KILN_ERR_INIT;
	signal(SIGPIPE, SIG_DFL);
	int rootfd = worker_root(root, c, &e);
	int r = rootfd;
	struct cp_head h = {0};
	if (r >= 0 && j->op == CP_STAT) {
		r = job_stat(rootfd, j->path, &h, &e);
		if (r == 0)
			r = kiln_write_all(head_fd, &h, sizeof(h), &e);
	} else if (r >= 0) {
		r = j->op == CP_GET ? job_get(rootfd, c, j, head_fd, &e)
		                    : job_put(rootfd, c, j, &e);
	}
	if (r < 0) {
		struct rt_child_error m = {.code = e.code};
		char *msg = kiln_err_format(&e);
		snprintf(m.msg, sizeof(m.msg), "%s", msg);
		if (write(err_fd, &m, sizeof(m)) < 0)
			_exit(2);
		_exit(1);
	}
	_exit(0);
}

struct cp_worker {
	pid_t pid;
	int head_fd, err_fd;
};

static int worker_start(const char *root, const struct rt_container *c, const struct cp_job *j,
                        struct cp_worker *w, struct kiln_err *err)
{
	int hp[2], ep[2];
	if (pipe2(hp, O_CLOEXEC) < 0)
		return kiln_err_set(err, errno, "pipe");
	if (pipe2(ep, O_CLOEXEC) < 0) {
		close(hp[0]), close(hp[1]);
		return kiln_err_set(err, errno, "pipe");
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		close(hp[0]), close(ep[0]);
		worker_main(root, c, j, hp[1], ep[1]);
	}
	int saved = errno;
	close(hp[1]), close(ep[1]);
	if (pid < 0) {
		close(hp[0]), close(ep[0]);
		return kiln_err_set(err, saved, "forking the copy worker");
	}
	*w = (struct cp_worker){.pid = pid, .head_fd = hp[0], .err_fd = ep[0]};
	return 0;
}

/* Reads the head; false (with the worker's error, if any) when none came. */
static bool worker_head(struct cp_worker *w, struct cp_head *h)
{
	size_t got = 0;
	while (got < sizeof(*h)) {
		ssize_t r = read(w->head_fd, (char *)h + got, sizeof(*h) - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	h->link[sizeof(h->link) - 1] = h->path[sizeof(h->path) - 1] = h->top[sizeof(h->top) - 1] =
	    0;
	return got == sizeof(*h);
}

/* Waits for the worker (killed first when kill_it); its error if it failed. */
static int worker_finish(struct cp_worker *w, bool kill_it, struct kiln_err *err)
{
	if (kill_it)
		kill(w->pid, SIGKILL);
	struct kiln_err e = KILN_ERR_INIT;
	int r = rt_read_verdict(w->err_fd, &e);
	int st = 0;
	while (waitpid(w->pid, &st, 0) < 0 && errno == EINTR)
		;
	close(w->head_fd), close(w->err_fd);
	if (r < 0) {
		if (err)
			kiln_err_move(err, &e);
		kiln_err_release(&e);
		return -1;
	}
	if (!kill_it && WIFSIGNALED(st) && WTERMSIG(st) == SIGPIPE)
		return kiln_err_set(err, EPIPE, "writing the archive");
	if (!kill_it && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
		return kiln_err_set(err, 0, "the copy worker failed (status %d)", st);
	return 0;
}

/* A STAT job: *mode 0 when the path does not exist. */
static int container_stat(const char *root, const struct rt_container *c, const char *path,
                          struct cp_head *h, struct kiln_err *err)
{
	struct cp_job j = {.op = CP_STAT, .path = path, .data_fd = -1};
	struct cp_worker w;
	if (worker_start(root, c, &j, &w, err) < 0)
		return -1;
	bool got = worker_head(&w, h);
	if (worker_finish(&w, false, err) < 0)
		return -1;
	return got ? 0 : kiln_err_set(err, 0, "the copy worker sent nothing");
}

/* --- the host side ------------------------------------------------------------ */
/* filepath.Abs, keeping a trailing "/" or "/.". */
static char *local_abs(const char *path)
{
	char cwd[PATH_MAX];
	_cleanup_free_ char *j =
	    path[0] == '/' || !getcwd(cwd, sizeof(cwd)) ? rt_go_clean(path) : rt_go_join(cwd, path);
	return rt_go_preserve_trailing(j, path);
}

static const char *go_errno(int e)
{
	return e == ENOENT ? "no such file or directory" : e == ENOTDIR ? "not a directory" : NULL;
}

static int stat_fail(struct kiln_err *err, const char *op, const char *path)
{
	int e = errno;
	const char *m = go_errno(e);
	return m ? kiln_err_set(err, KILN_E_INVALID, "%s %s: %s", op, path, m)
	         : kiln_err_set(err, e, "%s %s", op, path);
}

/* The CLI's ValidateOutputPath. */
static int validate_output(const char *path, struct kiln_err *err)
{
	_cleanup_free_ char *c = rt_go_clean(path);
	_cleanup_free_ char *dir = rt_go_dir(c);
	struct stat st;
	if (strcmp(dir, ".") && stat(dir, &st) < 0 && errno == ENOENT)
		return kiln_err_set(err, KILN_E_INVALID,
		                    "invalid output path: directory \"%s\" does not exist", dir);
	if (stat(path, &st) < 0)
		return errno == ENOENT ? 0 : stat_fail(err, "stat", path);
	if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
		return kiln_err_set(err, KILN_E_INVALID,
		                    "invalid output path: \"%s\" must be a directory or a regular "
		                    "file: got a device",
		                    path);
	return 0;
}

struct copy_info {
	char *path;
	bool exists, is_dir;
};

/* CopyInfoDestinationPath: symlinks of the last element followed (10 at
 * most); a missing path needs an existing parent directory. */
static int dest_info(const char *path, struct copy_info *ci, struct kiln_err *err)
{
	struct stat st;
	ci->path = xstrdup(path);
	int r = lstat(ci->path, &st);
	for (int n = 0; r == 0 && S_ISLNK(st.st_mode); n++) {
		char link[PATH_MAX];
		ssize_t len = n > 10 ? -1 : readlink(ci->path, link, sizeof(link) - 1);
		if (len < 0)
			return n > 10 ? kiln_err_set(err, KILN_E_INVALID, "too many symlinks in %s",
			                             path)
			              : stat_fail(err, "readlink", ci->path);
		link[len] = 0;
		_cleanup_free_ char *pdir = NULL, *pbase = NULL;
		rt_go_split_dir_entry(ci->path, &pdir, &pbase);
		free(ci->path);
		ci->path = link[0] == '/' ? rt_go_clean(link) : rt_go_join(pdir, link);
		r = lstat(ci->path, &st);
	}
	if (r == 0) {
		ci->exists = true;
		ci->is_dir = S_ISDIR(st.st_mode);
		return 0;
	}
	if (errno != ENOENT)
		return stat_fail(err, "lstat", ci->path);
	_cleanup_free_ char *pdir = NULL, *pbase = NULL;
	rt_go_split_dir_entry(ci->path, &pdir, &pbase);
	if (stat(pdir, &st) < 0)
		return stat_fail(err, "stat", pdir);
	if (!S_ISDIR(st.st_mode))
		return kiln_err_set(err, KILN_E_INVALID, "not a directory");
	return 0;
}

/* PrepareArchiveCopy: where to extract, and the top entry's new name
 * (*to NULL: none). */
static int prepare_copy(bool src_is_dir, const struct copy_info *dst, char **dir, char **to,
                        struct kiln_err *err)
{
	_cleanup_free_ char *ddir = NULL, *dbase = NULL;
	rt_go_split_dir_entry(dst->path, &ddir, &dbase);
	*to = NULL;
	if (dst->exists && dst->is_dir) {
		*dir = xstrdup(dst->path);
		return 0;
	}
	if (dst->exists && src_is_dir)
		return kiln_err_set(err, KILN_E_INVALID, "cannot copy directory");
	if (!dst->exists && !src_is_dir &&
	    (rt_go_trailing_sep(dst->path) || rt_go_current_dir(dst->path)))
		return kiln_err_set(err, KILN_E_INVALID, "no such directory");
	*dir = TAKE_PTR(ddir);
	*to = TAKE_PTR(dbase);
	return 0;
}

static void copy_info_release(struct copy_info *ci)
{
	free(ci->path);
}

int rt_container_copy_from(const char *root, const struct rt_container *c, const char *cname,
                           const char *src, const char *dest, int out_fd,
                           const struct rt_cp_opts *o, struct kiln_err *err)
{
	bool to_stdout = !dest || !strcmp(dest, "-");
	if (!*src)
		return kiln_err_set(err, KILN_E_INVALID, "bad parameter: pathcannot be empty");
	_cleanup_free_ char *dst = to_stdout ? NULL : local_abs(dest);
	if (dst && validate_output(dst, err) < 0)
		return -1;
	int pp[2] = {-1, -1};
	if (!to_stdout && pipe2(pp, O_CLOEXEC) < 0)
		return kiln_err_set(err, errno, "pipe");
	int lock = alive(c) ? -1 : rt_container_lock(root, c->id, NULL);
	struct cp_job j = {.op = CP_GET,
	                   .path = src,
	                   .follow = o->follow_link,
	                   .rebase = !to_stdout,
	                   .data_fd = to_stdout ? out_fd : pp[1]};
	struct cp_worker w;
	int r = worker_start(root, c, &j, &w, err);
	if (pp[1] >= 0)
		close(pp[1]);
	struct cp_head h;
	if (r == 0 && !worker_head(&w, &h)) {
		r = worker_finish(&w, false, err);
		r = r < 0 ? -1 : kiln_err_set(err, 0, "the copy worker sent nothing");
	} else if (r == 0 && !h.mode) {
		worker_finish(&w, true, NULL);
		r = not_found(cname, h.path, err);
	} else if (r == 0) {
		struct copy_info ci = {0};
		_cleanup_free_ char *dir = NULL, *to = NULL;
		r = to_stdout ? 0 : dest_info(dst, &ci, err);
		if (r == 0 && !to_stdout)
			r = prepare_copy(S_ISDIR(h.mode), &ci, &dir, &to, err);
		_cleanup_close_ int dfd =
		    r == 0 && dir ? open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
		if (r == 0 && dir && dfd < 0)
			r = stat_fail(err, "open", dir);
		if (r == 0 && dir) {
			struct rt_cp_dest d = {
			    .dirfd = dfd, .rebase_from = to ? h.top : NULL, .rebase_to = to};
			r = rt_cp_extract(&d, pp[0], err);
		}
		copy_info_release(&ci);
		if (worker_finish(&w, r < 0, r < 0 ? NULL : err) < 0)
			r = -1;
	}
	if (pp[0] >= 0)
		close(pp[0]);
	if (lock >= 0)
		close(lock);
	return r;
}

/* CopyInfoSourcePath: the host source, its directory part resolved (all
 * of it with -L), and the name its archive's top entry takes. */
static int source_info(const char *path, bool follow, struct copy_info *ci, char **top,
                       struct kiln_err *err)
{
	char real[PATH_MAX];
	_cleanup_free_ char *rebase = NULL;
	if (follow) {
		if (!realpath(path, real))
			return stat_fail(err, "lstat", path);
		ci->path = xstrdup(real);
		rebase = rt_go_rebase_name(path, &ci->path);
	} else {
		const char *slash = strrchr(path, '/');
		_cleanup_free_ char *dir = xstrndup(path, (size_t)(slash - path + 1));
		if (!realpath(dir, real))
			return stat_fail(err, "lstat", path);
		ci->path = strcmp(real, "/") ? xasprintf("%s/%s", real, slash + 1)
		                             : xasprintf("/%s", slash + 1);
		_cleanup_free_ char *a = rt_go_base(path), *b = rt_go_base(ci->path);
		if (rt_go_trailing_sep(path) && strcmp(a, b))
			rebase = xstrdup(a);
	}
	struct stat st;
	if (lstat(ci->path, &st) < 0)
		return stat_fail(err, "lstat", ci->path);
	ci->exists = true;
	ci->is_dir = S_ISDIR(st.st_mode);
	_cleanup_free_ char *sdir = NULL, *sbase = NULL;
	rt_go_split_dir_entry(ci->path, &sdir, &sbase);
	*top = rebase ? TAKE_PTR(rebase) : TAKE_PTR(sbase);
	return 0;
}

/* The container's destination as the CLI stats it: one symlink level
 * followed; a device refused. */
static int container_dest(const char *root, const struct rt_container *c, const char *cname,
                          const char *dest, struct copy_info *ci, struct kiln_err *err)
{
	struct cp_head h;
	ci->path = xstrdup(dest);
	if (container_stat(root, c, dest, &h, err) < 0)
		return -1;
	if (S_ISLNK(h.mode)) {
		_cleanup_free_ char *pdir = NULL, *pbase = NULL;
		rt_go_split_dir_entry(dest, &pdir, &pbase);
		free(ci->path);
		ci->path = h.link[0] == '/' ? xstrdup(h.link) : rt_go_join(pdir, h.link);
		if (container_stat(root, c, ci->path, &h, err) < 0)
			return -1;
	}
	if (S_ISCHR(h.mode) || S_ISBLK(h.mode))
		return kiln_err_set(err, KILN_E_INVALID,
		                    "destination \"%s:%s\" must be a directory or a regular file: "
		                    "got a device",
		                    cname, dest);
	ci->exists = h.mode != 0;
	ci->is_dir = S_ISDIR(h.mode);
	return 0;
}

/* Streams the host source's tar into the worker extracting it. */
static int send_source(const struct copy_info *si, const char *top, int fd, struct kiln_err *err)
{
	_cleanup_free_ char *sdir = NULL, *sbase = NULL;
	rt_go_split_dir_entry(si->path, &sdir, &sbase);
	_cleanup_close_ int dfd = open(sdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return stat_fail(err, "open", sdir);
	struct rt_cp_src src = {.dirfd = dfd, .name = sbase, .top = top};
	struct sigaction ign = {.sa_handler = SIG_IGN}, old;
	sigemptyset(&ign.sa_mask);
	sigaction(SIGPIPE, &ign, &old); /* a worker that fails stops reading */
	int r = rt_cp_tar_write(&src, fd, err);
	sigaction(SIGPIPE, &old, NULL);
	return r;
}

int rt_container_copy_to(const char *root, const struct rt_container *c, const char *cname,
                         const char *src, int in_fd, const char *dest, const struct rt_cp_opts *o,
                         struct kiln_err *err)
{
	if (!*dest)
		return kiln_err_set(err, KILN_E_INVALID, "bad parameter: pathcannot be empty");
	bool from_stdin = !src || !strcmp(src, "-");
	int lock = alive(c) ? -1 : rt_container_lock(root, c->id, NULL);
	struct copy_info di = {0}, si = {0};
	_cleanup_free_ char *top = NULL, *dir = NULL, *to = NULL, *abs = NULL;
	int r = container_dest(root, c, cname, dest, &di, err);
	if (r == 0 && from_stdin && !di.is_dir)
		r = kiln_err_set(err, KILN_E_INVALID, "destination \"%s:%s\" must be a directory",
		                 cname, dest);
	if (r == 0 && from_stdin)
		dir = xstrdup(di.path);
	if (r == 0 && !from_stdin) {
		abs = local_abs(src);
		r = source_info(abs, o->follow_link, &si, &top, err);
		if (r == 0)
			r = prepare_copy(si.is_dir, &di, &dir, &to, err);
	}
	int pp[2] = {-1, -1};
	if (r == 0 && !from_stdin && pipe2(pp, O_CLOEXEC) < 0)
		r = kiln_err_set(err, errno, "pipe");
	struct cp_job j = {.op = CP_PUT,
	                   .path = dir,
	                   .data_fd = from_stdin ? in_fd : pp[0],
	                   .copy_uidgid = o->archive};
	struct cp_worker w;
	if (r == 0)
		r = worker_start(root, c, &j, &w, err);
	if (pp[0] >= 0)
		close(pp[0]);
	if (r == 0) {
		int sent = from_stdin ? 0 : send_source(&si, to ? to : top, pp[1], err);
		if (pp[1] >= 0)
			close(pp[1]), pp[1] = -1;
		struct kiln_err we = KILN_ERR_INIT;
		r = worker_finish(&w, false, &we);
		if (r < 0 && we.code == KILN_E_NOTFOUND) {
			kiln_err_release(&we);
			if (sent < 0)
				kiln_err_release(err);
			r = not_found(cname, dir, err);
		} else if (r < 0) { /* the worker's reason beats our broken pipe */
			if (sent < 0)
				kiln_err_release(err);
			kiln_err_move(err, &we);
		} else {
			r = sent;
		}
	}
	if (pp[1] >= 0)
		close(pp[1]);
	copy_info_release(&di);
	copy_info_release(&si);
	if (lock >= 0)
		close(lock);
	return r;
}
