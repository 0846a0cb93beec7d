/* --output: the built image also leaves as files. local: the flattened
 * rootfs in a directory; tar: the same as one tar; oci, docker: an image
 * archive (image/'s save). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build-internal.h"

int bld_output_parse(const char *spec, struct bld_output *out, struct kiln_err *err)
{
	memset(out, 0, sizeof(*out));
	if (!strchr(spec, '=')) { /* -o DIR, or "-" for a tar on stdout */
		out->type = strcmp(spec, "-") ? BLD_OUT_LOCAL : BLD_OUT_TAR;
		out->dest = xstrdup(spec);
		return 0;
	}
	_cleanup_free_ char *s = xstrdup(spec);
	const char *type = NULL;
	for (char *save = NULL, *f = strtok_r(s, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(f, '=');
		if (!eq)
			return kiln_err_set(err, KILN_E_USAGE, "invalid output field `%s`", f);
		*eq++ = '\0';
		if (!strcmp(f, "type"))
			type = eq;
		else if (!strcmp(f, "dest")) {
			free(out->dest);
			out->dest = xstrdup(eq);
		} else
			return kiln_err_set(err, KILN_E_USAGE, "unknown output attribute `%s`", f);
	}
	if (!type)
		return kiln_err_set(err, KILN_E_USAGE, "output `%s`: type= is required", spec);
	static const char *names[] = {"local", "tar", "oci", "docker"};
	size_t i = 0;
	while (i < KILN_ARRAY_SIZE(names) && strcmp(names[i], type))
		i++;
	if (i == KILN_ARRAY_SIZE(names)) {
		bld_output_release(out);
		return kiln_err_set(err, KILN_E_USAGE,
		                    "unsupported output type `%s` (local, tar, oci, docker)", type);
	}
	out->type = (enum bld_output_type)i;
	if (!out->dest) {
		return kiln_err_set(err, KILN_E_USAGE, "output type `%s` needs dest=", type);
	}
	return 0;
}

void bld_output_release(struct bld_output *o)
{
	free(o->dest);
	o->dest = NULL;
}

static int flatten(struct bld_build *b, const struct bld_stage *st, const char *dir,
                   struct kiln_err *err)
{
	for (size_t i = 0; i < st->fs.n; i++)
		if (img_layer_extract(b->s, st->fs.layers[i].digest, st->fs.layers[i].media_type,
		                      dir, 0, err) < 0)
			return -1;
	return kiln_mkdir_p(dir, 0755, err);
}

/* --- local: into a directory that already holds files ------------------------ */

static int merge_into(int from, int to, int depth, struct kiln_err *err);

/* A directory both trees hold takes the image's owner, mode and mtime
 * once its entries are in (moving them in changed its mtime). */
static int dir_meta(int fd, const struct stat *s, const char *name, struct kiln_err *err)
{
	struct timespec ts[2] = {s->st_mtim, s->st_mtim};
	if ((geteuid() == 0 && fchown(fd, s->st_uid, s->st_gid) < 0) ||
	    fchmod(fd, s->st_mode & 07777) < 0 || futimens(fd, ts) < 0)
		return kiln_err_set(err, errno, "setting the mode of `%s` in the output", name);
	return 0;
}

/* Entry name of from moved into to: directories both hold are merged,
 * anything else of the image's replaces what to holds there. Nothing in
 * to is followed. */
static int merge_one(int from, int to, const char *name, int depth, struct kiln_err *err)
{
	struct stat s, d;
	if (fstatat(from, name, &s, AT_SYMLINK_NOFOLLOW) < 0)
		return kiln_err_set(err, errno, "stat `%s`", name);
	bool have = fstatat(to, name, &d, AT_SYMLINK_NOFOLLOW) == 0;
	if (have && S_ISDIR(s.st_mode) && S_ISDIR(d.st_mode)) {
		_cleanup_close_ int sf =
		    openat(from, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		_cleanup_close_ int df =
		    sf < 0 ? -1 : openat(to, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (df < 0)
			return kiln_err_set(err, errno, "open `%s`", name);
		if (merge_into(sf, df, depth + 1, err) < 0)
			return -1;
		return dir_meta(df, &s, name, err);
	}
	if (have && S_ISDIR(d.st_mode) && kiln_rm_rf_at(to, name, err) < 0)
		return -1;
	if (have && !S_ISDIR(d.st_mode) && S_ISDIR(s.st_mode) && unlinkat(to, name, 0) < 0)
		return kiln_err_set(err, errno, "replacing `%s` in the output", name);
	if (renameat(from, name, to, name) < 0)
		return kiln_err_set(err, errno, "moving `%s` into the output", name);
	return 0;
}

static int merge_into(int from, int to, int depth, struct kiln_err *err)
{
	if (depth > 4096)
		return kiln_err_set(err, KILN_E_LIMIT, "output deeper than 4096 levels");
	struct kiln_strv names = KILN_STRV_INIT;
	int dfd = dup(from);
	DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return kiln_err_set(err, errno, "reading the flattened output");
	}
	for (struct dirent *e; (e = readdir(d));)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			kiln_strv_push(&names, e->d_name);
	closedir(d);
	int r = 0;
	for (size_t i = 0; r == 0 && i < names.n; i++)
		r = merge_one(from, to, names.v[i], depth, err);
	kiln_strv_release(&names);
	return r;
}

/* The rootfs into dest. Into a directory that exists, the layers are
 * flattened beside its files (a scratch dir inside dest: the same filesystem)
 * and moved in, so a layer's whiteouts remove only the image's own files
 * and dest's others stay, as BuildKit's local exporter leaves them. */
static int export_local(struct bld_build *b, const struct bld_stage *st, const char *dest,
                        struct kiln_err *err)
{
	struct stat st_dest;
	if (lstat(dest, &st_dest) < 0 && errno == ENOENT)
		return flatten(b, st, dest, err);
	int slot;
	_cleanup_free_ char *tmp = bld_scratch_mkdir(dest, ".kiln-output", &slot, err);
	if (!tmp)
		return -1;
	int r = flatten(b, st, tmp, err);
	_cleanup_close_ int from = r < 0 ? -1 : open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_close_ int to = from < 0 ? -1 : open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r == 0 && to < 0)
		r = kiln_err_set(err, errno, "open `%s`", dest);
	if (r == 0)
		r = merge_into(from, to, 0, err);
	bld_scratch_remove(tmp, slot);
	return r;
}

static int open_dest(const char *dest, int *fd, struct kiln_err *err)
{
	if (!strcmp(dest, "-")) {
		*fd = 1;
		return 0;
	}
	*fd = open(dest, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (*fd < 0)
		return kiln_err_set(err, errno, "create `%s`", dest);
	return 0;
}

static int copy_fd(int in, int out, struct kiln_err *err)
{
	char buf[1 << 16];
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return kiln_err_set(err, errno, "read");
		if (n == 0)
			return 0;
		if (kiln_write_all(out, buf, (size_t)n, err) < 0)
			return -1;
	}
}

/* The rootfs as one tar: flattened into a temp dir, made into a layer
 * blob (unreferenced: gc removes it) and copied out. */
static int export_tar(struct bld_build *b, const struct bld_stage *st, const char *dest,
                      struct kiln_err *err)
{
	const char *tmp = bld_tmpdir(b, err);
	if (!tmp)
		return -1;
	_cleanup_free_ char *tmpl = kiln_path_join(tmp, "out-XXXXXX");
	if (!mkdtemp(tmpl))
		return kiln_err_set(err, errno, "mkdtemp `%s`", tmpl);
	_cleanup_free_ char *root = kiln_path_join(tmpl, "rootfs");
	struct img_layer l = {0};
	struct img_layer_opts lo = {IMG_COMPRESS_NONE, false, b->epoch};
	int r = flatten(b, st, root, err);
	if (r == 0)
		r = img_layer_create(b->s, root, &lo, &l, err);
	int out = -1;
	if (r == 0)
		r = open_dest(dest, &out, err);
	if (r == 0) {
		_cleanup_close_ int in = img_store_open_blob(b->s, l.digest, err);
		r = in < 0 ? -1 : copy_fd(in, out, err);
	}
	if (out > 1)
		close(out);
	img_layer_release(&l);
	struct kiln_err e = KILN_ERR_INIT;
	kiln_rm_rf(tmpl, &e);
	kiln_err_release(&e);
	return r;
}

int bld_export(struct bld_build *b, const struct bld_output *out, const char *image_id,
               struct kiln_err *err)
{
	const struct bld_stage *st = &b->stages[b->g.target];
	_cleanup_free_ char *name = xasprintf("exporting to %s `%s`",
	                                      out->type == BLD_OUT_LOCAL ? "directory"
	                                      : out->type == BLD_OUT_TAR ? "tar"
	                                      : out->type == BLD_OUT_OCI ? "oci archive"
	                                                                 : "docker archive",
	                                      out->dest);
	int id = bld_vertex_start(b, name);
	int r;
	if (out->type == BLD_OUT_LOCAL) {
		r = export_local(b, st, out->dest, err);
	} else if (out->type == BLD_OUT_TAR) {
		r = export_tar(b, st, out->dest, err);
	} else {
		struct img_save_opts so = {out->type == BLD_OUT_OCI ? IMG_ARCHIVE_OCI
		                                                    : IMG_ARCHIVE_DOCKER,
		                           IMG_COMPRESS_GZIP};
		int fd = -1;
		r = open_dest(out->dest, &fd, err);
		/* named after -t, as BuildKit's docker and oci exporters */
		char *id_only[] = {(char *)image_id, NULL};
		size_t n = 0;
		while (b->o->tags && b->o->tags[n])
			n++;
		char *const *names = n ? (char *const *)b->o->tags : id_only;
		if (r == 0)
			r = img_save(b->s, names, n ? n : 1, &so, fd, err);
		if (fd > 1)
			close(fd);
	}
	if (r == 0)
		bld_vertex_done(b, id, 0, false);
	return r;
}
