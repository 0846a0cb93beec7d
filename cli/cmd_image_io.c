/* import, save, load */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder.h"
#include "cli.h"
#include "image.h"

struct import_edit {
	char **changes;                    /* --change, NULL-terminated, or NULL */
	char *os, *architecture, *variant; /* --platform, or NULL */
};

static void set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = v ? xstrdup(v) : NULL;
}

static int apply_edit(struct img_config *cfg, void *ud, struct kiln_err *err)
{
	const struct import_edit *ed = ud;
	if (ed->changes && bld_apply_changes(cfg, ed->changes, err) < 0)
		return -1;
	if (ed->os) {
		set_str(&cfg->os, ed->os);
		set_str(&cfg->architecture, ed->architecture);
		set_str(&cfg->variant, ed->variant);
	}
	return 0;
}

/* --platform os/arch[/variant], or one of them alone (containerd's
 * platforms.Parse: "linux" is this machine's arch, "arm64" is linux). */
static int parse_platform(const char *p, struct import_edit *ed, struct kiln_err *err)
{
	static const char *const arches[] = {"amd64",   "arm64", "arm",     "386",
	                                     "ppc64le", "s390x", "riscv64", NULL};
	if (!strchr(p, '/')) {
		bool arch = false;
		for (size_t i = 0; arches[i]; i++)
			arch |= !strcmp(p, arches[i]);
		if (!arch && strcmp(p, "linux") != 0)
			return kiln_err_set(err, KILN_E_INVALID,
			                    "\"%s\": unknown operating system or architecture: "
			                    "invalid argument",
			                    p);
		ed->os = xstrdup("linux");
		ed->architecture = xstrdup(arch ? p : KILN_HOST_ARCH);
		return 0;
	}
	const char *s1 = strchr(p, '/');
	const char *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
	if (!s1 || s1 == p || !s1[1] || s1[1] == '/' || (s2 && (!s2[1] || strchr(s2 + 1, '/'))))
		return kiln_err_set(err, KILN_E_INVALID,
		                    "invalid platform `%s`: want os/arch[/variant]", p);
	ed->os = xstrndup(p, (size_t)(s1 - p));
	ed->architecture = s2 ? xstrndup(s1 + 1, (size_t)(s2 - s1 - 1)) : xstrdup(s1 + 1);
	ed->variant = s2 ? xstrdup(s2 + 1) : NULL;
	return 0;
}

int cmd_import(int argc, char **argv, struct kiln_ctx *ctx)
{
	struct kiln_strv changes = KILN_STRV_INIT;
	const char *message = NULL, *compress = "none", *platform = NULL;
	const struct kiln_opt opts[] = {
	    OPT_STRV('c', "change", &changes, "list",
	             "Apply Dockerfile instruction to the created image"),
	    OPT_STRING(0, "compress", &compress, "string", "Layer compression: none, gzip or zstd"),
	    OPT_STRING('m', "message", &message, "string", "Set commit message for imported image"),
	    OPT_STRING(0, "platform", &platform, "string",
	               "Set platform (os/arch[/variant]) of the imported image"),
	    OPT_END};
	const struct kiln_usage usage = {
	    "[OPTIONS] file|dir|- [REPOSITORY[:TAG]]",
	    "Import the contents from a tarball or directory to create a filesystem image", 1, 2,
	    0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	struct kiln_err err = KILN_ERR_INIT;
	struct import_edit ed = {.changes = changes.n ? changes.v : NULL};
	int r = platform ? parse_platform(platform, &ed, &err) : 0;
	struct img_import_opts o = {.source = argv[1],
	                            .ref = argc > 2 ? argv[2] : NULL,
	                            .apply = changes.n || ed.os ? apply_edit : NULL,
	                            .apply_ud = &ed,
	                            .message = message};
	char id[KILN_DIGEST_LEN];
	if (r == 0)
		r = img_compression_parse(compress, &o.compression, &err);
	if (r == 0 && !strcmp(o.source, "-") && isatty(0))
		r = kiln_err_set(&err, KILN_E_USAGE, "refusing to read an archive from a terminal");
	if (r == 0)
		r = img_import(ctx->store, &o, id, &err);
	kiln_strv_release(&changes);
	free(ed.os);
	free(ed.architecture);
	free(ed.variant);
	if (r < 0)
		return kiln_cmd_fail(ctx, &err);
	printf("%s\n", id);
	return 0;
}

/* Where `save -o PATH` writes. A PATH that exists and is not a regular
 * file (a FIFO, a device, a socket's directory entry...) is written
 * through, never replaced: `save -o /dev/null` must leave /dev/null alone.
 * A symlink is followed, as docker does. A regular file (or a new one) is
 * written to an unnamed O_TMPFILE in its directory and linked in when
 * complete, so a kill -9 leaves nothing behind; where the filesystem has no
 * O_TMPFILE, a `.kiln-save-*` temp removed on exit and fatal signals;
 * one a kill -9 left is swept by the next save into that directory. */
struct save_out {
	int fd;
	char *target; /* the regular file to replace, symlinks resolved; NULL: written through */
	char *tmp;    /* the named temp, when O_TMPFILE is unsupported */
};

static char *dir_of(const char *path)
{
	const char *sl = strrchr(path, '/');
	if (!sl)
		return xstrdup(".");
	return sl == path ? xstrdup("/") : xstrndup(path, (size_t)(sl - path));
}

/* Follows symlinks (40 at most, as the kernel) to the path they name,
 * which may not exist yet. */
static int resolve_links(const char *path, char **out, struct kiln_err *err)
{
	char *p = xstrdup(path);
	for (int i = 0; i < 40; i++) {
		struct stat st;
		if (lstat(p, &st) < 0 || !S_ISLNK(st.st_mode)) {
			*out = p;
			return 0;
		}
		char buf[PATH_MAX];
		ssize_t n = readlink(p, buf, sizeof(buf) - 1);
		if (n < 0) {
			kiln_err_set(err, errno, "readlink `%s`", p);
			free(p);
			return -1;
		}
		buf[n] = '\0';
		char *next;
		if (buf[0] == '/') {
			next = xstrdup(buf);
		} else {
			_cleanup_free_ char *dir = dir_of(p);
			next = kiln_path_join(dir, buf);
		}
		free(p);
		p = next;
	}
	free(p);
	return kiln_err_set(err, ELOOP, "output `%s`", path);
}

/* Removes `.kiln-save-*` files a killed save left in dir: each is locked
 * by its writer while it lives (a lock on the inode, O_TMPFILE included). */
static void sweep_save_temps(const char *dir)
{
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (strncmp(de->d_name, ".kiln-save-", 11))
			continue;
		_cleanup_close_ int fd =
		    openat(dirfd(d), de->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
		    st.st_uid != geteuid() || flock(fd, LOCK_EX | LOCK_NB) < 0)
			continue;
		unlinkat(dirfd(d), de->d_name, 0);
	}
}

static int save_out_open(struct save_out *o, const char *path, struct kiln_err *err)
{
	struct stat st;
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		if (S_ISDIR(st.st_mode))
			return kiln_err_set(err, EISDIR, "output `%s`", path);
		o->fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
		if (o->fd < 0)
			return kiln_err_set(err, errno, "open output `%s`", path);
		return 0;
	}
	if (resolve_links(path, &o->target, err) < 0)
		return -1;
	_cleanup_free_ char *dir = dir_of(o->target);
	o->fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
	if (o->fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL))
		o->fd = kiln_tempfile_create(dir, ".kiln-save-", &o->tmp, err);
	else if (o->fd < 0)
		kiln_err_set(err, errno, "create output in `%s`", dir);
	if (o->fd < 0) {
		free(o->target);
		o->target = NULL;
		return -1;
	}
	flock(o->fd, LOCK_EX); /* held until exit: a sweep skips it */
	fchmod(o->fd, 0644);
	sweep_save_temps(dir);
	return 0;
}

/* Links an O_TMPFILE in under a temp name and renames that over target. */
static int link_tmpfile(int fd, const char *target, struct kiln_err *err)
{
	_cleanup_free_ char *dir = dir_of(target);
	_cleanup_free_ char *proc = xasprintf("/proc/self/fd/%d", fd);
	for (int i = 0; i < 100; i++) {
		_cleanup_free_ char *tmp =
		    xasprintf("%s/.kiln-save-%ld-%d", dir, (long)getpid(), i);
		if (linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) < 0) {
			if (errno == EEXIST)
				continue;
			return kiln_err_set(err, errno, "link output into `%s`", dir);
		}
		if (rename(tmp, target) < 0) {
			int e = errno;
			unlink(tmp);
			return kiln_err_set(err, e, "rename output to `%s`", target);
		}
		return 0;
	}
	return kiln_err_set(err, EEXIST, "link output into `%s`", dir);
}

/* Publishes (ok) or drops what was written; closes the fd. */
static int save_out_finish(struct save_out *o, bool ok, struct kiln_err *err)
{
	int r = 0;
	if (o->target && ok && fsync(o->fd) < 0)
		r = kiln_err_set(err, errno, "write `%s`", o->target);
	if (o->target && ok && r == 0) {
		if (o->tmp && rename(o->tmp, o->target) < 0)
			r = kiln_err_set(err, errno, "rename output to `%s`", o->target);
		else if (!o->tmp)
			r = link_tmpfile(o->fd, o->target, err);
	}
	if (o->target && r == 0 && ok) {
		_cleanup_free_ char *dir = dir_of(o->target);
		kiln_fsync_dir(dir, NULL);
	}
	if (o->tmp) {
		if (!ok || r < 0)
			unlink(o->tmp);
		kiln_tempfile_forget(o->tmp);
	}
	free(o->tmp);
	free(o->target);
	if (close(o->fd) < 0 && ok && r == 0)
		r = kiln_err_set(err, errno, "write output");
	o->fd = -1;
	return r;
}

/* docker's save: a repository name without tag or digest stands for every
 * tag of that repository (an argument no tag matches is passed on as it
 * is: an ID, or a name whose error the save reports). */
static void expand_repos(struct kiln_ctx *ctx, int argc, char **argv, struct kiln_strv *out)
{
	struct img_image **v = NULL;
	size_t n = 0;
	if (img_image_list(ctx->store, &v, &n, NULL) < 0)
		v = NULL, n = 0;
	for (int a = 1; a < argc; a++) {
		struct img_ref r;
		size_t before = out->n;
		if (img_ref_parse(argv[a], 0, &r, NULL) == 0) {
			_cleanup_free_ char *name = img_ref_name(&r);
			for (size_t i = 0; !r.tag && !r.digest && i < n; i++)
				for (size_t t = 0; t < v[i]->n_repo_tags; t++) {
					struct img_ref tr;
					if (img_ref_parse(v[i]->repo_tags[t], 0, &tr, NULL) < 0)
						continue;
					_cleanup_free_ char *tn = img_ref_name(&tr);
					if (!strcmp(tn, name))
						kiln_strv_push(out, v[i]->repo_tags[t]);
					img_ref_release(&tr);
				}
			img_ref_release(&r);
		}
		if (out->n == before)
			kiln_strv_push(out, argv[a]);
	}
	img_image_list_free(v, n);
}

int cmd_save(int argc, char **argv, struct kiln_ctx *ctx)
{
	const char *output = NULL, *format = "docker", *compress = NULL;
	const struct kiln_opt opts[] = {
	    OPT_STRING(0, "compress", &compress, "string",
	               "Layer compression for --format oci: none, gzip (default) or zstd"),
	    OPT_STRING(0, "format", &format, "string", "Archive format: docker (default) or oci"),
	    OPT_STRING('o', "output", &output, "string", "Write to a file, instead of STDOUT"),
	    OPT_END};
	const struct kiln_usage usage = {"[OPTIONS] IMAGE [IMAGE...]",
	                                 "Save one or more images to a tar archive (streamed to "
	                                 "STDOUT by default)",
	                                 1, -1, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	struct kiln_err err = KILN_ERR_INIT;
	struct img_save_opts o = {IMG_ARCHIVE_DOCKER, IMG_COMPRESS_GZIP};
	if (!strcmp(format, "oci"))
		o.format = IMG_ARCHIVE_OCI;
	else if (strcmp(format, "docker"))
		return kiln_err_set(&ctx->err, KILN_E_USAGE, "unknown format `%s` (docker or oci)",
		                    format),
		       125;
	if (compress && img_compression_parse(compress, &o.compression, &err) < 0)
		return kiln_cmd_fail(ctx, &err);
	if (!output && isatty(1))
		return kiln_err_set(&ctx->err, 0,
		                    "cowardly refusing to save to a terminal. Use the -o flag or "
		                    "redirect"),
		       1;
	struct save_out out = {.fd = 1};
	if (output && strcmp(output, "-") && save_out_open(&out, output, &err) < 0)
		return kiln_cmd_fail(ctx, &err);
	struct kiln_strv names = KILN_STRV_INIT;
	expand_repos(ctx, argc, argv, &names);
	int r = img_save(ctx->store, names.v, names.n, &o, out.fd, &err);
	kiln_strv_release(&names);
	if (output && strcmp(output, "-") && save_out_finish(&out, r == 0, &err) < 0)
		r = -1;
	/* docker's "No such image: X", without the library's context */
	if (r < 0 && err.code == KILN_E_NOTFOUND && !strncmp(err.msg, "save: ", 6))
		memmove(err.msg, err.msg + 6, strlen(err.msg + 6) + 1);
	return r < 0 ? kiln_cmd_fail(ctx, &err) : 0;
}

int cmd_load(int argc, char **argv, struct kiln_ctx *ctx)
{
	const char *input = NULL;
	bool quiet = false;
	const struct kiln_opt opts[] = {OPT_STRING('i', "input", &input, "string",
	                                           "Read from tar archive file, instead of STDIN"),
	                                OPT_BOOL('q', "quiet", &quiet, "Suppress the load output"),
	                                OPT_END};
	const struct kiln_usage usage = {"[OPTIONS]", "Load an image from a tar archive or STDIN",
	                                 0, 0, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	struct kiln_err err = KILN_ERR_INIT;
	int fd = 0;
	if (input && strcmp(input, "-")) {
		fd = open(input, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return kiln_err_set(&ctx->err, errno, "open `%s`", input), 1;
	} else if (isatty(0)) {
		return kiln_err_set(&ctx->err, KILN_E_USAGE,
		                    "requested load from stdin, but stdin is empty"),
		       125;
	}
	struct kiln_strv lines = KILN_STRV_INIT;
	int r = img_load(ctx->store, fd, &lines, &err);
	if (fd > 0)
		close(fd);
	(void)quiet; /* docker's -q quiets progress only: kiln shows none */
	for (size_t i = 0; r == 0 && i < lines.n; i++)
		printf("%s\n", lines.v[i]);
	kiln_strv_release(&lines);
	return r < 0 ? kiln_cmd_fail(ctx, &err) : 0;
}
