/* Volumes (docker's local driver): ROOT/volumes/<name>/_data, named or
 * anonymous (64 hex digits), with the time of creation in
 * ROOT/volumes/<name>/created. Which containers use a volume is read from
 * their specs (a bind whose source is the volume's _data). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime-internal.h"

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
	if (!kiln_path_exists(created)) { /* docker: creating an existing volume is fine */
		if (kiln_mkdir_p(data, 0755, err) < 0)
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
