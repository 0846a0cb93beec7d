/* Volumes (docker's local driver): ROOT/volumes/<name>/_data, named or
 * anonymous (64 hex digits), with the time of creation in
 * ROOT/volumes/<name>/created. Which containers use a volume is read from
 * their specs (a bind whose source is the volume's _data). An empty volume
 * mounted where the image has a directory gets a copy of it (docker's
 * copy-up; nocopy turns it off). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cp-internal.h"

char *rt_volume_path(const char *root, const char *name)
{
	return xasprintf("%s/%s/%s/_data", root, RT_VOLUMES_DIR, name);
}

int rt_volume_create(const char *root, const char *name, char **name_out, struct kiln_err *err)
{
	char id[65];
	if (name && *name && !rt_name_valid(name))
		return kiln_err_set(
		    err, KILN_E_INVALID,
		    "create %s: \"%s\" includes invalid characters for a local volume "
		    "name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you "
		    "intended to pass a host directory, use absolute path",
		    name, name);
	if (!name || !*name) {
		rt_id_generate(id);
		name = id;
	}
	_cleanup_free_ char *data = rt_volume_path(root, name);
	_cleanup_free_ char *dir = xasprintf("%s/%s/%s", root, RT_VOLUMES_DIR, name);
	_cleanup_free_ char *created = kiln_path_join(dir, "created");
	/* containers write volumes as root (setuid programs too): only root
	 * may reach them from the host; stores made before kept 0755 */
	_cleanup_free_ char *vols = kiln_path_join(root, RT_VOLUMES_DIR);
	if (kiln_mkdir_p(vols, 0700, err) < 0)
		return -1;
	if (chmod(vols, 0700) < 0)
		return kiln_err_set(err, errno, "chmod `%s`", vols);
	if (!kiln_path_exists(created)) { /* docker: creating an existing volume is fine */
		if (kiln_mkdir_p(dir, 0700, err) < 0 || kiln_mkdir_p(data, 0755, err) < 0)
			return -1;
		chmod(data, 0755);
		_cleanup_free_ char *now = rt_now_rfc3339();
		if (kiln_write_file_atomic(created, now, strlen(now), 0644, err) < 0)
			return -1;
	}
	if (name_out)
		*name_out = xstrdup(name);
	return 0;
}

int rt_volume_get(const char *root, const char *name, struct rt_volume *v, struct kiln_err *err)
{
	memset(v, 0, sizeof(*v));
	_cleanup_free_ char *created = xasprintf("%s/%s/%s/created", root, RT_VOLUMES_DIR, name);
	char *data = NULL;
	size_t len;
	if (strchr(name, '/') || kiln_read_file(created, 4096, &data, &len, NULL) < 0)
		return kiln_err_set(err, KILN_E_NOTFOUND, "get %s: no such volume", name);
	v->name = xstrdup(name);
	v->created = data;
	v->mountpoint = rt_volume_path(root, name);
	return 0;
}

void rt_volume_release(struct rt_volume *v)
{
	free(v->name);
	free(v->created);
	free(v->mountpoint);
	memset(v, 0, sizeof(*v));
}

int rt_volume_list(const char *root, struct kiln_strv *names, struct kiln_err *err)
{
	_cleanup_free_ char *dir = kiln_path_join(root, RT_VOLUMES_DIR);
	_cleanup_closedir_ DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : kiln_err_set(err, errno, "listing `%s`", dir);
	for (struct dirent *e; (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		_cleanup_free_ char *c = xasprintf("%s/%s/created", dir, e->d_name);
		if (kiln_path_exists(c))
			kiln_strv_push(names, e->d_name);
	}
	kiln_strv_sort(names);
	return 0;
}

/* The first container (any state) that mounts the volume, allocated id. */
char *rt_volume_user(const char *root, const char *name)
{
	_cleanup_free_ char *path = rt_volume_path(root, name);
	struct rt_container **v = NULL;
	size_t n = 0;
	char *user = NULL;
	if (rt_container_list(root, &v, &n, NULL) < 0)
		return NULL;
	for (size_t i = 0; i < n && !user; i++)
		for (size_t k = 0; k < v[i]->spec.n_mounts && !user; k++)
			if (v[i]->spec.mounts[k].source &&
			    !strcmp(v[i]->spec.mounts[k].source, path))
				user = xstrdup(v[i]->id);
	rt_container_list_free(v, n);
	return user;
}

int rt_volume_remove(const char *root, const char *name, bool force, struct kiln_err *err)
{
	struct rt_volume v;
	if (rt_volume_get(root, name, &v, err) < 0)
		return force ? (kiln_err_release(err), 0) : -1;
	rt_volume_release(&v);
	_cleanup_free_ char *user = rt_volume_user(root, name);
	if (user)
		return kiln_err_set(err, KILN_E_CONFLICT, "remove %s: volume is in use - [%s]",
		                    name, user);
	_cleanup_free_ char *dir = xasprintf("%s/%s/%s", root, RT_VOLUMES_DIR, name);
	_cleanup_free_ char *created = kiln_path_join(dir, "created");
	unlink(created); /* first: a half-removed volume is no volume */
	return kiln_rm_rf(dir, err);
}

bool rt_volume_is_anonymous(const char *name)
{
	if (strlen(name) != 64)
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

static bool dir_empty(const char *path)
{
	_cleanup_closedir_ DIR *d = opendir(path);
	for (struct dirent *e; d && (e = readdir(d));)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			return false;
	return d != NULL;
}

/* In the worker: the image's directory at target (a read-only overlay of
 * lowers, mounted at mnt in this private mount namespace) streamed as a
 * tar by a child and extracted into the volume, then the volume's root
 * takes the directory's owner and mode. */
static int copy_up_in_ns(char *const *lowers, const char *empty, const char *mnt,
                         const char *target, const char *data, struct kiln_err *err)
{
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return kiln_err_set(err, errno, "making a mount namespace");
	struct kiln_buf o;
	kiln_buf_init(&o, KILN_BUF_NOLIMIT, NULL);
	kiln_buf_addstr(&o, "lowerdir=", NULL);
	for (size_t i = 0; lowers[i]; i++)
		kiln_buf_addf(&o, NULL, "%s:", lowers[i]);
	kiln_buf_addstr(&o, empty, NULL); /* an overlay without upper needs two lowers */
	int r = mount("overlay", mnt, "overlay", MS_RDONLY, kiln_buf_str(&o));
	kiln_buf_release(&o);
	if (r < 0)
		return kiln_err_set(err, errno, "mounting the image to copy `%s`", target);
	_cleanup_close_ int rootfd = open(mnt, O_PATH | O_DIRECTORY | O_CLOEXEC);
	_cleanup_close_ int src =
	    rootfd < 0 ? -1 : rt_cp_open_in(rootfd, target, O_PATH | O_DIRECTORY);
	if (src < 0)
		return 0; /* not a directory of the image: nothing to copy */
	_cleanup_close_ int dst = open(data, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (dst < 0 || fstat(src, &st) < 0)
		return kiln_err_set(err, errno, "opening `%s`", data);
	if (fchown(dst, st.st_uid, st.st_gid) < 0 || fchmod(dst, st.st_mode & 07777) < 0)
		return kiln_err_set(err, errno, "setting the owner of `%s`", data);
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return kiln_err_set(err, errno, "pipe");
	pid_t w = fork();
	if (w == 0) {
		close(p[0]);
		struct rt_cp_src s = {.dirfd = src, .name = ".", .top = "."};
		_exit(rt_cp_tar_write(&s, p[1], NULL) < 0);
	}
	close(p[1]);
	struct rt_cp_dest d = {.dirfd = dst, .chown = true};
	r = w < 0 ? kiln_err_set(err, errno, "fork") : rt_cp_extract(&d, p[0], err);
	close(p[0]);
	int status = 0;
	if (w > 0)
		while (waitpid(w, &status, 0) < 0 && errno == EINTR)
			;
	if (r == 0 && status != 0)
		r = kiln_err_set(err, 0, "reading the image's `%s`", target);
	return r;
}

int rt_volume_copy_up(const char *root, char *const *lowers, const char *target, const char *name,
                      struct kiln_err *err)
{
	_cleanup_free_ char *data = rt_volume_path(root, name);
	if (!lowers || !lowers[0] || !dir_empty(data))
		return 0;
	_cleanup_free_ char *tmp = xasprintf("%s/tmp/kiln-copyup-XXXXXX", root);
	if (!mkdtemp(tmp))
		return kiln_err_set(err, errno, "creating `%s`", tmp);
	_cleanup_free_ char *mnt = kiln_path_join(tmp, "mnt"),
	                    *empty = kiln_path_join(tmp, "empty");
	int r = mkdir(mnt, 0700) < 0 || mkdir(empty, 0700) < 0
	            ? kiln_err_set(err, errno, "creating `%s`", tmp)
	            : 0;
	int ep[2] = {-1, -1};
	if (r == 0 && pipe2(ep, O_CLOEXEC) < 0)
		r = kiln_err_set(err, errno, "pipe");
	fflush(NULL);
	pid_t pid = r == 0 ? fork() : -1;
	if (pid == 0) {
		close(ep[0]);
		struct kiln_err e = KILN_ERR_INIT;
		if (copy_up_in_ns(lowers, empty, mnt, target, data, &e) < 0) {
			struct rt_child_error m = {.code = e.code};
			char *msg = kiln_err_format(&e);
			snprintf(m.msg, sizeof(m.msg), "%s", msg);
			_exit(write(ep[1], &m, sizeof(m)) < 0 ? 2 : 1);
		}
		_exit(0);
	}
	if (ep[1] >= 0)
		close(ep[1]);
	if (r == 0 && pid < 0)
		r = kiln_err_set(err, errno, "fork");
	if (pid > 0) {
		r = rt_read_verdict(ep[0], err);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (ep[0] >= 0)
		close(ep[0]);
	kiln_rm_rf(tmp, NULL);
	return r < 0 ? kiln_err_wrap(err, "copying the image's `%s` into volume %s", target, name)
	             : 0;
}
