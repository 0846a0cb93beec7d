/* The container's filesystem, set up by its init in its own mount
 * namespace (so every mount goes away with the namespace): the overlay
 * rootfs, /proc, /dev (tmpfs with the standard nodes, devpts newinstance,
 * shm, mqueue), /sys read-only, the hosts files, the spec's binds and
 * tmpfs mounts, its secrets (copied into a tmpfs that only this namespace
 * sees, then bound), then pivot_root with the old root detached, docker's masked
 * and read-only paths, and a read-only rootfs when asked. Every path under
 * the new root is resolved as if it were / (openat2 RESOLVE_IN_ROOT), so a
 * symlink in an image cannot point a mount at the host. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "runtime-internal.h"

const char *const rt_masked_paths[] = {
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
    NULL,
};
const char *const rt_readonly_paths[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL,
};

static int open_in_root(int rootfd, const char *path, int flags)
{
	return kiln_open_in_root(rootfd, path, flags);
}

/* Resolves path under rootfd, creating missing directories (and the last
 * component as an empty file when file is true). Returns an O_PATH fd. */
static int mkpath_in_root(int rootfd, const char *path, bool file, struct kiln_err *err)
{
	int fd = open_in_root(rootfd, path, O_PATH);
	if (fd >= 0 || errno != ENOENT)
		return fd >= 0 ? fd
		               : kiln_err_set(err, errno, "resolving `%s` in the container", path);
	_cleanup_free_ char *copy = xstrdup(path);
	char *slash = strrchr(copy, '/');
	const char *base = slash ? slash + 1 : copy;
	int parent;
	if (slash && slash != copy) {
		*slash = 0;
		parent = mkpath_in_root(rootfd, copy, false, err);
	} else {
		parent = open_in_root(rootfd, "/", O_PATH);
	}
	if (parent < 0)
		return -1;
	int r =
	    file ? openat(parent, base, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644)
	         : mkdirat(parent, base, 0755);
	int saved = errno;
	close(parent);
	if (r < 0 && saved != EEXIST)
		return kiln_err_set(err, saved, "creating `%s` in the container", path);
	if (file && r >= 0)
		close(r);
	fd = open_in_root(rootfd, path, O_PATH);
	if (fd < 0)
		return kiln_err_set(err, errno, "resolving `%s` in the container", path);
	return fd;
}

static int do_mount(const char *src, int target_fd, const char *shown, const char *type,
                    unsigned long flags, const char *data, struct kiln_err *err)
{
	char target[64];
	snprintf(target, sizeof(target), "/proc/self/fd/%d", target_fd);
	const char *what = type ? type : src;
	if (mount(src, target, type, flags, data) < 0)
		return kiln_err_set(err, errno, "mounting %s on `%s`", what ? what : "a bind",
		                    shown);
	return 0;
}

static int mount_at(int rootfd, const char *src, const char *path, bool file, const char *type,
                    unsigned long flags, const char *data, struct kiln_err *err)
{
	int fd = mkpath_in_root(rootfd, path, file, err);
	if (fd < 0)
		return -1;
	int r = do_mount(src, fd, path, type, flags, data, err);
	close(fd);
	return r;
}

/* A bind mount, made read-only (with extra flags) by a remount when asked. */
static int bind_at(int rootfd, const char *src, const char *path, bool file, bool ro,
                   unsigned long extra, struct kiln_err *err)
{
	int fd = mkpath_in_root(rootfd, path, file, err);
	if (fd < 0)
		return -1;
	int r = do_mount(src, fd, path, NULL, MS_BIND | MS_REC, NULL, err);
	if (r == 0 && (ro || extra)) {
		close(fd); /* the fd names the covered dir: reopen the mount */
		fd = open_in_root(rootfd, path, O_PATH);
		r = fd < 0
		        ? kiln_err_set(err, errno, "resolving `%s`", path)
		        : do_mount(NULL, fd, path, NULL,
		                   MS_BIND | MS_REMOUNT | extra | (ro ? MS_RDONLY : 0), NULL, err);
	}
	if (fd >= 0)
		close(fd);
	return r;
}

/* A `volatile` overlay leaves work/incompat/volatile in its work dir, and
 * overlay refuses that work dir until the mark is gone (after a crash the
 * upper dir may lack what was not synced). Only upper dirs that are thrown
 * away are mounted volatile, so the mark is cleared before any mount. */
static void clear_volatile_mark(const char *work_dir)
{
	static const char *const marks[] = {"work/incompat/volatile/dirty",
	                                    "work/incompat/volatile", "work/incompat"};
	int dir = open(work_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(marks); i++) /* a file, then its dirs */
		if (unlinkat(dir, marks[i], i ? AT_REMOVEDIR : 0) < 0 && errno == ENOENT && i == 0)
			break; /* no mark: the common case */
	close(dir);
}

/* volatile_: the upper dir is thrown away after the run, so the overlay
 * need not sync the upper fs when it goes away (a syncfs of the whole
 * filesystem at the container's end otherwise); kernels before 5.10 lack
 * the option: then without it. */
static int mount_overlay(const struct rt_spec *s, const char *rootfs, bool volatile_,
                         struct kiln_err *err)
{
	struct kiln_buf opts;
	kiln_buf_init(&opts, 4000, "overlay mount options (too many layers)");
	int r = kiln_buf_addstr(&opts, "lowerdir=", err);
	for (size_t i = 0; r == 0 && s->lower_dirs && s->lower_dirs[i]; i++)
		r = kiln_buf_addf(&opts, err, "%s%s", i ? ":" : "", s->lower_dirs[i]);
	if (r == 0)
		r = kiln_buf_addf(&opts, err, ",upperdir=%s,workdir=%s", s->upper_dir, s->work_dir);
	if (r == 0) {
		clear_volatile_mark(s->work_dir);
		size_t plain = opts.len;
		if (volatile_)
			r = kiln_buf_addstr(&opts, ",volatile", err);
		int m = r == 0 ? mount("overlay", rootfs, "overlay", 0, kiln_buf_str(&opts)) : -1;
		if (r == 0 && m < 0 && errno == EINVAL && volatile_) {
			opts.data[opts.len = plain] = 0;
			m = mount("overlay", rootfs, "overlay", 0, kiln_buf_str(&opts));
		}
		if (r == 0 && m < 0)
			r = kiln_err_set(err, errno, "mounting the overlay rootfs on `%s`", rootfs);
	}
	kiln_buf_release(&opts);
	return r;
}

static int make_dev(int rootfd, const char *console, struct kiln_err *err)
{
	static const struct {
		const char *name;
		unsigned maj, min;
	} nodes[] = {{"null", 1, 3},   {"zero", 1, 5},    {"full", 1, 7},
	             {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}};
	static const char *const links[][2] = {{"/proc/self/fd", "fd"},
	                                       {"/proc/self/fd/0", "stdin"},
	                                       {"/proc/self/fd/1", "stdout"},
	                                       {"/proc/self/fd/2", "stderr"},
	                                       {"pts/ptmx", "ptmx"}};
	if (mount_at(rootfd, "tmpfs", "/dev", false, "tmpfs", MS_NOSUID | MS_STRICTATIME,
	             "mode=755,size=65536k", err) < 0)
		return -1;
	int dev = open_in_root(rootfd, "/dev", O_PATH | O_DIRECTORY);
	if (dev < 0)
		return kiln_err_set(err, errno, "opening the container's /dev");
	int r = 0;
	mode_t old = umask(0);
	for (size_t i = 0; r == 0 && i < KILN_ARRAY_SIZE(nodes); i++)
		if (mknodat(dev, nodes[i].name, S_IFCHR | 0666,
		            makedev(nodes[i].maj, nodes[i].min)) < 0)
			r = kiln_err_set(err, errno, "creating /dev/%s", nodes[i].name);
	umask(old);
	for (size_t i = 0; r == 0 && i < KILN_ARRAY_SIZE(links); i++)
		if (symlinkat(links[i][0], dev, links[i][1]) < 0)
			r = kiln_err_set(err, errno, "creating /dev/%s", links[i][1]);
	close(dev);
	if (r < 0)
		return -1;
	if (console && bind_at(rootfd, console, "/dev/console", true, false, 0, err) < 0)
		return -1;
	if (mount_at(rootfd, "devpts", "/dev/pts", false, "devpts", MS_NOSUID | MS_NOEXEC,
	             "newinstance,ptmxmode=0666,mode=0620,gid=5", err) < 0 ||
	    mount_at(rootfd, "shm", "/dev/shm", false, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
	             "mode=1777,size=65536k", err) < 0 ||
	    mount_at(rootfd, "mqueue", "/dev/mqueue", false, "mqueue",
	             MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, err) < 0)
		return -1;
	return 0;
}

/* "rw,size=64m,noexec" -> flags + data (docker's --tmpfs options). */
static void tmpfs_options(const char *opts, unsigned long *flags, struct kiln_buf *data)
{
	static const struct {
		const char *name;
		unsigned long set, clear;
	} known[] = {{"ro", MS_RDONLY, 0},
	             {"rw", 0, MS_RDONLY},
	             {"exec", 0, MS_NOEXEC},
	             {"noexec", MS_NOEXEC, 0},
	             {"suid", 0, MS_NOSUID},
	             {"nosuid", MS_NOSUID, 0},
	             {"dev", 0, MS_NODEV},
	             {"nodev", MS_NODEV, 0},
	             {"atime", 0, MS_NOATIME},
	             {"noatime", MS_NOATIME, 0},
	             {"strictatime", MS_STRICTATIME, 0}};
	_cleanup_free_ char *copy = xstrdup(opts ? opts : "");
	char *save = NULL;
	for (char *o = strtok_r(copy, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
		bool found = false;
		for (size_t i = 0; i < KILN_ARRAY_SIZE(known); i++)
			if (!strcmp(o, known[i].name)) {
				*flags = (*flags & ~known[i].clear) | known[i].set;
				found = true;
			}
		if (!found)
			kiln_buf_addf(data, NULL, "%s%s", data->len ? "," : "", o);
	}
}

/* --- secrets: files that exist only in this mount namespace ------------- */

/* The tmpfs that holds the secrets, mounted on stage (a dir made here,
 * empty on the host: the namespace is private, so the mount is seen by
 * this namespace alone). */
static int secret_stage(const char *stage, struct kiln_err *err)
{
	if (mkdir(stage, 0700) < 0 && errno != EEXIST)
		return kiln_err_set(err, errno, "creating `%s`", stage);
	if (mount("tmpfs", stage, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700") < 0)
		return kiln_err_set(err, errno, "mounting a tmpfs for secrets on `%s`", stage);
	return 0;
}

/* The bytes of m->data_fd in stage/<i>, owned and moded as asked. */
static int secret_file(const char *stage, size_t i, const struct rt_mount *m, char **path,
                       struct kiln_err *err)
{
	*path = xasprintf("%s/%zu", stage, i);
	_cleanup_close_ int fd =
	    open(*path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0);
	if (fd < 0)
		return kiln_err_set(err, errno, "secret for `%s`", m->target);
	char buf[16384];
	for (off_t off = 0;;) {
		ssize_t n = pread(m->data_fd, buf, sizeof(buf), off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return kiln_err_set(err, errno, "reading the secret for `%s`", m->target);
		if (n == 0)
			break;
		if (kiln_write_all(fd, buf, (size_t)n, err) < 0)
			return -1;
		off += n;
	}
	explicit_bzero(buf, sizeof(buf));
	if (fchown(fd, m->uid, m->gid) < 0 || fchmod(fd, m->mode & 07777) < 0)
		return kiln_err_set(err, errno, "secret for `%s`", m->target);
	return 0;
}

/* A secret staged in the tmpfs on files_dir/secrets (mounted first,
 * *stage set) and bound at its target. */
static int secret_mount(int rootfd, const struct rt_mount *m, size_t i, const char *files_dir,
                        char **stage, struct kiln_err *err)
{
	if (!*stage) {
		*stage = kiln_path_join(files_dir, "secrets");
		if (secret_stage(*stage, err) < 0)
			return -1;
	}
	_cleanup_free_ char *path = NULL;
	if (secret_file(*stage, i, m, &path, err) < 0)
		return -1;
	return bind_at(rootfd, path, m->target, true, true, MS_NOSUID | MS_NODEV | MS_NOEXEC, err);
}

/* A bind of a source a container may write under (rt_mount.exact_source):
 * opened here, in the init's own mount namespace, with no symlink
 * followed, and bound through that fd, so nothing swapped in after the
 * caller resolved the path is followed onto the host. */
static int bind_exact(int rootfd, const struct rt_mount *m, struct kiln_err *err)
{
	int fd =
	    kiln_openat2(AT_FDCWD, m->source, O_PATH, RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
	if (fd < 0)
		return kiln_err_set(err, errno, "bind source `%s` (no symlink followed)",
		                    m->source);
	struct stat st;
	char src[64];
	snprintf(src, sizeof(src), "/proc/self/fd/%d", fd);
	int r = fstat(fd, &st) < 0
	            ? kiln_err_set(err, errno, "bind source `%s`", m->source)
	            : bind_at(rootfd, src, m->target, !S_ISDIR(st.st_mode), m->readonly, 0, err);
	close(fd);
	return r;
}

/* A tmpfs or a bind of the spec. */
static int one_mount(int rootfd, const struct rt_mount *m, struct kiln_err *err)
{
	if (m->type == RT_MOUNT_TMPFS) {
		unsigned long flags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
		struct kiln_buf data;
		kiln_buf_init(&data, KILN_BUF_NOLIMIT, NULL);
		tmpfs_options(m->options, &flags, &data);
		if (m->readonly)
			flags |= MS_RDONLY;
		int r = mount_at(rootfd, "tmpfs", m->target, false, "tmpfs", flags,
		                 data.len ? kiln_buf_str(&data) : NULL, err);
		kiln_buf_release(&data);
		return r;
	}
	if (m->exact_source)
		return bind_exact(rootfd, m, err);
	struct stat st;
	if (stat(m->source, &st) < 0)
		return kiln_err_set(err, errno, "bind source `%s`", m->source);
	return bind_at(rootfd, m->source, m->target, !S_ISDIR(st.st_mode), m->readonly, 0, err);
}

/* The spec's mounts in order; files_dir NULL: binds only (no tmpfs, no
 * secrets). Secrets' staging mount is detached at the end (the binds keep
 * their files). */
static int spec_mounts(int rootfd, const struct rt_spec *s, const char *files_dir,
                       struct kiln_err *err)
{
	_cleanup_free_ char *stage = NULL;
	int r = 0;
	for (size_t i = 0; r == 0 && i < s->n_mounts; i++) {
		const struct rt_mount *m = &s->mounts[i];
		if (m->type != RT_MOUNT_BIND && !files_dir)
			continue;
		if (m->type == RT_MOUNT_SECRET)
			r = secret_mount(rootfd, m, i, files_dir, &stage, err);
		else
			r = one_mount(rootfd, m, err);
	}
	if (stage && umount2(stage, MNT_DETACH) < 0 && r == 0)
		r = kiln_err_set(err, errno, "detaching `%s`", stage);
	return r;
}

static int hosts_files(int rootfd, const struct rt_launch *l, struct kiln_err *err)
{
	static const char *const files[][2] = {{"hosts", "/etc/hosts"},
	                                       {"hostname", "/etc/hostname"},
	                                       {"resolv.conf", "/etc/resolv.conf"}};
	for (size_t i = 0; i < KILN_ARRAY_SIZE(files); i++) {
		if (l->spec->build_sandbox && !strcmp(files[i][0], "hostname"))
			continue; /* BuildKit binds no /etc/hostname */
		_cleanup_free_ char *src = kiln_path_join(l->files_dir, files[i][0]);
		if (bind_at(rootfd, src, files[i][1], true, false, 0, err) < 0)
			return -1;
	}
	return 0;
}

static int pivot(const char *rootfs, struct kiln_err *err)
{
	if (chdir(rootfs) < 0)
		return kiln_err_set(err, errno, "entering `%s`", rootfs);
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return kiln_err_set(err, errno, "pivot_root into `%s`", rootfs);
	/* the old root sits under the new one: make it a slave first so the
	 * detach cannot propagate anywhere, then drop it */
	if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0 || umount2(".", MNT_DETACH) < 0)
		return kiln_err_set(err, errno, "detaching the old root");
	if (chdir("/") < 0)
		return kiln_err_set(err, errno, "chdir /");
	return 0;
}

int rt_mounts_setup(const struct rt_launch *l, struct kiln_err *err)
{
	const struct rt_spec *s = l->spec;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return kiln_err_set(err, errno, "making the mount namespace private");
	if (mount_overlay(s, l->rootfs, l->volatile_rootfs, err) < 0)
		return -1;
	_cleanup_close_ int rootfd = open(l->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return kiln_err_set(err, errno, "opening `%s`", l->rootfs);
	unsigned long sys_flags =
	    MS_NOSUID | MS_NODEV | MS_NOEXEC | (s->privileged ? 0 : MS_RDONLY);
	if (mount_at(rootfd, "proc", "/proc", false, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL,
	             err) < 0 ||
	    make_dev(rootfd, l->console, err) < 0)
		return -1;
	if (mount_at(rootfd, "sysfs", "/sys", false, "sysfs", sys_flags, NULL, err) < 0) {
		/* sysfs of a network namespace we do not own: the host's, read-only */
		struct kiln_err e = KILN_ERR_INIT;
		if (bind_at(rootfd, "/sys", "/sys", false, !s->privileged, 0, &e) < 0) {
			kiln_err_release(&e);
			return -1;
		}
		kiln_err_release(err);
	}
	if (hosts_files(rootfd, l, err) < 0 || spec_mounts(rootfd, s, l->files_dir, err) < 0)
		return -1;
	rt_cgroup_mounts_collect(); /* the host's mountinfo, while it is visible */
	return pivot(l->rootfs, err);
}

int rt_mounts_copy_view(const struct rt_spec *s, const char *rootfs, struct kiln_err *err)
{
	if (mount_overlay(s, rootfs, false, err) < 0)
		return -1;
	_cleanup_close_ int rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return kiln_err_set(err, errno, "opening `%s`", rootfs);
	if (spec_mounts(rootfd, s, NULL, err) < 0)
		return -1;
	return TAKE_FD(rootfd);
}

static int mask_path(const char *path, struct kiln_err *err)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return 0; /* absent on this kernel */
	int r = S_ISDIR(st.st_mode) ? mount("tmpfs", path, "tmpfs", MS_RDONLY, NULL)
	                            : mount("/dev/null", path, NULL, MS_BIND, NULL);
	if (r < 0)
		return kiln_err_set(err, errno, "masking `%s`", path);
	return 0;
}

static int readonly_path(const char *path, struct kiln_err *err)
{
	if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0)
		return errno == ENOENT ? 0 : kiln_err_set(err, errno, "binding `%s`", path);
	if (mount(NULL, path, NULL,
	          MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return kiln_err_set(err, errno, "making `%s` read-only", path);
	return 0;
}

int rt_mounts_finish(const struct rt_spec *spec, struct kiln_err *err)
{
	if (!spec->privileged) {
		for (size_t i = 0; rt_masked_paths[i]; i++)
			if (mask_path(rt_masked_paths[i], err) < 0)
				return -1;
		for (size_t i = 0; rt_readonly_paths[i]; i++)
			if (readonly_path(rt_readonly_paths[i], err) < 0)
				return -1;
	}
	if (spec->readonly_rootfs &&
	    mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
		return kiln_err_set(err, errno, "making the rootfs read-only");
	return 0;
}
