/* libFuzzer target: secure layer extraction. Each input is a (possibly
 * compressed) tar extracted into a fresh directory inside a sandbox dir; a
 * sentinel directory beside it must stay untouched, and after a refused
 * input the target must not exist. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static char *sandbox, *sentinel, *target;

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	int n = 0;
	for (struct dirent *de; (de = readdir(d));)
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	return n;
}

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");
	char *tmpl = xasprintf("%s/kiln-fuzz-extract.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(tmpl))
		abort();
	sandbox = tmpl;
	sentinel = kiln_path_join(sandbox, "outside");
	target = kiln_path_join(sandbox, "root/target");
	char *root = kiln_path_join(sandbox, "root");
	mkdir(sentinel, 0755);
	mkdir(root, 0755);
	free(root);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	if (!sandbox)
		setup();
	int fd = memfd_create("layer", MFD_CLOEXEC);
	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size))
		abort();
	lseek(fd, 0, SEEK_SET);
	struct kiln_err err = KILN_ERR_INIT;
	int r = img_layer_extract_fd(fd, target, NULL, 0, NULL, &err);
	close(fd);
	if (r < 0 && !err.msg)
		abort(); /* a refusal says why */
	if (r < 0 && kiln_path_exists(target) && !getenv("KILN_FUZZ_ALLOW_PARTIAL"))
		abort(); /* ... and leaves nothing */
	if (count_entries(sentinel) != 0)
		abort(); /* nothing may land outside the target */
	kiln_err_release(&err);
	if (kiln_rm_rf(target, NULL) < 0)
		abort();
	return 0;
}
