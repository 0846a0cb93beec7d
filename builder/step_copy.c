/* COPY and ADD: sources from the context (as it lies, .dockerignore
 * applied), another stage or an image; destinations resolved against the
 * stage's rootfs as it stands (read through the layer snapshots); the layer
 * streamed straight from the source files (copy_items.c). */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <string.h>
#include <unistd.h>

#include "copy-internal.h"
#include "step_cache-internal.h"

static bool has_glob(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

static bool is_url(const char *s)
{
	return !strncmp(s, "http://", 7) || !strncmp(s, "https://", 8);
}

static bool is_git(const char *s)
{
	size_t n = strlen(s);
	return !strncmp(s, "git@", 4) || !strncmp(s, "git://", 6) ||
	       (n > 4 && !strcmp(s + n - 4, ".git"));
}

/* Absolute destination (WORKDIR applied) as a rootfs path without the
 * leading '/'; *dir_form when it ends with '/' (or "." as BuildKit reads
 * it): the sources go inside. */
static char *dest_path(const struct bld_stage *st, const char *dest, bool *dir_form)
{
	size_t n = strlen(dest);
	*dir_form = (n && dest[n - 1] == '/') || !strcmp(dest, ".") ||
	            (n >= 2 && !strcmp(dest + n - 2, "/."));
	return bld_stage_path(st, dest);
}

/* Expands wildcards component by component through the tree. */
int copy_glob_tree(const struct bld_tree *t, const char *pattern, struct kiln_strv *out,
                   struct kiln_err *err)
{
	struct kiln_strv cur = KILN_STRV_INIT;
	kiln_strv_push(&cur, "");
	_cleanup_free_ char *pat = xstrdup(pattern);
	int r = 0;
	for (char *save = NULL, *c = strtok_r(pat, "/", &save); c && r == 0;
	     c = strtok_r(NULL, "/", &save)) {
		struct kiln_strv next = KILN_STRV_INIT;
		for (size_t i = 0; i < cur.n && r == 0; i++) {
			if (!has_glob(c)) {
				kiln_strv_pushf(&next, "%s%s%s", cur.v[i], *cur.v[i] ? "/" : "", c);
				continue;
			}
			struct bld_node n = {0};
			bool found = false;
			r = bld_tree_resolve(t, cur.v[i], true, &n, &found, err);
			struct kiln_strv names = KILN_STRV_INIT;
			if (r == 0 && found && S_ISDIR(n.st.st_mode))
				r = bld_tree_list(t, n.real, &names, err);
			for (size_t k = 0; k < names.n; k++)
				if (fnmatch(c, names.v[k], 0) == 0)
					kiln_strv_pushf(&next, "%s%s%s", cur.v[i],
					                *cur.v[i] ? "/" : "", names.v[k]);
			kiln_strv_release(&names);
			bld_node_release(&n);
		}
		kiln_strv_release(&cur);
		cur = next;
	}
	for (size_t i = 0; i < cur.n && r == 0; i++)
		kiln_strv_push(out, cur.v[i]);
	kiln_strv_release(&cur);
	return r;
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

/* Where a source lands: its real path in the rootfs (symlinks of the
 * destination followed inside the rootfs unless --link). */
static int target_real(struct copy_job *j, const char *dest, bool dest_dir, const char *name,
                       bool src_dir, char **real, struct kiln_err *err)
{
	_cleanup_free_ char *target = !src_dir && dest_dir
	                                  ? (*dest ? xasprintf("%s/%s", dest, name) : xstrdup(name))
	                                  : xstrdup(dest);
	if (j->c->link) {
		*real = TAKE_PTR(target);
		return 0;
	}
	struct bld_tree t = {.fs = &j->st->fs};
	struct bld_node n = {0};
	bool found = false;
	if (bld_tree_resolve(&t, target, true, &n, &found, err) < 0)
		return -1;
	if (found && !src_dir && !dest_dir && S_ISDIR(n.st.st_mode)) {
		/* an existing directory named without a trailing slash */
		bld_node_release(&n);
		_cleanup_free_ char *inside =
		    *target ? xasprintf("%s/%s", target, name) : xstrdup(name);
		if (bld_tree_resolve(&t, inside, true, &n, &found, err) < 0)
			return -1;
	}
	if (found && src_dir && !S_ISDIR(n.st.st_mode)) {
		bld_node_release(&n);
		return kiln_err_set(err, ENOTDIR, "cannot copy a directory to `/%s`", target);
	}
	*real = TAKE_PTR(n.real);
	bld_node_release(&n);
	return 0;
}

/* walk: what the step's key hashed at node (the context only), or NULL. */
static int add_node(struct copy_job *j, const struct bld_tree *t, const struct bld_node *node,
                    const struct copy_walk *walk, const char *dest, bool dest_dir, const char *name,
                    bool keep_owner, struct kiln_err *err)
{
	bool src_dir = S_ISDIR(node->st.st_mode);
	_cleanup_free_ char *real = NULL;
	if (target_real(j, dest, dest_dir, name, src_dir, &real, err) < 0)
		return -1;
	if (copy_add_parents(j, real, src_dir, err) < 0)
		return -1;
	const char *excl = src_dir ? "" : name;
	if (!src_dir && j->exclude && df_ignore_match(j->exclude, excl))
		return 0;
	if (t->ctx && copy_left_out(node->st.st_mode))
		return 0; /* its destination's directories are made, as BuildKit's */
	if (walk && walk->w) {
		copy_add_walk(j, walk, 0, real, true);
		return 0;
	}
	return copy_add_tree(j, t, node, real, excl, keep_owner, t->ctx && !keep_owner, true, err);
}

static bool archive_magic(const char *path)
{
	unsigned char b[263];
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, b, sizeof(b));
	bool magic = false;
	if (n >= 2 && b[0] == 0x1f && b[1] == 0x8b)
		magic = true; /* gzip */
	if (n >= 3 && !memcmp(b, "BZh", 3))
		magic = true;
	if (n >= 6 && !memcmp(b,
	                      "\xfd"
	                      "7zXZ\0",
	                      6))
		magic = true;
	if (n >= 4 && !memcmp(b, "\x28\xb5\x2f\xfd", 4))
		magic = true; /* zstd */
	if (n >= 262 && !memcmp(b + 257, "ustar", 5))
		magic = true;
	/* a tar once decompressed: a lone compressed file is copied as it is */
	return magic && lseek(fd, 0, SEEK_SET) == 0 && img_tar_probe(fd);
}

/* ADD of a local archive: extracted by the secure extractor into a temp
 * tree, whose entries (owners and modes as in the archive) go under dest. */
/* The archive ADD read through fd is the file its key hashed (w: that
 * walk, NULL outside the context): same inode, size, mode, mtime and ctime
 * once the extraction has read it, as COPY checks its files. */
static int archive_unchanged(int fd, const struct bld_node *node, const struct cache_ctx_walk *w,
                             struct kiln_err *err)
{
	struct stat now;
	if (!w)
		return 0;
	const struct stat *was = &w->v[0].st;
	if (fstat(fd, &now) < 0)
		return kiln_err_set(err, errno, "stat `%s`", node->host);
	if (!cache_stat_unchanged(&now, was))
		return kiln_err_set(err, KILN_E_CONFLICT, "`%s` changed while being read",
		                    node->host);
	return 0;
}

static int add_archive(struct copy_job *j, const struct bld_node *node,
                       const struct cache_ctx_walk *w, const char *dest, struct kiln_err *err)
{
	j->no_index = true; /* the extracted tree goes away after the step */
	const char *tmp = bld_tmpdir(j->st->b, err);
	if (!tmp)
		return -1;
	_cleanup_free_ char *tmpl = kiln_path_join(tmp, "add-XXXXXX");
	if (!mkdtemp(tmpl))
		return kiln_err_set(err, errno, "mkdtemp `%s`", tmpl);
	kiln_strv_push(&j->temps, tmpl);
	_cleanup_free_ char *root = kiln_path_join(tmpl, "root");
	_cleanup_close_ int fd = open(node->host, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kiln_err_set(err, errno, "open `%s`", node->real);
	if (img_layer_extract_fd(fd, root, tmpl, 0, NULL, err) < 0)
		return kiln_err_wrap(err, "extracting `%s`", node->real);
	if (archive_unchanged(fd, node, w, err) < 0)
		return -1;
	j->tar_trees = xreallocarray(j->tar_trees, j->n_tar_trees + 1, sizeof(*j->tar_trees));
	struct bld_context *c = &j->tar_trees[j->n_tar_trees++];
	memset(c, 0, sizeof(*c));
	c->dir = xstrdup(root);
	struct bld_tree t = {.ctx = c};
	struct bld_node top = {0};
	bool found;
	if (bld_tree_resolve(&t, "", true, &top, &found, err) < 0)
		return -1;
	int r = add_node(j, &t, &top, NULL, dest, true, "", true, err);
	bld_node_release(&top);
	return r;
}

static int add_url(struct copy_job *j, const char *url, const char *dest, bool dest_dir,
                   struct kiln_err *err)
{
	_cleanup_free_ char *path = NULL;
	time_t mtime;
	j->no_index = true; /* the download goes away after the step */
	if (bld_fetch_url(j->st->b, url, j->c->checksum, &path, &mtime, err) < 0)
		return -1;
	kiln_strv_push(&j->temps, path);
	_cleanup_free_ char *name = bld_url_file_name(url);
	struct bld_node n = {.real = xstrdup(name), .host = xstrdup(path)};
	int r = 0;
	if (lstat(path, &n.st) < 0)
		r = kiln_err_set(err, errno, "stat `%s`", path);
	n.st.st_mode = S_IFREG | 0600;
	n.st.st_mtim.tv_sec = mtime; /* Last-Modified, else 0 (BuildKit) */
	n.st.st_mtim.tv_nsec = 0;
	struct kiln_strv none = KILN_STRV_INIT;
	(void)none;
	if (r == 0) {
		static struct bld_context empty;
		struct bld_tree t = {.ctx = &empty};
		r = add_node(j, &t, &n, NULL, dest, dest_dir, name, false, err);
	}
	bld_node_release(&n);
	return r;
}

/* The tree --from names: an earlier stage, or a stored image. */
static int from_tree(struct copy_job *j, struct bld_rootfs *tmp, struct bld_tree *t,
                     struct kiln_err *err)
{
	struct bld_build *b = j->st->b;
	const struct df_copy *c = &j->step->in->u.copy;
	t->ctx = NULL;
	if (c->from_stage >= 0) {
		if (bld_stage_need(b, c->from_stage, err) < 0)
			return -1;
		t->fs = &b->stages[c->from_stage].fs;
		return 0;
	}
	struct img_image *img = NULL;
	if (bld_image_load(b, c->from, &img, err) < 0)
		return kiln_err_wrap(err, "--from=%s", c->from);
	bld_rootfs_init(tmp, b->s);
	bld_rootfs_add_image(tmp, img);
	img_image_free(img);
	t->fs = tmp;
	return 0;
}

/* For a source in the build context, the walk the step's key hashed at
 * node: the COPY takes exactly those entries and stats. None, or one that
 * saw another type, means the context changed since the key was made. */
static int context_walk(const struct copy_job *j, const struct bld_tree *t,
                        const struct bld_node *node, struct copy_walk *out, struct kiln_err *err)
{
	memset(out, 0, sizeof(*out));
	if (t->ctx != &j->st->b->ctx)
		return 0;
	const struct cache_ctx_walk *w = bld_cache_walk(j->st, node->real, &out->plan);
	if (!w || (w->v[0].st.st_mode & S_IFMT) != (node->st.st_mode & S_IFMT))
		return kiln_err_set(err, KILN_E_CONFLICT, "`%s` changed while being read",
		                    *node->real ? node->real : ".");
	out->w = w;
	return 0;
}

static int add_match(struct copy_job *j, const struct bld_tree *t, const char *src,
                     const char *match, const char *dest, bool dest_dir, struct kiln_err *err)
{
	const char *where = t->ctx ? "the build context" : "the source stage";
	struct bld_node n = {0};
	bool found = false;
	if (bld_tree_resolve(t, match, true, &n, &found, err) < 0)
		return -1;
	int r = 0;
	_cleanup_free_ char *pdest = NULL;
	if (!found) {
		r = kiln_err_set(err, KILN_E_NOTFOUND, "`%s`: not found in %s", src, where);
		goto out;
	}
	if (j->exclude && df_ignore_match(j->exclude, n.real))
		goto out;
	if (j->c->parents) { /* the source's path is kept under dest */
		bool unused;
		_cleanup_free_ char *abs = xasprintf("/%s", match);
		_cleanup_free_ char *clean = dest_path(j->st, abs, &unused);
		pdest = *dest ? xasprintf("%s/%s", dest, clean) : xstrdup(clean);
		if (!S_ISDIR(n.st.st_mode)) {
			char *s = strrchr(pdest, '/');
			if (s)
				*s = '\0';
			else
				pdest[0] = '\0';
		}
	}
	const char *d = pdest ? pdest : dest;
	bool dd = pdest ? true : dest_dir;
	struct copy_walk w = {0};
	if (!t->ctx || !copy_left_out(n.st.st_mode)) /* the key hashed none */
		r = context_walk(j, t, &n, &w, err);
	if (r == 0 && j->add && t->ctx && S_ISREG(n.st.st_mode) &&
	    (!j->c->unpack_set || j->c->unpack) && archive_magic(n.host))
		r = add_archive(j, &n, w.w, d, err);
	else if (r == 0)
		r = add_node(j, t, &n, &w, d, dd, base_name(match), !t->ctx, err);
out:
	bld_node_release(&n);
	return r;
}

static int add_source(struct copy_job *j, const struct bld_tree *t, const char *src,
                      const char *dest, bool dest_dir, bool multi, struct kiln_err *err)
{
	if (j->add && is_url(src) && t->ctx)
		return add_url(j, src, dest, dest_dir, err);
	if (j->add && is_git(src))
		return kiln_err_set(err, KILN_E_UNSUPPORTED, "ADD of a git repository `%s`", src);
	struct kiln_strv matches = KILN_STRV_INIT;
	int r = 0;
	if (has_glob(src))
		r = copy_glob_tree(t, src, &matches, err);
	else
		kiln_strv_push(&matches, src);
	/* a wildcard may match nothing (BuildKit's AllowEmptyWildcard): the
	 * source adds nothing, as `COPY package.json yarn.lock* ./` relies on */
	bool many = multi || matches.n > 1;
	for (size_t i = 0; i < matches.n && r == 0; i++, j->group++)
		r = add_match(j, t, src, matches.v[i], dest, dest_dir || many, err);
	kiln_strv_release(&matches);
	return r;
}

static int add_contents(struct copy_job *j, const char *dest, bool dest_dir, struct kiln_err *err)
{
	if (j->c->n_contents)
		j->no_index = true; /* heredoc bodies live in memory only */
	for (size_t i = 0; i < j->c->n_contents; i++) {
		const struct df_heredoc *h = &j->c->contents[i];
		_cleanup_free_ char *real = NULL;
		if (target_real(j, dest, dest_dir, h->name, false, &real, err) < 0 ||
		    copy_add_parents(j, real, false, err) < 0)
			return -1;
		struct citem *it = copy_add_item(j, real, CITEM_CONTENT);
		it->content = h->content;
		it->content_len = strlen(h->content);
		if (h->expand) { /* variables of the stage, quotes left as they are */
			char *x = NULL;
			if (df_expand_word(h->content, j->st->b->g.escape, DF_EXPAND_SKIP_QUOTES,
			                   bld_stage_lookup, j->st, &x, err) < 0)
				return -1;
			kiln_strv_push_take(&j->owned, x);
			it->content = x;
			it->content_len = strlen(x);
		}
	}
	return 0;
}

static int job_setup(struct copy_job *j, struct kiln_err *err)
{
	const struct df_copy *c = j->c;
	if (c->chown && *c->chown) {
		if (bld_rootfs_user(&j->st->fs, c->chown, &j->uid, &j->gid, err) < 0)
			return kiln_err_wrap(err, "--chown=%s", c->chown);
		j->chown = true;
	}
	if (c->chmod) {
		mode_t m;
		if (copy_chmod(c->chmod, S_IFREG | 0644, &m, err) < 0)
			return -1;
	}
	if (c->excludes.n) {
		struct kiln_buf b;
		kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
		for (size_t i = 0; i < c->excludes.n; i++)
			kiln_buf_addf(&b, NULL, "%s\n", c->excludes.v[i]);
		int r = df_ignore_parse(kiln_buf_str(&b), b.len, &j->exclude, err);
		kiln_buf_release(&b);
		if (r < 0)
			return kiln_err_wrap(err, "--exclude");
	}
	return 0;
}

int bld_step_copy(struct bld_stage *st, struct bld_step *step, struct kiln_err *err)
{
	const struct df_copy *c = &step->x.u.copy;
	struct copy_job j = {.st = st,
	                     .step = step,
	                     .c = c,
	                     .add = step->x.kind == DF_I_ADD,
	                     .chmod = c->chmod,
	                     .now = bld_now(st->b),
	                     /* BuildKit commits every copy, an empty one too */
	                     .keep_empty = true};
	bool dest_dir;
	bld_test_stop("copy-keyed");
	_cleanup_free_ char *dest = dest_path(st, c->dest, &dest_dir);
	size_t nsrc = c->srcs.n + c->n_contents;
	int r = job_setup(&j, err);
	if (r == 0 && nsrc > 1 && !dest_dir)
		r = kiln_err_set(err, KILN_E_INVALID,
		                 "When using %s with more than one source file, the destination "
		                 "must be a directory and end with a /",
		                 j.add ? "ADD" : "COPY");
	struct bld_rootfs tmp = {0};
	struct bld_tree t = {.ctx = &st->b->ctx};
	const struct df_copy *orig = &step->in->u.copy;
	if (r == 0 && (orig->from_stage >= 0 || orig->from))
		r = from_tree(&j, &tmp, &t, err);
	for (size_t i = 0; i < c->srcs.n && r == 0; i++)
		r = add_source(&j, &t, c->srcs.v[i], dest, dest_dir, nsrc > 1, err);
	if (r == 0)
		r = add_contents(&j, dest, dest_dir, err);
	bool empty = true;
	if (r == 0)
		r = copy_write_layer(&j, &step->layer, &empty, &step->vindex, err);
	if (r == 0 && empty)
		memset(&step->layer, 0, sizeof(step->layer));
	copy_job_release(&j);
	bld_cache_walks_drop(st, false); /* a deferred key's: after the key */
	bld_rootfs_release(&tmp);
	return r;
}
