/* RUN --mount: each type becomes a runtime mount (struct rt_mount).
 *   cache   ROOT/cache/mounts/<xxh128 of the id>/, kept between builds,
 *           created with mode/uid/gid (given those, a cache of its own, as
 *           BuildKit keys the cache by id and base); sharing=locked holds an exclusive
 *           lock for the step, shared (the default) a shared one, private
 *           an exclusive one (a second instance is not made: it waits)
 *   bind    a copy of source from the context, a stage or an image (rw
 *           writes land in the copy and are discarded with it)
 *   tmpfs   a fresh tmpfs (size=)
 *   secret  the --secret's bytes in a file of a tmpfs when the host has
 *           /dev/shm (else ROOT/tmp), bound read-only at target
 *           (/run/secrets/<id>), removed after the step
 *   ssh     the --ssh socket bound at target (/run/buildkit/ssh_agent.N),
 *           SSH_AUTH_SOCK set for the step
 * Mount points the rootfs lacks are made in a stub dir that the step sees
 * as its topmost lower layer: they never land in the step's layer. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run-internal.h"

static struct rt_mount *mount_new(struct run_mounts *m)
{
	kiln_grow((void **)&m->v, &m->cap, m->n + 1, sizeof(*m->v));
	struct rt_mount *r = &m->v[m->n++];
	memset(r, 0, sizeof(*r));
	return r;
}

void run_mounts_add_bind(struct run_mounts *m, const char *host, const char *target, bool ro)
{
	struct rt_mount *r = mount_new(m);
	r->type = RT_MOUNT_BIND;
	r->source = xstrdup(host);
	r->target = xstrdup(target);
	r->readonly = ro;
}

void run_mounts_release(struct run_mounts *m)
{
	for (size_t i = 0; i < m->n; i++)
		rt_mount_release(&m->v[i]);
	free(m->v);
	for (size_t i = 0; i < m->n_locks; i++)
		close(m->locks[i]);
	free(m->locks);
	if (m->secret_dir)
		kiln_rm_rf(m->secret_dir, NULL);
	free(m->secret_dir);
	free(m->stubs);
	kiln_strv_release(&m->env);
	memset(m, 0, sizeof(*m));
}

/* A mount point for target in the stub layer unless the rootfs has it. */
static int stub(struct bld_stage *st, struct run_mounts *m, const char *dir, const char *target,
                bool file, struct kiln_err *err)
{
	struct bld_tree t = {.fs = &st->fs};
	struct bld_node n = {0};
	bool found = false;
	if (bld_tree_resolve(&t, target, true, &n, &found, err) < 0)
		return -1;
	bld_node_release(&n);
	if (found || !strncmp(target, "/dev/", 5) || !strncmp(target, "/proc/", 6))
		return 0;
	if (!m->stubs) {
		m->stubs = kiln_path_join(dir, "stubs");
		if (kiln_mkdir_p(m->stubs, 0755, err) < 0)
			return -1;
	}
	_cleanup_free_ char *p = kiln_path_join(m->stubs, target);
	if (!file)
		return kiln_mkdir_p(p, 0755, err);
	_cleanup_free_ char *parent = xstrdup(p);
	*strrchr(parent, '/') = '\0';
	if (kiln_mkdir_p(parent, 0755, err) < 0)
		return -1;
	int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return kiln_err_set(err, errno, "creating mount point `%s`", target);
	close(fd);
	return 0;
}

/* --- bind: a copy of a tree ------------------------------------------------ */

static int copy_file(const char *src, const char *dst, mode_t mode, struct kiln_err *err)
{
	int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return kiln_err_set(err, errno, "open `%s`", src);
	int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode & 07777);
	if (out < 0) {
		int e = errno;
		close(in);
		return kiln_err_set(err, e, "create `%s`", dst);
	}
	char buf[65536];
	ssize_t n;
	int r = 0;
	while (r == 0 && (n = read(in, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			r = kiln_err_set(err, errno, "read `%s`", src);
		else
			r = kiln_write_all(out, buf, (size_t)n, err);
	}
	close(in);
	close(out);
	return r;
}

static int copy_node(const struct bld_tree *t, const struct bld_node *n, const char *dst, int depth,
                     struct kiln_err *err);

static int copy_dir(const struct bld_tree *t, const struct bld_node *n, const char *dst, int depth,
                    struct kiln_err *err)
{
	if (mkdir(dst, 0700) < 0 && errno != EEXIST)
		return kiln_err_set(err, errno, "mkdir `%s`", dst);
	struct kiln_strv names = KILN_STRV_INIT;
	int r = bld_tree_list(t, n->real, &names, err);
	for (size_t i = 0; r == 0 && i < names.n; i++) {
		struct bld_node c = {0};
		bool found = false;
		r = bld_tree_child(t, n->real, names.v[i], &c, &found, err);
		if (r == 0 && found) {
			_cleanup_free_ char *d = kiln_path_join(dst, names.v[i]);
			r = copy_node(t, &c, d, depth + 1, err);
		}
		bld_node_release(&c);
	}
	kiln_strv_release(&names);
	if (r == 0 && chmod(dst, n->st.st_mode & 07777) < 0)
		r = kiln_err_set(err, errno, "chmod `%s`", dst);
	return r;
}

static int copy_node(const struct bld_tree *t, const struct bld_node *n, const char *dst, int depth,
                     struct kiln_err *err)
{
	if (depth > 256)
		return kiln_err_set(err, KILN_E_LIMIT, "bind mount source deeper than 256 levels");
	int r = 0;
	if (S_ISDIR(n->st.st_mode)) {
		r = copy_dir(t, n, dst, depth, err);
	} else if (S_ISREG(n->st.st_mode)) {
		r = copy_file(n->host, dst, n->st.st_mode, err);
	} else if (S_ISLNK(n->st.st_mode)) {
		char target[4096];
		ssize_t len = readlink(n->host, target, sizeof(target) - 1);
		if (len < 0)
			return kiln_err_set(err, errno, "readlink `%s`", n->host);
		target[len] = '\0';
		if (symlink(target, dst) < 0)
			return kiln_err_set(err, errno, "symlink `%s`", dst);
	} else {
		return 0; /* devices, fifos, sockets: left out */
	}
	if (r == 0 && lchown(dst, n->st.st_uid, n->st.st_gid) < 0)
		r = kiln_err_set(err, errno, "chown `%s`", dst);
	return r;
}

/* The layers of image `name` as a rootfs. */
static int image_rootfs(struct bld_stage *st, const char *name, struct bld_rootfs *fs,
                        struct kiln_err *err)
{
	struct img_image *img = NULL;
	if (bld_image_load(st->b, name, &img, err) < 0)
		return -1;
	bld_rootfs_init(fs, st->b->s);
	fs->mu = &st->b->fs_mu;
	for (size_t i = 0; i < img->manifest->n_layers && i < img->config->n_diff_ids; i++) {
		struct img_layer l = {0};
		snprintf(l.diff_id, sizeof(l.diff_id), "%s", img->config->diff_ids[i]);
		snprintf(l.digest, sizeof(l.digest), "%s", img->manifest->layers[i].digest);
		l.size = (uint64_t)img->manifest->layers[i].size;
		l.media_type = img->manifest->layers[i].media_type;
		bld_rootfs_add(fs, &l);
	}
	img_image_free(img);
	return 0;
}

static int mount_bind(struct bld_stage *st, const struct df_mount *dm, const char *dir, size_t idx,
                      struct run_mounts *m, struct kiln_err *err)
{
	struct bld_build *b = st->b;
	struct bld_rootfs img_fs;
	bool have_img = false;
	struct bld_tree t = {.ctx = &b->ctx};
	if (dm->from && dm->from_stage >= 0) {
		if (bld_stage_need(b, dm->from_stage, err) < 0)
			return -1;
		t = (struct bld_tree){.fs = &b->stages[dm->from_stage].fs};
	} else if (dm->from) {
		if (image_rootfs(st, dm->from, &img_fs, err) < 0)
			return -1;
		have_img = true;
		t = (struct bld_tree){.fs = &img_fs};
	}
	const char *src = dm->source && *dm->source ? dm->source : "/";
	struct bld_node n = {0};
	bool found = false;
	int r = bld_tree_resolve(&t, src, true, &n, &found, err);
	if (r == 0 && !found)
		r = kiln_err_set(err, KILN_E_NOTFOUND, "mount source `%s` not found%s%s", src,
		                 dm->from ? " in " : "", dm->from ? dm->from : "");
	_cleanup_free_ char *copy = xasprintf("%s/bind-%zu", dir, idx);
	if (r == 0)
		r = copy_node(&t, &n, copy, 0, err);
	if (r == 0)
		r = stub(st, m, dir, dm->target, !S_ISDIR(n.st.st_mode), err);
	if (r == 0)
		run_mounts_add_bind(m, copy, dm->target, dm->readonly);
	bld_node_release(&n);
	if (have_img)
		bld_rootfs_release(&img_fs);
	return r;
}

/* --- cache ------------------------------------------------------------------ */

static int mount_cache(struct bld_stage *st, const struct df_mount *dm, const char *dir,
                       struct run_mounts *m, struct kiln_err *err)
{
	if (dm->from)
		return kiln_err_set(err, KILN_E_UNSUPPORTED,
		                    "cache mount `%s`: from= is not supported yet", dm->target);
	const char *id = dm->id && *dm->id ? dm->id : dm->target;
	_cleanup_free_ char *key =
	    dm->has_uid || dm->has_gid || dm->has_mode
	        ? xasprintf("%s\n%lu:%lu:%lo", id, dm->has_uid ? dm->uid : 0,
	                    dm->has_gid ? dm->gid : 0, dm->has_mode ? dm->mode : 0755)
	        : xstrdup(id);
	struct kiln_xxh128 h;
	kiln_xxh128(key, strlen(key), &h);
	char hex[33];
	kiln_xxh128_hex(&h, hex);
	_cleanup_free_ char *base = xasprintf("%s/cache/mounts", img_store_root(st->b->s));
	_cleanup_free_ char *path = xasprintf("%s/%s", base, hex);
	_cleanup_free_ char *lock = xasprintf("%s/%s.lock", base, hex);
	if (kiln_mkdir_p(base, 0700, err) < 0)
		return -1;
	bool exclusive = dm->sharing == DF_SHARING_LOCKED || dm->sharing == DF_SHARING_PRIVATE;
	int fd = kiln_lock_file(lock, exclusive, err);
	if (fd < 0)
		return -1;
	m->locks = xreallocarray(m->locks, m->n_locks + 1, sizeof(int));
	m->locks[m->n_locks++] = fd;
	if (!kiln_path_exists(path)) {
		_cleanup_free_ char *tmp = xasprintf("%s/.new-%s", base, hex);
		kiln_rm_rf(tmp, NULL);
		mode_t mode = dm->has_mode ? (mode_t)dm->mode : 0755;
		if (mkdir(tmp, 0700) < 0)
			return kiln_err_set(err, errno, "mkdir `%s`", tmp);
		if (chown(tmp, dm->has_uid ? (uid_t)dm->uid : 0, dm->has_gid ? (gid_t)dm->gid : 0) <
		        0 ||
		    chmod(tmp, mode & 07777) < 0 || rename(tmp, path) < 0) {
			int e = errno;
			kiln_rm_rf(tmp, NULL);
			return kiln_err_set(err, e, "creating cache mount `%s`", id);
		}
	}
	if (stub(st, m, dir, dm->target, false, err) < 0)
		return -1;
	run_mounts_add_bind(m, path, dm->target, false);
	return 0;
}

/* --- secret, ssh -------------------------------------------------------------- */

/* The --secret for id: its bytes, or *found false. */
static int secret_value(const struct bld_opts *o, const char *id, char **data, size_t *len,
                        bool *found, struct kiln_err *err)
{
	*found = false;
	for (char *const *s = o->secrets; s && *s; s++) {
		_cleanup_free_ char *sid = NULL, *src = NULL, *env = NULL;
		_cleanup_free_ char *copy = xstrdup(*s);
		char *save = NULL;
		for (char *f = strtok_r(copy, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
			char *eq = strchr(f, '=');
			if (!eq)
				return kiln_err_set(err, KILN_E_USAGE,
				                    "--secret `%s`: field `%s` needs a value", *s,
				                    f);
			*eq = '\0';
			char **dst = !strcmp(f, "id")                            ? &sid
			             : !strcmp(f, "src") || !strcmp(f, "source") ? &src
			             : !strcmp(f, "env")                         ? &env
			             : !strcmp(f, "type")                        ? NULL
			                                                         : (char **)-1;
			if (dst == (char **)-1)
				return kiln_err_set(err, KILN_E_USAGE,
				                    "--secret `%s`: unknown field `%s`", *s, f);
			if (dst) {
				free(*dst);
				*dst = xstrdup(eq + 1);
			}
		}
		if (!sid || strcmp(sid, id))
			continue;
		*found = true;
		if (src)
			return kiln_read_file(src, 500 * 1024, data, len, err) < 0
			           ? kiln_err_wrap(err, "secret `%s`", id)
			           : 0;
		const char *v = getenv(env ? env : id);
		if (!v)
			return kiln_err_set(err, KILN_E_NOTFOUND,
			                    "secret `%s`: environment variable `%s` is not set", id,
			                    env ? env : id);
		*data = xstrdup(v);
		*len = strlen(v);
		return 0;
	}
	return 0;
}

static int secret_dir(struct run_mounts *m, const char *dir, struct kiln_err *err)
{
	if (m->secret_dir)
		return 0;
	char tmpl[] = "/dev/shm/kiln-secrets-XXXXXX";
	if (mkdtemp(tmpl)) {
		m->secret_dir = xstrdup(tmpl);
		return 0;
	}
	m->secret_dir = kiln_path_join(dir, "secrets");
	if (mkdir(m->secret_dir, 0700) < 0) {
		int e = errno;
		free(m->secret_dir);
		m->secret_dir = NULL;
		return kiln_err_set(err, e, "mkdir secrets dir");
	}
	return 0;
}

static int mount_secret(struct bld_stage *st, const struct df_mount *dm, const char *dir,
                        size_t idx, struct run_mounts *m, struct kiln_err *err)
{
	const char *id = dm->id && *dm->id ? dm->id : NULL;
	if (!id && dm->target)
		id = strrchr(dm->target, '/') + 1;
	if (!id || !*id)
		return kiln_err_set(err, KILN_E_INVALID, "secret mount needs an id or a target");
	char *data = NULL;
	size_t len = 0;
	bool found = false;
	if (secret_value(st->b->o, id, &data, &len, &found, err) < 0)
		return -1;
	if (!found)
		return dm->required ? kiln_err_set(err, KILN_E_NOTFOUND, "secret %s: not found", id)
		                    : 0;
	_cleanup_free_ char *target =
	    dm->target ? xstrdup(dm->target) : xasprintf("/run/secrets/%s", id);
	int r = secret_dir(m, dir, err);
	_cleanup_free_ char *path = r == 0 ? xasprintf("%s/%zu", m->secret_dir, idx) : NULL;
	int fd = r == 0 ? open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0400) : -1;
	if (r == 0 && fd < 0)
		r = kiln_err_set(err, errno, "writing secret `%s`", id);
	if (r == 0) {
		r = kiln_write_all(fd, data, len, err);
		close(fd);
	}
	explicit_bzero(data, len);
	free(data);
	mode_t mode = dm->has_mode ? (mode_t)dm->mode : 0400;
	if (r == 0 &&
	    (chown(path, dm->has_uid ? (uid_t)dm->uid : 0, dm->has_gid ? (gid_t)dm->gid : 0) < 0 ||
	     chmod(path, mode & 07777) < 0))
		r = kiln_err_set(err, errno, "secret `%s`", id);
	if (r == 0)
		r = stub(st, m, dir, target, true, err);
	if (r == 0)
		run_mounts_add_bind(m, path, target, true);
	return r;
}

static int mount_ssh(struct bld_stage *st, const struct df_mount *dm, const char *dir, size_t idx,
                     struct run_mounts *m, struct kiln_err *err)
{
	const char *id = dm->id && *dm->id ? dm->id : "default";
	const char *sock = NULL;
	size_t il = strlen(id);
	for (char *const *s = st->b->o->ssh; s && *s && !sock; s++)
		if (!strncmp(*s, id, il) && ((*s)[il] == '=' || !(*s)[il]))
			sock = (*s)[il] == '=' ? *s + il + 1 : getenv("SSH_AUTH_SOCK");
	if (!sock || !*sock)
		return dm->required
		           ? kiln_err_set(err, KILN_E_NOTFOUND,
		                          "no SSH key %s forwarded from the client (--ssh)", id)
		           : 0;
	_cleanup_free_ char *target =
	    dm->target ? xstrdup(dm->target) : xasprintf("/run/buildkit/ssh_agent.%zu", idx);
	if (stub(st, m, dir, target, true, err) < 0)
		return -1;
	run_mounts_add_bind(m, sock, target, false);
	kiln_strv_pushf(&m->env, "SSH_AUTH_SOCK=%s", target);
	return 0;
}

int run_mounts_prepare(struct bld_stage *st, const struct df_run *run, const char *dir,
                       struct run_mounts *m, struct kiln_err *err)
{
	for (size_t i = 0; i < run->n_mounts; i++) {
		const struct df_mount *dm = &run->mounts[i];
		if (strchr(dm->spec, '$'))
			return kiln_err_set(
			    err, KILN_E_UNSUPPORTED,
			    "--mount=%s: variables in mount options are not supported yet",
			    dm->spec);
		if (dm->type != DF_MOUNT_SECRET && dm->type != DF_MOUNT_SSH &&
		    (!dm->target || dm->target[0] != '/'))
			return kiln_err_set(err, KILN_E_INVALID,
			                    "--mount=%s: target must be absolute", dm->spec);
		int r = 0;
		switch (dm->type) {
		case DF_MOUNT_BIND: r = mount_bind(st, dm, dir, i, m, err); break;
		case DF_MOUNT_CACHE: r = mount_cache(st, dm, dir, m, err); break;
		case DF_MOUNT_SECRET: r = mount_secret(st, dm, dir, i, m, err); break;
		case DF_MOUNT_SSH: r = mount_ssh(st, dm, dir, i, m, err); break;
		case DF_MOUNT_TMPFS: {
			r = stub(st, m, dir, dm->target, false, err);
			if (r == 0) {
				struct rt_mount *t = mount_new(m);
				t->type = RT_MOUNT_TMPFS;
				t->target = xstrdup(dm->target);
				t->options = dm->size_bytes > 0
				                 ? xasprintf("size=%lld", dm->size_bytes)
				                 : NULL;
			}
			break;
		}
		}
		if (r < 0)
			return kiln_err_wrap(err, "--mount=%s", dm->spec);
	}
	return 0;
}
