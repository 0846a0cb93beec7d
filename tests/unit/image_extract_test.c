/* Extraction at scale and under stress: 100k entries in bounded memory, a
 * sparse "tar bomb", decompression filters (accepted and refused), and two
 * processes racing to unpack the same snapshot. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "image.h"
#include "tap.h"

static char *root, *work;

#ifdef __SANITIZE_ADDRESS__
/* ASan keeps freed memory in a quarantine (256 MiB): peak RSS would
 * measure that, not what the extractor holds */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "quarantine_size_mb=0";
}
#endif

enum filter { F_NONE, F_GZIP, F_GZIP2, F_XZ, F_BZIP2, F_UU, F_LZ4 };

/* A tar of n empty files spread over dirs, plus one sparse file of
 * sparse_size bytes (0: none), through the given filter. */
static char *write_tar(const char *name, size_t n, int64_t sparse_size, enum filter f)
{
	char *path = kiln_path_join(work, name);
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	if (f == F_GZIP || f == F_GZIP2)
		archive_write_add_filter_gzip(a);
	if (f == F_GZIP2)
		archive_write_add_filter_gzip(a);
	if (f == F_XZ)
		archive_write_add_filter_xz(a);
	if (f == F_BZIP2)
		archive_write_add_filter_bzip2(a);
	if (f == F_UU)
		archive_write_add_filter_uuencode(a);
	if (f == F_LZ4)
		archive_write_add_filter_lz4(a);
	archive_write_open_filename(a, path);
	struct archive_entry *e = archive_entry_new();
	for (size_t i = 0; i < n; i++) {
		char p[64];
		snprintf(p, sizeof(p), "d%03zu/f%06zu", i % 1000, i);
		archive_entry_clear(e);
		archive_entry_set_pathname(e, p);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, 0);
		archive_write_header(a, e);
	}
	if (sparse_size) {
		archive_entry_clear(e);
		archive_entry_set_pathname(e, "sparse");
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, sparse_size);
		archive_entry_sparse_add_entry(e, sparse_size - 4096, 4096);
		archive_write_header(a, e);
		char buf[4096];
		memset(buf, 'x', sizeof(buf));
		archive_write_data(a, buf, sizeof(buf));
	}
	archive_entry_free(e);
	archive_write_close(a);
	archive_write_free(a);
	return path;
}

static int extract_file(const char *tar, const char *target, char diff[KILN_DIGEST_LEN],
                        struct kiln_err *err)
{
	int fd = open(tar, O_RDONLY | O_CLOEXEC);
	int r = img_layer_extract_fd(fd, target, work, 0, diff, err);
	close(fd);
	return r;
}

static long maxrss_kib(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

static void test_many_entries(void)
{
	char *tar = write_tar("many.tar", 100000, 0, F_NONE);
	char *target = kiln_path_join(work, "many");
	struct kiln_err err = KILN_ERR_INIT;
	long before = maxrss_kib();
	T_OK(extract_file(tar, target, NULL, &err) == 0, "100,000 entries extract (%s)", err.msg);
	long grew = (maxrss_kib() - before) / 1024;
	tap_diag("peak RSS grew by %ld MiB", grew);
	T_OK(grew < 64, "in bounded memory (%ld MiB)", grew);
	char *last = kiln_path_join(target, "d999/f099999");
	T_OK(kiln_path_exists(last), "the last entry is there");
	free(last);
	kiln_rm_rf(target, NULL);
	unlink(tar);
	kiln_err_release(&err);
	free(target);
	free(tar);
}

static void test_sparse_bomb(void)
{
	const int64_t tib = (int64_t)1 << 40;
	char *tar = write_tar("sparse.tar", 0, tib, F_NONE);
	struct stat st;
	stat(tar, &st);
	tap_diag("a %lld-byte tar declares a 1 TiB sparse file", (long long)st.st_size);
	char *target = kiln_path_join(work, "sparse");
	struct kiln_err err = KILN_ERR_INIT;
	int r = extract_file(tar, target, NULL, &err);
	char *f = kiln_path_join(target, "sparse");
	if (r < 0) {
		/* a filesystem that cannot hold a 1 TiB file refuses it cleanly */
		T_OK(!kiln_path_exists(target), "1 TiB sparse file refused, nothing left (%s)",
		     err.msg);
	} else {
		T_OK(stat(f, &st) == 0 && st.st_size == tib,
		     "the sparse file keeps its apparent size");
		T_OK((int64_t)st.st_blocks * 512 < (1 << 20),
		     "and holes stay holes: %lld bytes on disk", (long long)st.st_blocks * 512);
	}
	kiln_rm_rf(target, NULL);
	kiln_err_release(&err);
	free(f);
	free(target);
	free(tar);
}

static void test_filters(void)
{
	static const struct {
		enum filter f;
		const char *name;
		bool ok;
		const char *msg;
	} cases[] = {
	    {F_GZIP, "gzip", true, NULL},
	    {F_XZ, "xz", true, NULL},
	    {F_BZIP2, "bzip2", true, NULL},
	    {F_GZIP2, "gzip twice", false, "compressed twice"},
	    {F_UU, "uuencode", false, "reading layer tar"},
	    {F_LZ4, "lz4", false, "reading layer tar"},
	};
	char *plain = write_tar("plain.tar", 3, 0, F_NONE);
	char *pt = kiln_path_join(work, "f-plain");
	char want[KILN_DIGEST_LEN] = "";
	struct kiln_err err = KILN_ERR_INIT;
	T_OK(extract_file(plain, pt, want, &err) == 0, "plain tar");
	for (size_t i = 0; i < KILN_ARRAY_SIZE(cases); i++) {
		char name[64];
		snprintf(name, sizeof(name), "f-%zu.tar", i);
		char *tar = write_tar(name, 3, 0, cases[i].f);
		char *target = kiln_path_join(work, name + 2);
		char diff[KILN_DIGEST_LEN] = "";
		int r = extract_file(tar, target, diff, &err);
		if (cases[i].ok)
			T_OK(r == 0 && !strcmp(diff, want),
			     "%s layer: extracted, diffID of the tar inside (%s)", cases[i].name,
			     err.msg);
		else
			T_OK(r < 0 && err.msg && strstr(err.msg, cases[i].msg) &&
			         !kiln_path_exists(target),
			     "%s layer: refused (%s)", cases[i].name, err.msg);
		kiln_err_release(&err);
		free(target);
		free(tar);
	}
	free(pt);
	free(plain);
}

/* Two processes ensure the same snapshot at once: both succeed, one
 * snapshot remains, no partial extraction is left behind. */
static void test_snapshot_race(void)
{
	char *sroot = kiln_path_join(root, "store");
	struct img_store *s = NULL;
	struct kiln_err err = KILN_ERR_INIT;
	if (img_store_open(sroot, &s, &err) < 0) {
		T_OK(0, "open store: %s", err.msg);
		return;
	}
	char *src = kiln_path_join(work, "snapsrc");
	for (int i = 0; i < 200; i++) {
		char *d = xasprintf("%s/d%02d", src, i % 20);
		kiln_mkdir_p(d, 0755, NULL);
		char *f = xasprintf("%s/f%03d", d, i);
		kiln_write_file_atomic(f, "data\n", 5, 0644, NULL);
		free(f);
		free(d);
	}
	int ok_rounds = 0, rounds = 4;
	for (int round = 0; round < rounds; round++) {
		struct img_layer_opts o = {IMG_COMPRESS_NONE, false,
		                           round}; /* a new layer each round */
		struct img_layer l = {0};
		if (img_layer_create(s, src, &o, &l, &err) < 0)
			break;
		int go[2];
		if (pipe(go) < 0)
			break;
		pid_t kids[2];
		for (int k = 0; k < 2; k++) {
			kids[k] = fork();
			if (kids[k] == 0) {
				char c;
				close(go[1]);
				if (read(go[0], &c, 1) < 0)
					_exit(3);
				char *path = NULL;
				struct kiln_err e = KILN_ERR_INIT;
				int r = img_snapshot_ensure(s, &l, &path, &e);
				if (r < 0)
					fprintf(stderr, "# child: %s\n", e.msg);
				_exit(r < 0 ? 1 : 0);
			}
		}
		close(go[0]);
		close(go[1]); /* both start now */
		int good = 0;
		for (int k = 0; k < 2; k++) {
			int st;
			waitpid(kids[k], &st, 0);
			good += WIFEXITED(st) && WEXITSTATUS(st) == 0;
		}
		char *snap = NULL;
		char *probe = NULL;
		if (good == 2 && img_snapshot_ensure(s, &l, &snap, &err) == 0) {
			probe = kiln_path_join(snap, "d19/f199");
			ok_rounds += kiln_path_exists(probe);
		}
		free(probe);
		free(snap);
		img_layer_release(&l);
	}
	T_INTEQ(ok_rounds, rounds, "racing snapshot ensures: both succeed, the snapshot is whole");
	DIR *d = opendir(img_store_tmpdir(s));
	int left = 0;
	struct dirent *de;
	while (d && (de = readdir(d)))
		left += !strncmp(de->d_name, "extract-", 8);
	if (d)
		closedir(d);
	T_INTEQ(left, 0, "no partial extraction left in ROOT/tmp");
	kiln_err_release(&err);
	img_store_close(s);
	free(src);
	free(sroot);
}

/* Unpacking onto a full filesystem (a 1 MiB tmpfs) says ENOSPC. */
static void test_enospc(void)
{
	char *tiny = kiln_path_join(work, "tiny");
	mkdir(tiny, 0755);
	if (geteuid() != 0 || mount("tmpfs", tiny, "tmpfs", 0, "size=1m") < 0) {
		tap_diag("no tmpfs mount (needs root): %s", strerror(errno));
		T_OK(1, "# SKIP ENOSPC");
		free(tiny);
		return;
	}
	char *tar = kiln_path_join(work, "fill.tar");
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	archive_write_open_filename(a, tar);
	struct archive_entry *e = archive_entry_new();
	static char buf[65536];
	memset(buf, 'x', sizeof(buf));
	for (int f = 0; f < 2; f++) {
		archive_entry_clear(e);
		archive_entry_set_pathname(e, f ? "dir/second" : "first");
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, 4 << 20);
		archive_write_header(a, e);
		for (int i = 0; i < 64; i++)
			archive_write_data(a, buf, sizeof(buf));
	}
	archive_entry_free(e);
	archive_write_close(a);
	archive_write_free(a);
	char *target = kiln_path_join(tiny, "target");
	int fd = open(tar, O_RDONLY | O_CLOEXEC);
	struct kiln_err err = KILN_ERR_INIT;
	int r = img_layer_extract_fd(fd, target, tiny, 0, NULL, &err);
	close(fd);
	T_OK(r < 0 && err.code == ENOSPC, "a full disk is reported as ENOSPC (code %d: %s)",
	     err.code, err.msg);
	DIR *d = opendir(tiny);
	int left = 0;
	for (struct dirent *de; d && (de = readdir(d));)
		left += de->d_name[0] != '.';
	if (d)
		closedir(d);
	T_INTEQ(left, 0, "the partial extraction is removed");
	kiln_err_release(&err);
	umount2(tiny, MNT_DETACH);
	unlink(tar);
	free(target);
	free(tar);
	free(tiny);
}

int main(void)
{
	const char *base = getenv("KILN_TEST_TMP");
	if (base)
		kiln_mkdir_p(base, 0755, NULL);
	char *tmpl = xasprintf("%s/kiln-extract-test.XXXXXX", base ? base : "/tmp");
	root = mkdtemp(tmpl);
	if (!root)
		tap_skip_all("no temp dir");
	work = kiln_path_join(root, "work");
	mkdir(work, 0755);
	test_many_entries();
	test_sparse_bomb();
	test_filters();
	test_snapshot_race();
	test_enospc();
	kiln_rm_rf(root, NULL);
	free(work);
	free(root);
	return tap_done();
}
