/* A container's writable layer: diff (docker's A/C/D from the overlay
 * upper dir) and commit (the upper dir made a layer on top of the image). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "image.h"
#include "runtime-internal.h"

/* Is rel (no leading slash) present in the image's layers? The first
 * lower dir is the container's init layer: skipped. A layer's parent
 * directory is opened without following symlinks (one of them would lead
 * onto the host), and a symlink, file or whiteout there hides the layers
 * below, as overlay stops merging at a non-directory. */
static bool in_lowers(const struct rt_container *c, const char *rel)
{
	char *const *lower = c->spec.lower_dirs;
	_cleanup_free_ char *parent = xstrdup(rel);
	char *slash = strrchr(parent, '/');
	const char *name = slash ? rel + (slash - parent) + 1 : rel;
	if (slash)
		*slash = '\0';
	else
		parent[0] = '\0';
	for (size_t i = 1; lower && lower[i]; i++) {
		_cleanup_close_ int d = open(lower[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
		int pfd = d < 0 ? -1
		                : kiln_openat2(d, *parent ? parent : ".", O_PATH | O_DIRECTORY,
		                               RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
		                                   RESOLVE_NO_MAGICLINKS);
		if (pfd < 0 && (errno == ELOOP || errno == ENOTDIR))
			return false;
		if (pfd < 0)
			continue;
		struct stat st;
		int r = fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW);
		close(pfd);
		if (r == 0)
			return !(S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0));
	}
	return false;
}

/* The upper dir's entries under fd (taken), walked by fds: a running
 * container swapping a directory for a symlink meanwhile cannot lead the
 * walk onto the host. */
static int walk(const struct rt_container *c, int fd, const char *rel, struct kiln_strv *out,
                struct kiln_err *err)
{
	_cleanup_closedir_ DIR *d = fdopendir(fd);
	if (!d) {
		int e = errno;
		close(fd);
		return kiln_err_set(err, e, "reading `/%s` of the upper dir", rel);
	}
	for (struct dirent *e; (e = readdir(d));) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		_cleanup_free_ char *r =
		    *rel ? xasprintf("%s/%s", rel, e->d_name) : xstrdup(e->d_name);
		struct stat st;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {
			kiln_strv_pushf(out, "D /%s", r);
			continue;
		}
		kiln_strv_pushf(out, "%c /%s", in_lowers(c, r) ? 'C' : 'A', r);
		if (!S_ISDIR(st.st_mode))
			continue;
		int sub =
		    openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub >= 0 && walk(c, sub, r, out, err) < 0)
			return -1;
	}
	return 0;
}

static int cmp_path(const void *a, const void *b)
{
	return strcmp(*(char *const *)a + 2, *(char *const *)b + 2);
}

/* The bytes of the regular files under fd (taken), walked by fds as
 * walk() is. */
static uint64_t tree_size(int fd)
{
	uint64_t total = 0;
	_cleanup_closedir_ DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d && fd >= 0)
		close(fd);
	for (struct dirent *e; d && (e = readdir(d));) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		struct stat st;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISREG(st.st_mode))
			total += (uint64_t)st.st_size;
		else if (S_ISDIR(st.st_mode))
			total += tree_size(openat(dirfd(d), e->d_name,
			                          O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
	}
	return total;
}

uint64_t rt_container_size(const struct rt_container *c)
{
	return c->spec.upper_dir
	           ? tree_size(open(c->spec.upper_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC))
	           : 0;
}

int rt_container_diff(const struct rt_container *c, struct kiln_strv *out, struct kiln_err *err)
{
	if (!c->spec.upper_dir)
		return kiln_err_set(err, KILN_E_CORRUPT, "container %s has no upper dir", c->id);
	int fd = open(c->spec.upper_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return kiln_err_set(err, errno, "reading `%s`", c->spec.upper_dir);
	if (walk(c, fd, "", out, err) < 0)
		return -1;
	if (out->n > 1)
		qsort(out->v, out->n, sizeof(char *), cmp_path);
	return 0;
}

static void set_strv(char ***dst, char *const *src)
{
	kiln_strv_free(*dst);
	*dst = rt_strv_dup(src);
}

/* docker's Config.Env of the container: as it was created (-e and
 * --env-file, then the image's entries they leave), NULL when empty.
 * Records from before it was kept: the process's, without the runtime's
 * HOSTNAME. */
static char **commit_env(const struct rt_spec *s)
{
	if (s->config_env)
		return s->config_env[0] ? rt_strv_dup(s->config_env) : NULL;
	struct kiln_strv env = KILN_STRV_INIT;
	for (size_t i = 0; s->env && s->env[i]; i++)
		if (strncmp(s->env[i], "HOSTNAME=", 9))
			kiln_strv_push(&env, s->env[i]);
	return env.v;
}

/* Adds v's entries that list does not hold yet. */
static void strv_union(char ***list, char *const *v)
{
	struct kiln_strv out = KILN_STRV_INIT;
	for (size_t i = 0; *list && (*list)[i]; i++)
		kiln_strv_push(&out, (*list)[i]);
	for (size_t i = 0; v && v[i]; i++)
		if (!kiln_strv_contains(&out, v[i]))
			kiln_strv_push(&out, v[i]);
	kiln_strv_free(*list);
	*list = out.v;
}

/* Config.Volumes of the container: the image's and -v's anonymous ones
 * (records from before c->volumes was kept: every anonymous volume's). */
static void commit_volumes(struct img_config *cfg, const struct rt_container *c)
{
	if (c->volumes) {
		strv_union(&cfg->config.volumes, c->volumes);
		return;
	}
	for (size_t i = 0; i < c->spec.n_mounts; i++) {
		const struct rt_mount *m = &c->spec.mounts[i];
		if (m->type == RT_MOUNT_BIND && m->volume && rt_volume_is_anonymous(m->volume)) {
			char *one[2] = {m->target, NULL};
			strv_union(&cfg->config.volumes, one);
		}
	}
}

/* docker's members that describe the container (its Config's Hostname,
 * Attach*, Tty, OpenStdin, StdinOnce, Image), all written: a base image's
 * own (committed by docker) are the old container's. */
static void commit_container_members(struct img_config *cfg, const struct rt_container *c)
{
	const struct {
		const char *key;
		bool v;
	} flags[] = {{"AttachStdin", c->attach_stdin},   {"AttachStdout", c->attach_stdout},
	             {"AttachStderr", c->attach_stderr}, {"Tty", c->spec.tty},
	             {"OpenStdin", c->spec.interactive}, {"StdinOnce", c->stdin_once}};
	img_config_member_set_str(cfg, "Hostname", c->spec.hostname);
	img_config_member_set_str(cfg, "Domainname", c->spec.domainname);
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		img_config_member_set_bool(cfg, flags[i].key, flags[i].v);
	img_config_member_set_str(cfg, "Image", c->image);
}

/* The image's config with the container's settings, as docker commit. */
static struct img_config *commit_config(const struct img_config *base, const struct rt_container *c,
                                        const struct rt_commit_opts *o, const char *created)
{
	struct img_config *cfg = img_config_dup(base);
	const struct rt_spec *s = &c->spec;
	cfg->has_config = true;
	kiln_strv_free(cfg->config.env);
	cfg->config.env = commit_env(s);
	set_strv(&cfg->config.cmd, c->cmd);
	set_strv(&cfg->config.entrypoint, c->entrypoint);
	free(cfg->config.working_dir);
	cfg->config.working_dir = s->cwd && strcmp(s->cwd, "/") ? xstrdup(s->cwd) : NULL;
	free(cfg->config.user);
	cfg->config.user = s->user ? xstrdup(s->user) : NULL;
	cfg->config.labels_set = true; /* docker's {} when there are none */
	for (size_t i = 0; c->labels && c->labels[i]; i++) {
		const char *eq = strchr(c->labels[i], '=');
		_cleanup_free_ char *k = eq ? xstrndup(c->labels[i], (size_t)(eq - c->labels[i]))
		                            : xstrdup(c->labels[i]);
		img_map_set(&cfg->config.labels, k, eq ? eq + 1 : "");
	}
	if (c->exposed_ports) {
		strv_union(&cfg->config.exposed_ports, c->exposed_ports);
	} else { /* records from before: -p's ports */
		for (size_t i = 0; i < s->n_ports; i++) {
			_cleanup_free_ char *p = xasprintf("%d/%s", s->ports[i].ctr_port,
			                                   s->ports[i].udp ? "udp" : "tcp");
			char *one[2] = {p, NULL};
			strv_union(&cfg->config.exposed_ports, one);
		}
	}
	commit_volumes(cfg, c);
	kiln_strv_free(cfg->config.on_build); /* the container's Config has none */
	cfg->config.on_build = NULL;
	commit_container_members(cfg, c);
	free(cfg->created);
	cfg->created = xstrdup(created);
	free(cfg->author);
	cfg->author = o->author ? xstrdup(o->author) : NULL;
	return cfg;
}

static void append_layer(struct img_config *cfg, const struct img_layer *l, const char *created,
                         const struct rt_container *c, const struct rt_commit_opts *o)
{
	cfg->diff_ids = xreallocarray(cfg->diff_ids, cfg->n_diff_ids + 2, sizeof(char *));
	cfg->diff_ids[cfg->n_diff_ids++] = xstrdup(l->diff_id);
	cfg->diff_ids[cfg->n_diff_ids] = NULL;
	cfg->history = xreallocarray(cfg->history, cfg->n_history + 1, sizeof(*cfg->history));
	struct img_history *h = &cfg->history[cfg->n_history++];
	memset(h, 0, sizeof(*h));
	h->created = xstrdup(created);
	struct kiln_buf by; /* docker's: the container's Cmd */
	kiln_buf_init(&by, KILN_BUF_NOLIMIT, "created_by");
	for (size_t i = 0; c->cmd && c->cmd[i]; i++)
		kiln_buf_addf(&by, NULL, "%s%s", i ? " " : "", c->cmd[i]);
	h->created_by = by.len ? kiln_buf_detach(&by, NULL) : NULL;
	kiln_buf_release(&by);
	h->author = o->author ? xstrdup(o->author) : NULL;
	h->comment = o->message && *o->message ? xstrdup(o->message) : NULL;
}

int rt_container_commit(struct img_store *s, struct rt_container *c, const struct rt_commit_opts *o,
                        char image_id[KILN_DIGEST_LEN], struct kiln_err *err)
{
	struct img_image *img = NULL;
	if (img_image_load(s, c->image_id, &img, err) < 0)
		return kiln_err_wrap(err, "the image of container %s", c->id);
	bool paused = false;
	if (o->pause && c->status == RT_RUNNING) {
		struct kiln_err e = KILN_ERR_INIT;
		paused = rt_container_pause(img_store_root(s), c, true, &e) == 0;
		kiln_err_release(&e);
	}
	struct img_layer layers_buf = {0};
	struct img_layer_opts lo = {IMG_COMPRESS_NONE, true, -1};
	int r = img_layer_create(s, c->spec.upper_dir, &lo, &layers_buf, err);
	if (paused) {
		struct kiln_err e = KILN_ERR_INIT;
		rt_container_pause(img_store_root(s), c, false, &e);
		kiln_err_release(&e);
	}
	_cleanup_free_ char *created = rt_now_rfc3339();
	struct img_config *cfg = NULL;
	struct img_layer *layers = NULL;
	size_t n = 0;
	if (r == 0) {
		cfg = commit_config(img->config, c, o, created);
		if (o->apply && o->apply(cfg, o->apply_ud, err) < 0)
			r = -1;
	}
	if (r == 0) {
		append_layer(cfg, &layers_buf, created, c, o);
		const struct img_manifest *m = img->manifest;
		n = m->n_layers + 1;
		layers = xcalloc(n, sizeof(*layers));
		for (size_t i = 0; i < m->n_layers; i++) {
			snprintf(layers[i].digest, sizeof(layers[i].digest), "%s",
			         m->layers[i].digest);
			snprintf(layers[i].diff_id, sizeof(layers[i].diff_id), "%s",
			         img->config->diff_ids[i]);
			layers[i].size = (uint64_t)m->layers[i].size;
			layers[i].media_type = m->layers[i].media_type;
		}
		layers[n - 1] = layers_buf;
		const char *refs[1] = {o->ref};
		r = img_image_commit(s, cfg, layers, n, refs, o->ref ? 1 : 0, image_id, err);
	}
	free(layers);
	img_layer_release(&layers_buf);
	img_config_free(cfg);
	img_image_free(img);
	return r < 0 ? kiln_err_wrap(err, "commit") : 0;
}
