/* Layers: one-pass create (none/gzip/zstd), determinism, exact round trips,
 * secure extraction against hostile tars, whiteouts both ways, snapshots. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "image.h"
#include "tap.h"

static char *root, *work;
static struct img_store *store;
static bool is_root;

/* --- helpers ------------------------------------------------------------ */

static void write_file(const char *path, const char *content, mode_t mode)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		perror(path);
		exit(2);
	}
	fputs(content, f);
	fclose(f);
	chmod(path, mode);
}

static char *P(const char *a, const char *b)
{
	return kiln_path_join(a, b);
}

/* A canonical description of a tree (excluding its root): type, perms,
 * owner, size, content hash, link target, rdev, xattrs, mtime seconds,
 * hardlink groups. */
static void sig_walk(const char *dir, const char *rel, struct kiln_buf *b, struct kiln_strv *ino)
{
	struct kiln_strv names = KILN_STRV_INIT;
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			kiln_strv_push(&names, de->d_name);
	if (d)
		closedir(d);
	kiln_strv_sort(&names);
	for (size_t i = 0; i < names.n; i++) {
		char *full = P(dir, names.v[i]);
		char *r = *rel ? xasprintf("%s/%s", rel, names.v[i]) : xstrdup(names.v[i]);
		struct stat st;
		lstat(full, &st);
		kiln_buf_addf(b, NULL, "%s %o %u:%u", r, st.st_mode, st.st_uid, st.st_gid);
		if (!S_ISDIR(st.st_mode) && !S_ISLNK(st.st_mode))
			kiln_buf_addf(b, NULL, " t=%lld", (long long)st.st_mtim.tv_sec);
		if (S_ISDIR(st.st_mode))
			kiln_buf_addf(b, NULL, " t=%lld", (long long)st.st_mtim.tv_sec);
		if (S_ISREG(st.st_mode)) {
			char *data = NULL;
			size_t len = 0;
			char dg[KILN_DIGEST_LEN];
			kiln_read_file(full, 1 << 26, &data, &len, NULL);
			kiln_sha256_digest(data ? data : "", len, dg);
			free(data);
			kiln_buf_addf(b, NULL, " %zu %.16s", len, dg + 7);
			if (st.st_nlink > 1) {
				char *key = xasprintf("%lu", (unsigned long)st.st_ino);
				size_t k = 0;
				while (k < ino->n && strcmp(ino->v[k], key))
					k++;
				if (k == ino->n)
					kiln_strv_push(ino, key);
				kiln_buf_addf(b, NULL, " link#%zu", k);
				free(key);
			}
		} else if (S_ISLNK(st.st_mode)) {
			char t[PATH_MAX + 1];
			ssize_t n = readlink(full, t, PATH_MAX);
			t[n < 0 ? 0 : n] = 0;
			kiln_buf_addf(b, NULL, " -> %s", t);
		} else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
			kiln_buf_addf(b, NULL, " dev=%u,%u", major(st.st_rdev), minor(st.st_rdev));
		}
		char list[4096], val[256];
		ssize_t n = llistxattr(full, list, sizeof(list));
		struct kiln_strv xs = KILN_STRV_INIT;
		for (ssize_t k = 0; k < n; k += (ssize_t)strlen(list + k) + 1)
			if (strncmp(list + k, "security.selinux", 16))
				kiln_strv_push(&xs, list + k);
		kiln_strv_sort(&xs);
		for (size_t k = 0; k < xs.n; k++) {
			ssize_t vn = lgetxattr(full, xs.v[k], val, sizeof(val) - 1);
			val[vn < 0 ? 0 : vn] = 0;
			kiln_buf_addf(b, NULL, " %s=%s", xs.v[k], val);
		}
		kiln_strv_release(&xs);
		kiln_buf_addch(b, '\n', NULL);
		if (S_ISDIR(st.st_mode))
			sig_walk(full, r, b, ino);
		free(full);
		free(r);
	}
	kiln_strv_release(&names);
}

static char *tree_sig(const char *dir)
{
	struct kiln_buf b;
	struct kiln_strv ino = KILN_STRV_INIT;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	sig_walk(dir, "", &b, &ino);
	kiln_strv_release(&ino);
	return kiln_buf_detach(&b, NULL);
}

static void set_mtime(const char *path, time_t t)
{
	struct timespec ts[2] = {{t, 0}, {t, 0}};
	utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW);
}

/* The source tree: every kind of entry the brief names. */
static char *make_tree(void)
{
	char *src = P(work, "src");
	mkdir(src, 0755);
	char *p;
#define MK(rel, stmt)                                                                              \
	do {                                                                                       \
		p = P(src, rel);                                                                   \
		stmt;                                                                              \
		free(p);                                                                           \
	} while (0)
	MK("bin", mkdir(p, 0755));
	MK("bin/tool", write_file(p, "#!/bin/sh\necho tool\n", 04755));
	char *t1 = P(src, "bin/tool"), *t2 = P(src, "bin/tool2");
	link(t1, t2); /* a hardlink pair */
	free(t1);
	free(t2);
	MK("tmp", mkdir(p, 0755));
	MK("tmp", chmod(p, 01777));
	MK("empty", mkdir(p, 0700));
	MK("etc", mkdir(p, 0755));
	MK("etc/passwd", write_file(p, "root:x:0:0:root:/root:/bin/sh\n", 0644));
	MK("etc/shadow", write_file(p, "root:*:1::::::\n", 0640));
	MK("etc/shadow", chown(p, 0, 42));
	MK("home", mkdir(p, 0755));
	MK("home/user", mkdir(p, 0750));
	MK("home/user", chown(p, 1234, 5678));
	MK("home/user/notes.txt", write_file(p, "hello\n", 0600));
	MK("home/user/notes.txt", chown(p, 1234, 5678));
	MK("home/user/notes.txt", setxattr(p, "user.kiln.test", "v1", 2, 0));
	MK("sh", symlink("bin/tool", p));
	MK("dangling", symlink("/nonexistent/target", p));
	/* names as raw bytes: UTF-8, and bytes no charset decodes */
	MK("caf\xc3\xa9 \xe2\x82\xac.txt", write_file(p, "utf8\n", 0644));
	MK("raw-\xff\xfe", write_file(p, "raw\n", 0644));
	MK("l\xc3\xbcnk", symlink("caf\xc3\xa9 \xe2\x82\xac.txt", p));
	MK("fifo", mkfifo(p, 0640));
	MK("big", write_file(p, "", 0644));
	p = P(src, "big");
	FILE *f = fopen(p, "w");
	for (int i = 0; i < 200000; i++)
		fprintf(f, "line %d\n", i);
	fclose(f);
	free(p);
	if (is_root)
		MK("null", mknod(p, S_IFCHR | 0666, makedev(1, 3)));
	/* fixed mtimes, deepest first, so the signature is stable */
	const char *all[] = {"bin/tool",   "bin",        "tmp", "empty",
	                     "etc/passwd", "etc/shadow", "etc", "home/user/notes.txt",
	                     "home/user",  "home",       "sh",  "dangling",
	                     "fifo",       "big",        "null"};
	for (size_t i = 0; i < KILN_ARRAY_SIZE(all); i++) {
		p = P(src, all[i]);
		set_mtime(p, 1700000000 + (time_t)i);
		free(p);
	}
#undef MK
	return src;
}

static int create(const char *dir, enum img_compression c, int64_t clamp, struct img_layer *l)
{
	struct img_layer_opts o = {c, false, clamp};
	struct kiln_err err = KILN_ERR_INIT;
	int r = img_layer_create(store, dir, &o, l, &err);
	if (r < 0)
		tap_diag("create: %s", err.msg);
	kiln_err_release(&err);
	return r;
}

static int extract(const struct img_layer *l, const char *target, unsigned flags)
{
	struct kiln_err err = KILN_ERR_INIT;
	int r = img_layer_extract(store, l->digest, l->media_type, target, flags, &err);
	if (r < 0)
		tap_diag("extract: %s", err.msg);
	kiln_err_release(&err);
	return r;
}

/* --- tests ---------------------------------------------------------------- */

static void test_round_trip(void)
{
	char *src = make_tree();
	char *want = tree_sig(src);
	struct img_layer l = {0}, l2 = {0}, lg = {0}, lz = {0};
	T_OK(create(src, IMG_COMPRESS_NONE, -1, &l) == 0, "create an uncompressed layer");
	T_STREQ(l.media_type, IMG_MT_LAYER, "uncompressed media type");
	T_STREQ(l.diff_id, l.digest, "uncompressed: diffID == blob digest");
	T_OK(create(src, IMG_COMPRESS_NONE, -1, &l2) == 0 && !strcmp(l.digest, l2.digest),
	     "the same tree gives the same digest");
	char *dst = P(work, "dst-none");
	T_OK(extract(&l, dst, IMG_EXTRACT_DEVICES) == 0, "extract the layer");
	char *got = tree_sig(dst);
	T_STREQ(got, want, "extracted tree equals the source (modes, owners, links, xattrs)");
	if (strcmp(got, want))
		tap_diag("want:\n%s", want);
	free(got);

	T_OK(create(src, IMG_COMPRESS_GZIP, -1, &lg) == 0, "create a gzip layer");
	T_STREQ(lg.media_type, IMG_MT_LAYER_GZIP, "gzip media type");
	T_STREQ(lg.diff_id, l.diff_id, "gzip layer has the same diffID");
	T_OK(lg.size < l.size, "gzip is smaller (%llu < %llu)", (unsigned long long)lg.size,
	     (unsigned long long)l.size);
	T_OK(create(src, IMG_COMPRESS_ZSTD, -1, &lz) == 0, "create a zstd layer");
	T_STREQ(lz.diff_id, l.diff_id, "zstd layer has the same diffID");
	T_STREQ(lz.media_type, IMG_MT_LAYER_ZSTD, "zstd media type");
	char *dg = P(work, "dst-gzip"), *dz = P(work, "dst-zstd");
	T_OK(extract(&lg, dg, IMG_EXTRACT_DEVICES) == 0 &&
	         extract(&lz, dz, IMG_EXTRACT_DEVICES) == 0,
	     "extract gzip and zstd layers");
	char *sg = tree_sig(dg), *sz = tree_sig(dz);
	T_STREQ(sg, want, "gzip layer extracts identically");
	T_STREQ(sz, want, "zstd layer extracts identically");

	struct img_layer rg = {0};
	struct kiln_err err = KILN_ERR_INIT;
	T_OK(img_layer_recompress(store, &l, IMG_COMPRESS_GZIP, &rg, &err) == 0,
	     "recompress none -> gzip");
	T_STREQ(rg.digest, lg.digest, "recompressed blob equals the directly created gzip blob");
	T_STREQ(rg.diff_id, l.diff_id, "recompressed diffID");

	/* clamp: a file touched to a later time still gives the same digest */
	struct img_layer c1 = {0}, c2 = {0};
	create(src, IMG_COMPRESS_NONE, 1600000000, &c1);
	char *pw = P(src, "etc/passwd");
	set_mtime(pw, 1800000000);
	create(src, IMG_COMPRESS_NONE, 1600000000, &c2);
	T_STREQ(c2.digest, c1.digest, "same tree + same clamp => same digest after a touch");
	T_OK(strcmp(c1.digest, l.digest) != 0, "clamping changes the digest");
	struct img_layer nc = {0};
	create(src, IMG_COMPRESS_NONE, -1, &nc);
	T_OK(strcmp(nc.digest, l.digest) != 0, "without a clamp, a touch changes the digest");
	set_mtime(pw, 1700000004);
	free(pw);

	/* a corrupted blob is refused */
	char *bp = img_store_blob_path(store, l.digest);
	int fd = open(bp, O_WRONLY);
	pwrite(fd, "X", 1, 700);
	close(fd);
	char *dc = P(work, "dst-corrupt");
	int rc = img_layer_extract(store, l.digest, NULL, dc, 0, &err);
	T_OK(rc < 0 && err.code == KILN_E_CORRUPT && !kiln_path_exists(dc),
	     "a corrupt blob is refused and leaves no target (%s)", err.msg);
	kiln_err_release(&err);
	unlink(bp);
	free(bp);
	free(dc);

	struct img_layer *ls[] = {&l, &l2, &lg, &lz, &rg, &c1, &c2, &nc};
	for (size_t i = 0; i < KILN_ARRAY_SIZE(ls); i++)
		img_layer_release(ls[i]);
	free(sg);
	free(sz);
	free(dg);
	free(dz);
	free(dst);
	free(want);
	free(src);
}

/* --- hostile tars ------------------------------------------------------- */
/* tables below name only the fields they need */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
struct tent {
	mode_t type;
	const char *name;
	const char *link; /* symlink target or hardlink target */
	const char *data;
	unsigned perm;     /* 0: 0755 for dirs, 0644 else */
	unsigned dev;      /* makedev for AE_IFCHR / AE_IFBLK */
	const char *xattr; /* "name=value" */
};

static char *make_tar(const char *name, const struct tent *ents, size_t n)
{
	char *path = P(work, name);
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	archive_write_open_filename(a, path);
	struct archive_entry *e = archive_entry_new();
	for (size_t i = 0; i < n; i++) {
		archive_entry_clear(e);
		archive_entry_set_pathname(e, ents[i].name);
		archive_entry_set_filetype(e, ents[i].type);
		archive_entry_set_perm(e, ents[i].perm               ? ents[i].perm
		                          : ents[i].type == AE_IFDIR ? 0755
		                                                     : 0644);
		archive_entry_set_rdev(e, ents[i].dev);
		if (ents[i].xattr) {
			const char *eq = strchr(ents[i].xattr, '=');
			char *xn = xstrndup(ents[i].xattr, (size_t)(eq - ents[i].xattr));
			archive_entry_xattr_add_entry(e, xn, eq + 1, strlen(eq + 1));
			free(xn);
		}
		if (ents[i].type == AE_IFLNK)
			archive_entry_set_symlink(e, ents[i].link);
		else if (ents[i].link)
			archive_entry_set_hardlink(e, ents[i].link);
		size_t len = ents[i].data ? strlen(ents[i].data) : 0;
		archive_entry_set_size(e, (la_int64_t)len);
		archive_write_header(a, e);
		if (len)
			archive_write_data(a, ents[i].data, len);
	}
	archive_entry_free(e);
	archive_write_close(a);
	archive_write_free(a);
	return path;
}

static char *outside, *sentinel;

static bool outside_untouched(void)
{
	char *data = NULL;
	size_t len = 0;
	struct stat st;
	int n = 0;
	DIR *d = opendir(outside);
	struct dirent *de;
	while (d && (de = readdir(d)))
		n++;
	if (d)
		closedir(d);
	bool ok = kiln_read_file(sentinel, 100, &data, &len, NULL) == 0 &&
	          !strcmp(data, "precious\n") && stat(sentinel, &st) == 0 && st.st_nlink == 1 &&
	          (st.st_mode & 07777) == 0600 && n == 3;
	free(data);
	return ok;
}

/* Extracts a hostile tar; want_fail: must be refused (message contains
 * want_msg); else it must be contained. Either way nothing outside. */
static void hostile(const char *what, const struct tent *ents, size_t n, bool want_fail,
                    const char *want_msg)
{
	static int seq;
	char name[64];
	snprintf(name, sizeof(name), "hostile-%d.tar", seq);
	char *tar = make_tar(name, ents, n);
	snprintf(name, sizeof(name), "hostile-target-%d", seq++);
	char *target = P(work, name);
	struct kiln_err err = KILN_ERR_INIT;
	int fd = open(tar, O_RDONLY);
	int r = img_layer_extract_fd(fd, target, work, 0, NULL, &err);
	close(fd);
	if (want_fail) {
		T_OK(r < 0 && (!want_msg || (err.msg && strstr(err.msg, want_msg))),
		     "%s: refused (%s)", what, err.msg ? err.msg : "accepted!");
		T_OK(!kiln_path_exists(target), "%s: partial target removed", what);
	} else if (r == 0) {
		/* contained: the entry landed inside the target */
		char *in = want_msg ? P(target, want_msg) : NULL;
		T_OK(!in || kiln_path_exists(in), "%s: contained in the target%s%s", what,
		     in ? " at " : "", want_msg ? want_msg : "");
		free(in);
	} else {
		T_OK(!kiln_path_exists(target), "%s: refused (%s), partial target removed", what,
		     err.msg);
	}
	T_OK(outside_untouched(), "%s: nothing written outside the target", what);
	kiln_err_release(&err);
	free(tar);
	free(target);
}

static void test_hostile(void)
{
	outside = P(work, "outside");
	mkdir(outside, 0755);
	sentinel = P(outside, "sentinel");
	write_file(sentinel, "precious\n", 0600);
	char *abs_pwn = P(outside, "pwned");
	char *rel_out = xasprintf("../../../../../../../../..%s", outside);

	const struct tent dotdot[] = {{AE_IFREG, "ok", NULL, "x"},
	                              {AE_IFREG, "../outside/pwned", NULL, "pwned\n"}};
	hostile("`../` entry", dotdot, 2, true, "layer entry `../outside/pwned` escapes the root");
	const struct tent deep[] = {{AE_IFDIR, "a/", NULL, NULL},
	                            {AE_IFREG, "a/b/../../../x", NULL, "x"}};
	hostile("nested `..`", deep, 2, true, "escapes the root");

	const struct tent absolute[] = {{AE_IFREG, abs_pwn, NULL, "pwned\n"}};
	hostile("absolute path outside", absolute, 1, false, abs_pwn + 1);
	char *abs_sent = sentinel;
	const struct tent abs_over[] = {{AE_IFREG, abs_sent, NULL, "overwritten\n"}};
	hostile("absolute path over the sentinel", abs_over, 1, false, abs_sent + 1);

	const struct tent symwrite[] = {{AE_IFLNK, "esc", outside, NULL},
	                                {AE_IFREG, "esc/pwned", NULL, "pwned\n"}};
	hostile("symlink escape then write through it", symwrite, 2, false, NULL);
	const struct tent symrel[] = {{AE_IFLNK, "esc", rel_out, NULL},
	                              {AE_IFREG, "esc/pwned", NULL, "pwned\n"}};
	hostile("relative symlink escape then write through it", symrel, 2, false, NULL);
	const struct tent symroot[] = {{AE_IFLNK, "up", "../../../../../..", NULL},
	                               {AE_IFREG, "up/pwned", NULL, "pwned\n"}};
	hostile("symlink to `..` as a parent", symroot, 2, false, "pwned");
	const struct tent symfile[] = {{AE_IFLNK, "s", sentinel, NULL},
	                               {AE_IFREG, "s", NULL, "overwritten\n"}};
	hostile("file entry over a symlink to an outside file", symfile, 2, false, NULL);

	char *dotdot_sent = xasprintf("../outside/sentinel");
	const struct tent hl[] = {{AE_IFREG, "h", dotdot_sent, NULL}};
	hostile("hardlink to `../` outside", hl, 1, true, "outside the root");
	const struct tent hlabs[] = {{AE_IFREG, "h", sentinel, NULL}};
	hostile("hardlink to an absolute outside path", hlabs, 1, true, "hardlink");
	const struct tent hlsym[] = {{AE_IFLNK, "s", sentinel, NULL},
	                             {AE_IFREG, "h", "s", NULL},
	                             {AE_IFREG, "h2", "s/", NULL}};
	hostile("hardlink through a symlink to outside", hlsym, 3, false, NULL);

	const struct tent symdir[] = {{AE_IFLNK, "dir", outside, NULL},
	                              {AE_IFREG, "dir/file", NULL, "pwned\n"},
	                              {AE_IFREG, "dir/sentinel", NULL, "overwritten\n"}};
	hostile("symlinked parent directory", symdir, 3, false, NULL);

	/* the contained cases resolve inside the target */
	const struct tent inside[] = {{AE_IFDIR, "real/", NULL, NULL},
	                              {AE_IFLNK, "link", "/real", NULL},
	                              {AE_IFREG, "link/f", NULL, "in\n"}};
	char *tar = make_tar("inside.tar", inside, 3);
	char *target = P(work, "inside-target");
	struct kiln_err err = KILN_ERR_INIT;
	int fd = open(tar, O_RDONLY);
	int r = img_layer_extract_fd(fd, target, work, 0, NULL, &err);
	close(fd);
	char *f = P(target, "real/f");
	T_OK(r == 0 && kiln_path_exists(f),
	     "an absolute symlink parent resolves inside the target (%s)", err.msg);
	kiln_err_release(&err);
	free(f);
	free(tar);
	free(target);
	free(dotdot_sent);
	free(abs_pwn);
	free(rel_out);
}

/* Extracts a tar into a fresh target; returns its path (free it) or NULL
 * with the error in *msg (free it). */
static char *extract_new(const char *tar, unsigned flags, char **msg)
{
	static int seq;
	char name[64];
	snprintf(name, sizeof(name), "x-target-%d", seq++);
	char *target = P(work, name);
	struct kiln_err err = KILN_ERR_INIT;
	int fd = open(tar, O_RDONLY);
	int r = img_layer_extract_fd(fd, target, work, flags, NULL, &err);
	close(fd);
	*msg = err.msg ? xstrdup(err.msg) : NULL;
	kiln_err_release(&err);
	if (r < 0) {
		T_OK(!kiln_path_exists(target), "refused extraction leaves no target (%s)", *msg);
		free(target);
		return NULL;
	}
	return target;
}

static mode_t type_at(const char *dir, const char *rel)
{
	char *p = P(dir, rel);
	struct stat st;
	mode_t m = lstat(p, &st) == 0 ? st.st_mode : 0;
	free(p);
	return m;
}

static void test_hostile_whiteouts(void)
{
	char *rel_out = xasprintf("../../../../../../../../..%s", outside);
	const struct tent dotwh[] = {{AE_IFREG, ".wh..", NULL, NULL}};
	hostile("whiteout `.wh..`", dotwh, 1, true, "invalid whiteout `.wh..`");
	const struct tent dotwh2[] = {{AE_IFREG, "a/.wh..", NULL, NULL}};
	hostile("whiteout `a/.wh..`", dotwh2, 1, true, "invalid whiteout");
	const struct tent upwh[] = {{AE_IFREG, "a/../../.wh.outside", NULL, NULL}};
	hostile("whiteout `a/../../.wh.x`", upwh, 1, true, "escapes the root");
	const struct tent symwh[] = {{AE_IFLNK, "esc", outside, NULL},
	                             {AE_IFREG, "esc/.wh.sentinel", NULL, NULL}};
	hostile("whiteout under a symlinked parent", symwh, 2, false, NULL);
	const struct tent relwh[] = {{AE_IFLNK, "esc", rel_out, NULL},
	                             {AE_IFREG, "esc/.wh.sentinel", NULL, NULL}};
	hostile("whiteout under a relative escaping symlink", relwh, 2, false, NULL);
	const struct tent opqsym[] = {{AE_IFLNK, "esc", outside, NULL},
	                              {AE_IFREG, "esc/.wh..wh..opq", NULL, NULL}};
	hostile("opaque whiteout under a symlinked parent", opqsym, 2, false, NULL);
	const struct tent rootsym[] = {{AE_IFLNK, "r", "/", NULL},
	                               {AE_IFREG, "r/.wh..wh..opq", NULL, NULL},
	                               {AE_IFREG, "r/.wh.r", NULL, NULL}};
	hostile("opaque whiteout through a symlink to `/`", rootsym, 3, false, NULL);
	const struct tent whlink[] = {{AE_IFLNK, "s", sentinel, NULL},
	                              {AE_IFREG, ".wh.s", NULL, NULL}};
	hostile("whiteout of a symlink removes the link only", whlink, 2, false, NULL);
	free(rel_out);
}

static void test_hostile_replace(void)
{
	const struct tent d2f[] = {{AE_IFDIR, "d/", NULL, NULL},
	                           {AE_IFREG, "d/f", NULL, "x"},
	                           {AE_IFREG, "d", NULL, "now a file"}};
	char *tar = make_tar("d2f.tar", d2f, 3), *msg = NULL;
	char *t = extract_new(tar, 0, &msg);
	T_OK(t && S_ISREG(type_at(t, "d")), "a file entry replaces a directory (%s)", msg);
	free(t), free(tar), free(msg);

	const struct tent f2d[] = {{AE_IFREG, "f", NULL, "file"},
	                           {AE_IFDIR, "f/", NULL, NULL},
	                           {AE_IFREG, "f/x", NULL, "x"}};
	tar = make_tar("f2d.tar", f2d, 3);
	t = extract_new(tar, 0, &msg);
	T_OK(t && S_ISDIR(type_at(t, "f")) && S_ISREG(type_at(t, "f/x")),
	     "a directory entry replaces a file (%s)", msg);
	free(t), free(tar), free(msg);

	const struct tent s2d[] = {{AE_IFLNK, "s", outside, NULL},
	                           {AE_IFDIR, "s/", NULL, NULL},
	                           {AE_IFREG, "s/pwned", NULL, "x"}};
	hostile("symlink replaced by a directory, then written through", s2d, 3, false, "s/pwned");
	const struct tent hlsym[] = {{AE_IFLNK, "s", sentinel, NULL},
	                             {AE_IFREG, "h", "s", NULL},
	                             {AE_IFREG, "h", NULL, "overwritten\n"}};
	hostile("file over a hardlink of a symlink to outside", hlsym, 3, false, NULL);
	const struct tent loop[] = {
	    {AE_IFLNK, "a", "b", NULL}, {AE_IFLNK, "b", "a", NULL}, {AE_IFREG, "a/x", NULL, "x"}};
	hostile("symlink loop as a parent", loop, 3, true, "layer entry `a/x`");
	const struct tent chain[] = {{AE_IFLNK, "a", "b", NULL},
	                             {AE_IFLNK, "b", "c/..", NULL},
	                             {AE_IFLNK, "c", outside, NULL},
	                             {AE_IFREG, "a/pwned", NULL, "x"}};
	hostile("symlink chain out of the root", chain, 4, false, NULL);
	const struct tent dot[] = {{AE_IFREG, ".", NULL, "root as a file"},
	                           {AE_IFLNK, "./", outside, NULL},
	                           {AE_IFREG, "ok", NULL, "x"}};
	hostile("the root replaced by a file or a symlink", dot, 3, false, "ok");
	const struct tent hldir[] = {{AE_IFDIR, "d/", NULL, NULL}, {AE_IFREG, "h", "d", NULL}};
	hostile("hardlink to a directory", hldir, 2, true, "hardlink `h` to directory `d`");
}

static void test_hostile_names(void)
{
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	while (b.len < 5000)
		kiln_buf_addstr(&b, "abcdefghi/", NULL);
	kiln_buf_addstr(&b, "f", NULL);
	const struct tent longname[] = {{AE_IFREG, kiln_buf_str(&b), NULL, "x"}};
	hostile("a name over PATH_MAX", longname, 1, true, "layer entry name");
	b.len = 3999; /* a deep but valid path: 400 components */
	b.data[b.len] = '\0';
	const struct tent deep[] = {{AE_IFREG, kiln_buf_str(&b), NULL, "x"}};
	hostile("a 3999-byte name, 400 components deep", deep, 1, false, "abcdefghi/abcdefghi");
	kiln_buf_release(&b);

	/* a truncated tar: refused, partial removed */
	const struct tent ents[] = {{AE_IFREG, "a", NULL, "aaaa"}, {AE_IFREG, "b", NULL, NULL}};
	char *tar = make_tar("trunc.tar", ents, 2), *msg = NULL;
	T_OK(truncate(tar, 700) == 0, "truncate the tar in the middle of `a`");
	char *t = extract_new(tar, 0, &msg);
	T_OK(!t && msg && strstr(msg, "layer entry `a`"), "truncated tar refused: %s", msg);
	free(t), free(tar), free(msg);
}

static void test_hostile_kinds(void)
{
	const struct tent ents[] = {
	    {AE_IFCHR, "dev/null", NULL, NULL, 0666, makedev(1, 3), NULL},
	    {AE_IFBLK, "dev/sda", NULL, NULL, 0666, makedev(8, 0), NULL},
	    {AE_IFREG, "suid", NULL, "x", 04755, 0, NULL},
	    {AE_IFDIR, "opq/", NULL, NULL, 0755, 0, "trusted.overlay.opaque=y"},
	    {AE_IFDIR, "uopq/", NULL, NULL, 0755, 0, "user.overlay.opaque=y"},
	    {AE_IFREG, "red", NULL, "r", 0644, 0, "trusted.overlay.redirect=/etc"},
	    {AE_IFREG, "ux", NULL, "u", 0644, 0, "user.kiln=1"},
	};
	char *tar = make_tar("kinds.tar", ents, KILN_ARRAY_SIZE(ents)), *msg = NULL;
	char *t = extract_new(tar, 0, &msg);
	T_OK(t && !type_at(t, "dev/null") && !type_at(t, "dev/sda"),
	     "devices are not created without IMG_EXTRACT_DEVICES (%s)", msg);
	T_INTEQ(t ? type_at(t, "suid") & 07777 : 0, 04755, "setuid is kept (a legitimate mode)");
	char v[8];
	char *p = t ? P(t, "opq") : NULL;
	T_OK(p && lgetxattr(p, "trusted.overlay.opaque", v, sizeof(v)) < 0,
	     "trusted.overlay.* from a layer is never applied");
	free(p);
	p = t ? P(t, "uopq") : NULL;
	T_OK(p && lgetxattr(p, "user.overlay.opaque", v, sizeof(v)) < 0,
	     "user.overlay.* from a layer is never applied");
	free(p);
	p = t ? P(t, "red") : NULL;
	T_OK(p && lgetxattr(p, "trusted.overlay.redirect", v, sizeof(v)) < 0,
	     "nor trusted.overlay.redirect");
	free(p);
	p = t ? P(t, "ux") : NULL;
	ssize_t n = p ? lgetxattr(p, "user.kiln", v, sizeof(v)) : -1;
	T_OK((n == 1 && v[0] == '1') || (n < 0 && errno == ENOTSUP), "user.* xattrs are applied");
	free(p);
	if (t)
		kiln_rm_rf(t, NULL);
	free(t), free(msg);
	if (is_root) {
		t = extract_new(tar, IMG_EXTRACT_DEVICES, &msg);
		T_OK(t && S_ISCHR(type_at(t, "dev/null")) && S_ISBLK(type_at(t, "dev/sda")),
		     "devices are created with IMG_EXTRACT_DEVICES (%s)", msg);
		if (t)
			kiln_rm_rf(t, NULL);
		free(t), free(msg);
	}
	free(tar);
}

/* --- whiteouts ------------------------------------------------------------ */

static void test_whiteouts(void)
{
	const struct tent lower[] = {
	    {AE_IFDIR, "d/", NULL, NULL},     {AE_IFREG, "d/old1", NULL, "1"},
	    {AE_IFDIR, "d/sub/", NULL, NULL}, {AE_IFREG, "d/sub/old2", NULL, "2"},
	    {AE_IFREG, "x", NULL, "x"},       {AE_IFREG, "y", NULL, "y"}};
	const struct tent upper[] = {{AE_IFDIR, "d/", NULL, NULL},
	                             {AE_IFREG, "d/new", NULL, "n"},
	                             {AE_IFREG, "d/.wh..wh..opq", NULL, NULL},
	                             {AE_IFREG, ".wh.x", NULL, NULL},
	                             {AE_IFREG, "z", NULL, "z"}};
	char *lt = make_tar("lower.tar", lower, KILN_ARRAY_SIZE(lower));
	char *ut = make_tar("upper.tar", upper, KILN_ARRAY_SIZE(upper));
	char *target = P(work, "wh-target");
	struct kiln_err err = KILN_ERR_INIT;
	int fd = open(lt, O_RDONLY);
	T_OK(img_layer_extract_fd(fd, target, work, 0, NULL, &err) == 0, "extract the lower");
	close(fd);
	fd = open(ut, O_RDONLY);
	int rc = img_layer_extract_fd(fd, target, work, 0, NULL, &err);
	T_OK(rc == 0, "apply the upper with whiteouts (%s)", err.msg);
	close(fd);
	char *sig = tree_sig(target);
	/* names only */
	struct kiln_buf names;
	kiln_buf_init(&names, KILN_BUF_NOLIMIT, NULL);
	for (char *l = sig; *l;) {
		char *nl = strchr(l, '\n');
		kiln_buf_add(&names, l, (size_t)(strchr(l, ' ') - l), NULL);
		kiln_buf_addch(&names, ',', NULL);
		l = nl + 1;
	}
	T_STREQ(kiln_buf_str(&names), "d,d/new,y,z,",
	        "whiteout removed x, opaque dir kept only this layer's d/new");
	kiln_buf_release(&names);
	free(sig);
	kiln_err_release(&err);
	free(lt);
	free(ut);
	free(target);
}

static void list_tar(const char *blob_path, struct kiln_buf *out)
{
	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	archive_read_support_filter_all(a);
	archive_read_open_filename(a, blob_path, 65536);
	struct archive_entry *e;
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		kiln_buf_addf(out, NULL, "%s", archive_entry_pathname(e));
		const char *n;
		const void *v;
		size_t len;
		archive_entry_xattr_reset(e);
		while (archive_entry_xattr_next(e, &n, &v, &len) == ARCHIVE_OK)
			kiln_buf_addf(out, NULL, "[%s]", n);
		kiln_buf_addch(out, ',', NULL);
	}
	archive_read_free(a);
}

static void test_overlay_upper(void)
{
	if (!is_root) {
		T_OK(1, "# SKIP overlay upper dirs need root (mknod 0/0, trusted.* xattrs)");
		return;
	}
	char *up = P(work, "upper");
	mkdir(up, 0755);
	char *p = P(up, "gone");
	T_OK(mknod(p, S_IFCHR | 0, makedev(0, 0)) == 0, "mknod c 0 0");
	free(p);
	p = P(up, "opq");
	mkdir(p, 0755);
	T_OK(setxattr(p, "trusted.overlay.opaque", "y", 1, 0) == 0, "set the opaque xattr");
	free(p);
	p = P(up, "opq/keep");
	write_file(p, "k", 0644);
	free(p);
	struct img_layer_opts o = {IMG_COMPRESS_NONE, true, -1};
	struct img_layer l = {0};
	struct kiln_err err = KILN_ERR_INIT;
	T_OK(img_layer_create(store, up, &o, &l, &err) == 0, "create a layer from an upper dir");
	char *bp = img_store_blob_path(store, l.digest);
	struct kiln_buf b;
	kiln_buf_init(&b, KILN_BUF_NOLIMIT, NULL);
	list_tar(bp, &b);
	T_STREQ(kiln_buf_str(&b), ".wh.gone,opq/,opq/.wh..wh..opq,opq/keep,",
	        "whiteout entries, no overlay xattrs in the tar");
	kiln_buf_release(&b);

	char *snap = NULL, *snap2 = NULL;
	T_OK(img_snapshot_ensure(store, &l, &snap, &err) == 0, "snapshot the layer (%s)", err.msg);
	struct stat st;
	p = P(snap, "gone");
	T_OK(lstat(p, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0),
	     "snapshot keeps the whiteout as a 0/0 char device");
	free(p);
	p = P(snap, "opq");
	char v[4] = {0};
	T_OK(lgetxattr(p, "trusted.overlay.opaque", v, sizeof(v)) == 1 && v[0] == 'y',
	     "snapshot keeps the opaque dir as trusted.overlay.opaque=y");
	free(p);
	T_OK(img_snapshot_ensure(store, &l, &snap2, &err) == 0 && !strcmp(snap, snap2),
	     "the snapshot is reused");
	char **dirs = NULL;
	T_OK(img_snapshot_dirs(store, &l, 1, &dirs, &err) == 0 && dirs[0] && !dirs[1] &&
	         !strcmp(dirs[0], snap),
	     "snapshot dirs for an image");
	kiln_strv_free(dirs);
	/* the layer extracted flat over a lower applies the whiteouts */
	char *flat = P(work, "flat");
	mkdir(flat, 0755);
	p = P(flat, "gone");
	write_file(p, "lower", 0644);
	free(p);
	T_OK(extract(&l, flat, 0) == 0, "flat extraction of the upper layer");
	p = P(flat, "gone");
	T_OK(!kiln_path_exists(p), "flat extraction deleted the whited-out file");
	free(p);
	free(flat);
	free(snap);
	free(snap2);
	free(bp);
	img_layer_release(&l);
	free(up);
}

/* A file of `size` bytes with data only at the given (offset, length)
 * runs: sparse (the rest holes) or dense (the rest written zeros). */
static void write_runs(const char *path, bool sparse, uint64_t size, const uint64_t (*runs)[2],
                       size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	char *zero = xcalloc(1, 1 << 20);
	uint64_t pos = 0;
	for (size_t i = 0; i <= n; i++) {
		uint64_t at = i < n ? runs[i][0] : size;
		for (; !sparse && pos < at;) {
			size_t k = at - pos < (1u << 20) ? (size_t)(at - pos) : 1u << 20;
			if (pwrite(fd, zero, k, (off_t)pos) != (ssize_t)k)
				exit(2);
			pos += k;
		}
		if (i == n)
			break;
		char *data = xmalloc(runs[i][1]);
		for (uint64_t k = 0; k < runs[i][1]; k++)
			data[k] = (char)('a' + (at + k) % 26);
		if (pwrite(fd, data, runs[i][1], (off_t)at) != (ssize_t)runs[i][1])
			exit(2);
		free(data);
		pos = at + runs[i][1];
	}
	if (ftruncate(fd, (off_t)size) < 0)
		exit(2);
	close(fd);
	free(zero);
	set_mtime(path, 1700000000);
}

/* Holes of sparse files go into the tar as the zeros they read as, without
 * being read (layer_copy_data: SEEK_DATA/SEEK_HOLE): the layer is the one
 * the same bytes written out make, through img_layer_create and through
 * the layer writer (a COPY), holes at the start, middle and end. */
static void test_sparse(void)
{
	static const uint64_t mid[][2] = {{0, 5000}, {(2u << 20) + 17, 70000}, {(5u << 20), 3}};
	static const uint64_t edge[][2] = {{(3u << 20) + 1, 4096}};
	const uint64_t mid_size = (5u << 20) + 3, edge_size = (6u << 20) + 11;
	char *sd = P(work, "sparse"), *dd = P(work, "dense");
	mkdir(sd, 0755);
	mkdir(dd, 0755);
	char *s1 = P(sd, "mid"), *s2 = P(sd, "edge"), *d1 = P(dd, "mid"), *d2 = P(dd, "edge");
	write_runs(s1, true, mid_size, mid, 2);
	write_runs(s2, true, edge_size, edge, 1);
	write_runs(d1, false, mid_size, mid, 2);
	write_runs(d2, false, edge_size, edge, 1);
	set_mtime(sd, 1700000000);
	set_mtime(dd, 1700000000);
	struct stat st;
	if (stat(s2, &st) == 0 && (uint64_t)st.st_blocks * 512 >= (uint64_t)st.st_size)
		tap_diag("the test file system made no holes: the sparse path is not exercised");
	struct img_layer ls = {0}, ld = {0};
	T_OK(create(sd, IMG_COMPRESS_NONE, -1, &ls) == 0 &&
	         create(dd, IMG_COMPRESS_NONE, -1, &ld) == 0,
	     "layers of a tree of sparse files and of its dense copy");
	T_STREQ(ls.diff_id, ld.diff_id, "sparse files: the dense copy's layer (img_layer_create)");
	char *x = P(work, "sparse-x");
	char *sig_s = NULL, *sig_x = NULL;
	T_OK(extract(&ls, x, 0) == 0 && (sig_s = tree_sig(dd)) && (sig_x = tree_sig(x)) &&
	         !strcmp(sig_s, sig_x),
	     "it extracts to the same bytes");
	const char *files[2][2] = {{s1, d1}, {s2, d2}};
	char digest[2][KILN_DIGEST_LEN];
	for (int k = 0; k < 2; k++) { /* the layer writer: sparse, then dense */
		struct img_layer_opts o = {IMG_COMPRESS_NONE, false, -1};
		struct img_layer_writer *w = NULL;
		struct img_layer l = {0};
		struct kiln_err err = KILN_ERR_INIT;
		int r = img_layer_writer_new(store, &o, &w, &err);
		for (int f = 0; f < 2 && r == 0; f++) {
			int fd = open(files[f][k], O_RDONLY);
			struct stat fs;
			fstat(fd, &fs);
			struct img_layer_entry e = {.path = f ? "edge" : "mid",
			                            .mode = S_IFREG | 0644,
			                            .mtime = 1700000000,
			                            .size = (uint64_t)fs.st_size};
			r = img_layer_writer_add(w, &e, fd, &err);
			close(fd);
		}
		if (r == 0)
			r = img_layer_writer_commit(w, &l, &err);
		if (r < 0)
			tap_diag("layer writer: %s", err.msg);
		kiln_err_release(&err);
		img_layer_writer_free(w);
		snprintf(digest[k], sizeof(digest[k]), "%s", r == 0 ? l.diff_id : "failed");
		img_layer_release(&l);
	}
	T_STREQ(digest[0], digest[1], "sparse files: the dense copy's layer (layer writer)");
	free(sig_s);
	free(sig_x);
	img_layer_release(&ls);
	img_layer_release(&ld);
	free(x);
	free(s1);
	free(s2);
	free(d1);
	free(d2);
	free(sd);
	free(dd);
}

int main(void)
{
	is_root = geteuid() == 0;
	const char *base = getenv("KILN_TEST_TMP");
	if (base)
		kiln_mkdir_p(base, 0755, NULL);
	char *tmpl = xasprintf("%s/kiln-layer-test.XXXXXX", base ? base : "/tmp");
	root = mkdtemp(tmpl);
	work = P(root, "work");
	mkdir(work, 0755);
	char *sroot = P(root, "store");
	struct kiln_err err = KILN_ERR_INIT;
	if (img_store_open(sroot, &store, &err) < 0)
		tap_skip_all(err.msg);
	if (!is_root)
		tap_diag("not root: owners and devices are not checked");
	test_round_trip();
	test_hostile();
	test_hostile_whiteouts();
	test_hostile_replace();
	test_hostile_names();
	test_hostile_kinds();
	test_whiteouts();
	test_overlay_upper();
	test_sparse();
	img_store_close(store);
	kiln_rm_rf(root, NULL);
	free(sroot);
	free(work);
	free(root);
	free(outside);
	free(sentinel);
	return tap_done();
}
