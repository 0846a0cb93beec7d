/* Resumable blob writers (a pull killed mid-blob): the partial file stays,
 * its bytes are replayed into the hash, writes append after them, a commit
 * that does not verify removes it, and a partial held by another writer is
 * never shared. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "image.h"
#include "tap.h"

static long file_size(const char *root, const char *digest)
{
	char *p = kiln_path_join(root, "tmp");
	char *q = xasprintf("%s/partial-%s", p, kiln_digest_hex(digest));
	struct stat st;
	long n = stat(q, &st) == 0 ? (long)st.st_size : -1;
	free(p);
	free(q);
	return n;
}

/* Replays everything a resumed writer holds into out (NUL-terminated). */
static size_t replay_all(struct img_blob_writer *w, char *out, size_t cap)
{
	struct kiln_err err = KILN_ERR_INIT;
	size_t n = 0;
	ssize_t r;
	while (n + 1 < cap && (r = img_blob_writer_replay(w, out + n, 2, &err)) > 0)
		n += (size_t)r;
	out[n] = '\0';
	kiln_err_release(&err);
	return n;
}

int main(void)
{
	char tmpl[] = "/tmp/kiln-blob-resume-test.XXXXXX";
	char *root = mkdtemp(tmpl);
	struct kiln_err err = KILN_ERR_INIT;
	struct img_store *s = NULL;
	T_OK(img_store_open(root, &s, &err) == 0, "open creates the store");
	char d[KILN_DIGEST_LEN], other[KILN_DIGEST_LEN];
	kiln_sha256_digest("hello world", 11, d);
	kiln_sha256_digest("abc", 3, other);

	struct img_blob_writer *w = img_blob_writer_resume(s, d, &err);
	T_OK(w && img_blob_writer_write(w, "hello ", 6, &err) == 0, "write the first bytes");
	img_blob_writer_free(w); /* the process "dies" */
	T_INTEQ(file_size(root, d), 6, "the partial stays with its bytes");

	w = img_blob_writer_resume(s, d, &err);
	struct img_blob_writer *w2 = img_blob_writer_resume(s, d, &err);
	char buf[64];
	T_INTEQ(replay_all(w2, buf, sizeof(buf)), 0,
	        "a partial held by a live writer is not shared");
	T_OK(img_blob_writer_write(w2, "x", 1, &err) == 0,
	     "... the second writer has its own file");
	img_blob_writer_free(w2);
	T_INTEQ(file_size(root, d), 6, "... and left the partial alone");
	T_INTEQ(replay_all(w, buf, sizeof(buf)), 6, "the kept bytes are replayed");
	T_STREQ(buf, "hello ", "... as written");
	T_OK(img_blob_writer_write(w, "world", 5, &err) == 0, "writes append after them");
	char got[KILN_DIGEST_LEN];
	T_OK(img_blob_writer_commit(w, d, got, NULL, &err) == 0, "the whole blob verifies: %s",
	     err.msg ? err.msg : "");
	img_blob_writer_free(w);
	T_OK(img_store_has_blob(s, d), "the blob is stored");
	T_INTEQ(file_size(root, d), -1, "the partial became the blob");

	w = img_blob_writer_resume(s, other, &err);
	img_blob_writer_write(w, "zzzz", 4, &err);
	img_blob_writer_free(w);
	w = img_blob_writer_resume(s, other, &err);
	T_OK(img_blob_writer_write(w, "abc", 3, &err) == 0 &&
	         img_blob_writer_commit(w, other, NULL, NULL, &err) == 0,
	     "bytes not replayed are cut off by the first write");
	img_blob_writer_free(w);

	kiln_sha256_digest("the right bytes", 15, d);
	w = img_blob_writer_resume(s, d, &err);
	img_blob_writer_write(w, "the wrong", 9, &err);
	img_blob_writer_free(w);
	w = img_blob_writer_resume(s, d, &err);
	replay_all(w, buf, sizeof(buf));
	img_blob_writer_write(w, " bytes", 6, &err);
	T_OK(img_blob_writer_commit(w, d, NULL, NULL, &err) < 0 && err.code == KILN_E_CORRUPT,
	     "bad kept bytes fail the digest");
	kiln_err_release(&err);
	img_blob_writer_free(w);
	T_INTEQ(file_size(root, d), -1, "... and the partial is removed");
	T_OK(!img_store_has_blob(s, d), "... nothing stored");

	w = img_blob_writer_resume(s, d, &err);
	img_blob_writer_free(w);
	T_INTEQ(file_size(root, d), -1, "an empty partial is not kept");

	/* the sweep at every store open: a partial waits a day for the pull
	 * that resumes it, other temps go after 10 minutes; gc takes all */
	kiln_sha256_digest("kept for a resume", 17, d);
	w = img_blob_writer_resume(s, d, &err);
	img_blob_writer_write(w, "kept", 4, &err);
	img_blob_writer_free(w);
	char *tmpd = kiln_path_join(root, "tmp");
	char *part = xasprintf("%s/partial-%s", tmpd, kiln_digest_hex(d));
	char *other_tmp = kiln_path_join(tmpd, "blob-stale");
	kiln_write_file_atomic(other_tmp, "x", 1, 0600, NULL);
	struct timespec hour_ago[2] = {{time(NULL) - 3600, 0}, {time(NULL) - 3600, 0}};
	utimensat(AT_FDCWD, part, hour_ago, 0);
	utimensat(AT_FDCWD, other_tmp, hour_ago, 0);
	img_store_sweep_temps(s, 600);
	T_OK(file_size(root, d) == 4 && !kiln_path_exists(other_tmp),
	     "an hour-old partial outlives the sweep of stale temps");
	w = img_blob_writer_resume(s, d, &err);
	T_OK(replay_all(w, buf, sizeof(buf)) == 4 && !strcmp(buf, "kept"),
	     "... and a later pull resumes from it");
	img_blob_writer_free(w);
	struct timespec two_days[2] = {{time(NULL) - 2 * 86400, 0}, {time(NULL) - 2 * 86400, 0}};
	utimensat(AT_FDCWD, part, two_days, 0);
	img_store_sweep_temps(s, 600);
	T_INTEQ(file_size(root, d), -1, "a partial older than a day is swept");
	w = img_blob_writer_resume(s, d, &err);
	img_blob_writer_write(w, "kept", 4, &err);
	img_blob_writer_free(w);
	struct img_gc_result gr;
	T_OK(img_store_gc(s, 0, &gr, &err) == 0 && file_size(root, d) == -1,
	     "gc removes a fresh partial too");
	free(other_tmp);
	free(part);
	free(tmpd);

	img_store_close(s);
	kiln_rm_rf(root, NULL);
	return tap_done();
}
