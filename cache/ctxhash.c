/* Context content hashing: a Merkle hash over the selected paths.
 *
 * Steps of cache_ctx_hash: walk the tree (readdir + one fstatat per entry,
 * names sorted bytewise, unselected entries dropped before anything else
 * is done with them) into a flat pre-order list; take each regular file's
 * hash from the stat cache when its stat matches; read the others on
 * worker threads (streamed, a fixed buffer each); fold directories bottom
 * up; store the listing for explanations.
 *
 * Leaf hashes (XXH3-128, owners taken as 0, mtime never):
 *   file     "F" perm size xattrs H(bytes)
 *   symlink  "L" perm target
 *   dir      "D" perm xattrs (name \0 child-hash)...
 * With a shared cache (sha_hex asked for), each node also gets a sha256
 * leaf, so that no input of a key that leaves the machine rests on XXH3
 * (docs/cache-format.md); the file leaf is text a shell can recompute:
 *   file     sha256("file PERM SIZE XATTRS sha256:SHA256(bytes)")
 *   symlink  sha256("link PERM " target)
 *   dir      sha256("dir PERM XATTRS\n" (name \0 child-sha256 raw)...)
 * PERM is 4 octal digits, XATTRS "-" or the sha256 hex of the xattr
 * stream that the XXH3 leaf hashes. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "cache-internal.h"

#define XATTR_MAX (64u << 10)

static bool xattr_wanted(const char *name)
{
	if (!strncmp(name, "trusted.overlay.", 16) || !strncmp(name, "user.overlay.", 13))
		return false;
	return !strncmp(name, "user.", 5) || !strncmp(name, "trusted.", 8) ||
	       !strcmp(name, "security.capability");
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends the wanted xattrs, sorted by name, to out as the stream the
 * leaves hash (name \0, u64 length, value) (fd >= 0: through it, else
 * through path without following). */
static int xattr_stream(struct kiln_buf *out, int fd, const char *path, struct kiln_err *err)
{
	char list[XATTR_MAX];
	ssize_t n =
	    fd >= 0 ? flistxattr(fd, list, sizeof(list)) : llistxattr(path, list, sizeof(list));
	if (n < 0 && (errno == ENOTSUP || errno == EOPNOTSUPP))
		return 0;
	if (n < 0)
		return kiln_err_set(err, errno, "list xattrs of `%s`", path);
	struct kiln_strv names = KILN_STRV_INIT;
	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(list + i) + 1)
		if (xattr_wanted(list + i))
			kiln_strv_push(&names, list + i);
	if (names.n > 1)
		qsort(names.v, names.n, sizeof(char *), cmp_str);
	_cleanup_free_ char *val = names.n ? xmalloc(XATTR_MAX) : NULL;
	int r = 0;
	for (size_t i = 0; i < names.n && r == 0; i++) {
		ssize_t vn = fd >= 0 ? fgetxattr(fd, names.v[i], val, XATTR_MAX)
		                     : lgetxattr(path, names.v[i], val, XATTR_MAX);
		if (vn < 0) {
			r = kiln_err_set(err, errno, "read xattr `%s` of `%s`", names.v[i], path);
			break;
		}
		uint64_t l = (uint64_t)vn;
		kiln_buf_add(out, names.v[i], strlen(names.v[i]) + 1, NULL);
		kiln_buf_add(out, &l, sizeof(l), NULL);
		kiln_buf_add(out, val, (size_t)vn, NULL);
	}
	kiln_strv_release(&names);
	return r;
}

static void hash_head(struct kiln_xxh128_state *h, char kind, const struct stat *st)
{
	uint32_t perm = st->st_mode & 07777;
	kiln_xxh128_init(h);
	kiln_xxh128_update(h, &kind, 1);
	kiln_xxh128_update(h, &perm, sizeof(perm));
}

static void sha_raw(struct kiln_sha256 *h, uint8_t out[32])
{
	char d[KILN_DIGEST_LEN];
	kiln_sha256_final(h, d);
	for (int i = 0; i < 32; i++) {
		unsigned v = 0;
		sscanf(d + 7 + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
}

static void sha_hex(const uint8_t b[32], char out[65])
{
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* "-" for no xattrs, else the sha256 hex of their stream. */
static void xattrs_word(const struct kiln_buf *xa, char out[65])
{
	if (!xa->len) {
		snprintf(out, 65, "-");
		return;
	}
	struct kiln_sha256 h;
	uint8_t b[32];
	kiln_sha256_init(&h);
	kiln_sha256_update(&h, xa->data, xa->len);
	sha_raw(&h, b);
	sha_hex(b, out);
}

/* The bytes of a file, through XXH3 and, when wanted, sha256. */
struct content {
	struct kiln_xxh128_state x;
	struct kiln_sha256 s;
	bool sha;
};

static void content_update(struct content *h, const void *p, size_t n)
{
	kiln_xxh128_update(&h->x, p, n);
	if (h->sha)
		kiln_sha256_update(&h->s, p, n);
}

static char *full_path(const struct cache_ctx *c, const char *rel)
{
	return *rel ? xasprintf("%s/%s", c->dir, rel) : xstrdup(c->dir);
}

/* In a sparse file, a hole at the read position is hashed as the zeros it
 * reads as, without asking the kernel for them (it would fill the page
 * cache with zero pages). */
static int skip_hole(int fd, struct content *h, char *buf, uint64_t *size)
{
	off_t pos = lseek(fd, 0, SEEK_CUR);
	off_t data = lseek(fd, pos, SEEK_DATA);
	if (data < 0 && errno == ENXIO)
		data = lseek(fd, 0, SEEK_END); /* a hole up to the end */
	if (pos < 0 || data < 0)
		return -1;
	if (data > pos) {
		memset(buf, 0, CTX_READ_BUF);
		for (off_t left = data - pos; left > 0;) {
			size_t n = left > (off_t)CTX_READ_BUF ? CTX_READ_BUF : (size_t)left;
			content_update(h, buf, n);
			left -= (off_t)n;
		}
		*size += (uint64_t)(data - pos);
	}
	return lseek(fd, data, SEEK_SET) < 0 ? -1 : 0;
}

/* The leaves of a file whose bytes hashed to data (and sha256 content). */
static void file_leaves(struct ctx_node *n, const struct stat *st, uint64_t size,
                        const struct kiln_buf *xa, const struct kiln_xxh128 *data,
                        const char *content_sha)
{
	struct kiln_xxh128_state h;
	struct kiln_xxh128 out;
	hash_head(&h, 'F', st);
	kiln_xxh128_update(&h, &size, sizeof(size));
	kiln_xxh128_update(&h, xa->data ? xa->data : "", xa->len);
	kiln_xxh128_update(&h, data->b, sizeof(data->b));
	kiln_xxh128_final(&h, &out);
	memcpy(n->hash, out.b, 16);
	if (!content_sha)
		return;
	char xw[65];
	xattrs_word(xa, xw);
	_cleanup_free_ char *text = xasprintf(
	    "file %04o %" PRIu64 " %s %s", (unsigned)(st->st_mode & 07777), size, xw, content_sha);
	struct kiln_sha256 s;
	kiln_sha256_init(&s);
	kiln_sha256_update(&s, text, strlen(text));
	sha_raw(&s, n->sha);
}

/* Streams fd's bytes into h; *size: how many. */
static int read_content(int fd, const char *rel, const struct stat *st, struct content *h,
                        char *buf, uint64_t *size, struct kiln_err *err)
{
	bool sparse = (uint64_t)st->st_blocks * 512 < (uint64_t)st->st_size;
	for (;;) {
		if (sparse && skip_hole(fd, h, buf, size) < 0)
			sparse = false; /* SEEK_DATA unsupported: read everything */
		ssize_t r = read(fd, buf, CTX_READ_BUF);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return kiln_err_set(err, errno, "read `%s`", rel);
		if (r == 0)
			return 0;
		content_update(h, buf, (size_t)r);
		*size += (uint64_t)r;
	}
}

bool cache_stat_unchanged(const struct stat *now, const struct stat *was)
{
	return now->st_dev == was->st_dev && now->st_ino == was->st_ino &&
	       now->st_size == was->st_size && now->st_mode == was->st_mode &&
	       now->st_mtim.tv_sec == was->st_mtim.tv_sec &&
	       now->st_mtim.tv_nsec == was->st_mtim.tv_nsec &&
	       now->st_ctim.tv_sec == was->st_ctim.tv_sec &&
	       now->st_ctim.tv_nsec == was->st_ctim.tv_nsec;
}

int ctx_file_leaf_fd(struct ctx_node *n, int fd, uint64_t size, const struct kiln_xxh128 *data,
                     struct kiln_err *err)
{
	struct kiln_buf xa;
	kiln_buf_init(&xa, KILN_BUF_NOLIMIT, NULL);
	int r = xattr_stream(&xa, fd, n->rel, err);
	if (r == 0)
		file_leaves(n, &n->st, size, &xa, data, NULL);
	kiln_buf_release(&xa);
	return r;
}

/* Reads one regular file: bytes streamed through XXH3 (and sha256 when
 * the run wants it), its stat as opened checked against expect or, when
 * none is given, kept in n->st. */
int ctx_hash_file(const struct cache_ctx *c, struct ctx_node *n, const struct stat *expect,
                  char *buf, uint64_t *bytes, struct kiln_err *err)
{
	_cleanup_free_ char *path = full_path(c, n->rel);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return kiln_err_set(err, errno, "open `%s`", n->rel);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return kiln_err_set(err, errno, "stat `%s`", n->rel);
	if (!S_ISREG(st.st_mode) || (expect && !cache_stat_unchanged(&st, expect)))
		return kiln_err_set(err, KILN_E_CONFLICT, "`%s` changed while being read", n->rel);
	n->st = st;
	struct content h = {.sha = c->want_sha};
	kiln_xxh128_init(&h.x);
	if (h.sha)
		kiln_sha256_init(&h.s);
	uint64_t size = 0;
	struct kiln_buf xa;
	kiln_buf_init(&xa, KILN_BUF_NOLIMIT, NULL);
	int r = read_content(fd, n->rel, &st, &h, buf, &size, err);
	if (r == 0)
		r = xattr_stream(&xa, fd, n->rel, err);
	struct kiln_xxh128 d;
	kiln_xxh128_final(&h.x, &d);
	char content_sha[KILN_DIGEST_LEN] = "";
	if (h.sha && r == 0)
		kiln_sha256_final(&h.s, content_sha);
	else if (h.sha)
		kiln_sha256_release(&h.s);
	if (r == 0) {
		*bytes += size;
		file_leaves(n, &st, size, &xa, &d, h.sha ? content_sha : NULL);
	}
	kiln_buf_release(&xa);
	return r;
}

/* --- the walk ------------------------------------------------------------ */

struct child {
	char *rel;        /* relative to the context root (allocated) */
	const char *name; /* its last component, inside rel */
	struct stat st;
	char *link;
	bool if_any; /* a directory kept only if something under it is */
};

static int cmp_child(const void *a, const void *b)
{
	return strcmp(((const struct child *)a)->name, ((const struct child *)b)->name);
}

static size_t push(struct ctx_walk *w, char *rel, const struct stat *st, char *link)
{
	KILN_GROW(w->v, w->cap, w->n + 1);
	struct ctx_node *n = &w->v[w->n];
	memset(n, 0, sizeof(*n));
	n->rel = rel;
	const char *slash = strrchr(rel, '/');
	n->name_off = slash ? (size_t)(slash - rel) + 1 : 0;
	n->st = *st;
	n->link = link;
	n->end = w->n + 1;
	return w->n++;
}

static int check_type(const char *rel, const struct stat *st, struct kiln_err *err)
{
	if (S_ISFIFO(st->st_mode) || S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
		return kiln_err_set(
		    err, KILN_E_UNSUPPORTED,
		    "`%s` is a %s: only files, directories and symlinks can be copied", rel,
		    S_ISFIFO(st->st_mode) ? "fifo" : "device");
	return 0;
}

/* "rel/name" (or name at the root), allocated. */
static char *join_rel(const char *rel, size_t rl, const char *name)
{
	size_t nl = strlen(name);
	char *p = xmalloc(rl + nl + 2);
	if (rl) {
		memcpy(p, rel, rl);
		p[rl++] = '/';
	}
	memcpy(p + rl, name, nl + 1);
	return p;
}

/* Whether fd (-1: none) is the file st describes. */
static bool fd_is(int fd, const struct stat *st)
{
	struct stat now;
	return fd >= 0 && fstat(fd, &now) == 0 && now.st_ino == st->st_ino &&
	       now.st_dev == st->st_dev;
}

/* Directory name of parent (rel: its path in the context), opened without
 * following it and still the directory the listing stat'ed (st): the
 * walk goes by fds, so a directory swapped for a symlink meanwhile never
 * leads it out of the context. */
static int open_subdir(int parent, const char *name, const char *rel, const struct stat *st,
                       struct kiln_err *err)
{
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd_is(fd, st))
		return fd;
	int e = fd < 0 ? errno : 0;
	if (fd >= 0)
		close(fd);
	return e && e != ENOTDIR && e != ELOOP
	           ? kiln_err_set(err, e, "open directory `%s`", rel)
	           : kiln_err_set(err, KILN_E_CONFLICT, "`%s` changed while being read", rel);
}

/* Lists directory fd (borrowed; rel: its path in the context): selected
 * children, sorted, stat'ed relative to it. */
static int list_dir(int dfd, const char *rel, cache_select_fn sel, void *ud, struct child **out,
                    size_t *n_out, struct kiln_err *err)
{
	size_t rl = strlen(rel);
	int fd = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return kiln_err_set(err, errno, "open directory `%s`", *rel ? rel : ".");
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return kiln_err_set(err, errno, "open directory `%s`", rel);
	}
	struct child *v = NULL;
	size_t n = 0, cap = 0;
	int r = 0;
	struct dirent *de;
	while (r == 0 && (errno = 0, de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		struct stat st;
		_cleanup_free_ char *crel = join_rel(rel, rl, de->d_name);
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			r = kiln_err_set(err, errno, "stat `%s`", crel);
			break;
		}
		/* sockets and fifos are left out, as BuildKit's context sync does */
		if (S_ISSOCK(st.st_mode) || S_ISFIFO(st.st_mode))
			continue;
		enum cache_sel in = sel ? sel(ud, crel, S_ISDIR(st.st_mode)) : CACHE_SEL_YES;
		if (in == CACHE_SEL_NO)
			continue;
		if ((r = check_type(crel, &st, err)) < 0)
			break;
		char *link = NULL;
		if (S_ISLNK(st.st_mode)) {
			link = xmalloc((size_t)st.st_size + 2);
			ssize_t l = readlinkat(fd, de->d_name, link, (size_t)st.st_size + 1);
			if (l < 0) {
				free(link);
				r = kiln_err_set(err, errno, "read link `%s`", crel);
				break;
			}
			link[l] = '\0';
		}
		KILN_GROW(v, cap, n + 1);
		v[n] = (struct child){.rel = TAKE_PTR(crel),
		                      .st = st,
		                      .link = link,
		                      .if_any = in == CACHE_SEL_IF_ANY && S_ISDIR(st.st_mode)};
		v[n].name = v[n].rel + (rl ? rl + 1 : 0);
		n++;
	}
	if (r == 0 && errno)
		r = kiln_err_set(err, errno, "read directory `%s`", rel);
	closedir(d);
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_child);
	*out = v;
	*n_out = n;
	return r;
}

static void free_children(struct child *v, size_t n, size_t from)
{
	for (size_t i = from; i < n; i++) {
		free(v[i].rel);
		free(v[i].link);
	}
	free(v);
}

/* Drops the last node. */
static void pop(struct ctx_walk *w)
{
	w->n--;
	free(w->v[w->n].rel);
	free(w->v[w->n].link);
}

/* The subtree of node at, whose directory is dfd (borrowed). */
static int walk_dir(struct ctx_walk *w, size_t at, int dfd, cache_select_fn sel, void *ud,
                    struct kiln_err *err)
{
	struct child *v = NULL;
	size_t n = 0;
	_cleanup_free_ char *rel = xstrdup(w->v[at].rel);
	int r = list_dir(dfd, rel, sel, ud, &v, &n, err);
	size_t i = 0;
	for (; i < n && r == 0; i++) {
		size_t k = push(w, TAKE_PTR(v[i].rel), &v[i].st, v[i].link);
		if (S_ISDIR(v[i].st.st_mode)) {
			_cleanup_close_ int sub =
			    open_subdir(dfd, v[i].name, w->v[k].rel, &v[i].st, err);
			r = sub < 0 ? -1 : walk_dir(w, k, sub, sel, ud, err);
		}
		w->v[k].end = w->n;
		if (r == 0 && v[i].if_any && w->n == k + 1)
			pop(w); /* nothing under it is kept: neither is it */
	}
	free_children(v, n, i);
	return r;
}

void ctx_walk_release(struct ctx_walk *w)
{
	for (size_t i = 0; i < w->n; i++) {
		free(w->v[i].rel);
		free(w->v[i].link);
	}
	free(w->v);
}

/* --- the walk on worker threads ------------------------------------------
 * The hashed directory's children are listed here; each subdirectory's
 * subtree is walked by whichever worker takes it, into a list of its own,
 * spliced back in order (so stats of a wide tree use every core). */

struct subwalk {
	struct ctx_walk w;
	int r;
	struct kiln_err err;
};
struct walk_pool {
	int top_fd;           /* the hashed directory */
	struct ctx_walk *top; /* the children, each a node (index 1...) */
	struct subwalk *sub;
	size_t n;
	atomic_size_t next;
	cache_select_fn sel;
	void *ud;
};

static void *walk_worker(void *arg)
{
	struct walk_pool *p = arg;
	for (;;) {
		size_t i = atomic_fetch_add(&p->next, 1);
		if (i >= p->n)
			break;
		struct ctx_node *n = &p->top->v[i + 1];
		if (!S_ISDIR(n->st.st_mode))
			continue;
		struct subwalk *sw = &p->sub[i];
		push(&sw->w, xstrdup(n->rel), &n->st, NULL);
		_cleanup_close_ int sub =
		    open_subdir(p->top_fd, n->rel + n->name_off, n->rel, &n->st, &sw->err);
		sw->r = sub < 0 ? -1 : walk_dir(&sw->w, 0, sub, p->sel, p->ud, &sw->err);
		sw->w.v[0].end = sw->w.n;
	}
	return NULL;
}

/* The subtree of w's only node, a directory opened as dfd (borrowed). */
static int walk_parallel(struct cache_ctx *c, struct ctx_walk *w, int dfd, cache_select_fn sel,
                         void *ud, struct kiln_err *err)
{
	struct child *v = NULL;
	size_t n = 0;
	struct ctx_walk top = {0};
	push(&top, xstrdup(w->v[0].rel), &w->v[0].st, NULL);
	int r = list_dir(dfd, w->v[0].rel, sel, ud, &v, &n, err);
	_cleanup_free_ bool *if_any = xcalloc(n + 1, sizeof(*if_any));
	for (size_t i = 0; i < n; i++) {
		push(&top, TAKE_PTR(v[i].rel), &v[i].st, v[i].link);
		v[i].link = NULL;
		if_any[i] = v[i].if_any;
	}
	free_children(v, n, 0);
	struct walk_pool p = {
	    .top_fd = dfd, .top = &top, .n = r == 0 ? n : 0, .sel = sel, .ud = ud};
	p.sub = xcalloc(n + 1, sizeof(*p.sub));
	pthread_t th[CTX_MAX_THREAD];
	unsigned started = 0;
	for (unsigned i = 1; i < c->threads && n > 1; i++)
		if (pthread_create(&th[started], NULL, walk_worker, &p) == 0)
			started++;
	walk_worker(&p);
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	/* splice: each child, then its subtree with indices shifted */
	for (size_t i = 0; i < n; i++) {
		struct subwalk *sw = &p.sub[i];
		if (r == 0 && sw->r < 0) {
			kiln_err_move(err, &sw->err);
			r = -1;
		}
		kiln_err_release(&sw->err);
		struct ctx_node *tn = &top.v[i + 1];
		if (r == 0 && if_any[i] && sw->w.n == 1) { /* nothing under it is kept */
			ctx_walk_release(&sw->w);
			continue;
		}
		if (r < 0 || !sw->w.n) {
			if (r == 0)
				push(w, TAKE_PTR(tn->rel), &tn->st, TAKE_PTR(tn->link));
			ctx_walk_release(&sw->w);
			continue;
		}
		size_t base = w->n;
		KILN_GROW(w->v, w->cap, w->n + sw->w.n);
		for (size_t k = 0; k < sw->w.n; k++) {
			w->v[w->n] = sw->w.v[k];
			w->v[w->n++].end += base;
		}
		free(sw->w.v);
	}
	free(p.sub);
	ctx_walk_release(&top);
	return r;
}

/* --- reading on worker threads ------------------------------------------ */

struct pool {
	struct cache_ctx *c;
	struct ctx_walk *w;
	size_t *todo, n_todo;
	atomic_size_t next;
	atomic_bool failed;
	pthread_mutex_t mu;
	struct kiln_err err;
	uint64_t bytes;
};

static void *worker(void *arg)
{
	struct pool *p = arg;
	char *buf = xmalloc(CTX_READ_BUF);
	uint64_t bytes = 0;
	for (;;) {
		size_t i = atomic_fetch_add(&p->next, 1);
		if (i >= p->n_todo || atomic_load(&p->failed))
			break;
		struct kiln_err e = KILN_ERR_INIT;
		if (ctx_hash_file(p->c, &p->w->v[p->todo[i]], NULL, buf, &bytes, &e) < 0) {
			pthread_mutex_lock(&p->mu);
			if (!atomic_exchange(&p->failed, true))
				kiln_err_move(&p->err, &e);
			pthread_mutex_unlock(&p->mu);
			kiln_err_release(&e);
		}
	}
	free(buf);
	pthread_mutex_lock(&p->mu);
	p->bytes += bytes;
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static int read_files(struct cache_ctx *c, struct ctx_walk *w, size_t *todo, size_t n_todo,
                      struct kiln_err *err)
{
	struct pool p = {.c = c, .w = w, .todo = todo, .n_todo = n_todo};
	pthread_mutex_init(&p.mu, NULL);
	unsigned nt = c->threads;
	if (nt > n_todo)
		nt = (unsigned)n_todo;
	pthread_t th[CTX_MAX_THREAD];
	unsigned started = 0;
	for (unsigned i = 1; i < nt; i++)
		if (pthread_create(&th[started], NULL, worker, &p) == 0)
			started++;
	worker(&p);
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&p.mu);
	c->stats.files_read += n_todo;
	c->stats.bytes_read += p.bytes;
	if (atomic_load(&p.failed)) {
		kiln_err_move(err, &p.err);
		return -1;
	}
	return 0;
}

/* --- folding ------------------------------------------------------------- */

/* The sha256 leaf of a symlink or directory (children folded already). */
static void fold_sha(const struct ctx_walk *w, size_t i, const struct kiln_buf *xa)
{
	struct ctx_node *n = &w->v[i];
	unsigned perm = (unsigned)(n->st.st_mode & 07777);
	struct kiln_sha256 s;
	kiln_sha256_init(&s);
	_cleanup_free_ char *head = NULL;
	if (S_ISLNK(n->st.st_mode)) {
		head = xasprintf("link %04o ", perm);
		kiln_sha256_update(&s, head, strlen(head));
		kiln_sha256_update(&s, n->link, strlen(n->link));
	} else {
		char xw[65];
		xattrs_word(xa, xw);
		head = xasprintf("dir %04o %s\n", perm, xw);
		kiln_sha256_update(&s, head, strlen(head));
		for (size_t k = i + 1; k < n->end; k = w->v[k].end) {
			const char *name = w->v[k].rel + w->v[k].name_off;
			kiln_sha256_update(&s, name, strlen(name) + 1);
			kiln_sha256_update(&s, w->v[k].sha, 32);
		}
	}
	sha_raw(&s, n->sha);
}

static int fold(struct cache_ctx *c, struct ctx_walk *w, struct kiln_err *err)
{
	struct kiln_buf xa;
	kiln_buf_init(&xa, KILN_BUF_NOLIMIT, NULL);
	int r = 0;
	for (size_t i = w->n; i-- > 0 && r == 0;) {
		struct ctx_node *n = &w->v[i];
		struct kiln_xxh128_state h;
		struct kiln_xxh128 out;
		if (S_ISREG(n->st.st_mode))
			continue;
		kiln_buf_reset(&xa);
		if (S_ISLNK(n->st.st_mode)) {
			hash_head(&h, 'L', &n->st);
			kiln_xxh128_update(&h, n->link, strlen(n->link));
		} else {
			_cleanup_free_ char *path = full_path(c, n->rel);
			if ((r = xattr_stream(&xa, -1, path, err)) < 0)
				break;
			hash_head(&h, 'D', &n->st);
			kiln_xxh128_update(&h, xa.data ? xa.data : "", xa.len);
			for (size_t k = i + 1; k < n->end; k = w->v[k].end) {
				const char *name = w->v[k].rel + w->v[k].name_off;
				kiln_xxh128_update(&h, name, strlen(name) + 1);
				kiln_xxh128_update(&h, w->v[k].hash, 16);
			}
		}
		kiln_xxh128_final(&h, &out);
		memcpy(n->hash, out.b, 16);
		if (c->want_sha)
			fold_sha(w, i, &xa);
	}
	kiln_buf_release(&xa);
	return r;
}

static void hex16(const uint8_t *b, char out[33])
{
	struct kiln_xxh128 x;
	memcpy(x.b, b, 16);
	kiln_xxh128_hex(&x, out);
}

/* ROOT/cache/inputs/<hex>: "HEX MODE LEN:PATH\n" per entry (the XXH3
 * leaves, or with sha the sha256 ones under the sha256 root's hex). */
static int store_listing(struct cache_ctx *c, const struct ctx_walk *w, const char *hex, bool sha,
                         struct kiln_err *err)
{
	_cleanup_free_ char *file = xasprintf("%s/%s", c->inputs_dir, hex);
	if (access(file, F_OK) == 0)
		return 0;
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	for (size_t i = 0; i < w->n; i++) {
		char h[65];
		if (sha)
			sha_hex(w->v[i].sha, h);
		else
			hex16(w->v[i].hash, h);
		const char *rel = *w->v[i].rel ? w->v[i].rel : ".";
		kiln_buf_addf(&b, NULL, "%s %o %zu:%s\n", h, (unsigned)w->v[i].st.st_mode,
		              strlen(rel), rel);
	}
	int r = kiln_mkdir_p(c->inputs_dir, 0700, err);
	if (r == 0)
		r = kiln_write_file_replace(file, b.data ? b.data : "", b.len, 0600, err);
	kiln_buf_release(&b);
	return r;
}

/* Stat cache lookups; the rest is listed in *todo. */
void ctx_use_statcache(struct cache_ctx *c, struct ctx_walk *w, size_t **todo, size_t *n_todo)
{
	size_t cap = 0;
	for (size_t i = 0; i < w->n; i++) {
		struct ctx_node *n = &w->v[i];
		if (!S_ISREG(n->st.st_mode))
			continue;
		if (sc_lookup(&c->sc, n->rel, &n->st, n->hash, c->want_sha ? n->sha : NULL)) {
			c->stats.stat_hits++;
			continue;
		}
		n->read = true;
		KILN_GROW(*todo, cap, *n_todo + 1);
		(*todo)[(*n_todo)++] = i;
	}
}

int64_t ctx_coarse_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME_COARSE, &t);
	return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int64_t newest(const struct stat *st)
{
	int64_t m = (int64_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
	int64_t ct = (int64_t)st->st_ctim.tv_sec * 1000000000LL + st->st_ctim.tv_nsec;
	return m > ct ? m : ct;
}

void cache_ctx_walk_release(struct cache_ctx_walk *w)
{
	for (size_t i = 0; i < w->n; i++) {
		free(w->v[i].rel);
		free(w->v[i].link);
	}
	free(w->v);
	w->v = NULL;
	w->n = 0;
}

void ctx_walk_out(struct ctx_walk *w, struct cache_ctx_walk *out, bool copy)
{
	out->v = xcalloc(w->n ? w->n : 1, sizeof(*out->v));
	out->n = w->n;
	for (size_t i = 0; i < w->n; i++) {
		struct cache_ctx_node *o = &out->v[i];
		const char *link = w->v[i].link;
		o->rel = copy ? xstrdup(w->v[i].rel) : TAKE_PTR(w->v[i].rel);
		o->link = !copy ? TAKE_PTR(w->v[i].link) : link ? xstrdup(link) : NULL;
		o->st = w->v[i].st;
		o->end = w->v[i].end;
	}
}

int cache_ctx_hash(struct cache_ctx *c, const char *rel, cache_select_fn sel, void *ud,
                   char hex[33], char *sha, struct kiln_err *err)
{
	return cache_ctx_hash_walk(c, rel, sel, ud, hex, sha, NULL, err);
}

/* The hashed directory rel, opened inside the context (symlinks and ..
 * never leave it) and still the one lstat saw. */
static int open_top(const struct cache_ctx *c, const char *rel, const struct stat *st,
                    struct kiln_err *err)
{
	_cleanup_close_ int root = open(c->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return kiln_err_set(err, errno, "open directory `%s`", c->dir);
	int fd = kiln_open_in_root(root, *rel ? rel : ".", O_RDONLY | O_DIRECTORY);
	if (fd_is(fd, st))
		return fd;
	if (fd >= 0)
		close(fd);
	return kiln_err_set(err, KILN_E_CONFLICT, "`%s` changed while being read",
	                    *rel ? rel : ".");
}

int ctx_walk_tree(struct cache_ctx *c, const char *rel, cache_select_fn sel, void *ud,
                  struct ctx_walk *w, struct kiln_err *err)
{
	_cleanup_free_ char *path = full_path(c, rel);
	struct stat st;
	int r = lstat(path, &st) < 0 ? kiln_err_set(err, errno, "stat `%s`", *rel ? rel : ".") : 0;
	if (r == 0 && S_ISLNK(st.st_mode)) {
		char *link = xmalloc((size_t)st.st_size + 2);
		ssize_t l = readlink(path, link, (size_t)st.st_size + 1);
		link[l < 0 ? 0 : l] = '\0';
		push(w, xstrdup(rel), &st, link);
	} else if (r == 0 && (r = check_type(rel, &st, err)) == 0) {
		push(w, xstrdup(rel), &st, NULL);
		_cleanup_close_ int dfd = S_ISDIR(st.st_mode) ? open_top(c, rel, &st, err) : -1;
		if (S_ISDIR(st.st_mode))
			r = dfd < 0 ? -1 : walk_parallel(c, w, dfd, sel, ud, err);
		w->v[0].end = w->n;
	}
	return r;
}

int ctx_finish(struct cache_ctx *c, struct ctx_walk *w, const size_t *todo, size_t n_todo,
               const char *rel, char hex[33], char *sha, struct kiln_err *err)
{
	for (size_t i = 0; i < n_todo; i++) {
		struct ctx_node *n = &w->v[todo[i]];
		sc_set(&c->sc, n->rel, &n->st, n->hash, c->want_sha ? n->sha : NULL,
		       newest(&n->st) >= c->tick);
	}
	int r = fold(c, w, err);
	if (r == 0) {
		hex16(w->v[0].hash, hex);
		c->stats.entries += w->n;
		c->hashed_root |= !*rel;
		r = store_listing(c, w, hex, false, err);
	}
	if (r == 0 && sha) {
		sha_hex(w->v[0].sha, sha);
		r = store_listing(c, w, sha, true, err);
	}
	return r;
}

int cache_ctx_hash_walk(struct cache_ctx *c, const char *rel, cache_select_fn sel, void *ud,
                        char hex[33], char *sha, struct cache_ctx_walk *walk, struct kiln_err *err)
{
	if (walk)
		cache_ctx_walk_release(walk);
	struct ctx_walk w = {0};
	_cleanup_free_ size_t *todo = NULL;
	size_t n_todo = 0;
	c->tick = ctx_coarse_now();
	c->want_sha = sha != NULL;
	int r = ctx_walk_tree(c, rel, sel, ud, &w, err);
	if (r == 0) {
		ctx_use_statcache(c, &w, &todo, &n_todo);
		r = n_todo ? read_files(c, &w, todo, n_todo, err) : 0;
	}
	if (r == 0)
		r = ctx_finish(c, &w, todo, n_todo, rel, hex, sha, err);
	if (r == 0 && walk)
		ctx_walk_out(&w, walk, false);
	ctx_walk_release(&w);
	return r;
}
