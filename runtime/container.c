/* Container records: create from an image, find by ID, prefix or name,
 * list, remove; which images containers use. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "image.h"
#include "runtime-internal.h"

const char *rt_status_name(enum rt_status s)
{
	static const char *const names[] = {"created", "running", "paused",  "restarting",
	                                    "exited",  "dead",    "removing"};
	return (size_t)s < KILN_ARRAY_SIZE(names) ? names[s] : "dead";
}

void rt_health_log_clear(struct rt_container *c)
{
	for (int i = 0; i < c->n_health_log; i++) {
		free(c->health_log[i].start);
		free(c->health_log[i].end);
		free(c->health_log[i].output);
	}
	c->n_health_log = 0;
}

void rt_container_free(struct rt_container *c)
{
	if (!c)
		return;
	free(c->name);
	free(c->image);
	free(c->image_id);
	free(c->created);
	rt_spec_release(&c->spec);
	kiln_strv_free(c->cmd);
	kiln_strv_free(c->entrypoint);
	kiln_strv_free(c->labels);
	kiln_strv_free(c->exposed_ports);
	kiln_strv_free(c->volumes);
	free(c->restart_policy);
	kiln_strv_free(c->health_test);
	free(c->health_status);
	free(c->health_output);
	rt_health_log_clear(c);
	free(c->started);
	free(c->finished);
	free(c->error);
	free(c);
}

char *rt_gc_root_path(const char *root, const char *id)
{
	return xasprintf("%s/%s/container-%s", root, IMG_GC_ROOTS_DIR, id);
}

/* The record's directory, appearing with its lock already held (made
 * under a temporary name, locked, renamed into place): held until
 * config.json is written, so a directory without one whose lock is free is
 * a create that was killed (rt_drop_killed_create). The lock's fd. */
static int record_dir_locked(const char *root, const char *id, struct kiln_err *err)
{
	_cleanup_free_ char *parent = kiln_path_join(root, RT_CONTAINERS_DIR);
	_cleanup_free_ char *tmp = xasprintf("%s/.new-%s", parent, id);
	_cleanup_free_ char *lock = kiln_path_join(tmp, "lock");
	_cleanup_free_ char *dir = rt_container_dir(root, id);
	if (kiln_mkdir_p(parent, 0700, err) < 0)
		return -1;
	if (mkdir(tmp, 0700) < 0)
		return kiln_err_set(err, errno, "creating `%s`", tmp);
	int fd = kiln_lock_file(lock, true, err);
	if (fd >= 0 && rename(tmp, dir) < 0) {
		kiln_err_set(err, errno, "creating `%s`", dir);
		close(fd);
		fd = -1;
	}
	if (fd < 0)
		kiln_rm_rf(tmp, NULL);
	return fd;
}

/* The image's layers as img_layer (digest from the manifest, diffID from
 * the config), then their snapshot dirs, topmost first. */
static int image_lower_dirs(struct img_store *s, const struct img_image *img, char ***dirs,
                            struct kiln_err *err)
{
	const struct img_manifest *m = img->manifest;
	if (m->n_layers != img->config->n_diff_ids)
		return kiln_err_set(err, KILN_E_CORRUPT, "image `%s`: %zu layers but %zu diff_ids",
		                    img->id, m->n_layers, img->config->n_diff_ids);
	struct img_layer *layers = xcalloc(m->n_layers + 1, sizeof(*layers));
	for (size_t i = 0; i < m->n_layers; i++) {
		snprintf(layers[i].digest, sizeof(layers[i].digest), "%s", m->layers[i].digest);
		snprintf(layers[i].diff_id, sizeof(layers[i].diff_id), "%s",
		         img->config->diff_ids[i]);
		layers[i].media_type = m->layers[i].media_type;
	}
	int r = img_snapshot_dirs(s, layers, m->n_layers, dirs, err);
	free(layers);
	return r;
}

/* docker's --restart syntax. */
static int parse_restart(const char *s, struct rt_container *c, struct kiln_err *err)
{
	const char *colon = strchr(s ? s : "", ':');
	size_t len = colon ? (size_t)(colon - s) : s ? strlen(s) : 0;
	static const char *const policies[] = {"no", "always", "unless-stopped", "on-failure"};
	for (size_t i = 0; i < KILN_ARRAY_SIZE(policies); i++) {
		if (strlen(policies[i]) != len || strncmp(s, policies[i], len))
			continue;
		char *end = NULL;
		long n = colon ? strtol(colon + 1, &end, 10) : 0;
		if (colon && (i != 3 || !colon[1] || *end || n < 0))
			return kiln_err_set(
			    err, KILN_E_INVALID,
			    i == 3 ? "invalid restart policy format: maximum retry count "
			             "must be an integer"
			           : "invalid restart policy format: %s",
			    s);
		c->restart_policy = xstrdup(policies[i]);
		c->restart_max = (int)n;
		return 0;
	}
	if (!s || !*s) {
		c->restart_policy = xstrdup("no");
		return 0;
	}
	return kiln_err_set(err, KILN_E_INVALID, "invalid restart policy '%.*s'", (int)len, s);
}

/* Host dirs of -v binds are created when missing, as docker does. */
static int make_bind_sources(const struct rt_create_opts *o, struct kiln_err *err)
{
	for (size_t i = 0; i < o->n_mounts; i++) {
		const struct rt_mount *m = &o->mounts[i];
		if (m->type == RT_MOUNT_BIND && m->source && !kiln_path_exists(m->source) &&
		    kiln_mkdir_p(m->source, 0755, err) < 0)
			return kiln_err_wrap(err, "creating bind source");
	}
	return 0;
}

/* -v volumes get their _data dir (made if new) and, when empty, a copy of
 * the image's directory there; the image's VOLUME entries that no mount
 * covers get anonymous volumes, as docker does. */
static int attach_volumes(const char *root, const struct img_config *cfg, struct rt_spec *s,
                          struct kiln_err *err)
{
	for (size_t i = 0; cfg && cfg->config.volumes && cfg->config.volumes[i]; i++) {
		const char *t = cfg->config.volumes[i];
		bool covered = false;
		for (size_t k = 0; k < s->n_mounts && !covered; k++)
			covered = !strcmp(s->mounts[k].target, t);
		if (covered || t[0] != '/')
			continue;
		s->mounts = xreallocarray(s->mounts, s->n_mounts + 1, sizeof(*s->mounts));
		s->mounts[s->n_mounts++] = (struct rt_mount){
		    .type = RT_MOUNT_BIND, .target = xstrdup(t), .volume = xstrdup("")};
	}
	for (size_t k = 0; k < s->n_mounts; k++) {
		struct rt_mount *m = &s->mounts[k];
		if (!m->volume)
			continue;
		char *name = NULL;
		if (rt_volume_create(root, m->volume, &name, err) < 0)
			return -1;
		free(m->volume);
		m->volume = name;
		free(m->source);
		m->source = rt_volume_path(root, name);
		if (!m->nocopy && rt_volume_copy_up(root, s->lower_dirs, m->target, name, err) < 0)
			return -1;
	}
	return 0;
}

void rt_container_remove_volumes(const char *root, const struct rt_container *c)
{
	for (size_t k = 0; k < c->spec.n_mounts; k++) {
		const char *v = c->spec.mounts[k].volume;
		if (v && rt_volume_is_anonymous(v))
			rt_volume_remove(root, v, true, NULL);
	}
}

/* HEALTHCHECK from the image, replaced or disabled by the run options. */
static void health_settings(const struct img_config *cfg, const struct rt_create_opts *o,
                            struct rt_container *c)
{
	const struct img_healthcheck *hc = cfg ? cfg->config.healthcheck : NULL;
	if (o->health_cmd && *o->health_cmd) {
		char *t[] = {(char *)"CMD-SHELL", (char *)o->health_cmd, NULL};
		c->health_test = rt_strv_dup(t);
	} else if (hc && hc->test && hc->test[0] && strcmp(hc->test[0], "NONE")) {
		c->health_test = rt_strv_dup(hc->test);
	}
	if (o->no_healthcheck) {
		kiln_strv_free(c->health_test);
		c->health_test = NULL;
	}
	c->health_interval = o->health_interval   ? o->health_interval
	                     : hc && hc->interval ? hc->interval
	                                          : 30LL * 1000000000LL;
	c->health_retries = o->health_retries   ? o->health_retries
	                    : hc && hc->retries ? hc->retries
	                                        : 3;
	c->health_timeout = o->health_timeout   ? o->health_timeout
	                    : hc && hc->timeout ? hc->timeout
	                                        : 30LL * 1000000000LL;
	c->health_start_period = o->health_start_period ? o->health_start_period
	                         : hc                   ? hc->start_period
	                                                : 0;
}

static int pick_name(const char *root, const struct rt_create_opts *o, const char *id, char **name,
                     struct kiln_err *err)
{
	if (o->name) {
		const char *n = o->name[0] == '/' ? o->name + 1 : o->name;
		if (!rt_name_valid(n))
			return kiln_err_set(
			    err, KILN_E_INVALID,
			    "Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] "
			    "are allowed",
			    o->name);
		if (rt_name_reserve(root, n, id, err) < 0)
			return -1;
		*name = xstrdup(n);
		return 0;
	}
	for (int tries = 0;; tries++) {
		_cleanup_free_ char *g = rt_name_generate();
		if (tries >= 10) /* docker appends a digit after a few collisions */
			g = (free(g), xasprintf("%s%d", rt_name_generate(), tries));
		struct kiln_err e = KILN_ERR_INIT;
		if (rt_name_reserve(root, g, id, &e) == 0) {
			*name = TAKE_PTR(g);
			return 0;
		}
		if (e.code != KILN_E_CONFLICT || tries > 20) {
			kiln_err_move(err, &e);
			return -1;
		}
		kiln_err_release(&e);
	}
}

/* Flushed unless the container is --rm (gone when it ends). */
static int write_gc_root(const char *root, const char *id, const struct img_image *img,
                         bool durable, struct kiln_err *err)
{
	_cleanup_free_ char *dir = kiln_path_join(root, IMG_GC_ROOTS_DIR);
	_cleanup_free_ char *path = rt_gc_root_path(root, id);
	_cleanup_free_ char *data = xasprintf("%s\n%s\n", img->manifest_digest, img->id);
	if (kiln_mkdir_p(dir, 0700, err) < 0)
		return -1;
	return durable ? kiln_write_file_atomic(path, data, strlen(data), 0644, err)
	               : rt_write_file_replace(path, data, strlen(data), 0644, err);
}

static void create_undo(const char *root, struct rt_container *c)
{
	_cleanup_free_ char *dir = rt_container_dir(root, c->id);
	_cleanup_free_ char *gc = rt_gc_root_path(root, c->id);
	kiln_rm_rf(dir, NULL);
	if (c->name)
		rt_name_release(root, c->name, c->id);
	unlink(gc);
}

int rt_init_layer(const char *dir, struct kiln_err *err)
{
	/* docker's init layer: what cp of a container shows under /dev */
	static const char *const dirs[] = {"etc", "dev/pts", "dev/shm", "proc", "sys"};
	static const char *const files[] = {"etc/hosts", "etc/hostname", "etc/resolv.conf",
	                                    "dev/console"};
	for (size_t i = 0; i < KILN_ARRAY_SIZE(dirs); i++) {
		_cleanup_free_ char *p = kiln_path_join(dir, dirs[i]);
		if (kiln_mkdir_p(p, 0755, err) < 0)
			return -1;
	}
	for (size_t i = 0; i < KILN_ARRAY_SIZE(files); i++) {
		_cleanup_free_ char *p = kiln_path_join(dir, files[i]);
		int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
		              strncmp(files[i], "dev/", 4) ? 0644 : 0755);
		if (fd < 0)
			return kiln_err_set(err, errno, "creating `%s`", p);
		close(fd);
	}
	/* docker's init layer has it too */
	_cleanup_free_ char *mtab = kiln_path_join(dir, "etc/mtab");
	if (symlink("/proc/mounts", mtab) < 0 && errno != EEXIST)
		return kiln_err_set(err, errno, "creating `%s`", mtab);
	chmod(dir, 0755);
	return 0;
}

char **rt_lowers_with_init(const char *init, char *const *lower)
{
	size_t n = rt_strv_len(lower), k = 1;
	char **v = xcalloc(n + 2, sizeof(char *));
	v[0] = xstrdup(init);
	/* a layer twice in an image (two build steps that changed nothing)
	 * is listed once, at its topmost place: overlay refuses a repeated
	 * lower dir, and the lower copy could only show what the upper does */
	for (size_t i = 0; i < n; i++) {
		bool dup = false;
		for (size_t j = 1; j < k && !dup; j++)
			dup = !strcmp(v[j], lower[i]);
		if (!dup)
			v[k++] = xstrdup(lower[i]);
	}
	return v;
}

int rt_container_check_lowers(const struct rt_container *c, struct kiln_err *err)
{
	if (img_snapshot_check_dirs(c->spec.lower_dirs, err) < 0)
		return kiln_err_wrap(err, "container `%s` (image `%s`) cannot start", c->name,
		                     c->image ? c->image : c->image_id);
	return 0;
}

static int create_dirs(const char *root, struct rt_container *c, struct kiln_err *err)
{
	_cleanup_free_ char *dir = rt_container_dir(root, c->id);
	const char *subs[] = {"upper", "work", "rootfs"};
	for (size_t i = 0; i < KILN_ARRAY_SIZE(subs); i++) {
		_cleanup_free_ char *p = kiln_path_join(dir, subs[i]);
		if (kiln_mkdir_p(p, 0700, err) < 0)
			return -1;
	}
	/* the mount points of the hosts files, /dev, /proc, /sys: an init
	 * layer under the upper dir (as docker's "-init" layer), so that
	 * neither diff nor commit sees them */
	_cleanup_free_ char *init = kiln_path_join(dir, "init");
	if (rt_init_layer(init, err) < 0)
		return -1;
	char **lowers = rt_lowers_with_init(init, c->spec.lower_dirs);
	kiln_strv_free(c->spec.lower_dirs);
	c->spec.lower_dirs = lowers;
	/* the upper dir is the container's "/": its mode shows as such */
	_cleanup_free_ char *upper = kiln_path_join(dir, "upper");
	chmod(upper, 0755);
	chmod(dir, 0710);
	c->spec.upper_dir = xstrdup(upper);
	c->spec.work_dir = kiln_path_join(dir, "work");
	return 0;
}

/* docker's Config.Labels: the image's, then -l (which win). */
/* docker's Config.ExposedPorts: the image's, -p's, --expose's, once each. */
static void push_once(struct kiln_strv *v, const char *s)
{
	if (!kiln_strv_contains(v, s))
		kiln_strv_push(v, s);
}

static char **exposed_ports(const struct img_config *cfg, const struct rt_create_opts *o,
                            const struct rt_spec *spec)
{
	struct kiln_strv v = KILN_STRV_INIT;
	for (size_t i = 0; cfg->config.exposed_ports && cfg->config.exposed_ports[i]; i++)
		push_once(&v, cfg->config.exposed_ports[i]);
	for (size_t i = 0; i < spec->n_ports; i++) {
		_cleanup_free_ char *p =
		    xasprintf("%d/%s", spec->ports[i].ctr_port, spec->ports[i].udp ? "udp" : "tcp");
		push_once(&v, p);
	}
	for (size_t i = 0; o->expose && o->expose[i]; i++)
		push_once(&v, o->expose[i]);
	return v.v ? v.v : xcalloc(1, sizeof(char *));
}

/* docker's Config.Volumes: the image's, then -v's anonymous ones, once each. */
static char **config_volumes(const struct img_config *cfg, const struct rt_create_opts *o)
{
	struct kiln_strv v = KILN_STRV_INIT;
	for (size_t i = 0; cfg->config.volumes && cfg->config.volumes[i]; i++)
		push_once(&v, cfg->config.volumes[i]);
	for (size_t i = 0; i < o->n_mounts; i++)
		if (o->mounts[i].listed)
			push_once(&v, o->mounts[i].target);
	return v.v ? v.v : xcalloc(1, sizeof(char *));
}

static char **merged_labels(const struct img_map *image, char *const *user)
{
	struct kiln_strv v = KILN_STRV_INIT;
	for (size_t i = 0; i < image->n; i++) {
		size_t klen = strlen(image->v[i].key);
		bool overridden = false;
		for (size_t k = 0; user && user[k] && !overridden; k++)
			overridden = !strncmp(user[k], image->v[i].key, klen) &&
			             (user[k][klen] == '=' || !user[k][klen]);
		if (!overridden)
			kiln_strv_pushf(&v, "%s=%s", image->v[i].key, image->v[i].value);
	}
	for (size_t k = 0; user && user[k]; k++)
		kiln_strv_push(&v, user[k]);
	return v.v;
}

int rt_container_create(struct img_store *s, const char *image, const struct rt_create_opts *o,
                        struct rt_container **out, struct kiln_err *err)
{
	const char *root = img_store_root(s);
	struct img_image *img = NULL;
	if (img_image_load(s, image, &img, err) < 0)
		return -1;
	struct rt_container *c = xcalloc(1, sizeof(*c));
	rt_id_generate(c->id);
	_cleanup_free_ char *short_id = xstrndup(c->id, 12);
	_cleanup_free_ char *cdir = NULL; /* set after the gotos below may jump */
	char **lower = NULL;
	if (parse_restart(o->restart, c, err) < 0)
		goto fail_early;
	if (o->rm && strcmp(c->restart_policy, "no")) {
		kiln_err_set(err, KILN_E_INVALID, "Conflicting options: --restart and --rm");
		goto fail_early;
	}
	if (make_bind_sources(o, err) < 0 || image_lower_dirs(s, img, &lower, err) < 0)
		goto fail_early;
	/* it outlives this kiln, maybe this boot: its lowers must be durable
	 * (an --rm one is removed if abandoned, so unsynced ones do) */
	if (!o->rm && img_snapshot_make_durable(s, lower, err) < 0) {
		kiln_strv_free(lower);
		goto fail_early;
	}
	if (rt_spec_from_config(img->config, o, short_id, &c->spec, err) < 0) {
		kiln_strv_free(lower);
		goto fail_early;
	}
	c->spec.lower_dirs = lower;
	if (attach_volumes(img_store_root(s), img->config, &c->spec, err) < 0)
		goto fail_early;
	c->image = xstrdup(image);
	c->image_id = xstrdup(img->id);
	c->created = rt_now_rfc3339();
	c->auto_remove = o->rm;
	c->entrypoint =
	    rt_strv_dup(o->entrypoint_set ? o->entrypoint : img->config->config.entrypoint);
	c->cmd = rt_strv_dup(o->args && o->args[0] ? o->args
	                     : o->entrypoint_set   ? NULL
	                                           : img->config->config.cmd);
	c->labels = merged_labels(&img->config->config.labels, o->labels);
	c->exposed_ports = exposed_ports(img->config, o, &c->spec);
	c->volumes = config_volumes(img->config, o);
	bool fg = !o->detach; /* docker's Config.Attach*: -a, else stdout and stderr */
	c->attach_stdout = fg && (!o->attach || (o->attach & RT_STREAM_STDOUT));
	c->attach_stderr = fg && (!o->attach || (o->attach & RT_STREAM_STDERR));
	c->attach_stdin = fg && (o->interactive || (o->attach & RT_STREAM_STDIN));
	c->stdin_once = c->attach_stdin && o->interactive;
	health_settings(img->config, o, c);
	c->status = RT_CREATED;

	/* the record's directory before its name: a name whose holder has
	 * no directory is taken over as left behind (rt_name_reserve); a
	 * second create of the same name took it from one still starting */
	cdir = rt_container_dir(root, c->id);
	int hold = record_dir_locked(root, c->id, err);
	if (hold < 0)
		goto fail_early;
	if (pick_name(root, o, c->id, &c->name, err) < 0) {
		create_undo(root, c);
		close(hold);
		goto fail_early;
	}
	/* published children first: the GC root, then the record */
	if (write_gc_root(root, c->id, img, !o->rm, err) < 0 || create_dirs(root, c, err) < 0 ||
	    rt_state_save(root, c, err) < 0 || rt_config_save(root, c, err) < 0) {
		create_undo(root, c);
		close(hold);
		goto fail_early;
	}
	close(hold);
	img_image_free(img);
	*out = c;
	return 0;
fail_early:
	img_image_free(img);
	rt_container_free(c);
	return -1;
}

static bool is_hex64(const char *s)
{
	if (strlen(s) != 64)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

/* Full ID, exact name, unique ID prefix: docker's order. */
static int find_id(const char *root, const char *arg, char id[65], struct kiln_err *err)
{
	_cleanup_free_ char *dir = xasprintf("%s/%s", root, RT_CONTAINERS_DIR);
	if (is_hex64(arg)) {
		_cleanup_free_ char *p = kiln_path_join(dir, arg);
		if (kiln_path_exists(p)) {
			memcpy(id, arg, 65);
			return 0;
		}
	}
	const char *name = arg[0] == '/' ? arg + 1 : arg;
	if (*name && !strchr(name, '/')) {
		_cleanup_free_ char *link = xasprintf("%s/%s/%s", root, RT_NAMES_DIR, name);
		char held[80];
		ssize_t n = readlink(link, held, sizeof(held) - 1);
		if (n == 64) {
			held[n] = 0;
			_cleanup_free_ char *p = kiln_path_join(dir, held);
			if (kiln_path_exists(p)) {
				memcpy(id, held, 65);
				return 0;
			}
		}
	}
	size_t plen = strlen(arg);
	int found = 0;
	_cleanup_closedir_ DIR *d = plen ? opendir(dir) : NULL;
	for (struct dirent *e; d && (e = readdir(d));) {
		if (!is_hex64(e->d_name) || strncmp(e->d_name, arg, plen))
			continue;
		if (found++)
			return kiln_err_set(err, KILN_E_NOTFOUND,
			                    "multiple IDs found with provided prefix: %s", arg);
		memcpy(id, e->d_name, 65);
	}
	if (found)
		return 0;
	return kiln_err_set(err, KILN_E_NOTFOUND, "No such container: %s", arg);
}

/* A "running" or "paused" container whose init is gone while nothing
 * recorded its end: exited, with docker's code for an exit nobody saw. */
static void refresh(const char *root, struct rt_container *c)
{
	if (c->status != RT_RUNNING && c->status != RT_PAUSED && c->status != RT_RESTARTING)
		return;
	if (c->pid > 0 && rt_pid_start_time(c->pid) == c->pid_start && c->pid_start)
		return;
	/* the monitor may be recording the end right now: take the lock, reread */
	int lock = rt_container_lock(root, c->id, NULL);
	struct rt_container *again = NULL;
	/* a live monitor records the end itself (it may be reaping right now) */
	bool monitor = false;
	if (rt_container_read(root, c->id, &again, NULL) == 0)
		monitor = again->monitor_pid > 0 && rt_pid_start_time(again->monitor_pid) != 0;
	if (again && !monitor &&
	    (((again->status == RT_RUNNING || again->status == RT_PAUSED) &&
	      rt_pid_start_time(again->pid) != again->pid_start) ||
	     again->status == RT_RESTARTING)) {
		again->status = RT_EXITED;
		again->exit_code = 255;
		again->pid = 0;
		free(again->finished);
		again->finished = rt_now_rfc3339();
		rt_state_save(root, again, NULL);
	}
	if (again) {
		c->status = again->status;
		c->exit_code = again->exit_code;
		c->pid = again->pid;
		free(c->finished);
		c->finished = again->finished ? xstrdup(again->finished) : NULL;
		rt_container_free(again);
	}
	if (lock >= 0)
		close(lock);
}

/* An --rm container that ran and ended with nobody left to remove it (its
 * monitor or foreground kiln killed, the host crashed): docker's daemon
 * removes such containers when it starts; kiln does when it first sees
 * one. Its upper dir was mounted `volatile`, so after a crash it is not to
 * be trusted, let alone started again. True when it was removed. */
static bool drop_abandoned(const char *root, struct rt_container *c)
{
	if (!c->auto_remove || !c->started || (c->status != RT_EXITED && c->status != RT_DEAD))
		return false;
	if (c->monitor_pid > 0 && rt_pid_start_time(c->monitor_pid) != 0)
		return false; /* its remover is at it */
	struct kiln_err e = KILN_ERR_INIT;
	if (rt_container_remove(root, c, true, &e) < 0) {
		kiln_debug("removing the abandoned --rm container %s: %s", c->id, e.msg);
		kiln_err_release(&e);
		return false;
	}
	rt_container_remove_volumes(root, c);
	return true;
}

int rt_container_load(const char *root, const char *id_or_name, struct rt_container **out,
                      struct kiln_err *err)
{
	char id[65];
	if (find_id(root, id_or_name, id, err) < 0)
		return -1;
	if (rt_container_read(root, id, out, err) < 0)
		return -1;
	refresh(root, *out);
	if (drop_abandoned(root, *out)) {
		rt_container_free(*out);
		*out = NULL;
		return kiln_err_set(err, KILN_E_NOTFOUND, "No such container: %s", id_or_name);
	}
	return 0;
}

static int cmp_created(const void *a, const void *b)
{
	const struct rt_container *x = *(struct rt_container *const *)a;
	const struct rt_container *y = *(struct rt_container *const *)b;
	return strcmp(y->created ? y->created : "", x->created ? x->created : "");
}

int rt_container_list(const char *root, struct rt_container ***out, size_t *n, struct kiln_err *err)
{
	_cleanup_free_ char *dir = xasprintf("%s/%s", root, RT_CONTAINERS_DIR);
	struct rt_container **v = NULL;
	size_t cnt = 0, cap = 0;
	_cleanup_closedir_ DIR *d = opendir(dir);
	if (!d && errno != ENOENT)
		return kiln_err_set(err, errno, "listing `%s`", dir);
	for (struct dirent *e; d && (e = readdir(d));) {
		if (!is_hex64(e->d_name))
			continue;
		struct rt_container *c = NULL;
		struct kiln_err ce = KILN_ERR_INIT;
		if (rt_container_read(root, e->d_name, &c, &ce) < 0) {
			kiln_err_release(&ce); /* being created or removed right now, */
			rt_drop_killed_create(root, e->d_name); /* or a create killed */
			continue;
		}
		refresh(root, c);
		if (drop_abandoned(root, c)) {
			rt_container_free(c);
			continue;
		}
		KILN_GROW(v, cap, cnt + 1);
		v[cnt++] = c;
	}
	if (cnt > 1)
		qsort(v, cnt, sizeof(*v), cmp_created);
	*out = v;
	*n = cnt;
	return 0;
}

void rt_container_list_free(struct rt_container **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		rt_container_free(v[i]);
	free(v);
}

bool rt_image_in_use(const char *root, const char *image_id, char **user)
{
	struct rt_container **v = NULL;
	size_t n = 0;
	if (rt_container_list(root, &v, &n, NULL) < 0)
		return false;
	bool used = false;
	for (size_t i = 0; i < n && !used; i++)
		if (v[i]->image_id && !strcmp(v[i]->image_id, image_id)) {
			used = true;
			if (user)
				*user = xstrdup(v[i]->id);
		}
	rt_container_list_free(v, n);
	return used;
}

static bool alive(const struct rt_container *c)
{
	return c->pid > 0 && c->pid_start && rt_pid_start_time(c->pid) == c->pid_start;
}

/* c->name as its record has it now (under the container lock, which a
 * rename holds throughout): the name to release once the record is gone. */
static void current_name(const char *root, struct rt_container *c)
{
	struct rt_container *now = NULL;
	if (rt_container_read(root, c->id, &now, NULL) == 0 && now->name &&
	    strcmp(now->name, c->name ? c->name : "")) {
		free(c->name);
		c->name = xstrdup(now->name);
	}
	rt_container_free(now);
}

/* Takes the record out of sight in one step: its directory renamed into
 * ROOT/tmp (where a kill-interrupted removal is swept as any kiln temp
 * tree), under the container lock, after telling the waiters its code. A
 * reader (ps, inspect, wait) sees the whole record or none of it, never a
 * config.json whose state.json the deletion took first: that reads as a
 * "created" container which ended with 0. Returns what is left to delete:
 * the moved tree, the record itself where it could not be moved, or NULL
 * when it is gone already. *moved tells which. */
static char *unpublish(const char *root, struct rt_container *c, bool *moved)
{
	int lock = rt_container_lock(root, c->id, NULL);
	current_name(root, c); /* a rename may have run since c was loaded */
	rt_waiters_notify(root, c->id, c->exit_code);
	char *trash = rt_record_unpublish(root, c->id);
	if (lock >= 0)
		close(lock);
	*moved = trash != NULL;
	if (trash)
		return trash;
	char *dir = rt_container_dir(root, c->id);
	if (!kiln_path_exists(dir)) {
		free(dir);
		return NULL;
	}
	return dir;
}

/* What outlives a removed record's directory: its name and its GC root. */
static int release_record(const char *root, const struct rt_container *c, const char *gc,
                          struct kiln_err *err)
{
	rt_name_release(root, c->name, c->id);
	if (unlink(gc) < 0 && errno != ENOENT)
		return kiln_err_set(err, errno, "removing `%s`", gc);
	return 0;
}

int rt_container_remove(const char *root, struct rt_container *c, bool force, struct kiln_err *err)
{
	if (alive(c)) {
		if (!force)
			return kiln_err_set(
			    err, KILN_E_CONFLICT,
			    "You cannot remove a %s container %s. Stop the container "
			    "before attempting removal or force remove",
			    rt_status_name(c->status), c->id);
		if (rt_container_stop(root, c, 0, err) < 0)
			return -1;
	}
	/* the cgroup first: a record removed while its cgroup could not be
	 * (a process that would not die) would orphan the group for good */
	struct rt_cgroup *cg = NULL;
	struct kiln_err e = KILN_ERR_INIT;
	if (rt_cgroup_open(c->id, &cg, &e) == 0) {
		int r = rt_cgroup_destroy(cg, err);
		rt_cgroup_free(cg);
		if (r < 0)
			return kiln_err_wrap(err, "removing container %s", c->id);
	}
	kiln_err_release(&e);
	_cleanup_free_ char *gc = rt_gc_root_path(root, c->id);
	bool moved;
	_cleanup_free_ char *left = unpublish(root, c, &moved);
	/* once the record is out of sight, its name and GC root go before the
	 * slow deletion of the moved tree: a kill during it leaves a temp tree
	 * a sweep removes, not a root that keeps the image for good */
	bool gone = moved || !left;
	if (gone && release_record(root, c, gc, err) < 0)
		return -1;
	if (left && kiln_rm_rf(left, err) < 0)
		return kiln_err_wrap(err, "removing container %s", c->id);
	return gone ? 0 : release_record(root, c, gc, err);
}

/* --rm after an attached run: the record leaves at once (its directory
 * renamed into ROOT/tmp, where a kill-interrupted removal is swept as any
 * kiln temp tree), and a detached process deletes the files, the name and
 * the GC root. Deleting freshly written files costs milliseconds each on
 * some filesystems (online discard); the caller should not wait for that. */
int rt_container_remove_detached(const char *root, struct rt_container *c, struct kiln_err *err)
{
	if (alive(c))
		return rt_container_remove(root, c, true, err);
	/* under the lock: a `wait` is either told the code or finds no record */
	bool moved;
	_cleanup_free_ char *trash = unpublish(root, c, &moved);
	if (!moved)
		return rt_container_remove(root, c, true, err);
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) { /* no process to spare: do it here */
		kiln_rm_rf(trash, NULL);
		rt_name_release(root, c->name, c->id);
		_cleanup_free_ char *gc = rt_gc_root_path(root, c->id);
		unlink(gc);
		return 0;
	}
	if (pid > 0) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		return 0;
	}
	setsid();
	if (fork() != 0)
		_exit(0);
	/* nobody waits for our stdio or holds a lock through us */
	int null = open("/dev/null", O_RDWR);
	for (int fd = 0; fd < 3 && null >= 0; fd++)
		dup2(null, fd);
	close_range(3, ~0U, 0);
	prctl(PR_SET_NAME, "kiln-rm");
	_cleanup_free_ char *gc = rt_gc_root_path(root, c->id);
	unlink(gc);
	rt_name_release(root, c->name, c->id);
	kiln_rm_rf(trash, NULL);
	_exit(0);
}
