/* RUN --mount: each type becomes a runtime mount (struct rt_mount).
 *   cache   ROOT/cache/mounts/<xxh128 of the id>/, kept between builds,
 *           created with mode/uid/gid (given those, a cache of its own, as
 *           BuildKit keys the cache by id and base); sharing=locked holds an exclusive
 *           lock for the step, shared (the default) a shared one, private
 *           an exclusive one on the first instance no step holds (<hex>,
 *           <hex>-2, ...: one is made when all are in use, and kept)
 *   bind    a copy of source from the context, a stage or an image (rw
 *           writes land in the copy and are discarded with it)
 *   tmpfs   a fresh tmpfs (size=)
 *   secret  the --secret's bytes in a sealed memfd that the runtime copies
 *           into a tmpfs of the container's own mount namespace, bound
 *           read-only at target (/run/secrets/<id>): never on a host path,
 *           gone with kiln and the container, even after a SIGKILL
 *   ssh     the --ssh socket bound at target (/run/buildkit/ssh_agent.N),
 *           SSH_AUTH_SOCK set for the step (BuildKit's rule: mount_ssh);
 *           with mode, uid or gid other than BuildKit's 0600 0:0, a
 *           relay's socket made with those (ssh_relay.c)
 * Targets are cleaned, a relative one under the WORKDIR (prepare_cleaned).
 * Mount points the rootfs lacks are made in a stub dir that the step sees
 * as its topmost lower layer: they never land in the step's layer. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/mman.h>
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
		rt_mount_release(&m->v[i]); /* a secret's memfd closed, its bytes gone */
	free(m->v);
	for (size_t i = 0; i < m->n_locks; i++)
		close(m->locks[i]);
	free(m->locks);
	for (size_t i = 0; i < m->n_relays; i++)
		bld_ssh_relay_stop(m->relays[i]);
	free(m->relays);
	free(m->stubs);
	for (size_t i = 0; i < m->env.n; i++) /* secrets of env= */
		explicit_bzero(m->env.v[i], strlen(m->env.v[i]));
	kiln_strv_release(&m->env);
	free(m->ssh_sock);
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

/* The layers of image `name` as a rootfs; its ID into id. */
static int image_rootfs(struct bld_stage *st, const char *name, struct bld_rootfs *fs,
                        char id[KILN_DIGEST_LEN], struct kiln_err *err)
{
	struct img_image *img = NULL;
	if (bld_image_load(st->b, name, &img, err) < 0)
		return -1;
	memcpy(id, img->id, KILN_DIGEST_LEN);
	bld_rootfs_init(fs, st->b->s);
	fs->mu = &st->b->fs_mu;
	bld_rootfs_add_image(fs, img);
	img_image_free(img);
	return 0;
}

/* The tree from= names (a stage's rootfs, an image's, or else the
 * context), with an identity for cache keys ("" for the context). */
struct from_tree {
	struct bld_tree t;
	struct bld_rootfs img_fs;
	bool have_img;
	char ident[KILN_DIGEST_LEN + 8];
};

static int from_tree_open(struct bld_stage *st, const struct df_mount *dm, struct from_tree *f,
                          struct kiln_err *err)
{
	struct bld_build *b = st->b;
	memset(f, 0, sizeof(*f));
	f->t = (struct bld_tree){.ctx = &b->ctx};
	if (dm->from && dm->from_stage >= 0) {
		if (bld_stage_need(b, dm->from_stage, err) < 0)
			return -1;
		f->t = (struct bld_tree){.fs = &b->stages[dm->from_stage].fs};
		snprintf(f->ident, sizeof(f->ident), "stage:%s",
		         b->stages[dm->from_stage].key[0] ? b->stages[dm->from_stage].key
		                                          : dm->from);
	} else if (dm->from) {
		char id[KILN_DIGEST_LEN];
		if (image_rootfs(st, dm->from, &f->img_fs, id, err) < 0)
			return -1;
		f->have_img = true;
		f->t = (struct bld_tree){.fs = &f->img_fs};
		snprintf(f->ident, sizeof(f->ident), "image:%s", id);
	}
	return 0;
}

static void from_tree_close(struct from_tree *f)
{
	if (f->have_img)
		bld_rootfs_release(&f->img_fs);
	f->have_img = false;
}

/* Copies path src of f's tree to dst; *is_dir tells what it was. */
static int copy_from(const struct from_tree *f, const struct df_mount *dm, const char *src,
                     const char *dst, bool *is_dir, struct kiln_err *err)
{
	struct bld_node n = {0};
	bool found = false;
	int r = bld_tree_resolve(&f->t, src, true, &n, &found, err);
	if (r == 0 && !found)
		r = kiln_err_set(err, KILN_E_NOTFOUND, "mount source `%s` not found%s%s", src,
		                 dm->from ? " in " : "", dm->from ? dm->from : "");
	if (r == 0)
		r = copy_node(&f->t, &n, dst, 0, err);
	if (r == 0 && is_dir)
		*is_dir = S_ISDIR(n.st.st_mode);
	bld_node_release(&n);
	return r;
}

static int mount_bind(struct bld_stage *st, const struct df_mount *dm, const char *dir, size_t idx,
                      struct run_mounts *m, struct kiln_err *err)
{
	struct from_tree f;
	if (from_tree_open(st, dm, &f, err) < 0)
		return -1;
	const char *src = dm->source && *dm->source ? dm->source : "/";
	_cleanup_free_ char *copy = xasprintf("%s/bind-%zu", dir, idx);
	bool is_dir = false;
	int r = copy_from(&f, dm, src, copy, &is_dir, err);
	if (r == 0)
		r = stub(st, m, dir, dm->target, !is_dir, err);
	if (r == 0)
		run_mounts_add_bind(m, copy, dm->target, dm->readonly);
	from_tree_close(&f);
	return r;
}

/* --- cache ------------------------------------------------------------------ */

/* A new cache dir at path: mode/uid/gid on its root, seeded with from='s
 * source subtree (at the same subpath) when from= is given. */
static int cache_create(struct bld_stage *st, const struct df_mount *dm, const char *path,
                        const char *sub, struct kiln_err *err)
{
	_cleanup_free_ char *tmp = xasprintf("%s.new", path);
	kiln_rm_rf(tmp, NULL);
	mode_t mode = dm->has_mode ? (mode_t)dm->mode : 0755;
	if (mkdir(tmp, 0700) < 0)
		return kiln_err_set(err, errno, "mkdir `%s`", tmp);
	int r = 0;
	if (chown(tmp, dm->has_uid ? (uid_t)dm->uid : 0, dm->has_gid ? (gid_t)dm->gid : 0) < 0 ||
	    chmod(tmp, mode & 07777) < 0)
		r = kiln_err_set(err, errno, "creating cache mount `%s`", path);
	if (r == 0 && dm->from) {
		struct from_tree f;
		r = from_tree_open(st, dm, &f, err);
		_cleanup_free_ char *dst = kiln_path_join(tmp, sub);
		_cleanup_free_ char *parent = xstrdup(dst);
		*strrchr(parent, '/') = '\0';
		if (r == 0 && *sub)
			r = kiln_mkdir_p(parent, 0755, err);
		if (r == 0 && *sub)
			r = copy_from(&f, dm, sub, dst, NULL, err);
		else if (r == 0) /* the whole tree: its root's entries into tmp */
			r = copy_from(&f, dm, "/", tmp, NULL, err);
		from_tree_close(&f);
	}
	if (r == 0 && rename(tmp, path) < 0)
		r = kiln_err_set(err, errno, "creating cache mount `%s`", path);
	if (r < 0)
		kiln_rm_rf(tmp, NULL);
	return r;
}

/* The lock of a cache dir: shared (sharing=shared), exclusive and waited
 * for (locked), exclusive or else *busy (private). Removable: a prune
 * removes the dir and its lock file together under the lock, and a step
 * that waited on the removed file locks the new one instead. */
static int cache_lock(const char *lock, enum df_mount_sharing sharing, bool *busy,
                      struct kiln_err *err)
{
	int how = sharing == DF_SHARING_PRIVATE  ? LOCK_EX | LOCK_NB
	          : sharing == DF_SHARING_LOCKED ? LOCK_EX
	                                         : LOCK_SH;
	return kiln_lock_file_removable(lock, how, busy, err);
}

#define PRIVATE_MAX 64

/* sharing=private: the first instance of the cache that no step holds
 * (exclusively locked for this step), else a new one, kept for later
 * builds as BuildKit keeps it (solver/llbsolver/mounts: a private mount
 * reuses any cache ref of its key that is not in use, else makes a new
 * one indexed under the same key). Instances: base/hex, base/hex-2, ...
 * *path is the instance's dir (made by the caller when missing). */
static int private_instance(const char *base, const char *hex, char **path, struct kiln_err *err)
{
	for (int n = 1; n <= PRIVATE_MAX; n++) {
		_cleanup_free_ char *dir =
		    n == 1 ? xasprintf("%s/%s", base, hex) : xasprintf("%s/%s-%d", base, hex, n);
		_cleanup_free_ char *lock = xasprintf("%s.lock", dir);
		bool busy;
		int fd = cache_lock(lock, DF_SHARING_PRIVATE, &busy, err);
		if (fd >= 0) {
			free(*path);
			*path = TAKE_PTR(dir);
			return fd;
		}
		if (!busy)
			return -1;
	}
	return kiln_err_set(err, EBUSY, "all %d private instances of the cache are in use",
	                    PRIVATE_MAX);
}

/* The directory sub names inside the cache dir path, made when missing,
 * as a path with no symlink in it (*out). The cache is written by RUN
 * steps, so sub is resolved inside it (openat2 RESOLVE_IN_ROOT), as
 * BuildKit resolves a selector (continuity fs.RootPath): a symlink there
 * to a host path names a path inside the cache, never the host's. */
static int cache_subdir(const char *path, const char *sub, char **out, struct kiln_err *err)
{
	_cleanup_close_ int root = open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (root < 0)
		return kiln_err_set(err, errno, "opening cache mount `%s`", path);
	_cleanup_free_ char *p = xstrdup(*sub ? sub : ".");
	for (char *c = p;; c++) {
		if (*c && *c != '/')
			continue;
		char saved = *c;
		*c = '\0';
		char *slash = strrchr(p, '/');
		if (slash)
			*slash = '\0';
		_cleanup_close_ int parent =
		    kiln_open_in_root(root, slash ? p : ".", O_PATH | O_DIRECTORY);
		if (slash)
			*slash = '/';
		if (parent < 0 ||
		    (mkdirat(parent, slash ? slash + 1 : p, 0755) < 0 && errno != EEXIST))
			return kiln_err_set(err, errno, "cache mount source `%s`", sub);
		*c = saved;
		if (!saved)
			break;
	}
	_cleanup_close_ int fd = kiln_open_in_root(root, p, O_PATH | O_DIRECTORY);
	if (fd < 0)
		return kiln_err_set(err, errno, "cache mount source `%s`", sub);
	_cleanup_free_ char *proc = xasprintf("/proc/self/fd/%d", fd);
	char real[PATH_MAX];
	ssize_t n = readlink(proc, real, sizeof(real) - 1);
	if (n < 0)
		return kiln_err_set(err, errno, "cache mount source `%s`", sub);
	real[n] = '\0';
	*out = xstrdup(real);
	return 0;
}

static int mount_cache(struct bld_stage *st, const struct df_mount *dm, const char *dir,
                       struct run_mounts *m, struct kiln_err *err)
{
	const char *id = dm->id && *dm->id ? dm->id : dm->target;
	/* BuildKit keys a cache by its id and its base: the mkdir of
	 * uid/gid/mode, or the from= state */
	struct kiln_buf key;
	kiln_buf_init(&key, KILN_BUF_NOLIMIT, NULL);
	kiln_buf_addstr(&key, id, NULL);
	if (dm->has_uid || dm->has_gid || dm->has_mode)
		kiln_buf_addf(&key, NULL, "\n%lu:%lu:%lo", dm->has_uid ? dm->uid : 0,
		              dm->has_gid ? dm->gid : 0, dm->has_mode ? dm->mode : 0755);
	if (dm->from) {
		struct from_tree f;
		int r = from_tree_open(st, dm, &f, err);
		from_tree_close(&f);
		if (r < 0) {
			kiln_buf_release(&key);
			return -1;
		}
		kiln_buf_addf(&key, NULL, "\nfrom %s", f.ident);
	}
	struct kiln_xxh128 h;
	kiln_xxh128(kiln_buf_str(&key), key.len, &h);
	kiln_buf_release(&key);
	char hex[33];
	kiln_xxh128_hex(&h, hex);
	_cleanup_free_ char *base = xasprintf("%s/cache/mounts", img_store_root(st->b->s));
	_cleanup_free_ char *path = xasprintf("%s/%s", base, hex);
	_cleanup_free_ char *lock = xasprintf("%s/%s.lock", base, hex);
	if (kiln_mkdir_p(base, 0700, err) < 0)
		return -1;
	int fd = dm->sharing == DF_SHARING_PRIVATE ? private_instance(base, hex, &path, err)
	                                           : cache_lock(lock, dm->sharing, NULL, err);
	if (fd < 0)
		return -1;
	m->locks = xreallocarray(m->locks, m->n_locks + 1, sizeof(int));
	m->locks[m->n_locks++] = fd;
	const char *src = dm->source ? dm->source : "";
	while (*src == '/')
		src++;
	if (!strcmp(src, "..") || !strncmp(src, "../", 3) || strstr(src, "/../") ||
	    (strlen(src) > 3 && !strcmp(src + strlen(src) - 3, "/..")))
		return kiln_err_set(err, KILN_E_INVALID, "cache mount source `%s` leaves the cache",
		                    dm->source);
	if (!kiln_path_exists(path) && cache_create(st, dm, path, src, err) < 0)
		return -1;
	_cleanup_free_ char *mnt = NULL;
	if (cache_subdir(path, src, &mnt, err) < 0)
		return -1;
	bld_test_stop("cache-resolved");
	if (stub(st, m, dir, dm->target, false, err) < 0)
		return -1;
	run_mounts_add_bind(m, mnt, dm->target, false);
	m->v[m->n - 1].exact_source = true; /* steps write under it: no symlink followed */
	return 0;
}

/* --- secret, ssh -------------------------------------------------------------- */

/* One --secret spec's fields (allocated; absent ones NULL). */
struct secret_spec {
	char *id, *src, *env, *type;
};

static void secret_spec_release(struct secret_spec *sp)
{
	free(sp->id);
	free(sp->src);
	free(sp->env);
	free(sp->type);
}

static int secret_spec_parse(const char *spec, struct secret_spec *sp, struct kiln_err *err)
{
	memset(sp, 0, sizeof(*sp));
	_cleanup_free_ char *copy = xstrdup(spec);
	char *save = NULL;
	for (char *f = strtok_r(copy, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(f, '=');
		if (!eq) {
			secret_spec_release(sp);
			return kiln_err_set(err, KILN_E_INVALID,
			                    "--secret `%s`: field `%s` must be a key=value pair",
			                    spec, f);
		}
		*eq = '\0';
		/* keys in any case, as docker reads them */
		char **dst = !strcasecmp(f, "id")                                ? &sp->id
		             : !strcasecmp(f, "src") || !strcasecmp(f, "source") ? &sp->src
		             : !strcasecmp(f, "env")                             ? &sp->env
		             : !strcasecmp(f, "type")                            ? &sp->type
		                                                                 : NULL;
		if (!dst) {
			secret_spec_release(sp);
			return kiln_err_set(err, KILN_E_INVALID,
			                    "--secret `%s`: unknown field `%s`", spec, f);
		}
		free(*dst);
		*dst = xstrdup(eq + 1);
	}
	return 0;
}

/* The --secret for id: its bytes, or *found false. */
static int secret_value(const struct bld_opts *o, const char *id, char **data, size_t *len,
                        bool *found, struct kiln_err *err)
{
	*found = false;
	for (char *const *s = o->secrets; s && *s; s++) {
		struct secret_spec sp;
		if (secret_spec_parse(*s, &sp, err) < 0)
			return -1;
		if (!sp.id || strcmp(sp.id, id)) {
			secret_spec_release(&sp);
			continue;
		}
		*found = true;
		int r = 0;
		const char *v = sp.src ? NULL : getenv(sp.env ? sp.env : id);
		if (sp.src && kiln_read_file(sp.src, 500 * 1024, data, len, err) < 0)
			r = kiln_err_wrap(err, "secret `%s`", id);
		else if (!sp.src && !v)
			r = kiln_err_set(err, KILN_E_NOTFOUND,
			                 "secret `%s`: environment variable `%s` is not set", id,
			                 sp.env ? sp.env : id);
		else if (!sp.src) {
			*data = xstrdup(v);
			*len = strlen(v);
		}
		secret_spec_release(&sp);
		return r;
	}
	return 0;
}

/* One --ssh spec, as docker checks it before building: ID (or ID= with
 * no path) is the agent at SSH_AUTH_SOCK, which must be set and exist;
 * ID=PATH[,PATH]: each path must exist. */
static int ssh_spec_check(const char *spec, struct kiln_err *err)
{
	const char *eq = strchr(spec, '=');
	if (!eq || !eq[1]) {
		const char *sock = getenv("SSH_AUTH_SOCK");
		struct stat st;
		if (!sock || !*sock)
			return kiln_err_set(err, KILN_E_INVALID,
			                    "--ssh `%s`: invalid empty ssh agent socket, make sure "
			                    "SSH_AUTH_SOCK is set",
			                    spec);
		if (stat(sock, &st) < 0)
			return kiln_err_set(err, errno, "--ssh `%s`: SSH_AUTH_SOCK `%s`", spec,
			                    sock);
		return 0;
	}
	_cleanup_free_ char *paths = xstrdup(eq + 1);
	char *save = NULL;
	for (char *p = strtok_r(paths, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		struct stat st;
		if (stat(p, &st) < 0)
			return kiln_err_set(err, errno, "--ssh `%s`: `%s`", spec, p);
	}
	return 0;
}

int bld_check_secrets_ssh(const struct bld_opts *o, struct kiln_err *err)
{
	for (char *const *s = o->secrets; s && *s; s++) {
		struct secret_spec sp;
		if (secret_spec_parse(*s, &sp, err) < 0)
			return -1;
		int r = 0;
		struct stat st;
		if (!sp.id || !*sp.id)
			r = kiln_err_set(err, KILN_E_INVALID, "--secret `%s`: secret missing ID",
			                 *s);
		else if (sp.type && strcmp(sp.type, "file") && strcmp(sp.type, "env"))
			r = kiln_err_set(err, KILN_E_INVALID,
			                 "--secret `%s`: unsupported secret type `%s`", *s,
			                 sp.type);
		else if (sp.src && stat(sp.src, &st) < 0)
			r = kiln_err_set(err, errno, "--secret `%s`: `%s`", *s, sp.src);
		secret_spec_release(&sp);
		if (r < 0)
			return -1;
	}
	for (char *const *s = o->ssh; s && *s; s++)
		if (ssh_spec_check(*s, err) < 0)
			return -1;
	return 0;
}

/* A file of the secret's bytes that has no name anywhere: a sealed memfd
 * (an unnamed file of /dev/shm without memfd_create). It dies with kiln. */
static int secret_fd(const char *id, const char *data, size_t len, struct kiln_err *err)
{
	int fd = memfd_create("kiln-secret", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 && (errno == ENOSYS || errno == EPERM))
		fd = open("/dev/shm", O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return kiln_err_set(err, errno, "a memory file for secret `%s`", id);
	if (kiln_write_all(fd, data, len, err) < 0) {
		close(fd);
		return kiln_err_wrap(err, "secret `%s`", id);
	}
	/* nothing holding it can change it (best effort: not on /dev/shm) */
	fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK);
	return fd;
}

/* The secret's bytes at the target (/run/secrets/<id>): the runtime copies
 * them into a tmpfs of the container's own mount namespace and binds that
 * read-only there, 0400 root unless uid/gid/mode are given (BuildKit's). */
static int secret_file(struct bld_stage *st, const struct df_mount *dm, const char *dir,
                       const char *id, const char *data, size_t len, struct run_mounts *m,
                       struct kiln_err *err)
{
	_cleanup_free_ char *target =
	    dm->target ? xstrdup(dm->target) : xasprintf("/run/secrets/%s", id);
	if (stub(st, m, dir, target, true, err) < 0)
		return -1;
	int fd = secret_fd(id, data, len, err);
	if (fd < 0)
		return -1;
	struct rt_mount *r = mount_new(m);
	r->type = RT_MOUNT_SECRET;
	r->target = TAKE_PTR(target);
	r->data_fd = fd;
	r->uid = dm->has_uid ? (uid_t)dm->uid : 0;
	r->gid = dm->has_gid ? (gid_t)dm->gid : 0;
	r->mode = dm->has_mode ? (mode_t)dm->mode : 0400;
	bld_test_stop("kiln-secrets");
	return 0;
}

static int mount_secret(struct bld_stage *st, const struct df_mount *dm, const char *dir,
                        struct run_mounts *m, struct kiln_err *err)
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
	if (dm->env) /* env=: the step's environment gets it */
		kiln_strv_pushf(&m->env, "%s=%.*s", dm->env, (int)len, data);
	int r = 0;
	if (!dm->env || dm->target) /* a file unless env= alone */
		r = secret_file(st, dm, dir, id, data, len, m, err);
	explicit_bzero(data, len);
	free(data);
	return r;
}

/* As BuildKit: the Nth ssh mount's default target is ssh_agent.N. */
static char *ssh_default_target(size_t idx)
{
	return xasprintf("/run/buildkit/ssh_agent.%zu", idx);
}

/* An optional mount without a forwarded agent mounts nothing. */
static int mount_ssh(struct bld_stage *st, const struct df_mount *dm, const char *dir,
                     struct run_mounts *m, struct kiln_err *err)
{
	size_t idx = m->n_ssh++;
	_cleanup_free_ char *target = dm->target ? xstrdup(dm->target) : ssh_default_target(idx);
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
	if (stub(st, m, dir, target, true, err) < 0)
		return -1;
	mode_t mode = dm->has_mode ? (mode_t)dm->mode : 0600;
	uid_t uid = dm->has_uid ? (uid_t)dm->uid : 0;
	gid_t gid = dm->has_gid ? (gid_t)dm->gid : 0;
	_cleanup_free_ char *relay = NULL;
	if (mode != 0600 || uid || gid) {
		pid_t pid;
		if (bld_ssh_relay_start(st, dir, idx, sock, mode, uid, gid, &pid, &relay, err) < 0)
			return -1;
		m->relays = xreallocarray(m->relays, m->n_relays + 1, sizeof(*m->relays));
		m->relays[m->n_relays++] = pid;
	}
	run_mounts_add_bind(m, relay ? relay : sock, target, false);
	return 0;
}

/* BuildKit expands each --mount value (from= never) with the step's
 * build args and env, then validates the result: *out is the mount parsed
 * again from the expanded fields. */
static int expand_mount(struct bld_stage *st, const struct df_mount *dm, struct df_mount *out,
                        char **expanded, struct kiln_err *err)
{
	struct kiln_buf spec;
	kiln_buf_init(&spec, KILN_BUF_NOLIMIT, NULL);
	_cleanup_free_ char *copy = xstrdup(dm->spec);
	char *save = NULL;
	int r = 0;
	for (char *f = strtok_r(copy, ",", &save); f && r == 0; f = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(f, '=');
		char *v = NULL;
		if (eq && strchr(eq, '$') && strncasecmp(f, "from=", 5)) {
			r = df_expand_word(eq + 1, st->b->g.escape, 0, bld_stage_lookup, st, &v,
			                   err);
			eq[1] = '\0';
		}
		if (r == 0)
			kiln_buf_addf(&spec, NULL, "%s%s%s", spec.len ? "," : "", f, v ? v : "");
		free(v);
	}
	if (r == 0) {
		*expanded = xstrdup(kiln_buf_str(&spec));
		r = df_mount_parse(*expanded, true, out, err);
	}
	kiln_buf_release(&spec);
	if (r == 0)
		out->from_stage = dm->from_stage;
	return r;
}

static int prepare_one(struct bld_stage *st, const struct df_mount *dm, const char *dir, size_t i,
                       struct run_mounts *m, struct kiln_err *err)
{
	if (dm->type != DF_MOUNT_SECRET && dm->type != DF_MOUNT_SSH &&
	    (!dm->target || dm->target[0] != '/'))
		return kiln_err_set(err, KILN_E_INVALID, "target must be absolute");
	switch (dm->type) {
	case DF_MOUNT_BIND: return mount_bind(st, dm, dir, i, m, err);
	case DF_MOUNT_CACHE: return mount_cache(st, dm, dir, m, err);
	case DF_MOUNT_SECRET: return mount_secret(st, dm, dir, m, err);
	case DF_MOUNT_SSH: return mount_ssh(st, dm, dir, m, err);
	case DF_MOUNT_TMPFS:
		if (stub(st, m, dir, dm->target, false, err) < 0)
			return -1;
		struct rt_mount *t = mount_new(m);
		t->type = RT_MOUNT_TMPFS;
		t->target = xstrdup(dm->target);
		t->options = dm->size_bytes > 0 ? xasprintf("size=%lld", dm->size_bytes) : NULL;
		return 0;
	}
	return 0;
}

/* The mount at its target as BuildKit reads it (bld_stage_path): never
 * as written, whose ".." would lead the stub out of the step's dir onto
 * the host. SSH_AUTH_SOCK and a cache's default id stay the target as
 * written (BuildKit's; cache_remote.c keys the id the same way). */
static int prepare_cleaned(struct bld_stage *st, const struct df_mount *dm, const char *dir,
                           size_t i, struct run_mounts *m, struct kiln_err *err)
{
	/* BuildKit's exec op: SSH_AUTH_SOCK is the first ssh mount's target
	 * as written, whether or not an agent was forwarded for it */
	if (dm->type == DF_MOUNT_SSH && m->n_ssh == 0)
		m->ssh_sock =
		    dm->target && *dm->target ? xstrdup(dm->target) : ssh_default_target(0);
	if (!dm->target || !*dm->target) {
		struct df_mount d = *dm;
		if (d.type == DF_MOUNT_SSH || d.type == DF_MOUNT_SECRET)
			d.target = NULL; /* target= is the default one, as BuildKit's */
		return prepare_one(st, &d, dir, i, m, err);
	}
	_cleanup_free_ char *rel = bld_stage_path(st, dm->target);
	_cleanup_free_ char *target = xasprintf("/%s", rel);
	struct df_mount clean = *dm; /* shallow: released with dm */
	clean.target = target;
	if (dm->type == DF_MOUNT_CACHE && !(dm->id && *dm->id))
		clean.id = dm->target; /* a cache's default id stays as written */
	return prepare_one(st, &clean, dir, i, m, err);
}

int run_mounts_prepare(struct bld_stage *st, const struct df_run *run, const char *dir,
                       struct run_mounts *m, struct kiln_err *err)
{
	for (size_t i = 0; i < run->n_mounts; i++) {
		const struct df_mount *dm = &run->mounts[i];
		struct df_mount ex = {.from_stage = -1};
		_cleanup_free_ char *spec = NULL;
		bool expanded = strchr(dm->spec, '$') != NULL;
		int r = expanded ? expand_mount(st, dm, &ex, &spec, err) : 0;
		if (r == 0)
			r = prepare_cleaned(st, expanded ? &ex : dm, dir, i, m, err);
		if (expanded)
			df_mount_release(&ex);
		if (r < 0)
			return kiln_err_wrap(err, "--mount=%s", spec ? spec : dm->spec);
	}
	return 0;
}
