/* common/: errors, buffers, string vectors, paths, atomic writes, locks,
 * removal, digests. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "tap.h"

static int fails_with_errno(struct kiln_err *err)
{
	return kiln_err_set(err, ENOENT, "open `%s`", "etc/passwd");
}

static void test_err(void)
{
	struct kiln_err err = KILN_ERR_INIT;
	T_INTEQ(fails_with_errno(&err), -1, "kiln_err_set returns -1");
	kiln_err_wrap(&err, "extracting layer %s", "sha256:ab12");
	char *msg = kiln_err_format(&err);
	T_STREQ(msg, "extracting layer sha256:ab12: open `etc/passwd`: No such file or directory",
	        "wrapped message reads outside-in with errno text once");
	free(msg);
	kiln_err_set(&err, KILN_E_NOTFOUND, "No such image: %s", "x");
	msg = kiln_err_format(&err);
	T_STREQ(msg, "No such image: x", "kiln codes get no errno text");
	free(msg);
	T_INTEQ(err.code, KILN_E_NOTFOUND, "code kept");
	struct kiln_err other = KILN_ERR_INIT;
	kiln_err_move(&other, &err);
	T_OK(err.msg == NULL && err.code == 0 && other.code == KILN_E_NOTFOUND, "move");
	kiln_err_release(&other);
	T_INTEQ(kiln_err_set(NULL, EINVAL, "dropped"), -1, "NULL err is allowed");
}

static void test_buf(void)
{
	struct kiln_err err = KILN_ERR_INIT;
	struct kiln_buf b;
	kiln_buf_init(&b, 8, "test line");
	T_OK(kiln_buf_addstr(&b, "12345678", &err) == 0, "fill to the limit");
	T_OK(kiln_buf_addch(&b, 'x', &err) < 0 && err.code == KILN_E_LIMIT, "past the limit fails");
	T_STREQ(err.msg, "test line longer than the limit of 8 bytes", "limit message names it");
	T_STREQ(kiln_buf_str(&b), "12345678", "content unchanged after refusal");
	kiln_err_release(&err);
	kiln_buf_reset(&b);
	kiln_buf_addf(&b, &err, "%d-%s", 42, "x");
	size_t len;
	char *s = kiln_buf_detach(&b, &len);
	T_STREQ(s, "42-x", "addf and detach");
	T_INTEQ(len, 4, "detached length");
	free(s);
	kiln_buf_release(&b);

	struct kiln_strv sv = KILN_STRV_INIT;
	kiln_strv_push(&sv, "b");
	kiln_strv_pushf(&sv, "%c", 'a');
	kiln_strv_push_take(&sv, xstrdup("c"));
	kiln_strv_sort(&sv);
	T_OK(sv.n == 3 && !strcmp(sv.v[0], "a") && !strcmp(sv.v[2], "c") && sv.v[3] == NULL,
	     "strv sorted and NULL-terminated");
	T_OK(kiln_strv_contains(&sv, "b") && !kiln_strv_contains(&sv, "z"), "strv contains");
	kiln_strv_release(&sv);
}

static void test_paths(void)
{
	char *p;
	T_STREQ((p = kiln_path_join("/a/", "/b")), "/a/b", "join trims slashes");
	free(p);
	T_STREQ((p = kiln_path_join("/", "x")), "/x", "join at root");
	free(p);
	T_STREQ((p = kiln_path_join("a", "")), "a", "join empty");
	free(p);
}

static void test_fs(void)
{
	struct kiln_err err = KILN_ERR_INIT;
	char tmpl[] = "/tmp/kiln-common-test.XXXXXX";
	char *dir = mkdtemp(tmpl);
	char *deep = kiln_path_join(dir, "a/b/c");
	T_OK(kiln_mkdir_p(deep, 0755, &err) == 0, "mkdir -p");
	T_OK(kiln_mkdir_p(deep, 0755, &err) == 0, "mkdir -p on an existing dir");
	char *file = kiln_path_join(deep, "f");
	T_OK(kiln_write_file_atomic(file, "one", 3, 0640, &err) == 0, "atomic write");
	T_OK(kiln_write_file_atomic(file, "two!", 4, 0640, &err) == 0, "atomic overwrite");
	char *data = NULL;
	size_t len = 0;
	T_OK(kiln_read_file(file, 100, &data, &len, &err) == 0 && len == 4 && !strcmp(data, "two!"),
	     "read back the new content");
	free(data);
	struct stat st;
	T_OK(stat(file, &st) == 0 && (st.st_mode & 0777) == 0640, "mode applied");
	T_OK(kiln_read_file(file, 2, &data, &len, &err) < 0 && err.code == KILN_E_LIMIT,
	     "bounded read refuses a larger file");
	kiln_err_release(&err);
	T_OK(kiln_mkdir_p(file, 0755, &err) < 0 && err.code == ENOTDIR, "mkdir -p over a file");
	kiln_err_release(&err);

	/* No temp file is left beside the target. */
	char *c = kiln_path_join(dir, "a/b/c");
	int entries = 0;
	DIR *d = opendir(c);
	for (struct dirent *de; (de = readdir(d));)
		entries += de->d_name[0] != '.';
	closedir(d);
	T_INTEQ(entries, 1, "no temp files left");
	free(c);

	/* Locks: an exclusive lock excludes another open file description. */
	char *lock = kiln_path_join(dir, "lock");
	int fd = kiln_lock_file(lock, true, &err);
	T_OK(fd >= 0, "take exclusive lock");
	int fd2 = open(lock, O_RDWR);
	T_OK(flock(fd2, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK, "second lock blocks");
	close(fd);
	T_OK(flock(fd2, LOCK_SH | LOCK_NB) == 0, "lock released on close");
	close(fd2);
	free(lock);

	/* rm -rf does not follow symlinks out of the tree. */
	char *outside = kiln_path_join(dir, "outside");
	kiln_mkdir_p(outside, 0755, &err);
	char *keep = kiln_path_join(outside, "keep");
	kiln_write_file_atomic(keep, "k", 1, 0644, &err);
	char *link = kiln_path_join(deep, "link");
	T_OK(symlink(outside, link) == 0, "make a symlink to outside");
	char *ro = kiln_path_join(dir, "a/b/ro");
	mkdir(ro, 0);
	char *a = kiln_path_join(dir, "a");
	T_OK(kiln_rm_rf(a, &err) == 0, "rm -rf");
	T_OK(!kiln_path_exists(a), "tree gone");
	T_OK(kiln_path_exists(keep), "symlink target outside survives");
	T_OK(kiln_rm_rf(a, &err) == 0, "rm -rf of a missing path succeeds");
	kiln_rm_rf(dir, &err);
	free(outside);
	free(keep);
	free(link);
	free(ro);
	free(a);
	free(file);
	free(deep);
}

/* rm -rf keeps one directory open at a time: a tree far deeper than the
 * fd limit goes; a mount inside the tree is refused, not emptied. */
static void test_rm_rf_deep(void)
{
	struct kiln_err err = KILN_ERR_INIT;
	char tmpl[] = "/tmp/kiln-rmrf-test.XXXXXX";
	char *dir = mkdtemp(tmpl);
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	for (int i = 0; i < 3000; i++) {
		mkdirat(fd, "d", 0755);
		int sub = openat(fd, "d", O_RDONLY | O_DIRECTORY);
		close(openat(sub, "f", O_CREAT | O_WRONLY, 0644));
		close(fd);
		fd = sub;
	}
	close(fd);
	struct rlimit old, low;
	getrlimit(RLIMIT_NOFILE, &old);
	low = old;
	low.rlim_cur = 32;
	setrlimit(RLIMIT_NOFILE, &low);
	char *top = kiln_path_join(dir, "d");
	int r = kiln_rm_rf(top, &err);
	setrlimit(RLIMIT_NOFILE, &old);
	T_OK(r == 0, "3000 nested directories removed with 32 fds (%s)", err.msg ? err.msg : "");
	T_OK(!kiln_path_exists(top), "deep tree gone");
	kiln_err_release(&err);

	if (geteuid() == 0) {
		char *tree = kiln_path_join(dir, "tree"), *mnt = kiln_path_join(dir, "tree/mnt");
		char *src = kiln_path_join(dir, "src"), *keep = kiln_path_join(dir, "src/keep");
		kiln_mkdir_p(mnt, 0755, &err);
		kiln_mkdir_p(src, 0755, &err);
		kiln_write_file_atomic(keep, "k", 1, 0644, &err);
		if (mount(src, mnt, NULL, MS_BIND, NULL) == 0) {
			int rr = kiln_rm_rf(tree, &err);
			T_OK(rr < 0 && err.code == EBUSY, "a mount inside the tree is refused (%s)",
			     err.msg ? err.msg : "");
			T_OK(kiln_path_exists(keep), "the mounted content survives");
			kiln_err_release(&err);
			umount2(mnt, MNT_DETACH);
		}
		free(tree);
		free(mnt);
		free(src);
		free(keep);
	}
	free(top);
	kiln_rm_rf(dir, NULL);
}

static void test_hash(void)
{
	char d[KILN_DIGEST_LEN];
	kiln_sha256_digest("abc", 3, d);
	T_STREQ(d, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	        "sha256(abc)");
	struct kiln_sha256 h;
	kiln_sha256_init(&h);
	kiln_sha256_update(&h, "a", 1);
	kiln_sha256_update(&h, "bc", 2);
	char d2[KILN_DIGEST_LEN];
	kiln_sha256_final(&h, d2);
	T_STREQ(d2, d, "streaming sha256 equals one-shot");
	T_OK(kiln_digest_valid(d), "valid digest");
	T_OK(!kiln_digest_valid(
	         "sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"),
	     "upper case hex is invalid");
	T_OK(!kiln_digest_valid("sha256:abc"), "short digest is invalid");
	T_OK(!kiln_digest_valid(
	         "md5:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
	     "other algorithms are invalid");
	T_STREQ(kiln_digest_hex(d), d + 7, "digest hex part");

	struct kiln_xxh128 x1, x2;
	kiln_xxh128("hello world", 11, &x1);
	struct kiln_xxh128_state st;
	kiln_xxh128_init(&st);
	kiln_xxh128_update(&st, "hello ", 6);
	kiln_xxh128_update(&st, "world", 5);
	kiln_xxh128_final(&st, &x2);
	T_OK(!memcmp(x1.b, x2.b, 16), "streaming xxh128 equals one-shot");
	char hex[33];
	kiln_xxh128_hex(&x1, hex);
	T_INTEQ(strlen(hex), 32, "xxh128 hex length");
	kiln_xxh128("", 0, &x2);
	kiln_xxh128_hex(&x2, hex);
	T_STREQ(hex, "99aa06d3014798d86001c324468d497f", "XXH3-128 of the empty input");
}

int main(void)
{
	test_err();
	test_buf();
	test_paths();
	test_fs();
	test_rm_rf_deep();
	test_hash();
	return tap_done();
}
