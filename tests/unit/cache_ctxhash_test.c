/* Context hashing: touch keeps the hash, chmod +x changes it and the
 * listing diff names the file, a content change with size and mtime put
 * back is detected, ignored and unselected files are never opened
 * (inotify watches them), symlinks out of the context are hashed as links,
 * the stat cache spares reads and follows git's racy-clean rule, and
 * 100,000 files or a 4 GB sparse file hash in bounded memory. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cache-internal.h"
#include "cache.h"
#include "tap.h"

static char *base, *root, *ctx;
static struct img_store *store;

static void put(const char *rel, const char *data)
{
	char *p = kiln_path_join(ctx, rel);
	FILE *f = fopen(p, "w");
	if (f) {
		fputs(data, f);
		fclose(f);
	}
	free(p);
}

static void settle(void)
{
	/* let the coarse clock move past the files' timestamps so that the
	 * first hashing does not see them as changed in its own tick */
	usleep(30 * 1000);
}

static enum cache_sel ignore_sel(void *ud, const char *rel, bool is_dir)
{
	(void)ud;
	(void)is_dir;
	return strcmp(rel, "ignored.txt") && strcmp(rel, "fifo") && strcmp(rel, "unselected.bin") &&
	               strcmp(rel, "big") && strcmp(rel, "sparse")
	           ? CACHE_SEL_YES
	           : CACHE_SEL_NO;
}

/* Hashes rel in a fresh handle (stat cache loaded and written back). */
static int hash_sha(const char *rel, char hex[33], char *sha, struct cache_ctx_stats *st,
                    unsigned threads)
{
	struct kiln_err err = KILN_ERR_INIT;
	struct cache_ctx *c = NULL;
	int r = cache_ctx_open(root, ctx, &c, &err);
	if (r == 0 && threads)
		cache_ctx_set_threads(c, threads);
	if (r == 0)
		r = cache_ctx_hash(c, rel, ignore_sel, NULL, hex, sha, &err);
	if (r == 0 && st)
		cache_ctx_stats(c, st);
	if (c && cache_ctx_close(c, r == 0 ? &err : NULL) < 0)
		r = -1;
	if (r < 0)
		tap_diag("hash: %s", err.msg);
	kiln_err_release(&err);
	return r;
}

static int hash(const char *rel, char hex[33], struct cache_ctx_stats *st, unsigned threads)
{
	return hash_sha(rel, hex, NULL, st, threads);
}

/* sha256 hex of a string */
static void sha_text(const char *text, char out[65])
{
	char d[KILN_DIGEST_LEN];
	kiln_sha256_digest(text, strlen(text), d);
	snprintf(out, 65, "%s", d + 7);
}

/* The expected sha256 leaf of a plain file of mode 0644 holding data. */
static void file_leaf(const char *data, char out[65])
{
	char content[KILN_DIGEST_LEN];
	kiln_sha256_digest(data, strlen(data), content);
	char *text = xasprintf("file 0644 %zu - %s", strlen(data), content);
	sha_text(text, out);
	free(text);
}

/* Keys shared with other machines (decision 5): the sha256 Merkle hash is
 * over the sha256 of the bytes (checked against an independent sha256 of
 * the file's data), changes with the bytes even when size, mode and mtime
 * are put back, is kept in the stat cache, and leaves the local (XXH3)
 * hash as it was. */
static void shared(void)
{
	char *d = kiln_path_join(ctx, "sh");
	mkdir(d, 0755);
	free(d);
	put("sh/s.txt", "shared\n");
	char *f = kiln_path_join(ctx, "sh/s.txt");
	chmod(f, 0644);
	settle();
	char x1[33], x2[33], s1[CACHE_SHA_HEX_MAX], s2[CACHE_SHA_HEX_MAX], want[65];
	struct cache_ctx_stats st;
	T_OK(hash_sha("sh/s.txt", x1, s1, &st, 0) == 0, "a file hashed with sha256 leaves");
	file_leaf("shared\n", want);
	T_STREQ(s1, want,
	        "its sha256 hash is sha256(\"file 0644 7 - sha256:<sha256 of the bytes>\")");
	T_OK(hash("sh/s.txt", x2, NULL, 0) == 0 && !strcmp(x1, x2),
	     "the local XXH3 hash is the same with or without sha256");
	T_OK(hash_sha("sh/s.txt", x2, s2, &st, 0) == 0 && !strcmp(s1, s2), "same sha256 again");
	T_INTEQ(st.files_read, 0, "both hashes come from the stat cache");

	/* same size, mode and mtime, other bytes: another sha256 */
	struct stat old;
	stat(f, &old);
	put("sh/s.txt", "SHARED\n");
	struct timespec ts[2] = {old.st_atim, old.st_mtim};
	utimensat(AT_FDCWD, f, ts, 0);
	settle();
	T_OK(hash_sha("sh/s.txt", x2, s2, &st, 0) == 0 && strcmp(s1, s2) && strcmp(x1, x2),
	     "new bytes (size and mtime put back) change the sha256 hash");
	file_leaf("SHARED\n", want);
	T_STREQ(s2, want, "to the sha256 leaf of the new bytes");
	/* a file read by a local-only run keeps no sha256: read again for one */
	struct timespec later[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};
	utimensat(AT_FDCWD, f, later, 0);
	settle();
	T_OK(hash("sh/s.txt", x1, &st, 0) == 0 && st.files_read == 1, "a local run reads it");
	T_OK(hash_sha("sh/s.txt", x1, s1, &st, 0) == 0 && !strcmp(s1, s2), "same sha256");
	T_INTEQ(st.files_read, 1, "read again: the local run kept no sha256 for it");

	/* a directory folds its children's sha256 leaves; its listing is kept
	 * under the sha256 hex with the sha256 leaves, for explanations */
	char xd[33], sd[CACHE_SHA_HEX_MAX];
	T_OK(hash_sha("sh", xd, sd, NULL, 0) == 0 && strlen(sd) == 64, "a directory too");
	char *lf = xasprintf("%s/cache/inputs/%s", root, sd);
	char *data = NULL;
	size_t len = 0;
	T_OK(kiln_read_file(lf, 1 << 20, &data, &len, NULL) == 0 && data && strstr(data, want),
	     "its listing (under the sha256 hex) holds the file's sha256 leaf");
	free(data);
	free(lf);
	free(f);
}

static void basics(void)
{
	char *d = kiln_path_join(ctx, "dir");
	mkdir(d, 0755);
	free(d);
	put("a.txt", "hello\n");
	put("dir/b.txt", "bee\n");
	put("run.sh", "#!/bin/sh\necho hi\n");
	put("ignored.txt", "secret\n");
	put("unselected.bin", "never read\n");
	char *p = kiln_path_join(ctx, "fifo");
	mkfifo(p, 0644);
	free(p);
	char *out = kiln_path_join(base, "outside");
	FILE *f = fopen(out, "w");
	fputs("outside\n", f);
	fclose(f);
	p = kiln_path_join(ctx, "link");
	symlink(out, p);
	free(p);
	settle();

	char h1[33], h2[33], h3[33];
	struct cache_ctx_stats st;
	T_OK(hash("", h1, &st, 0) == 0, "context hashed");
	T_INTEQ(st.files_read, 3, "first hashing reads the 3 selected files");
	T_OK(hash("", h2, &st, 0) == 0 && !strcmp(h1, h2), "same hash again");
	T_INTEQ(st.files_read, 0, "second hashing reads nothing (stat cache)");
	T_INTEQ(st.stat_hits, 3, "every file answered by the stat cache");

	/* touch: mtime changes, the hash does not */
	char *a = kiln_path_join(ctx, "a.txt");
	struct timespec ts[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};
	utimensat(AT_FDCWD, a, ts, 0);
	settle();
	T_OK(hash("", h2, &st, 0) == 0 && !strcmp(h1, h2), "touch keeps the hash");
	T_INTEQ(st.files_read, 1, "the touched file alone is read again");

	/* chmod +x: the hash changes, the listing diff names the file */
	char *sh = kiln_path_join(ctx, "run.sh");
	chmod(sh, 0755);
	settle();
	T_OK(hash("", h2, NULL, 0) == 0 && strcmp(h1, h2), "chmod +x changes the hash");
	char *why = cache_explain_inputs(store, h1, h2);
	T_STREQ(why, "files changed: run.sh (mode 644 -> 755)",
	        "the diff names the file and modes");
	free(why);
	chmod(sh, 0644);
	settle();
	T_OK(hash("", h3, NULL, 0) == 0 && !strcmp(h1, h3), "chmod back: the old hash");

	/* same size, mtime put back: ctime betrays the change */
	struct stat before;
	stat(a, &before);
	f = fopen(a, "r+");
	fputs("HELLO\n", f);
	fclose(f);
	struct timespec back[2] = {before.st_atim, before.st_mtim};
	utimensat(AT_FDCWD, a, back, 0);
	settle();
	T_OK(hash("", h3, &st, 0) == 0 && strcmp(h1, h3),
	     "content changed with size and mtime put back is detected");
	why = cache_explain_inputs(store, h1, h3);
	T_STREQ(why, "files changed: a.txt (content)", "and named");
	free(why);

	/* links out of the context: hashed as links, never followed */
	f = fopen(out, "w");
	fputs("changed outside\n", f);
	fclose(f);
	settle();
	T_OK(hash("", h2, NULL, 0) == 0 && !strcmp(h2, h3),
	     "a symlink's target outside the context is not read");
	T_OK(hash("link", h2, NULL, 0) == 0, "a symlink as the hashed path itself");
	p = kiln_path_join(ctx, "link");
	unlink(p);
	symlink("/etc/elsewhere", p);
	free(p);
	char h4[33];
	T_OK(hash("link", h4, NULL, 0) == 0 && strcmp(h2, h4), "a changed link target changes it");

	/* one file alone, and adding a file */
	T_OK(hash("dir/b.txt", h2, NULL, 0) == 0, "a single file hashes");
	put("dir/new.txt", "new\n");
	settle();
	char h5[33];
	T_OK(hash("", h5, NULL, 0) == 0 && strcmp(h5, h3), "an added file changes the hash");
	char *want = NULL;
	why = cache_explain_inputs(store, h3, h5);
	T_OK(strstr(why, "dir/new.txt (added)") != NULL, "an added file is named: %s", why);
	free(why);
	free(want);
	free(a);
	free(sh);
	free(out);
}

static void never_read(void)
{
	int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (in < 0) {
		printf("ok %d - # SKIP no inotify\n", ++tap_n);
		return;
	}
	char *ig = kiln_path_join(ctx, "ignored.txt"), *un = kiln_path_join(ctx, "unselected.bin");
	char *ctl = kiln_path_join(ctx, "dir/b.txt");
	int w1 = inotify_add_watch(in, ig, IN_OPEN | IN_ACCESS);
	int w2 = inotify_add_watch(in, un, IN_OPEN | IN_ACCESS);
	put("dir/b.txt", "bzz\n"); /* changed: must be read (the control) */
	settle();
	char buf[4096];
	while (read(in, buf, sizeof(buf)) > 0) /* drain our own writes */
		;
	int w3 = inotify_add_watch(in, ctl, IN_OPEN | IN_ACCESS);
	char h[33];
	T_OK(hash("", h, NULL, 0) == 0, "a context with an ignored fifo hashes");
	bool seen_ctl = false, seen_ignored = false;
	ssize_t n;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *e = (struct inotify_event *)p;
			seen_ctl |= e->wd == w3;
			seen_ignored |= e->wd == w1 || e->wd == w2;
			p += sizeof(*e) + e->len;
		}
	T_OK(seen_ctl, "control: inotify sees the changed selected file opened");
	T_OK(!seen_ignored, "ignored and unselected files are never opened");
	close(in);
	free(ig);
	free(un);
	free(ctl);

	/* a fifo inside a hashed tree is left out, as BuildKit leaves it out
	 * of the context; hashing the fifo itself is refused, naming it */
	struct kiln_err err = KILN_ERR_INIT;
	struct cache_ctx *c = NULL;
	cache_ctx_open(root, ctx, &c, &err);
	struct cache_ctx_walk w = {0};
	bool listed = false;
	T_OK(cache_ctx_hash_walk(c, "", NULL, NULL, h, NULL, &w, &err) == 0,
	     "a tree holding a fifo hashes (%s)", err.msg ? err.msg : "ok");
	for (size_t i = 0; i < w.n; i++)
		listed |= !strcmp(w.v[i].rel, "fifo");
	T_OK(!listed, "the fifo is left out of the walk");
	cache_ctx_walk_release(&w);
	kiln_err_release(&err);
	T_OK(cache_ctx_hash(c, "fifo", NULL, NULL, h, NULL, &err) < 0 && err.msg &&
	         strstr(err.msg, "`fifo` is a fifo"),
	     "the fifo itself is refused with its name");
	kiln_err_release(&err);
	cache_ctx_free(c);
}

/* The stat cache file replaced by len bytes of data, loaded, its entries counted. */
static size_t load_raw(const char *file, const void *data, size_t len)
{
	int fd = open(file, O_WRONLY | O_TRUNC);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len)
		T_OK(0, "writing a damaged stat cache");
	if (fd >= 0)
		close(fd);
	struct statcache s;
	sc_load(&s, file);
	size_t n = sc_count(&s);
	sc_release(&s);
	return n;
}

static void racy(void)
{
	/* a stat cache entry whose file changed at or after the cache file
	 * was written is not trusted, even when every stat field matches */
	char *sc = kiln_path_join(base, "sc-test");
	struct statcache s;
	sc_load(&s, sc);
	struct stat st = {.st_mode = S_IFREG | 0644, .st_size = 3, .st_ino = 7};
	clock_gettime(CLOCK_REALTIME, &st.st_mtim);
	st.st_mtim.tv_sec += 5; /* surely not before the cache file's own mtime */
	st.st_ctim = st.st_mtim;
	uint8_t h[16] = {1}, h2[16] = {0};
	sc_set(&s, "f", &st, h, NULL, false);
	struct kiln_err err = KILN_ERR_INIT;
	T_OK(sc_write(&s, sc, false, &err) == 0, "stat cache written");
	sc_release(&s);
	sc_load(&s, sc);
	T_OK(!sc_lookup(&s, "f", &st, h2, NULL), "racily clean entry (mtime not before the write)");
	T_OK(s.dirty, "and the cache is written again");
	sc_release(&s);
	st.st_mtim.tv_sec -= 20;
	st.st_ctim.tv_sec -= 20;
	sc_load(&s, sc);
	sc_set(&s, "f", &st, h, NULL, false);
	sc_write(&s, sc, false, &err);
	sc_release(&s);
	sc_load(&s, sc);
	T_OK(sc_lookup(&s, "f", &st, h2, NULL) && !memcmp(h, h2, 16), "an older entry is trusted");
	struct stat st2 = st;
	st2.st_ctim.tv_nsec ^= 1;
	T_OK(!sc_lookup(&s, "f", &st2, h2, NULL), "a different ctime is not");
	sc_release(&s);
	sc_load(&s, sc);
	sc_set(&s, "f", &st, h, NULL, true);
	sc_write(&s, sc, false, &err);
	sc_release(&s);
	sc_load(&s, sc);
	T_OK(!sc_lookup(&s, "f", &st, h2, NULL), "a smudged entry (read in its own tick) is not");
	sc_release(&s);
	sc_load(&s, sc);
	T_INTEQ(sc_count(&s), 1, "the written entry is mapped back");
	sc_release(&s);
	/* a torn or grown file is ignored whole: nothing in it is trusted */
	int fd = open(sc, O_WRONLY | O_APPEND);
	write(fd, "0123", 4);
	close(fd);
	sc_load(&s, sc);
	T_INTEQ(sc_count(&s), 0, "a torn stat cache is empty (files are read again)");
	sc_release(&s);
	truncate(sc, 40);
	sc_load(&s, sc);
	T_INTEQ(sc_count(&s), 0, "a truncated stat cache is empty");
	sc_release(&s);
	/* a header that claims no table, and one whose record points past
	 * the paths: ignored whole, never read out of bounds */
	char bad[32 + 64 + 64 * 4 + 1] = "kiln-statcache2\n";
	uint32_t n1 = 1, tab0 = 0, tab64 = 64;
	uint64_t strl = 1, off = 5;
	memcpy(bad + 16, &n1, 4);
	memcpy(bad + 20, &tab0, 4);
	memcpy(bad + 24, &strl, 8);
	memcpy(bad + 32 + 32, &off, 8);
	fd = open(sc, O_WRONLY | O_TRUNC);
	write(fd, bad, 32 + 64 + 1);
	close(fd);
	sc_load(&s, sc);
	T_INTEQ(sc_count(&s), 0, "a stat cache without a table is ignored");
	sc_release(&s);
	memcpy(bad + 20, &tab64, 4);
	fd = open(sc, O_WRONLY | O_TRUNC);
	write(fd, bad, sizeof(bad));
	close(fd);
	sc_load(&s, sc);
	T_INTEQ(sc_count(&s), 0, "a record pointing out of the file is ignored with it");
	T_OK(!sc_lookup(&s, "f", &st, h2, NULL), "and nothing is found");
	sc_release(&s);
	/* a header whose path length wraps the size sum round to the file's
	 * size: a million records claimed in a file of 200 bytes */
	uint32_t nbig = 1u << 20, tabbig = 1u << 21;
	uint64_t claimed = 32 + (uint64_t)nbig * 64 + (uint64_t)tabbig * 4;
	uint64_t wrap = 200 - claimed; /* unsigned: 2^64 - (claimed - 200) */
	char small[200] = "kiln-statcache2\n";
	memcpy(small + 16, &nbig, 4);
	memcpy(small + 20, &tabbig, 4);
	memcpy(small + 24, &wrap, 8);
	T_INTEQ(load_raw(sc, small, sizeof(small)), 0,
	        "a header whose sizes wrap round is ignored");
	kiln_err_release(&err);
	free(sc);
}

static void threads(void)
{
	char *d = kiln_path_join(ctx, "many");
	mkdir(d, 0755);
	for (int i = 0; i < 64; i++) {
		char n[64], v[64];
		snprintf(n, sizeof(n), "many/f%02d", i);
		snprintf(v, sizeof(v), "content %d\n", i * 7);
		put(n, v);
	}
	settle();
	char h1[33], h2[33];
	struct cache_ctx_stats st;
	char *scdir = kiln_path_join(root, CACHE_STATCACHE);
	kiln_rm_rf(scdir, NULL);
	T_OK(hash("many", h1, &st, 1) == 0 && st.files_read == 64, "one thread reads 64 files");
	kiln_rm_rf(scdir, NULL);
	T_OK(hash("many", h2, &st, 2) == 0 && st.files_read == 64, "two threads read 64 files");
	T_STREQ(h2, h1, "same hash with one or two threads");
	/* the root: its subdirectories walked by different threads */
	char r1[33], r2[33];
	T_OK(hash("", r1, NULL, 1) == 0 && hash("", r2, NULL, 2) == 0,
	     "root hashed on 1 and 2 threads");
	T_STREQ(r2, r1, "same tree hash whichever thread walked which directory");
	free(scdir);
	free(d);
}

/* VmRSS or VmHWM (peak) of this process, KiB. */
static long status_kb(const char *field)
{
	long v = -1;
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, field, strlen(field)))
			v = strtol(line + strlen(field) + 1, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

/* The child's side of peak_growth: hashes rel, prints the peak memory
 * growth (KiB) and the stats. */
static int child_hash(const char *rel)
{
	/* reset the peak (VmHWM) to the current RSS (Linux >= 4.0) */
	int cr = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
	if (cr >= 0) {
		if (write(cr, "5", 1) < 0)
			tap_diag("clear_refs: %s", strerror(errno));
		close(cr);
	}
	long start = status_kb("VmRSS:");
	char h[33];
	struct cache_ctx_stats s = {0};
	int r = hash(rel, h, &s, 0);
	long peak = status_kb("VmHWM:");
	printf("%ld %zu %zu %llu\n", r == 0 && peak >= 0 && start >= 0 ? peak - start : -1,
	       s.files_read, s.stat_hits, (unsigned long long)s.bytes_read);
	return 0;
}

/* Hashes rel in a fresh process (under ASan with its quarantine off, so
 * that what is measured is kiln's memory); returns its peak memory growth
 * in KiB (-1 on error). */
static long peak_growth(const char *dir, const char *rel, struct cache_ctx_stats *st)
{
	int p[2];
	if (pipe(p) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		setenv("ASAN_OPTIONS", "detect_leaks=0:quarantine_size_mb=0:malloc_context_size=0",
		       1);
		execl("/proc/self/exe", "cache_ctxhash_test", "--hash", rel, base, dir,
		      (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	char buf[256] = "";
	ssize_t n = read(p[0], buf, sizeof(buf) - 1);
	close(p[0]);
	waitpid(pid, NULL, 0);
	long kb = -1;
	unsigned long long bytes = 0;
	memset(st, 0, sizeof(*st));
	if (n <= 0 ||
	    sscanf(buf, "%ld %zu %zu %llu", &kb, &st->files_read, &st->stat_hits, &bytes) != 4)
		return -1;
	st->bytes_read = bytes;
	return kb;
}

/* A tmpfs at ctx/name when root (in a private mount namespace): creating
 * 100,000 files soon after deleting as many is very slow on ext4 without a
 * journal (HOST-NOTES.md); elsewhere the disk is used. */
static bool scratch_mount(const char *name)
{
	char *d = kiln_path_join(base, name);
	mkdir(d, 0755);
	static bool unshared;
	if (!unshared && geteuid() == 0 && unshare(CLONE_NEWNS) == 0 &&
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0)
		unshared = true;
	bool ok = unshared && mount("tmpfs", d, "tmpfs", 0, "size=8g,nr_inodes=200k") == 0;
	free(d);
	return ok;
}

static void scratch_umount(const char *name, bool mounted)
{
	char *d = kiln_path_join(base, name);
	if (mounted)
		umount2(d, MNT_DETACH);
	free(d);
}

static void big(void)
{
	/* 100,000 empty files in 100 directories */
	bool m1 = scratch_mount("big"), m2 = scratch_mount("sparse");
	tap_diag("big contexts on %s", m1 ? "tmpfs" : "the test directory's filesystem");
	char *d = kiln_path_join(base, "big");
	for (int i = 0; i < 100; i++) {
		char sub[512];
		snprintf(sub, sizeof(sub), "%s/d%02d", d, i);
		mkdir(sub, 0755);
		for (int k = 0; k < 1000; k++) {
			char f[600];
			snprintf(f, sizeof(f), "%s/f%03d", sub, k);
			close(open(f, O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
		}
	}
	settle();
	struct cache_ctx_stats st;
	long kb = peak_growth(d, "", &st);
	tap_diag("100,000 files: peak growth %ld KiB", kb);
	T_OK(kb >= 0 && st.files_read == 100000, "100,000 empty files hashed (%zu read)",
	     st.files_read);
	T_OK(kb >= 0 && kb < 150 * 1024, "in bounded memory (%ld KiB < 150 MiB, ASan included)",
	     kb);
	kb = peak_growth(d, "", &st);
	T_OK(kb >= 0 && st.files_read == 0 && st.stat_hits == 100000,
	     "again: all 100,000 from the stat cache");
	free(d);

	/* holes hash as the zeros they read as */
	char *s1 = kiln_path_join(ctx, "holes"), *s2 = kiln_path_join(ctx, "dense");
	char *zeros = xcalloc(1, 3 << 20);
	memcpy(zeros + (1 << 20) + 5, "data", 4);
	int f1 = open(s1, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	int f2 = open(s2, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	bool made = f1 >= 0 && f2 >= 0 && ftruncate(f1, 3 << 20) == 0 &&
	            pwrite(f1, "data", 4, (1 << 20) + 5) == 4 &&
	            write(f2, zeros, 3 << 20) == 3 << 20;
	close(f1);
	close(f2);
	free(zeros);
	settle();
	char ha[33], hb[33];
	T_OK(made && hash("holes", ha, NULL, 0) == 0 && hash("dense", hb, NULL, 0) == 0 &&
	         !strcmp(ha, hb),
	     "a sparse file hashes like the same bytes written out");
	free(s1);
	free(s2);

	/* a 4 GB sparse file, streamed */
	char *spdir = kiln_path_join(base, "sparse");
	char *sp = kiln_path_join(spdir, "file");
	int fd = open(sp, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	bool ok =
	    fd >= 0 && ftruncate(fd, 4LL << 30) == 0 && pwrite(fd, "end", 3, (4LL << 30) - 3) == 3;
	close(fd);
	if (!ok) {
		printf("ok %d - # SKIP cannot make a 4 GB sparse file: %s\n", ++tap_n,
		       strerror(errno));
		free(sp);
		free(spdir);
		scratch_umount("big", m1);
		scratch_umount("sparse", m2);
		return;
	}
	settle();
	kb = peak_growth(spdir, "file", &st);
	tap_diag("4 GB sparse file: peak growth %ld KiB", kb);
	T_OK(kb >= 0 && st.bytes_read == (4ULL << 30),
	     "a 4 GB sparse file hashed, every byte read");
	T_OK(kb >= 0 && kb < 32 * 1024, "streamed in bounded memory (%ld KiB < 32 MiB)", kb);
	unlink(sp);
	free(sp);
	free(spdir);
	scratch_umount("big", m1);
	scratch_umount("sparse", m2);
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "--hash")) {
		base = argv[3];
		root = kiln_path_join(base, "root");
		ctx = xstrdup(argv[4]);
		int r = child_hash(argv[2]);
		free(root);
		free(ctx);
		return r;
	}
	const char *t = getenv("KILN_TEST_TMP") ? getenv("KILN_TEST_TMP") : "/tmp";
	kiln_mkdir_p(t, 0755, NULL);
	char *tmpl = xasprintf("%s/cache-ctxhash-XXXXXX", t);
	base = mkdtemp(tmpl);
	if (!base)
		tap_skip_all("cannot make a temp dir");
	root = kiln_path_join(base, "root");
	ctx = kiln_path_join(base, "ctx");
	mkdir(ctx, 0755);
	struct kiln_err err = KILN_ERR_INIT;
	if (img_store_open(root, &store, &err) < 0)
		tap_skip_all("cannot open a store");
	basics();
	shared();
	never_read();
	racy();
	threads();
	big();
	img_store_close(store);
	kiln_rm_rf(base, NULL);
	free(root);
	free(ctx);
	free(base);
	return tap_done();
}
