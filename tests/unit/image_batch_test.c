/* Group commit (image/batch.c): while a batch is open nothing is published
 * but the store's lookups find it; a flush publishes in queue order after
 * one syncfs; a crash after the sync publishes nothing, one in the middle
 * of the renames never publishes a record without the blob it names. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "image.h"
#include "tap.h"

static char *rec_path(const char *root, int i)
{
	return xasprintf("%s/rec%d", root, i);
}

/* Queues blob i ("blob-i") and then record i naming it. */
static void put_pair(struct img_store *s, const char *root, int i, char d[KILN_DIGEST_LEN])
{
	struct kiln_err err = KILN_ERR_INIT;
	char *blob = xasprintf("blob-%d", i);
	if (img_store_put_blob(s, blob, strlen(blob), d, &err) < 0)
		abort();
	char *rec = rec_path(root, i);
	if (img_store_write_durable(s, rec, d, strlen(d), 0600, &err) < 0)
		abort();
	free(rec);
	free(blob);
}

/* In a child: a new batch of n pairs flushed with KILN_TEST_CRASH=point.
 * Returns the child's wait status. */
static int crash_run(const char *root, int n, const char *point, char d[][KILN_DIGEST_LEN])
{
	pid_t pid = fork();
	if (pid == 0) {
		struct kiln_err err = KILN_ERR_INIT;
		struct img_store *s = NULL;
		if (img_store_open(root, &s, &err) < 0)
			_exit(2);
		img_store_batch_begin(s);
		for (int i = 0; i < n; i++)
			put_pair(s, root, i, d[i]);
		setenv("KILN_TEST_CRASH", point, 1);
		img_store_batch_flush(s, &err);
		_exit(3); /* not reached: killed at the point */
	}
	int st = 0;
	waitpid(pid, &st, 0);
	return st;
}

static bool blob_published(const char *root, const char *digest)
{
	char *p = xasprintf("%s/images/blobs/sha256/%s", root, kiln_digest_hex(digest));
	bool r = kiln_path_exists(p);
	free(p);
	return r;
}

static bool rec_published(const char *root, int i)
{
	char *p = rec_path(root, i);
	bool r = kiln_path_exists(p);
	free(p);
	return r;
}

static void digests(int n, char d[][KILN_DIGEST_LEN])
{
	for (int i = 0; i < n; i++) {
		char *blob = xasprintf("blob-%d", i);
		kiln_sha256_digest(blob, strlen(blob), d[i]);
		free(blob);
	}
}

int main(void)
{
	char tmpl[] = "/tmp/kiln-batch-test.XXXXXX";
	char *root = mkdtemp(tmpl);
	struct kiln_err err = KILN_ERR_INIT;
	struct img_store *s = NULL;
	T_OK(img_store_open(root, &s, &err) == 0, "open the store");

	/* pending: visible through the store, not published */
	img_store_batch_begin(s);
	char d0[KILN_DIGEST_LEN], dup[KILN_DIGEST_LEN];
	put_pair(s, root, 0, d0);
	T_OK(!blob_published(root, d0) && !rec_published(root, 0), "nothing published yet");
	T_OK(img_store_has_blob(s, d0), "the pending blob is found");
	char *data = NULL;
	size_t len = 0;
	T_OK(img_store_read_blob(s, d0, 64, &data, &len, &err) == 0 && len == 6 &&
	         !memcmp(data, "blob-0", 6),
	     "the pending blob reads back (digest verified)");
	free(data);
	char *rec = rec_path(root, 0);
	char *where = img_store_durable_path(s, rec);
	T_OK(strcmp(where, rec) != 0, "the pending record is read from its temp");
	data = NULL;
	T_OK(kiln_read_file(where, 4096, &data, &len, &err) == 0 && !strcmp(data, d0),
	     "the pending record holds its bytes");
	free(data);
	free(where);
	T_OK(img_store_put_blob(s, "blob-0", 6, dup, &err) == 0 && !strcmp(dup, d0),
	     "the same blob again is queued once");
	T_OK(img_store_batch_flush(s, &err) == 0, "flush");
	T_OK(blob_published(root, d0) && rec_published(root, 0), "the flush published both");
	where = img_store_durable_path(s, rec);
	T_STREQ(where, rec, "after the flush the record is read in place");
	free(where);
	free(rec);
	T_OK(img_store_batch_end(s, &err) == 0, "end the batch");
	img_store_close(s);

	/* a crash right after the syncfs: nothing published */
	char d[4][KILN_DIGEST_LEN];
	digests(4, d);
	int st = crash_run(root, 4, "batch-synced", d);
	T_OK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "killed after the sync");
	bool any = false;
	for (int i = 1; i < 4; i++)
		any |= blob_published(root, d[i]) || rec_published(root, i);
	T_OK(!any, "a crash after the sync and before the renames publishes nothing");

	/* a crash in the middle of the renames: published in queue order */
	st = crash_run(root, 4, "batch-renamed", d);
	T_OK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "killed during the renames");
	int blobs = 0, recs = 0;
	bool orphan = false;
	for (int i = 1; i < 4; i++) {
		blobs += blob_published(root, d[i]);
		recs += rec_published(root, i);
		orphan |= rec_published(root, i) && !blob_published(root, d[i]);
	}
	T_OK(blobs > 0 && blobs < 3, "some of the renames were done (%d blobs, %d records)", blobs,
	     recs);
	T_OK(!orphan, "no record published without the blob it names");

	/* a later store open sweeps nothing it should not, and a new batch
	 * heals what the crash left */
	T_OK(img_store_open(root, &s, &err) == 0, "open the store again");
	img_store_batch_begin(s);
	for (int i = 1; i < 4; i++)
		put_pair(s, root, i, d[i]);
	T_OK(img_store_batch_end(s, &err) == 0, "a new batch completes");
	bool all = true;
	for (int i = 0; i < 4; i++)
		all &= blob_published(root, d[i]) && rec_published(root, i);
	T_OK(all, "every blob and record published");
	struct kiln_strv problems = {0};
	T_OK(img_store_fsck(s, &problems, &err) == 0 && problems.n == 0,
	     "system check finds nothing wrong");
	kiln_strv_release(&problems);

	/* without a batch: written through */
	char d9[KILN_DIGEST_LEN];
	T_OK(img_store_put_blob(s, "blob-9", 6, d9, &err) == 0 && blob_published(root, d9),
	     "without a batch a blob is published at once");
	img_store_close(s);
	kiln_rm_rf(root, NULL);
	return tap_done();
}
