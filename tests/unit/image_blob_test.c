/* The store bootstrap and blob writer: layout files, atomic blobs,
 * verification, idempotent writes, no temp files left behind. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "image.h"
#include "tap.h"

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	struct dirent *de;
	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

int main(void)
{
	char tmpl[] = "/tmp/kiln-blob-test.XXXXXX";
	char *root = mkdtemp(tmpl);
	struct kiln_err err = KILN_ERR_INIT;
	struct img_store *s = NULL;
	T_OK(img_store_open(root, &s, &err) == 0, "open creates the store");
	char *p = kiln_path_join(root, "images/oci-layout");
	T_OK(kiln_path_exists(p), "oci-layout exists");
	free(p);
	p = kiln_path_join(root, "images/index.json");
	T_OK(kiln_path_exists(p), "index.json exists");
	free(p);

	char d1[KILN_DIGEST_LEN], d2[KILN_DIGEST_LEN];
	T_OK(img_store_put_blob(s, "hello", 5, d1, &err) == 0, "put blob");
	T_STREQ(d1, "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
	        "blob digest is sha256 of content");
	T_OK(img_store_has_blob(s, d1), "blob is present");
	T_OK(img_store_put_blob(s, "hello", 5, d2, &err) == 0, "putting it again succeeds");
	T_STREQ(d2, d1, "same digest");

	char *data = NULL;
	size_t len = 0;
	T_OK(img_store_read_blob(s, d1, 1024, &data, &len, &err) == 0 && len == 5 &&
	         !memcmp(data, "hello", 5),
	     "read blob back");
	free(data);

	struct img_blob_writer *w = img_blob_writer_new(s, &err);
	img_blob_writer_write(w, "abc", 3, &err);
	T_OK(img_blob_writer_commit(w, d1, NULL, NULL, &err) < 0 && err.code == KILN_E_CORRUPT,
	     "commit with the wrong expected digest fails");
	T_OK(err.msg && strstr(err.msg, "digest mismatch"), "mismatch message: %s", err.msg);
	kiln_err_release(&err);
	img_blob_writer_free(w);
	char bad[] = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
	T_OK(!img_store_has_blob(s, bad), "the rejected blob was not stored");

	/* Corrupt a stored blob on disk: reading it must notice. */
	p = img_store_blob_path(s, d1);
	FILE *f = fopen(p, "w");
	fputs("HELLO", f);
	fclose(f);
	free(p);
	T_OK(img_store_read_blob(s, d1, 1024, &data, &len, &err) < 0 && err.code == KILN_E_CORRUPT,
	     "a corrupt blob is detected on read");
	kiln_err_release(&err);

	w = img_blob_writer_new(s, &err);
	img_blob_writer_write(w, "x", 1, &err);
	img_blob_writer_free(w); /* abandoned */
	p = kiln_path_join(root, "tmp");
	T_INTEQ(count_entries(p), 0, "no temp files left in tmp/");
	free(p);

	img_store_close(s);
	kiln_rm_rf(root, NULL);
	return tap_done();
}
