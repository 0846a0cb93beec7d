/* The size of a layer as docker shows it (`images`, `history`, `inspect`,
 * `system df`): the bytes of its files, not of its tar stream. docker 20.10
 * (overlay2) walks the unpacked layer and adds the lstat size of every
 * entry that is not a directory, once per inode: regular files (hardlinks
 * once), symlinks (the length of their target); devices and whiteouts
 * (char devices 0/0 there) count 0. The same sum is taken here over the
 * entries of the tar, so nothing has to be unpacked.
 *
 * It is counted where a layer's entries pass anyway (written by the layer
 * writers, checked by import and load, unpacked by a pull) and remembered
 * in ROOT/layers/<diffID hex> ("usage=N\n"). The file is a cache, keyed by
 * content: it is written without fsync (a torn one reads as missing), and a
 * missing one is counted again from the blob and written back; gc drops
 * those of diffIDs no live config lists. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layer-internal.h"
#include "store-internal.h"

#define LAYERS_DIR "layers"

uint64_t layer_entry_usage(struct archive_entry *e)
{
	const char *path = archive_entry_pathname(e);
	const char *base = path ? strrchr(path, '/') : NULL;
	base = base ? base + 1 : path;
	if (archive_entry_hardlink(e) || (base && !strncmp(base, ".wh.", 4)))
		return 0; /* counted with its first name; a whiteout is a 0/0 device */
	switch (archive_entry_filetype(e)) {
	case AE_IFREG: return archive_entry_size(e) > 0 ? (uint64_t)archive_entry_size(e) : 0;
	case AE_IFLNK: {
		const char *t = archive_entry_symlink(e);
		return t ? strlen(t) : 0;
	}
	default: return 0;
	}
}

static char *usage_path(struct img_store *s, const char *diff_id)
{
	return xasprintf("%s/" LAYERS_DIR "/%s", s->root, kiln_digest_hex(diff_id));
}

static int usage_read(struct img_store *s, const char *diff_id, uint64_t *out)
{
	_cleanup_free_ char *p = usage_path(s, diff_id);
	_cleanup_close_ int fd = open(p, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	char buf[64];
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	char nl;
	if (strncmp(buf, "usage=", 6) || buf[6] < '0' || buf[6] > '9') /* no sign, no space */
		return -1;
	return sscanf(buf, "usage=%" SCNu64 "%c", out, &nl) == 2 && nl == '\n' ? 0 : -1;
}

void layer_usage_record(struct img_store *s, const char *diff_id, uint64_t usage)
{
	if (s->read_only || !kiln_digest_valid(diff_id))
		return;
	_cleanup_free_ char *dir = kiln_path_join(s->root, LAYERS_DIR);
	_cleanup_free_ char *p = usage_path(s, diff_id);
	_cleanup_free_ char *tmp = NULL;
	struct kiln_err e = KILN_ERR_INIT;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return;
	_cleanup_close_ int fd = kiln_tempfile_create(dir, ".tmp-", &tmp, &e);
	if (fd < 0) {
		kiln_debug("layer usage of %s not remembered: %s", diff_id, e.msg);
		kiln_err_release(&e);
		return;
	}
	char line[64];
	int n = snprintf(line, sizeof(line), "usage=%" PRIu64 "\n", usage);
	if (kiln_write_all(fd, line, (size_t)n, &e) < 0 || rename(tmp, p) < 0) {
		kiln_debug("layer usage of %s not remembered: %s", diff_id,
		           e.msg ? e.msg : strerror(errno));
		kiln_err_release(&e);
		unlink(tmp);
	}
	kiln_tempfile_forget(tmp);
}

/* Counts a stored blob's entries (the checks of import and load included). */
static int usage_count(struct img_store *s, const struct img_layer *l, uint64_t *out,
                       struct kiln_err *err)
{
	_cleanup_close_ int fd = img_store_open_blob(s, l->digest, err);
	if (fd < 0)
		return -1;
	struct layer_source src;
	if (layer_source_open(&src, fd, err) < 0)
		return -1;
	int r = layer_scan(&src, err);
	*out = src.usage;
	layer_source_release(&src);
	return r;
}

int img_layer_usage(struct img_store *s, const struct img_layer *l, uint64_t *out,
                    struct kiln_err *err)
{
	const char *key = l->diff_id[0] ? l->diff_id : l->digest;
	if (usage_read(s, key, out) == 0)
		return 0;
	if (usage_count(s, l, out, err) < 0)
		return kiln_err_wrap(err, "counting the files of layer %s", key);
	layer_usage_record(s, key, *out);
	return 0;
}

void layer_usage_sweep(struct img_store *s, const struct kiln_strv *live_sorted)
{
	_cleanup_free_ char *dir = kiln_path_join(s->root, LAYERS_DIR);
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.' ? !kiln_strv_contains_sorted(live_sorted, de->d_name)
		                         : !strncmp(de->d_name, ".tmp-", 5))
			unlinkat(dirfd(d), de->d_name, 0);
}
