/* Read-only lookups in a tree without mounting it: a stage's rootfs as a
 * stack of layer snapshots (whiteouts and opaque directories respected),
 * or the build context (.dockerignore respected). Symlinks resolve inside
 * the tree, as if it were the root. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "build-internal.h"

#define MAX_LINKS 40

void bld_rootfs_init(struct bld_rootfs *r, struct img_store *s)
{
	memset(r, 0, sizeof(*r));
	r->store = s;
}

void bld_vindex_unref(struct bld_vindex *x)
{
	if (!x || __atomic_sub_fetch(&x->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	for (size_t i = 0; i < x->n; i++) {
		free(x->v[i].path);
		free(x->v[i].host);
	}
	free(x->v);
	free(x);
}

void bld_rootfs_add_image(struct bld_rootfs *r, const struct img_image *img)
{
	for (size_t i = 0; i < img->manifest->n_layers && i < img->config->n_diff_ids; i++) {
		struct img_layer l = {0};
		snprintf(l.diff_id, sizeof(l.diff_id), "%s", img->config->diff_ids[i]);
		snprintf(l.digest, sizeof(l.digest), "%s", img->manifest->layers[i].digest);
		l.size = (uint64_t)img->manifest->layers[i].size;
		l.media_type = img->manifest->layers[i].media_type;
		bld_rootfs_add(r, &l);
	}
}

void bld_rootfs_add_indexed(struct bld_rootfs *r, const struct img_layer *l, struct bld_vindex *x)
{
	bld_rootfs_add(r, l);
	r->vidx[r->n - 1] = x;
	if (x)
		__atomic_add_fetch(&x->refs, 1, __ATOMIC_RELAXED);
}

void bld_rootfs_add(struct bld_rootfs *r, const struct img_layer *l)
{
	size_t old_cap = r->cap;
	KILN_GROW(r->layers, r->cap, r->n + 1);
	if (r->cap != old_cap) {
		r->vidx = xreallocarray(r->vidx, r->cap, sizeof(*r->vidx));
		memset(r->vidx + old_cap, 0, (r->cap - old_cap) * sizeof(*r->vidx));
		r->dirs = xreallocarray(r->dirs, r->cap, sizeof(*r->dirs));
		memset(r->dirs + old_cap, 0, (r->cap - old_cap) * sizeof(*r->dirs));
	}
	struct img_layer *d = &r->layers[r->n++];
	memset(d, 0, sizeof(*d));
	memcpy(d->diff_id, l->diff_id, sizeof(d->diff_id));
	memcpy(d->digest, l->digest, sizeof(d->digest));
	d->size = l->size;
	d->media_type = l->media_type ? xstrdup(l->media_type) : NULL;
}

void bld_rootfs_copy(struct bld_rootfs *dst, const struct bld_rootfs *src)
{
	bld_rootfs_init(dst, src->store);
	dst->mu = src->mu;
	if (dst->mu)
		pthread_mutex_lock(dst->mu);
	for (size_t i = 0; i < src->n; i++)
		bld_rootfs_add_indexed(dst, &src->layers[i], src->vidx[i]);
	for (size_t i = 0; i < src->n_dirs; i++)
		dst->dirs[i] = src->dirs[i] ? xstrdup(src->dirs[i]) : NULL;
	dst->n_dirs = src->n_dirs;
	if (dst->mu)
		pthread_mutex_unlock(dst->mu);
}

void bld_rootfs_release(struct bld_rootfs *r)
{
	for (size_t i = 0; i < r->n; i++) {
		img_layer_release(&r->layers[i]);
		bld_vindex_unref(r->vidx[i]);
	}
	for (size_t i = 0; i < r->n_dirs; i++)
		free(r->dirs[i]);
	free(r->layers);
	free(r->dirs);
	free(r->vidx);
	memset(r, 0, sizeof(*r));
}

void bld_node_release(struct bld_node *n)
{
	free(n->real);
	free(n->host);
	n->real = n->host = NULL;
}

static int ensure_dirs(struct bld_rootfs *r, struct kiln_err *err)
{
	int rc = 0;
	if (r->mu)
		pthread_mutex_lock(r->mu);
	for (; r->n_dirs < r->n && rc == 0; r->n_dirs++) {
		if (r->vidx[r->n_dirs]) /* described in memory: no snapshot */
			continue;
		if (img_snapshot_ensure(r->store, &r->layers[r->n_dirs], &r->dirs[r->n_dirs], err) <
		    0) {
			rc = -1;
			break;
		}
		/* no symlink in the store's part of a path: layer_open_dir */
		char *real = realpath(r->dirs[r->n_dirs], NULL);
		if (!real) {
			rc = kiln_err_set(err, errno, "snapshot `%s`", r->dirs[r->n_dirs]);
			break;
		}
		free(r->dirs[r->n_dirs]);
		r->dirs[r->n_dirs] = real;
	}
	if (r->mu)
		pthread_mutex_unlock(r->mu);
	return rc;
}

static bool is_whiteout(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

static char *join_rel(const char *a, const char *b)
{
	return *a ? xasprintf("%s/%s", a, b) : xstrdup(b);
}

/* Directory rel of layer snapshot dir, opened (flags) without following
 * any symlink: a lower layer's `a -> /host/path` under an upper layer's
 * directory `a` must not lead a lookup of /a/x onto the host. -1 with
 * errno: ENOENT absent in this layer (lower layers decide), ELOOP or
 * ENOTDIR something else than a directory here (it hides the layers
 * below, as overlay stops merging at a non-directory). dir has no
 * symlink in it (ensure_dirs), so the whole path is opened in one call;
 * rel is a resolved path (no `..`). */
static int layer_open_dir(const char *dir, const char *rel, int flags)
{
	if (!*rel)
		return open(dir, flags | O_DIRECTORY | O_CLOEXEC);
	_cleanup_free_ char *path = kiln_path_join(dir, rel);
	return kiln_openat2(AT_FDCWD, path, flags | O_DIRECTORY,
	                    RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
}

static bool layer_hides(int e)
{
	return e == ELOOP || e == ENOTDIR;
}

static bool is_opaque_fd(int fd)
{
	char v[4];
	ssize_t n = fgetxattr(fd, "trusted.overlay.opaque", v, sizeof(v));
	return n == 1 && v[0] == 'y';
}

/* Bytewise with '/' lowest (the order the layer was written in). */
static int vpath_cmp(const char *a, const char *b)
{
	for (;; a++, b++) {
		unsigned ca = (unsigned char)*a, cb = (unsigned char)*b;
		ca = ca == '/' ? 1 : ca;
		cb = cb == '/' ? 1 : cb;
		if (ca != cb || !ca)
			return (int)ca - (int)cb;
	}
}

static const struct bld_ventry *vfind(const struct bld_vindex *x, const char *path)
{
	size_t lo = 0, hi = x->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = vpath_cmp(x->v[mid].path, path);
		if (c == 0)
			return &x->v[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Whether an indexed layer lets lower layers show under `parent`: it does
 * unless it holds parent as something else than a directory. */
static bool vpasses(const struct bld_vindex *x, const char *parent)
{
	const struct bld_ventry *e = *parent ? vfind(x, parent) : NULL;
	return !e || S_ISDIR(e->st.st_mode);
}

/* Finds child `name` of directory `parent` (real path); 1 found, 0 not. */
static int find_child(const struct bld_tree *t, const char *parent, const char *name,
                      struct bld_node *out, struct kiln_err *err)
{
	_cleanup_free_ char *rel = join_rel(parent, name);
	if (t->ctx) {
		char *host = kiln_path_join(t->ctx->dir, rel);
		if (lstat(host, &out->st) < 0) {
			int e = errno;
			free(host);
			if (e == ENOENT || e == ENOTDIR)
				return 0;
			return kiln_err_set(err, e, "stat `%s`", rel);
		}
		if (!bld_context_visible(t->ctx, rel, S_ISDIR(out->st.st_mode))) {
			free(host);
			return 0;
		}
		out->host = host;
		out->real = TAKE_PTR(rel);
		return 1;
	}
	struct bld_rootfs *r = t->fs;
	if (ensure_dirs(r, err) < 0)
		return -1;
	for (size_t i = r->n; i-- > 0;) {
		if (r->vidx[i]) {
			const struct bld_ventry *e = vfind(r->vidx[i], rel);
			if (e) {
				out->st = e->st;
				out->host = e->host ? xstrdup(e->host) : NULL;
				out->real = TAKE_PTR(rel);
				return 1;
			}
			if (!vpasses(r->vidx[i], parent))
				return 0;
			continue;
		}
		_cleanup_close_ int pfd = layer_open_dir(r->dirs[i], parent, O_RDONLY);
		if (pfd < 0 && errno == ENOENT)
			continue;
		if (pfd < 0)
			return layer_hides(errno) ? 0
			                          : kiln_err_set(err, errno, "open `/%s`", parent);
		if (fstatat(pfd, name, &out->st, AT_SYMLINK_NOFOLLOW) == 0) {
			if (is_whiteout(&out->st))
				return 0;
			out->host = kiln_path_join(r->dirs[i], rel);
			out->real = TAKE_PTR(rel);
			return 1;
		}
		if (errno != ENOENT)
			return kiln_err_set(err, errno, "stat `/%s`", rel);
		if (is_opaque_fd(pfd))
			return 0;
	}
	return 0;
}

int bld_tree_child(const struct bld_tree *t, const char *parent, const char *name,
                   struct bld_node *out, bool *found, struct kiln_err *err)
{
	memset(out, 0, sizeof(*out));
	int f = find_child(t, parent, name, out, err);
	*found = f == 1;
	return f < 0 ? -1 : 0;
}

/* Splits p into components (empty and "." dropped). */
static void split_path(const char *p, struct kiln_strv *out)
{
	while (*p) {
		while (*p == '/')
			p++;
		const char *e = strchrnul(p, '/');
		if (e > p && !(e - p == 1 && *p == '.'))
			kiln_strv_push_take(out, xstrndup(p, (size_t)(e - p)));
		p = e;
	}
}

static void parent_of(char **cur)
{
	char *s = strrchr(*cur, '/');
	if (s)
		*s = '\0';
	else
		(*cur)[0] = '\0';
}

static char *rest_path(const char *cur, char **comps, size_t from, size_t n)
{
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	kiln_buf_addstr(&b, cur, NULL);
	for (size_t i = from; i < n; i++) {
		if (b.len)
			kiln_buf_addch(&b, '/', NULL);
		kiln_buf_addstr(&b, comps[i], NULL);
	}
	return kiln_buf_detach(&b, NULL);
}

static void root_node(const struct bld_tree *t, struct bld_node *out, struct kiln_err *err, int *r)
{
	const char *dir = t->ctx ? t->ctx->dir : NULL;
	if (!dir) {
		if (ensure_dirs(t->fs, err) < 0) {
			*r = -1;
			return;
		}
		for (size_t i = t->fs->n; i-- > 0 && !dir;)
			dir = t->fs->dirs[i];
	}
	*r = 0;
	out->real = xstrdup("");
	out->host = dir ? xstrdup(dir) : NULL;
	memset(&out->st, 0, sizeof(out->st));
	out->st.st_mode = S_IFDIR | 0755;
	if (dir && lstat(dir, &out->st) < 0)
		*r = kiln_err_set(err, errno, "stat `%s`", dir);
}

int bld_tree_resolve(const struct bld_tree *t, const char *path, bool follow_last,
                     struct bld_node *out, bool *found, struct kiln_err *err)
{
	struct kiln_strv comps = KILN_STRV_INIT;
	split_path(path, &comps);
	char *cur = xstrdup("");
	int links = 0, r = 0;
	*found = false;
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < comps.n && r == 0;) {
		const char *c = comps.v[i];
		bool last = i + 1 == comps.n;
		if (!strcmp(c, "..")) {
			parent_of(&cur);
			i++;
			continue;
		}
		struct bld_node n = {0};
		int f = find_child(t, cur, c, &n, err);
		if (f < 0) {
			r = -1;
			break;
		}
		if (f == 0) { /* missing: report where it would be */
			out->real = rest_path(cur, comps.v, i, comps.n);
			goto done;
		}
		if (S_ISLNK(n.st.st_mode) && (!last || follow_last)) {
			char target[PATH_MAX + 1];
			ssize_t len = readlink(n.host, target, PATH_MAX);
			bld_node_release(&n);
			if (len < 0) {
				r = kiln_err_set(err, errno, "readlink `%s`", c);
				break;
			}
			target[len] = '\0';
			if (++links > MAX_LINKS) {
				r = kiln_err_set(err, ELOOP, "resolving `%s`", path);
				break;
			}
			struct kiln_strv nc = KILN_STRV_INIT;
			split_path(target, &nc);
			for (size_t j = i + 1; j < comps.n; j++)
				kiln_strv_push(&nc, comps.v[j]);
			if (target[0] == '/')
				cur[0] = '\0';
			kiln_strv_release(&comps);
			comps = nc;
			i = 0;
			continue;
		}
		if (!last && !S_ISDIR(n.st.st_mode)) {
			r = kiln_err_set(err, ENOTDIR, "resolving `%s`", path);
			bld_node_release(&n);
			break;
		}
		free(cur);
		if (last) {
			*out = n;
			*found = true;
			cur = NULL;
			goto done;
		}
		cur = n.real;
		n.real = NULL;
		bld_node_release(&n);
		i++;
	}
	if (r == 0) { /* the root itself */
		free(out->real);
		root_node(t, out, err, &r);
		*found = r == 0;
		if (*found && *cur) {
			/* ".." after components: resolve the remaining prefix */
			char *p = xstrdup(cur);
			bld_node_release(out);
			r = bld_tree_resolve(t, p, true, out, found, err);
			free(p);
		}
	}
done:
	free(cur);
	kiln_strv_release(&comps);
	if (r < 0)
		bld_node_release(out);
	return r;
}

struct dent {
	char *name;
	size_t rank; /* layer from the top: 0 wins */
	bool whiteout;
};

static int dent_cmp(const void *a, const void *b)
{
	const struct dent *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : (x->rank > y->rank) - (x->rank < y->rank);
}

/* The names in directory fd (taken), which is `real` of a layer. */
static int read_names(int fd, const char *real, size_t rank, struct dent **v, size_t *n,
                      size_t *cap, struct kiln_err *err)
{
	_cleanup_closedir_ DIR *d = fdopendir(fd);
	if (!d) {
		int e = errno;
		close(fd);
		return kiln_err_set(err, e, "open directory `/%s`", real);
	}
	struct dirent *de;
	while ((errno = 0, de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		bool wh = false;
		if (de->d_type == DT_CHR || de->d_type == DT_UNKNOWN) {
			struct stat st;
			if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
				wh = is_whiteout(&st);
		}
		KILN_GROW(*v, *cap, *n + 1);
		(*v)[(*n)++] = (struct dent){xstrdup(de->d_name), rank, wh};
	}
	if (errno)
		return kiln_err_set(err, errno, "read directory `/%s`", real);
	return 0;
}

/* Direct children of dir in an indexed layer: its descendants follow it
 * in the index's order, the children are those without a further '/'. */
static void vlist(const struct bld_vindex *x, const char *dir, size_t rank, struct dent **v,
                  size_t *n, size_t *cap)
{
	size_t dl = strlen(dir), lo = 0, hi = x->n;
	while (lo < hi) { /* first entry after dir itself */
		size_t mid = lo + (hi - lo) / 2;
		if (vpath_cmp(x->v[mid].path, dir) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!dl)
		lo = 0;
	for (size_t i = lo; i < x->n; i++) {
		const char *p = x->v[i].path;
		if (dl && (strncmp(p, dir, dl) || p[dl] != '/'))
			break;
		const char *name = dl ? p + dl + 1 : p;
		if (strchr(name, '/'))
			continue;
		KILN_GROW(*v, *cap, *n + 1);
		(*v)[(*n)++] = (struct dent){xstrdup(name), rank, false};
	}
}

static int list_context(const struct bld_tree *t, const char *real, struct kiln_strv *names,
                        struct kiln_err *err)
{
	_cleanup_free_ char *host =
	    *real ? kiln_path_join(t->ctx->dir, real) : xstrdup(t->ctx->dir);
	_cleanup_closedir_ DIR *d = opendir(host);
	if (!d)
		return kiln_err_set(err, errno, "open directory `%s`", *real ? real : ".");
	struct dirent *de;
	while ((errno = 0, de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		_cleanup_free_ char *rel = join_rel(real, de->d_name);
		bool dir = de->d_type == DT_DIR;
		if (de->d_type == DT_UNKNOWN) {
			struct stat st;
			dir = fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			      S_ISDIR(st.st_mode);
		}
		if (bld_context_visible(t->ctx, rel, dir))
			kiln_strv_push(names, de->d_name);
	}
	if (errno)
		return kiln_err_set(err, errno, "read directory `%s`", *real ? real : ".");
	kiln_strv_sort(names);
	return 0;
}

int bld_tree_list(const struct bld_tree *t, const char *real, struct kiln_strv *names,
                  struct kiln_err *err)
{
	if (t->ctx)
		return list_context(t, real, names, err);
	struct bld_rootfs *r = t->fs;
	if (ensure_dirs(r, err) < 0)
		return -1;
	struct dent *v = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	for (size_t i = r->n; i-- > 0 && rc == 0;) {
		if (r->vidx[i]) {
			vlist(r->vidx[i], real, r->n - 1 - i, &v, &n, &cap);
			if (!vpasses(r->vidx[i], real))
				break;
			continue;
		}
		int fd = layer_open_dir(r->dirs[i], real, O_RDONLY);
		if (fd < 0 && errno == ENOENT)
			continue;
		if (fd < 0) { /* a whiteout, file or symlink here hides the rest */
			if (!layer_hides(errno))
				rc = kiln_err_set(err, errno, "open directory `/%s`", real);
			break;
		}
		bool opaque = is_opaque_fd(fd);
		rc = read_names(fd, real, r->n - 1 - i, &v, &n, &cap, err);
		if (opaque)
			break;
	}
	if (n)
		qsort(v, n, sizeof(*v), dent_cmp);
	for (size_t i = 0; i < n; i++) {
		bool first = i == 0 || strcmp(v[i].name, v[i - 1].name) != 0;
		if (rc == 0 && first && !v[i].whiteout)
			kiln_strv_push(names, v[i].name);
	}
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
	return rc;
}

int bld_rootfs_read(struct bld_rootfs *r, const char *path, char **data, size_t *len, bool *found,
                    struct kiln_err *err)
{
	struct bld_tree t = {.fs = r};
	struct bld_node n = {0};
	*found = false;
	if (bld_tree_resolve(&t, path, true, &n, found, err) < 0)
		return -1;
	int rc = 0;
	if (*found && S_ISREG(n.st.st_mode))
		rc = kiln_read_file(n.host, 16u << 20, data, len, err);
	else
		*found = false;
	bld_node_release(&n);
	return rc;
}

static bool parse_id(const char *s, uint32_t *out)
{
	if (!*s)
		return false;
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (*end || errno || v > UINT32_MAX || *s == '-' || *s == '+')
		return false;
	*out = (uint32_t)v;
	return true;
}

/* Finds `name` in field 0 of a colon file; returns fields 2 and 3. */
static bool lookup_db(const char *data, const char *name, uint32_t *id, uint32_t *gid)
{
	size_t nl = strlen(name);
	for (const char *l = data; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		if (strncmp(l, name, nl) || l[nl] != ':')
			continue;
		const char *f = l + nl + 1;
		f = strchr(f, ':');
		if (!f)
			continue;
		char *end;
		unsigned long u = strtoul(f + 1, &end, 10);
		if (*end != ':')
			continue;
		*id = (uint32_t)u;
		if (gid)
			*gid = (uint32_t)strtoul(end + 1, NULL, 10);
		return true;
	}
	return false;
}

int bld_rootfs_user(struct bld_rootfs *r, const char *spec, uint32_t *uid, uint32_t *gid,
                    struct kiln_err *err)
{
	_cleanup_free_ char *user = xstrdup(spec);
	char *group = strchr(user, ':');
	if (group)
		*group++ = '\0';
	bool uid_num = parse_id(user, uid);
	bool have_gid = false;
	if (!*user) { /* ":group": root's user, as BuildKit's */
		*uid = 0;
		*gid = 0;
	} else if (!uid_num) {
		_cleanup_free_ char *pw = NULL;
		size_t len;
		bool found;
		if (bld_rootfs_read(r, "etc/passwd", &pw, &len, &found, err) < 0)
			return -1;
		if (!found || !lookup_db(pw, user, uid, gid))
			return kiln_err_set(err, KILN_E_NOTFOUND,
			                    "unable to find user %s: no matching entries in passwd "
			                    "file",
			                    user);
		have_gid = true;
	} else {
		*gid = *uid;
	}
	if (!group || !*group)
		return 0;
	(void)have_gid;
	if (parse_id(group, gid))
		return 0;
	_cleanup_free_ char *gr = NULL;
	size_t len;
	bool found;
	if (bld_rootfs_read(r, "etc/group", &gr, &len, &found, err) < 0)
		return -1;
	if (!found || !lookup_db(gr, group, gid, NULL))
		return kiln_err_set(err, KILN_E_NOTFOUND,
		                    "unable to find group %s: no matching entries in group file",
		                    group);
	return 0;
}
