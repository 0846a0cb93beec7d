/* import, save, load */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder.h"
#include "cli.h"
#include "image.h"

static int apply_changes(struct img_config *cfg, void *ud, struct kiln_err *err)
{
	return bld_apply_changes(cfg, ud, err);
}

int cmd_import(int argc, char **argv, struct kiln_ctx *ctx)
{
	struct kiln_strv changes = KILN_STRV_INIT;
	const char *message = NULL, *compress = "none";
	const struct kiln_opt opts[] = {
	    OPT_STRV('c', "change", &changes, "list",
	             "Apply Dockerfile instruction to the created image"),
	    OPT_STRING(0, "compress", &compress, "string", "Layer compression: none, gzip or zstd"),
	    OPT_STRING('m', "message", &message, "string", "Set commit message for imported image"),
	    OPT_END};
	const struct kiln_usage usage = {
	    "[OPTIONS] file|dir|- [REPOSITORY[:TAG]]",
	    "Import the contents from a tarball or directory to create a filesystem image", 1, 2,
	    0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	struct kiln_err err = KILN_ERR_INIT;
	struct img_import_opts o = {.source = argv[1],
	                            .ref = argc > 2 ? argv[2] : NULL,
	                            .apply = changes.n ? apply_changes : NULL,
	                            .apply_ud = changes.v,
	                            .message = message};
	char id[KILN_DIGEST_LEN];
	int r = img_compression_parse(compress, &o.compression, &err);
	if (r == 0 && !strcmp(o.source, "-") && isatty(0))
		r = kiln_err_set(&err, KILN_E_USAGE, "refusing to read an archive from a terminal");
	if (r == 0)
		r = img_import(ctx->store, &o, id, &err);
	kiln_strv_release(&changes);
	if (r < 0)
		return kiln_cmd_fail(ctx, &err);
	printf("%s\n", id);
	return 0;
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
	int fd = 1;
	char *tmp = NULL;
	if (output && strcmp(output, "-")) {
		/* a temp file next to the output, renamed when complete */
		char *dir = xstrdup(output);
		char *sl = strrchr(dir, '/');
		if (sl)
			sl[sl == dir ? 1 : 0] = '\0';
		fd = kiln_tempfile_create(sl ? dir : ".", ".kiln-save-", &tmp, &err);
		free(dir);
		if (fd < 0)
			return kiln_cmd_fail(ctx, &err);
		fchmod(fd, 0644);
	}
	int r = img_save(ctx->store, argv + 1, (size_t)argc - 1, &o, fd, &err);
	if (tmp) {
		if (r == 0 && (fsync(fd) < 0 || rename(tmp, output) < 0))
			r = kiln_err_set(&err, errno, "write `%s`", output);
		if (r < 0)
			unlink(tmp);
		kiln_tempfile_forget(tmp);
		free(tmp);
		close(fd);
	}
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
	for (size_t i = 0; r == 0 && !quiet && i < lines.n; i++)
		printf("%s\n", lines.v[i]);
	kiln_strv_release(&lines);
	return r < 0 ? kiln_cmd_fail(ctx, &err) : 0;
}
