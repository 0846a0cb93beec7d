/* Hashing while copying (cache_ctx_plan_*): a tree whose files are fed by
 * the caller, as a COPY sure to miss feeds them while it writes its layer,
 * hashes to what cache_ctx_hash gives (fresh stat caches both), with files
 * left unfed read by cache_ctx_plan_end (a hardlink's second name, a
 * source another replaced), including a sparse file's holes fed as zeros;
 * the walk handed out is cache_ctx_hash_walk's; the stat cache it writes
 * spares the next hash every read; an unfed file changed after the walk
 * fails instead of keying bytes the copy never saw; a fed file whose size
 * differs from the walk's fails too. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "tap.h"

static char *base, *ctx;

static void put(const char *rel, const char *data, size_t n)
{
	char *p = kiln_path_join(ctx, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0) {
		if (write(fd, data, n) != (ssize_t)n)
			tap_diag("short write to %s", p);
		close(fd);
	}
	free(p);
}

static void make_tree(void)
{
	char *d = kiln_path_join(ctx, "a/b");
	kiln_mkdir_p(d, 0755, NULL);
	free(d);
	put("top.txt", "top\n", 4);
	put("a/one.txt", "one\n", 4);
	put("a/empty", "", 0);
	size_t big = 700 * 1024; /* several read buffers */
	char *buf = xmalloc(big);
	for (size_t i = 0; i < big; i++)
		buf[i] = (char)(i * 7 + 3);
	put("a/b/big.bin", buf, big);
	free(buf);
	char *s = kiln_path_join(ctx, "a/b/sparse");
	int fd = open(s, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0) {
		if (pwrite(fd, "tail", 4, 3 << 20) != 4)
			tap_diag("pwrite failed");
		close(fd);
	}
	free(s);
	char *l1 = kiln_path_join(ctx, "a/one.txt"), *l2 = kiln_path_join(ctx, "a/b/hard.txt");
	if (link(l1, l2) < 0)
		tap_diag("link failed");
	free(l1);
	free(l2);
	char *sl = kiln_path_join(ctx, "a/link");
	if (symlink("../top.txt", sl) < 0)
		tap_diag("symlink failed");
	free(sl);
	usleep(30 * 1000); /* past the coarse tick of the files' times */
}

static int hash_plain(const char *root, char hex[33], struct cache_ctx_walk *walk,
                      struct cache_ctx_stats *st)
{
	struct kiln_err err = KILN_ERR_INIT;
	struct cache_ctx *c = NULL;
	int r = cache_ctx_open(root, ctx, &c, &err);
	if (r == 0)
		r = cache_ctx_hash_walk(c, "", NULL, NULL, hex, NULL, walk, &err);
	if (r == 0 && st)
		cache_ctx_stats(c, st);
	if (c && cache_ctx_close(c, r == 0 ? &err : NULL) < 0)
		r = -1;
	if (r < 0)
		tap_diag("hash: %s", err.msg);
	kiln_err_release(&err);
	return r;
}

/* Reads node i through an fd into a feed, as the layer writer hands its
 * bytes over (in pieces), then hands the feed to the plan. */
static int feed_node(struct cache_ctx_plan *p, const struct cache_ctx_walk *w, size_t i,
                     struct kiln_err *err)
{
	char *path = kiln_path_join(ctx, w->v[i].rel);
	int fd = open(path, O_RDONLY);
	free(path);
	if (fd < 0)
		return kiln_err_set(err, 2, "open");
	struct cache_ctx_feed f;
	cache_ctx_feed_init(&f);
	char buf[65536];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		cache_ctx_feed(&f, buf, (size_t)n);
	int r = cache_ctx_plan_fed(p, i, fd, &f, err);
	close(fd);
	return r;
}

/* Plans the root in a handle on root; feeds every wanted file but those
 * skip says, then ends the plan. */
static int hash_planned(const char *root, bool (*skip)(const char *rel), char hex[33],
                        struct cache_ctx_walk *walk, size_t *n_wanted, struct kiln_err *err)
{
	struct cache_ctx *c = NULL;
	struct cache_ctx_plan *p = NULL;
	*n_wanted = 0;
	int r = cache_ctx_open(root, ctx, &c, err);
	if (r == 0)
		r = cache_ctx_plan_begin(c, "", NULL, NULL, walk, &p, err);
	for (size_t i = 0; r == 0 && i < walk->n; i++) {
		if (!cache_ctx_plan_wants(p, i))
			continue;
		++*n_wanted;
		if (!skip || !skip(walk->v[i].rel))
			r = feed_node(p, walk, i, err);
	}
	if (r == 0)
		r = cache_ctx_plan_end(c, p, hex, err);
	cache_ctx_plan_free(p);
	if (c && cache_ctx_close(c, r == 0 ? err : NULL) < 0)
		r = -1;
	return r;
}

static bool skip_hardlink(const char *rel)
{
	return !strcmp(rel, "a/b/hard.txt") || !strcmp(rel, "a/b/sparse");
}

static bool same_walk(const struct cache_ctx_walk *a, const struct cache_ctx_walk *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i].rel, b->v[i].rel) || a->v[i].end != b->v[i].end ||
		    (a->v[i].link == NULL) != (b->v[i].link == NULL) ||
		    a->v[i].st.st_ino != b->v[i].st.st_ino)
			return false;
	return true;
}

/* An ignore file's allow-list: everything excluded, a/ and a/b/ walked
 * for exceptions (kept only if something under them is), a/one.txt kept. */
static enum cache_sel allow_sel(void *ud, const char *rel, bool is_dir)
{
	(void)ud;
	if (!strcmp(rel, "a/one.txt"))
		return CACHE_SEL_YES;
	return is_dir ? CACHE_SEL_IF_ANY : CACHE_SEL_NO;
}

static char *walk_names(const struct cache_ctx_walk *w)
{
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	for (size_t i = 0; i < w->n; i++)
		kiln_buf_addf(&b, NULL, "%s%s", i ? " " : "", *w->v[i].rel ? w->v[i].rel : ".");
	return kiln_buf_detach(&b, NULL);
}

static char *root_dir(const char *name)
{
	return kiln_path_join(base, name);
}

int main(void)
{
	const char *t = getenv("KILN_TEST_TMP") ? getenv("KILN_TEST_TMP") : "/tmp";
	kiln_mkdir_p(t, 0755, NULL);
	char *tmpl = xasprintf("%s/cache-ctxplan-XXXXXX", t);
	base = mkdtemp(tmpl);
	if (!base)
		tap_skip_all("cannot make a temp dir");
	ctx = kiln_path_join(base, "ctx");
	mkdir(ctx, 0755);
	make_tree();

	char want[33], got[33];
	struct cache_ctx_walk wa = {0}, wb = {0};
	char *r1 = root_dir("r1"), *r2 = root_dir("r2"), *r3 = root_dir("r3");
	T_OK(hash_plain(r1, want, &wa, NULL) == 0, "cache_ctx_hash_walk of the tree");

	struct kiln_err err = KILN_ERR_INIT;
	size_t wanted = 0;
	int r = hash_planned(r2, NULL, got, &wb, &wanted, &err);
	T_OK(r == 0, "every file fed: the plan ends (%s)", err.msg ? err.msg : "ok");
	T_STREQ(got, want, "the same hash as cache_ctx_hash");
	T_INTEQ(wanted, (size_t)6, "six regular files to feed (two names of one inode)");
	T_OK(same_walk(&wa, &wb), "the same walk as cache_ctx_hash_walk");
	kiln_err_release(&err);

	struct cache_ctx_stats st;
	T_OK(hash_plain(r2, got, NULL, &st) == 0, "hash again on the plan's stat cache");
	T_STREQ(got, want, "same hash");
	T_INTEQ(st.files_read, (size_t)0, "the plan's stat cache spares every read");

	cache_ctx_walk_release(&wb);
	r = hash_planned(r3, skip_hardlink, got, &wb, &wanted, &err);
	T_OK(r == 0, "a hardlink and a sparse file left unfed: read by the plan's end (%s)",
	     err.msg ? err.msg : "ok");
	T_STREQ(got, want, "same hash");
	kiln_err_release(&err);

	/* an unfed file that changed after the walk */
	char *r4 = root_dir("r4");
	struct cache_ctx *c = NULL;
	struct cache_ctx_plan *p = NULL;
	cache_ctx_walk_release(&wb);
	r = cache_ctx_open(r4, ctx, &c, &err);
	if (r == 0)
		r = cache_ctx_plan_begin(c, "", NULL, NULL, &wb, &p, &err);
	put("top.txt", "top, changed\n", 13);
	if (r == 0)
		r = cache_ctx_plan_end(c, p, got, &err);
	T_OK(r < 0 && err.msg && strstr(err.msg, "changed while being read") &&
	         strstr(err.msg, "top.txt"),
	     "an unfed file changed after the walk fails, naming it (%s)",
	     err.msg ? err.msg : "no error");
	kiln_err_release(&err);
	cache_ctx_plan_free(p);
	cache_ctx_free(c);

	/* a fed file whose bytes do not match the walk's size */
	c = NULL;
	p = NULL;
	char *r5 = root_dir("r5");
	cache_ctx_walk_release(&wb);
	usleep(30 * 1000);
	r = cache_ctx_open(r5, ctx, &c, &err);
	if (r == 0)
		r = cache_ctx_plan_begin(c, "", NULL, NULL, &wb, &p, &err);
	size_t top = wb.n;
	for (size_t i = 0; i < wb.n; i++)
		if (!strcmp(wb.v[i].rel, "top.txt"))
			top = i;
	T_OK(r == 0 && top < wb.n && cache_ctx_plan_wants(p, top), "top.txt is to be fed");
	if (r == 0 && top < wb.n) {
		struct cache_ctx_feed f;
		cache_ctx_feed_init(&f);
		cache_ctx_feed(&f, "short", 5);
		char *path = kiln_path_join(ctx, "top.txt");
		int fd = open(path, O_RDONLY);
		free(path);
		r = cache_ctx_plan_fed(p, top, fd, &f, &err);
		if (fd >= 0)
			close(fd);
	}
	T_OK(r < 0 && err.msg && strstr(err.msg, "changed while being read"),
	     "bytes fed that are not the walk's size fail (%s)", err.msg ? err.msg : "no error");
	kiln_err_release(&err);
	cache_ctx_plan_free(p);
	cache_ctx_free(c);

	/* directories walked only for exceptions are kept only if something
	 * under them is (BuildKit copies no empty excluded trees) */
	c = NULL;
	char *r6 = root_dir("r6");
	cache_ctx_walk_release(&wb);
	r = cache_ctx_open(r6, ctx, &c, &err);
	if (r == 0)
		r = cache_ctx_hash_walk(c, "", allow_sel, NULL, got, NULL, &wb, &err);
	char *names = r == 0 ? walk_names(&wb) : NULL;
	T_STREQ(names, ". a a/one.txt", "an allow-list walk keeps a/one.txt and its parent only");
	free(names);
	kiln_err_release(&err);
	cache_ctx_free(c);
	free(r6);

	cache_ctx_walk_release(&wa);
	cache_ctx_walk_release(&wb);
	kiln_rm_rf(base, NULL);
	free(r1);
	free(r2);
	free(r3);
	free(r4);
	free(r5);
	free(ctx);
	free(base);
	return tap_done();
}
