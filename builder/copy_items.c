/* The entries of a COPY: gathered from the source tree, sorted so that
 * parents come before children (names compared with '/' lowest, the order
 * of a depth-first walk of sorted directories), then streamed into the
 * layer: tar header, the file's bytes, diffID and blob digest in one pass. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "copy-internal.h"

struct citem *copy_add_item(struct copy_job *j, const char *dest, enum citem_kind kind)
{
	KILN_GROW(j->v, j->cap, j->n + 1);
	struct citem *it = &j->v[j->n];
	memset(it, 0, sizeof(*it));
	it->dest = xstrdup(dest);
	it->kind = kind;
	it->seq = j->n++;
	it->group = j->group;
	return it;
}

int copy_add_parents(struct copy_job *j, const char *real, bool self, struct kiln_err *err)
{
	struct bld_tree t = {.fs = &j->st->fs};
	size_t len = strlen(real);
	for (const char *p = strchr(real, '/'); p || (self && len);
	     p = p ? strchr(p + 1, '/') : NULL) {
		_cleanup_free_ char *anc = xstrndup(real, p ? (size_t)(p - real) : len);
		if (!p)
			self = false; /* real itself, last */
		struct bld_node n = {0};
		bool found = false;
		if (!j->c->link && bld_tree_resolve(&t, anc, false, &n, &found, err) < 0)
			return -1;
		if (found && !S_ISDIR(n.st.st_mode)) {
			bld_node_release(&n);
			return kiln_err_set(err, ENOTDIR, "`/%s` is not a directory", anc);
		}
		struct citem *it = copy_add_item(j, anc, found ? CITEM_PARENT : CITEM_NEWDIR);
		if (found) {
			it->st = n.st;
			it->keep_owner = true;
		}
		bld_node_release(&n);
	}
	return 0;
}

static bool special_file(mode_t m)
{
	return S_ISFIFO(m) || S_ISCHR(m) || S_ISBLK(m);
}

static const char *type_name(mode_t m)
{
	return S_ISFIFO(m) ? "a named pipe" : S_ISCHR(m) ? "a character device" : "a block device";
}

bool copy_left_out(mode_t m)
{
	return S_ISSOCK(m) || S_ISFIFO(m);
}

int copy_add_tree(struct copy_job *j, const struct bld_tree *t, const struct bld_node *node,
                  const char *dest, const char *excl_base, bool keep_owner, bool is_context,
                  bool top, struct kiln_err *err)
{
	if (S_ISSOCK(node->st.st_mode) || (is_context && copy_left_out(node->st.st_mode)))
		return 0; /* left out of the context, as BuildKit does */
	if (is_context && special_file(node->st.st_mode))
		return kiln_err_set(err, KILN_E_UNSUPPORTED,
		                    "`%s` in the build context is %s: only files, directories "
		                    "and symlinks can be copied",
		                    node->real, type_name(node->st.st_mode));
	if (*dest && !(top && S_ISDIR(node->st.st_mode))) {
		struct citem *it = copy_add_item(j, dest, CITEM_SOURCE);
		it->host = node->host ? xstrdup(node->host) : NULL;
		it->st = node->st;
		it->keep_owner = keep_owner;
	}
	if (!S_ISDIR(node->st.st_mode))
		return 0;
	struct kiln_strv names = KILN_STRV_INIT;
	if ((node->host || t->fs) && bld_tree_list(t, node->real, &names, err) < 0)
		return -1;
	int r = 0;
	for (size_t i = 0; i < names.n && r == 0; i++) {
		_cleanup_free_ char *rel =
		    *node->real ? xasprintf("%s/%s", node->real, names.v[i]) : xstrdup(names.v[i]);
		_cleanup_free_ char *erel =
		    *excl_base ? xasprintf("%s/%s", excl_base, names.v[i]) : xstrdup(names.v[i]);
		if (j->exclude && df_ignore_match(j->exclude, erel))
			continue;
		struct bld_node child = {0};
		bool found = false;
		r = bld_tree_child(t, node->real, names.v[i], &child, &found, err);
		if (r == 0 && found) {
			_cleanup_free_ char *cdest =
			    *dest ? xasprintf("%s/%s", dest, names.v[i]) : xstrdup(names.v[i]);
			r = copy_add_tree(j, t, &child, cdest, erel, keep_owner, is_context, false,
			                  err);
		}
		bld_node_release(&child);
	}
	kiln_strv_release(&names);
	return r;
}

void copy_add_walk(struct copy_job *j, const struct copy_walk *cw, size_t i, const char *dest,
                   bool top)
{
	const struct cache_ctx_walk *w = cw->w;
	const struct cache_ctx_node *n = &w->v[i];
	if (*dest && !(top && S_ISDIR(n->st.st_mode))) {
		struct citem *it = copy_add_item(j, dest, CITEM_SOURCE);
		it->host = kiln_path_join(j->st->b->ctx.dir, n->rel);
		it->link = n->link ? xstrdup(n->link) : NULL;
		it->st = n->st;
		it->hashed = true;
		it->plan = cw->plan;
		it->node = i;
	}
	for (size_t k = i + 1; k < n->end; k = w->v[k].end) {
		const char *slash = strrchr(w->v[k].rel, '/');
		const char *name = slash ? slash + 1 : w->v[k].rel;
		_cleanup_free_ char *cdest = *dest ? xasprintf("%s/%s", dest, name) : xstrdup(name);
		copy_add_walk(j, cw, k, cdest, false);
	}
}

/* Bytewise with '/' lowest: "a/b" < "a-b", parents before children. */
static int path_cmp(const char *a, const char *b)
{
	for (;; a++, b++) {
		unsigned ca = (unsigned char)*a, cb = (unsigned char)*b;
		if (ca == '/')
			ca = 1;
		if (cb == '/')
			cb = 1;
		if (ca != cb || !ca)
			return (int)ca - (int)cb;
	}
}

static int item_cmp(const void *x, const void *y)
{
	const struct citem *a = x, *b = y;
	int c = path_cmp(a->dest, b->dest);
	return c ? c : (a->seq > b->seq) - (a->seq < b->seq);
}

/* Earlier entries by (source, inode): the first path of each inode, in a
 * hash table (slots hold index + 1) so a tree of many hardlinks costs
 * no quadratic scan. */
struct hl_entry {
	size_t group;
	dev_t dev;
	ino_t ino;
	const char *path;
};
struct hl_table {
	struct hl_entry *v;
	size_t n, cap;
	size_t *slots, n_slots;
};

static size_t hl_hash(const struct hl_entry *e, size_t mask)
{
	uint64_t h = ((uint64_t)e->dev * 0x9e3779b97f4a7c15ull) ^ (uint64_t)e->ino ^
	             ((uint64_t)e->group << 48);
	return (size_t)(h * 0xff51afd7ed558ccdull >> 17) & mask;
}

static void hl_rehash(struct hl_table *t)
{
	free(t->slots);
	t->n_slots = t->n_slots ? 2 * t->n_slots : 64;
	t->slots = xcalloc(t->n_slots, sizeof(*t->slots));
	for (size_t k = 0; k < t->n; k++) {
		size_t j = hl_hash(&t->v[k], t->n_slots - 1);
		while (t->slots[j])
			j = (j + 1) & (t->n_slots - 1);
		t->slots[j] = k + 1;
	}
}

static const char *hardlink_first(struct hl_table *t, const struct citem *it)
{
	struct hl_entry key = {it->group, it->st.st_dev, it->st.st_ino, it->dest};
	if (t->n_slots) {
		for (size_t i = hl_hash(&key, t->n_slots - 1); t->slots[i];
		     i = (i + 1) & (t->n_slots - 1)) {
			const struct hl_entry *e = &t->v[t->slots[i] - 1];
			if (e->dev == key.dev && e->ino == key.ino && e->group == key.group)
				return e->path;
		}
	}
	KILN_GROW(t->v, t->cap, t->n + 1);
	t->v[t->n++] = key;
	if (2 * t->n > t->n_slots)
		hl_rehash(t);
	else {
		size_t j = hl_hash(&key, t->n_slots - 1);
		while (t->slots[j])
			j = (j + 1) & (t->n_slots - 1);
		t->slots[j] = t->n;
	}
	return NULL;
}

/* The directory of the last file opened, kept open: the files of one
 * directory follow each other in the sorted list, each opened by its
 * name relative to it (no lookup of the whole path per file). */
struct dir_cache {
	char *path; /* NULL: none open */
	int fd;
};

static int dir_cache_open(struct dir_cache *dc, const char *host, int flags)
{
	const char *slash = strrchr(host, '/');
	if (!slash || slash == host)
		return open(host, flags);
	size_t dl = (size_t)(slash - host);
	if (!dc->path || strlen(dc->path) != dl || memcmp(dc->path, host, dl) != 0) {
		if (dc->path)
			close(dc->fd);
		free(TAKE_PTR(dc->path));
		_cleanup_free_ char *dir = xstrndup(host, dl);
		int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return open(host, flags); /* the full path gives the error */
		dc->fd = fd;
		dc->path = TAKE_PTR(dir);
	}
	return openat(dc->fd, slash + 1, flags);
}

static void dir_cache_release(struct dir_cache *dc)
{
	if (dc->path)
		close(dc->fd);
	free(dc->path);
}

/* Checks, after its bytes went into the layer, that fd is the file the
 * walk found: same inode and size; for a file the key hashed (it->hashed)
 * also the same mode, mtime and ctime as the stat the hash rests on. Any
 * write or replacement between that stat and the end of the read changes
 * one of them (a write sets mtime and ctime to the current time; the stat
 * cache never trusts a file changed in the tick it was stat'ed in), so the
 * bytes in the layer are the bytes the key hashed. One fstat per file:
 * the walk itself (copy_add_walk) stats nothing. */
static int check_unchanged(int fd, const struct citem *it, struct kiln_err *err)
{
	struct stat now;
	const struct stat *was = &it->st;
	if (fstat(fd, &now) < 0)
		return kiln_err_set(err, errno, "stat `%s`", it->host);
	bool same =
	    S_ISREG(now.st_mode) && now.st_ino == was->st_ino && now.st_size == was->st_size;
	if (same && it->hashed)
		same = cache_stat_unchanged(&now, was);
	if (!same)
		return kiln_err_set(err, KILN_E_CONFLICT, "`%s` changed while being read",
		                    it->host);
	return 0;
}

static int fill_entry(struct copy_job *j, const struct citem *it, struct img_layer_entry *e,
                      char *target, struct kiln_err *err)
{
	memset(e, 0, sizeof(*e));
	e->path = it->dest;
	if (it->kind == CITEM_NEWDIR) {
		e->mode = S_IFDIR | 0755;
		e->mtime = j->now;
		e->uid = j->chown ? j->uid : 0;
		e->gid = j->chown ? j->gid : 0;
		return 0;
	}
	if (it->kind == CITEM_CONTENT) {
		e->mode = S_IFREG | 0644;
		e->size = it->content_len;
		e->mtime = j->now;
	} else {
		e->mode = it->st.st_mode;
		e->mtime = it->st.st_mtim.tv_sec;
		e->size = S_ISREG(it->st.st_mode) ? (uint64_t)it->st.st_size : 0;
		e->uid = it->keep_owner ? it->st.st_uid : 0;
		e->gid = it->keep_owner ? it->st.st_gid : 0;
		e->rdev_major = major(it->st.st_rdev);
		e->rdev_minor = minor(it->st.st_rdev);
		e->xattrs_from = it->host;
	}
	if (it->kind == CITEM_PARENT)
		return 0;
	if (j->chown) {
		e->uid = j->uid;
		e->gid = j->gid;
	}
	if (j->chmod && !S_ISLNK(e->mode)) {
		mode_t m;
		if (copy_chmod(j->chmod, e->mode, &m, err) < 0)
			return -1;
		e->mode = (e->mode & S_IFMT) | m;
	}
	if (S_ISLNK(e->mode) && it->link) {
		e->link = it->link;
	} else if (S_ISLNK(e->mode)) {
		ssize_t n = readlink(it->host, target, PATH_MAX);
		if (n < 0)
			return kiln_err_set(err, errno, "readlink `%s`", it->host);
		target[n] = '\0';
		e->link = target;
	}
	return 0;
}

static void index_add(struct copy_job *j, const struct citem *it, const struct img_layer_entry *e)
{
	struct bld_vindex *x = j->index;
	KILN_GROW(x->v, x->cap, x->n + 1);
	struct bld_ventry *v = &x->v[x->n++];
	v->path = xstrdup(it->dest);
	v->host = it->host ? xstrdup(it->host) : NULL;
	v->st = it->st;
	v->st.st_mode = e->mode;
	v->st.st_uid = e->uid;
	v->st.st_gid = e->gid;
	v->st.st_size = (off_t)e->size;
	v->st.st_mtim.tv_sec = e->mtime;
	v->st.st_mtim.tv_nsec = 0;
	if (!it->host)
		v->st.st_nlink = 1;
}

static int write_item(struct copy_job *j, struct img_layer_writer *w, struct dir_cache *dc,
                      const struct citem *it, const char *hard_to, struct kiln_err *err)
{
	struct img_layer_entry e;
	char target[PATH_MAX + 1];
	if (fill_entry(j, it, &e, target, err) < 0)
		return -1;
	if (j->index)
		index_add(j, it, &e);
	if (hard_to) {
		e.hardlink = true;
		e.link = hard_to;
		return img_layer_writer_add(w, &e, -1, err);
	}
	if (it->kind == CITEM_CONTENT) {
		_cleanup_close_ int fd = memfd_create("heredoc", MFD_CLOEXEC);
		if (fd < 0)
			return kiln_err_set(err, errno, "memfd");
		if (kiln_write_all(fd, it->content, it->content_len, err) < 0)
			return -1;
		lseek(fd, 0, SEEK_SET);
		return img_layer_writer_add(w, &e, fd, err);
	}
	if (!S_ISREG(e.mode) || e.size == 0)
		return img_layer_writer_add(w, &e, -1, err);
	_cleanup_close_ int fd =
	    dir_cache_open(dc, it->host, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return kiln_err_set(err, errno, "open `%s`", it->host);
	e.xattrs_via_fd = true;
	/* the step's key waits for these bytes: hashed as they are copied */
	struct cache_ctx_feed feed;
	bool feeding = it->plan && cache_ctx_plan_wants(it->plan, it->node);
	if (feeding) {
		cache_ctx_feed_init(&feed);
		e.on_data = cache_ctx_feed;
		e.on_data_ud = &feed;
	}
	int r = img_layer_writer_add(w, &e, fd, err);
	/* the key's leaf (its xattrs read through fd now) before the stat
	 * check: a change after the layer's read is then caught too */
	if (feeding && r == 0)
		r = cache_ctx_plan_fed(it->plan, it->node, fd, &feed, err);
	else if (feeding)
		cache_ctx_feed_release(&feed);
	if (r == 0)
		r = check_unchanged(fd, it, err);
	return r;
}

/* The byte count (tty, json) of a COPY or ADD: the layer's tar so far,
 * at each MiB the layer writer hands on, and the whole tar at the end of a
 * layer this large. */
#define COPY_PROGRESS_MIN (1024 * 1024)

static void copy_progress(void *ud, uint64_t n)
{
	const struct copy_job *j = ud;
	bld_vertex_bytes(j->st->b, j->step->id, n);
}

int copy_write_layer(struct copy_job *j, struct img_layer *out, bool *empty,
                     struct bld_vindex **index, struct kiln_err *err)
{
	*index = NULL;
	if (j->n)
		qsort(j->v, j->n, sizeof(*j->v), item_cmp);
	struct img_layer_opts lo = {IMG_COMPRESS_NONE, false, j->st->b->epoch};
	struct img_layer_writer *w;
	if (img_layer_writer_new(j->st->b->s, &lo, &w, err) < 0)
		return -1;
	if (!j->no_index) {
		j->index = xcalloc(1, sizeof(*j->index));
		j->index->refs = 1;
	}
	struct hl_table links = {0};
	struct dir_cache dc = {0};
	int r = 0;
	if (j->step)
		img_layer_writer_set_progress(w, copy_progress, j);
	for (size_t i = 0; i < j->n && r == 0; i++) {
		const struct citem *it = &j->v[i];
		if (i + 1 < j->n && !strcmp(it->dest, j->v[i + 1].dest))
			continue; /* a later source for the same path wins */
		const char *hard_to = NULL;
		if (it->kind == CITEM_SOURCE && S_ISREG(it->st.st_mode) && it->st.st_nlink > 1)
			hard_to = hardlink_first(&links, it);
		r = write_item(j, w, &dc, it, hard_to, err);
	}
	dir_cache_release(&dc);
	free(links.v);
	free(links.slots);
	*empty = r == 0 && img_layer_writer_count(w) == 0 && !j->keep_empty;
	if (r == 0 && !*empty)
		r = img_layer_writer_commit(w, out, err);
	if (r == 0 && !*empty && j->step && out->size >= COPY_PROGRESS_MIN)
		bld_vertex_bytes(j->st->b, j->step->id, out->size); /* the whole tar */
	img_layer_writer_free(w);
	if (r == 0 && !*empty)
		*index = TAKE_PTR(j->index);
	bld_vindex_unref(TAKE_PTR(j->index));
	return r;
}

void copy_job_release(struct copy_job *j)
{
	for (size_t i = 0; i < j->n; i++) {
		free(j->v[i].dest);
		free(j->v[i].host);
		free(j->v[i].link);
	}
	free(j->v);
	df_ignore_free(j->exclude);
	for (size_t i = 0; i < j->n_tar_trees; i++)
		bld_context_release(&j->tar_trees[i]);
	free(j->tar_trees);
	for (size_t i = 0; i < j->temps.n; i++) {
		struct kiln_err e = KILN_ERR_INIT;
		kiln_rm_rf(j->temps.v[i], &e);
		kiln_err_release(&e);
	}
	kiln_strv_release(&j->temps);
	kiln_strv_release(&j->owned);
}

/* --- --chmod ---------------------------------------------------------------- */

/* One operation of a symbolic mode on the permission bits m: perm for the
 * classes in who (all bits when none was named: BuildKit applies the
 * modes with a umask of 0). */
static void chmod_op(mode_t *m, char op, mode_t who, mode_t perm)
{
	mode_t bits = who ? who & perm : perm;
	if (op == '=')
		*m &= ~(who ? who : 06777);
	if (op == '-')
		*m &= ~bits;
	else
		*m |= bits;
}

/* `go=u`: the bits class `from` has now, copied to the classes of who. */
static void chmod_copy(mode_t *m, char from, mode_t who, char op)
{
	mode_t v = (*m >> (from == 'u' ? 6 : from == 'g' ? 3 : 0)) & 07;
	static const mode_t read_bit[] = {0400, 0040, 0004};
	for (int c = 0; c < 3; c++) {
		int shift = 6 - 3 * c;
		if (who && !(who & read_bit[c]))
			continue;
		if (op != '+')
			*m &= ~((op == '=' ? 07 : v) << shift);
		if (op != '-')
			*m |= v << shift;
	}
}

/* chmod(1)'s symbolic modes as BuildKit applies them (BSD setmode, the
 * dchapes-mode package, umask 0): clauses `[ugoa]*` followed by one or
 * more `[-+=]` operations, each with permissions `[rwxXst]*` or one
 * class to copy (`u`, `g`, `o`), separated by commas. `X` counts with
 * `+` only (a directory, or a file any x bit is set on); `s` and `t` are
 * ignored for `o` alone; `=` clears the classes named (set-id bits with
 * u and g) before it sets. */
static int chmod_symbolic(const char *spec, mode_t mode, mode_t *out, struct kiln_err *err)
{
	const bool x_ok = S_ISDIR(mode) || (mode & 0111);
	mode_t m = mode & 07777;
	const char *p = spec;
	for (;;) {
		mode_t who = 0;
		for (; *p && strchr("ugoa", *p); p++)
			who |= *p == 'u' ? 04700 : *p == 'g' ? 02070 : *p == 'o' ? 0007 : 06777;
		do {
			char op = *p;
			if (!op || !strchr("+-=", op))
				return kiln_err_set(err, KILN_E_INVALID, "invalid chmod `%s`",
				                    spec);
			mode_t w = who, perm = 0, permx = 0;
			bool set_id_ok = !who || (who & ~0007), eq_done = false;
			for (p++;; p++) {
				char c = *p;
				if (c == 'r' || c == 'w' || c == 'x')
					perm |= c == 'r' ? 0444 : c == 'w' ? 0222 : 0111;
				else if (c == 'X')
					permx = op == '+' ? 0111 : 0;
				else if (c == 's' && set_id_ok)
					perm |= 06000;
				else if (c == 't' && set_id_ok) {
					w |= 01000;
					perm |= 01000;
				} else if (c == 's' || c == 't')
					continue;
				else if (c == 'u' || c == 'g' || c == 'o') {
					if (perm)
						chmod_op(&m, op, w, perm);
					perm = 0;
					eq_done |= op == '=';
					if (permx && x_ok)
						chmod_op(&m, '+', w, permx);
					permx = 0;
					chmod_copy(&m, c, w, op);
				} else {
					if (perm || (op == '=' && !eq_done))
						chmod_op(&m, op, w, perm);
					if (permx && x_ok)
						chmod_op(&m, '+', w, permx);
					break;
				}
			}
		} while (*p && *p != ',');
		if (!*p)
			break;
		p++;
	}
	*out = m;
	return 0;
}

int copy_chmod(const char *spec, mode_t mode, mode_t *out, struct kiln_err *err)
{
	if (*spec >= '0' && *spec <= '7') {
		char *end;
		unsigned long v = strtoul(spec, &end, 8);
		if (*end || v > 07777)
			return kiln_err_set(err, KILN_E_INVALID, "invalid chmod `%s`", spec);
		*out = (mode_t)v;
		return 0;
	}
	return chmod_symbolic(spec, mode, out, err);
}
