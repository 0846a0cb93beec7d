/* Container records on disk: ROOT/containers/<id>/config.json (what the
 * container is) and state.json (what it is doing), each written atomically;
 * names as symlinks under ROOT/containers/names/ (created with symlink(2),
 * which fails if the name exists: a free name is bound without a lock;
 * freeing one takes names/.lock). The
 * only runtime file that includes <jansson.h>. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime-internal.h"

#define MAX_STATE_JSON (16u << 20)

char *rt_container_dir(const char *root, const char *id)
{
	return xasprintf("%s/%s/%s", root, RT_CONTAINERS_DIR, id);
}

static json_t *strv_json(char *const *v)
{
	json_t *a = json_array();
	for (size_t i = 0; v && v[i]; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static void put_str(json_t *o, const char *key, const char *v)
{
	if (v)
		json_object_set_new(o, key, json_string(v));
}

static void put_strv(json_t *o, const char *key, char *const *v)
{
	if (v)
		json_object_set_new(o, key, strv_json(v));
}

static char *get_str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? xstrdup(s) : NULL;
}

static char **get_strv(json_t *o, const char *key)
{
	json_t *a = json_object_get(o, key);
	if (!json_is_array(a))
		return NULL;
	size_t n = json_array_size(a);
	char **v = xcalloc(n + 1, sizeof(char *));
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		const char *s = json_string_value(json_array_get(a, i));
		if (s)
			v[k++] = xstrdup(s);
	}
	return v;
}

static int64_t get_int(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

static bool get_bool(json_t *o, const char *key)
{
	return json_is_true(json_object_get(o, key));
}

static json_t *spec_json(const struct rt_spec *s)
{
	json_t *o = json_object();
	put_strv(o, "args", s->args);
	put_strv(o, "env", s->env);
	put_strv(o, "config_env", s->config_env);
	put_str(o, "cwd", s->cwd);
	put_str(o, "user", s->user);
	put_str(o, "hostname", s->hostname);
	put_str(o, "domainname", s->domainname);
	json_object_set_new(o, "tty", json_boolean(s->tty));
	json_object_set_new(o, "interactive", json_boolean(s->interactive));
	json_object_set_new(o, "init", json_boolean(s->init));
	put_strv(o, "lower_dirs", s->lower_dirs);
	put_str(o, "upper_dir", s->upper_dir);
	put_str(o, "work_dir", s->work_dir);
	json_object_set_new(o, "readonly_rootfs", json_boolean(s->readonly_rootfs));
	json_t *mounts = json_array();
	for (size_t i = 0; i < s->n_mounts; i++) {
		const struct rt_mount *m = &s->mounts[i];
		json_t *j = json_object();
		put_str(j, "type", m->type == RT_MOUNT_TMPFS ? "tmpfs" : "bind");
		put_str(j, "source", m->source);
		put_str(j, "target", m->target);
		put_str(j, "options", m->options);
		put_str(j, "volume", m->volume);
		json_object_set_new(j, "readonly", json_boolean(m->readonly));
		json_array_append_new(mounts, j);
	}
	json_object_set_new(o, "mounts", mounts);
	json_object_set_new(o, "network", json_integer(s->network));
	json_t *ports = json_array();
	for (size_t i = 0; i < s->n_ports; i++)
		json_array_append_new(ports,
		                      json_pack("{s:s,s:i,s:i,s:b}", "host_ip", s->ports[i].host_ip,
		                                "host_port", s->ports[i].host_port, "ctr_port",
		                                s->ports[i].ctr_port, "udp", s->ports[i].udp));
	json_object_set_new(o, "ports", ports);
	json_t *lim = json_object();
	json_object_set_new(lim, "memory", json_integer(s->limits.memory));
	json_object_set_new(lim, "memory_swap", json_integer(s->limits.memory_swap));
	json_object_set_new(lim, "cpu_quota", json_integer(s->limits.cpu_quota));
	json_object_set_new(lim, "cpu_period", json_integer(s->limits.cpu_period));
	json_object_set_new(lim, "cpu_shares", json_integer(s->limits.cpu_shares));
	json_object_set_new(lim, "pids_limit", json_integer(s->limits.pids_limit));
	json_object_set_new(o, "limits", lim);
	json_t *rl = json_array();
	for (size_t i = 0; i < s->n_rlimits; i++)
		json_array_append_new(rl,
		                      json_pack("{s:i,s:I,s:I}", "resource", s->rlimits[i].resource,
		                                "soft", (json_int_t)s->rlimits[i].soft, "hard",
		                                (json_int_t)s->rlimits[i].hard));
	json_object_set_new(o, "rlimits", rl);
	json_object_set_new(o, "privileged", json_boolean(s->privileged));
	put_strv(o, "cap_add", s->cap_add);
	put_strv(o, "cap_drop", s->cap_drop);
	json_object_set_new(o, "seccomp_unconfined", json_boolean(s->seccomp_unconfined));
	put_str(o, "seccomp_profile", s->seccomp_profile);
	json_object_set_new(o, "no_new_privs", json_boolean(s->no_new_privs));
	put_str(o, "stop_signal", s->stop_signal);
	return o;
}

static void spec_from_json(json_t *o, struct rt_spec *s)
{
	s->args = get_strv(o, "args");
	s->env = get_strv(o, "env");
	s->config_env = get_strv(o, "config_env");
	s->cwd = get_str(o, "cwd");
	s->user = get_str(o, "user");
	s->hostname = get_str(o, "hostname");
	s->domainname = get_str(o, "domainname");
	s->tty = get_bool(o, "tty");
	s->interactive = get_bool(o, "interactive");
	s->init = get_bool(o, "init");
	s->lower_dirs = get_strv(o, "lower_dirs");
	s->upper_dir = get_str(o, "upper_dir");
	s->work_dir = get_str(o, "work_dir");
	s->readonly_rootfs = get_bool(o, "readonly_rootfs");
	json_t *mounts = json_object_get(o, "mounts");
	s->n_mounts = json_array_size(mounts);
	s->mounts = s->n_mounts ? xcalloc(s->n_mounts, sizeof(*s->mounts)) : NULL;
	for (size_t i = 0; i < s->n_mounts; i++) {
		json_t *j = json_array_get(mounts, i);
		const char *type = json_string_value(json_object_get(j, "type"));
		s->mounts[i].type = type && !strcmp(type, "tmpfs") ? RT_MOUNT_TMPFS : RT_MOUNT_BIND;
		s->mounts[i].source = get_str(j, "source");
		s->mounts[i].target = get_str(j, "target");
		s->mounts[i].options = get_str(j, "options");
		s->mounts[i].volume = get_str(j, "volume");
		s->mounts[i].readonly = get_bool(j, "readonly");
		if (!s->mounts[i].target)
			s->mounts[i].target = xstrdup("/");
	}
	s->network = (enum rt_network_mode)get_int(o, "network");
	json_t *ports = json_object_get(o, "ports");
	s->n_ports = json_array_size(ports);
	s->ports = s->n_ports ? xcalloc(s->n_ports, sizeof(*s->ports)) : NULL;
	for (size_t i = 0; i < s->n_ports; i++) {
		json_t *j = json_array_get(ports, i);
		s->ports[i].host_ip = get_str(j, "host_ip");
		if (!s->ports[i].host_ip)
			s->ports[i].host_ip = xstrdup("0.0.0.0");
		s->ports[i].host_port = (int)get_int(j, "host_port");
		s->ports[i].ctr_port = (int)get_int(j, "ctr_port");
		s->ports[i].udp = get_bool(j, "udp");
	}
	json_t *lim = json_object_get(o, "limits");
	s->limits.memory = get_int(lim, "memory");
	s->limits.memory_swap = get_int(lim, "memory_swap");
	s->limits.cpu_quota = get_int(lim, "cpu_quota");
	s->limits.cpu_period = get_int(lim, "cpu_period");
	s->limits.cpu_shares = get_int(lim, "cpu_shares");
	s->limits.pids_limit = get_int(lim, "pids_limit");
	json_t *rl = json_object_get(o, "rlimits");
	s->n_rlimits = json_array_size(rl);
	s->rlimits = s->n_rlimits ? xcalloc(s->n_rlimits, sizeof(*s->rlimits)) : NULL;
	for (size_t i = 0; i < s->n_rlimits; i++) {
		json_t *j = json_array_get(rl, i);
		s->rlimits[i].resource = (int)get_int(j, "resource");
		s->rlimits[i].soft = (uint64_t)get_int(j, "soft");
		s->rlimits[i].hard = (uint64_t)get_int(j, "hard");
	}
	s->privileged = get_bool(o, "privileged");
	s->cap_add = get_strv(o, "cap_add");
	s->cap_drop = get_strv(o, "cap_drop");
	s->seccomp_unconfined = get_bool(o, "seccomp_unconfined");
	s->seccomp_profile = get_str(o, "seccomp_profile");
	s->no_new_privs = get_bool(o, "no_new_privs");
	s->stop_signal = get_str(o, "stop_signal");
}

int rt_write_file_replace(const char *path, const char *data, size_t len, mode_t mode,
                          struct kiln_err *err)
{
	_cleanup_free_ char *tmp = xasprintf("%s.tmp-%d", path, (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return kiln_err_set(err, errno, "creating `%s`", tmp);
	int r = kiln_write_all(fd, data, len, err);
	if (close(fd) < 0 && r == 0)
		r = kiln_err_set(err, errno, "writing `%s`", tmp);
	if (r == 0 && rename(tmp, path) < 0)
		r = kiln_err_set(err, errno, "renaming `%s`", tmp);
	if (r < 0)
		unlink(tmp);
	return r;
}

/* config.json is fsynced (it is the container) unless volatile_ (an --rm
 * container, gone once it ends: replaced atomically, not flushed);
 * state.json is replaced atomically but not flushed: after a crash a stale
 * state reads exited through the pid check, and every start rewrites it. */
static int save_json(const char *root, const char *id, const char *file, json_t *o, bool volatile_,
                     struct kiln_err *err)
{
	char *data = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	_cleanup_free_ char *dir = rt_container_dir(root, id);
	_cleanup_free_ char *path = kiln_path_join(dir, file);
	int r = !strcmp(file, "state.json") || volatile_
	            ? rt_write_file_replace(path, data, strlen(data), 0600, err)
	            : kiln_write_file_atomic(path, data, strlen(data), 0600, err);
	free(data);
	return r;
}

int rt_config_save(const char *root, const struct rt_container *c, struct kiln_err *err)
{
	json_t *o = json_object();
	put_str(o, "id", c->id);
	put_str(o, "name", c->name);
	put_str(o, "image", c->image);
	put_str(o, "image_id", c->image_id);
	put_str(o, "created", c->created);
	json_object_set_new(o, "auto_remove", json_boolean(c->auto_remove));
	put_strv(o, "cmd", c->cmd);
	put_strv(o, "entrypoint", c->entrypoint);
	put_strv(o, "labels", c->labels);
	put_strv(o, "exposed_ports", c->exposed_ports);
	put_strv(o, "volumes", c->volumes);
	put_str(o, "restart_policy", c->restart_policy);
	put_strv(o, "health_test", c->health_test);
	json_object_set_new(o, "health_interval", json_integer(c->health_interval));
	json_object_set_new(o, "health_retries", json_integer(c->health_retries));
	json_object_set_new(o, "health_timeout", json_integer(c->health_timeout));
	json_object_set_new(o, "health_start_period", json_integer(c->health_start_period));
	json_object_set_new(o, "restart_max", json_integer(c->restart_max));
	json_object_set_new(o, "attach_stdin", json_boolean(c->attach_stdin));
	json_object_set_new(o, "attach_stdout", json_boolean(c->attach_stdout));
	json_object_set_new(o, "attach_stderr", json_boolean(c->attach_stderr));
	json_object_set_new(o, "stdin_once", json_boolean(c->stdin_once));
	json_object_set_new(o, "spec", spec_json(&c->spec));
	return save_json(root, c->id, "config.json", o, c->auto_remove, err);
}

static json_t *health_log_json(const struct rt_container *c)
{
	json_t *a = json_array();
	for (int i = 0; i < c->n_health_log; i++) {
		const struct rt_health_result *h = &c->health_log[i];
		json_t *e = json_object();
		put_str(e, "start", h->start);
		put_str(e, "end", h->end);
		json_object_set_new(e, "exit_code", json_integer(h->exit_code));
		put_str(e, "output", h->output);
		json_array_append_new(a, e);
	}
	return a;
}

static void health_log_from(json_t *a, struct rt_container *c)
{
	size_t i;
	json_t *e;
	json_array_foreach(a, i, e)
	{
		if (c->n_health_log == RT_HEALTH_LOG_MAX)
			break;
		struct rt_health_result *h = &c->health_log[c->n_health_log++];
		h->start = get_str(e, "start");
		h->end = get_str(e, "end");
		h->exit_code = (int)get_int(e, "exit_code");
		h->output = get_str(e, "output");
	}
}

int rt_state_save(const char *root, const struct rt_container *c, struct kiln_err *err)
{
	json_t *o = json_object();
	put_str(o, "status", rt_status_name(c->status));
	json_object_set_new(o, "pid", json_integer(c->pid));
	json_object_set_new(o, "pid_start", json_integer((json_int_t)c->pid_start));
	json_object_set_new(o, "monitor_pid", json_integer(c->monitor_pid));
	json_object_set_new(o, "exit_code", json_integer(c->exit_code));
	put_str(o, "started", c->started);
	put_str(o, "finished", c->finished);
	put_str(o, "error", c->error);
	json_object_set_new(o, "oom_killed", json_boolean(c->oom_killed));
	json_object_set_new(o, "restart_count", json_integer(c->restart_count));
	put_str(o, "health_status", c->health_status);
	json_object_set_new(o, "failing_streak", json_integer(c->failing_streak));
	put_str(o, "health_output", c->health_output);
	json_object_set_new(o, "health_log", health_log_json(c));
	return save_json(root, c->id, "state.json", o, false, err);
}

static json_t *load_json(int dfd, const char *dir, const char *file, struct kiln_err *err)
{
	_cleanup_free_ char *path = kiln_path_join(dir, file);
	_cleanup_free_ char *data = NULL;
	size_t len;
	_cleanup_close_ int fd = openat(dfd, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		kiln_err_set(err, errno, "open `%s`", path);
		return NULL;
	}
	_cleanup_free_ char *what = xasprintf("`%s`", path);
	if (kiln_read_fd(fd, MAX_STATE_JSON, what, &data, &len, err) < 0)
		return NULL;
	json_error_t je;
	json_t *o = json_loadb(data, len, 0, &je);
	if (!json_is_object(o)) {
		json_decref(o);
		kiln_err_set(err, KILN_E_CORRUPT, "`%s`: %s", path, je.text);
		return NULL;
	}
	return o;
}

/* A record read without state.json is a container being created, unless
 * it was removed meanwhile: renamed away (what is at its path now, if
 * anything, is not the directory we read) or deleted file by file. */
static bool still_published(int dfd, const char *dir)
{
	struct stat a, b;
	return faccessat(dfd, "config.json", F_OK, AT_SYMLINK_NOFOLLOW) == 0 &&
	       fstat(dfd, &a) == 0 && stat(dir, &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

static enum rt_status status_from(const char *s)
{
	for (int i = RT_CREATED; i <= RT_REMOVING; i++)
		if (s && !strcmp(s, rt_status_name((enum rt_status)i)))
			return (enum rt_status)i;
	return RT_DEAD;
}

int rt_container_read(const char *root, const char *id, struct rt_container **out,
                      struct kiln_err *err)
{
	_cleanup_free_ char *dir = rt_container_dir(root, id);
	/* both files from one directory: a snapshot of the record even if it
	 * is renamed away (removed) between the reads */
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return kiln_err_set(err, errno, "open `%s`", dir);
	json_t *cfg = load_json(dfd, dir, "config.json", err);
	if (!cfg)
		return -1;
	struct rt_container *c = xcalloc(1, sizeof(*c));
	snprintf(c->id, sizeof(c->id), "%s", id);
	c->name = get_str(cfg, "name");
	c->image = get_str(cfg, "image");
	c->image_id = get_str(cfg, "image_id");
	c->created = get_str(cfg, "created");
	c->auto_remove = get_bool(cfg, "auto_remove");
	c->cmd = get_strv(cfg, "cmd");
	c->entrypoint = get_strv(cfg, "entrypoint");
	c->labels = get_strv(cfg, "labels");
	c->exposed_ports = get_strv(cfg, "exposed_ports");
	c->volumes = get_strv(cfg, "volumes");
	c->restart_policy = get_str(cfg, "restart_policy");
	c->health_test = get_strv(cfg, "health_test");
	c->health_interval = get_int(cfg, "health_interval");
	c->health_retries = (int)get_int(cfg, "health_retries");
	c->health_timeout = get_int(cfg, "health_timeout");
	c->health_start_period = get_int(cfg, "health_start_period");
	c->restart_max = (int)get_int(cfg, "restart_max");
	spec_from_json(json_object_get(cfg, "spec"), &c->spec);
	/* records from before these were kept: what inspect showed then */
	bool old = !json_object_get(cfg, "attach_stdout");
	c->attach_stdout = old || get_bool(cfg, "attach_stdout");
	c->attach_stderr = old || get_bool(cfg, "attach_stderr");
	c->attach_stdin = old ? c->spec.interactive : get_bool(cfg, "attach_stdin");
	c->stdin_once = old ? c->spec.interactive : get_bool(cfg, "stdin_once");
	json_decref(cfg);
	if (!c->name)
		c->name = xstrdup(id);

	struct kiln_err e = KILN_ERR_INIT;
	json_t *st = load_json(dfd, dir, "state.json", &e);
	kiln_err_release(&e); /* a container being created has none yet */
	if (!st && !still_published(dfd, dir)) {
		/* removed between the two reads: not a "created" container,
		 * which a `wait` would take for ended */
		rt_container_free(c);
		return kiln_err_set(err, KILN_E_NOTFOUND, "No such container: %s", id);
	}
	c->status = RT_CREATED;
	if (st) {
		c->status = status_from(json_string_value(json_object_get(st, "status")));
		c->pid = (pid_t)get_int(st, "pid");
		c->pid_start = (uint64_t)get_int(st, "pid_start");
		c->monitor_pid = (pid_t)get_int(st, "monitor_pid");
		c->exit_code = (int)get_int(st, "exit_code");
		c->started = get_str(st, "started");
		c->finished = get_str(st, "finished");
		c->error = get_str(st, "error");
		c->oom_killed = get_bool(st, "oom_killed");
		c->restart_count = (int)get_int(st, "restart_count");
		c->health_status = get_str(st, "health_status");
		c->failing_streak = (int)get_int(st, "failing_streak");
		c->health_output = get_str(st, "health_output");
		health_log_from(json_object_get(st, "health_log"), c);
		json_decref(st);
	}
	*out = c;
	return 0;
}

int rt_container_lock(const char *root, const char *id, struct kiln_err *err)
{
	_cleanup_free_ char *dir = rt_container_dir(root, id);
	_cleanup_free_ char *path = kiln_path_join(dir, "lock");
	return kiln_lock_file(path, true, err);
}

/* ROOT/containers/names/.lock, exclusive: taken to free a name (its
 * release, or taking over one whose container is gone), never to bind a
 * free one. Two processes taking over one stale name, or one taking it
 * while its old holder's removal releases it, would each unlink what the
 * other had just linked. */
static int names_lock(const char *dir)
{
	_cleanup_free_ char *path = kiln_path_join(dir, ".lock");
	return kiln_lock_file(path, true, NULL);
}

static ssize_t read_holder(const char *path, char held[80])
{
	ssize_t n = readlink(path, held, 79);
	held[n > 0 ? n : 0] = 0;
	return n;
}

/* A record directory without config.json whose lock nobody holds: a create
 * killed before it wrote its record (a live one holds the lock from the
 * directory to config.json). Its directory goes into ROOT/tmp (swept as
 * any kiln temp tree) and its GC root is unlinked. True when it was. */
char *rt_record_unpublish(const char *root, const char *id)
{
	_cleanup_free_ char *dir = rt_container_dir(root, id);
	_cleanup_free_ char *tmp = kiln_path_join(root, "tmp");
	char *trash = xasprintf("%s/kiln-rm-%s", tmp, id);
	if ((mkdir(tmp, 0700) == 0 || errno == EEXIST) && rename(dir, trash) == 0)
		return trash;
	free(trash);
	return NULL;
}

bool rt_drop_killed_create(const char *root, const char *id)
{
	if (strlen(id) != 64 || strspn(id, "0123456789abcdef") != 64)
		return false; /* not a record's ID: never a path to move */
	_cleanup_free_ char *dir = rt_container_dir(root, id);
	_cleanup_free_ char *cfg = kiln_path_join(dir, "config.json");
	_cleanup_free_ char *lock_path = kiln_path_join(dir, "lock");
	if (kiln_path_exists(cfg))
		return false;
	int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno == ENOENT; /* gone meanwhile */
	bool dropped = false;
	if (flock(fd, LOCK_EX | LOCK_NB) == 0 && !kiln_path_exists(cfg)) {
		_cleanup_free_ char *trash = rt_record_unpublish(root, id);
		_cleanup_free_ char *gc = rt_gc_root_path(root, id);
		dropped = trash != NULL;
		if (dropped)
			unlink(gc);
	}
	close(fd);
	return dropped;
}

/* A name a killed rename left bound (the new one before its record named
 * it, or the old one after): the holder's record carries another name and
 * nothing holds the holder's lock (a rename holds it throughout). */
static bool left_by_killed_rename(const char *root, const char *held, const char *name)
{
	_cleanup_free_ char *dir = rt_container_dir(root, held);
	_cleanup_free_ char *lock_path = kiln_path_join(dir, "lock");
	_cleanup_close_ int fd = open(lock_path, O_RDWR | O_CLOEXEC);
	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0)
		return false;
	struct rt_container *c = NULL;
	bool left =
	    rt_container_read(root, held, &c, NULL) == 0 && c->name && strcmp(c->name, name);
	rt_container_free(c);
	return left;
}

/* A name's holder is gone when its record's directory is (a create makes
 * the directory before it binds the name, rt_container_create), when that
 * directory is a killed create's, or when a killed rename left the name. */
static int take_over(const char *root, const char *dir, const char *name, const char *id,
                     char held[80])
{
	_cleanup_free_ char *path = kiln_path_join(dir, name);
	int lock = names_lock(dir);
	int r = -1;
	if (read_holder(path, held) > 0) {
		_cleanup_free_ char *holder = rt_container_dir(root, held);
		bool gone = !kiln_path_exists(holder) || rt_drop_killed_create(root, held) ||
		            left_by_killed_rename(root, held, name);
		if (gone && unlink(path) == 0 && symlink(id, path) == 0)
			r = 0;
	} else if (symlink(id, path) == 0) { /* released meanwhile */
		r = 0;
	}
	if (lock >= 0)
		close(lock);
	return r;
}

int rt_name_reserve(const char *root, const char *name, const char *id, struct kiln_err *err)
{
	_cleanup_free_ char *dir = kiln_path_join(root, RT_NAMES_DIR);
	if (kiln_mkdir_p(dir, 0700, err) < 0)
		return -1;
	_cleanup_free_ char *path = kiln_path_join(dir, name);
	if (symlink(id, path) == 0)
		return 0;
	if (errno != EEXIST)
		return kiln_err_set(err, errno, "reserving the name `%s`", name);
	/* bound to id already (a rename killed after it bound it) */
	char held[80];
	if (read_holder(path, held) > 0 && !strcmp(held, id))
		return 0;
	/* a name left by a container that no longer exists is free again */
	if (take_over(root, dir, name, id, held) == 0)
		return 0;
	return kiln_err_set(err, KILN_E_CONFLICT,
	                    "Conflict. The container name \"/%s\" is already in use by container "
	                    "\"%s\". You have to remove (or rename) that container to be able to "
	                    "reuse that name.",
	                    name, held);
}

void rt_name_release(const char *root, const char *name, const char *id)
{
	_cleanup_free_ char *dir = kiln_path_join(root, RT_NAMES_DIR);
	_cleanup_free_ char *path = kiln_path_join(dir, name);
	int lock = names_lock(dir);
	char held[80];
	if (read_holder(path, held) > 0 && !strcmp(held, id))
		unlink(path);
	if (lock >= 0)
		close(lock);
}
