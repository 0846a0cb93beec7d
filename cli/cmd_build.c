/* kiln build (also `image build`, `builder build`): options -> bld_build. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "builder.h"
#include "cli.h"
#include "image.h"

struct build_flags {
	struct kiln_strv tags, build_args, labels, outputs, secrets, ssh, no_cache_filter;
	struct kiln_strv cache_to, cache_from;
	const char *file, *target, *platform, *network, *progress, *iidfile, *cache_report;
	bool no_cache, pull, quiet;
};

static int parse_outputs(struct kiln_ctx *ctx, const struct kiln_strv *specs,
                         struct bld_output **out)
{
	*out = xcalloc(specs->n + 1, sizeof(**out));
	for (size_t i = 0; i < specs->n; i++)
		if (bld_output_parse(specs->v[i], &(*out)[i], &ctx->err) < 0)
			return -1;
	return 0;
}

static void print_summary(const struct bld_result *res, const struct build_flags *f)
{
	fprintf(stderr, "kiln: built %s in %.1fs (%zu steps run, %zu cached, %.1fs saved)\n",
	        res->image_id, res->secs, res->steps, res->cached, res->saved);
	for (size_t i = 0; i < f->tags.n; i++) {
		char *n = img_ref_normalize(f->tags.v[i], NULL);
		fprintf(stderr, "kiln: tagged %s\n", n ? n : f->tags.v[i]);
		free(n);
	}
}

static void show_held(FILE *held)
{
	char buf[65536];
	size_t n;
	fflush(held);
	rewind(held);
	while ((n = fread(buf, 1, sizeof(buf), held)) > 0)
		fwrite(buf, 1, n, stderr);
	fflush(stderr);
}

static int run_build(struct kiln_ctx *ctx, const char *context, struct build_flags *f)
{
	/* as docker: an earlier image ID never outlives a failed build */
	if (f->iidfile && unlink(f->iidfile) < 0 && errno != ENOENT) {
		kiln_err_set(&ctx->err, errno, "removing image ID file `%s`", f->iidfile);
		return 1;
	}
	struct bld_output *outs = NULL;
	enum bld_progress_mode mode = BLD_PROGRESS_PLAIN;
	if (parse_outputs(ctx, &f->outputs, &outs) < 0 ||
	    bld_progress_parse(f->progress, &mode, &ctx->err) < 0) {
		for (size_t i = 0; outs && i < f->outputs.n; i++)
			bld_output_release(&outs[i]);
		free(outs);
		/* docker checks --progress and --output after its flag
		 * parsing: a bad value is a failed build (1), not a usage
		 * error (125, kept for unknown flags and a bad -t) */
		return 1;
	}
	if (f->quiet)
		mode = BLD_PROGRESS_QUIET;
	struct bld_opts o = {.context = context,
	                     .dockerfile = f->file,
	                     .tags = f->tags.v,
	                     .build_args = f->build_args.v,
	                     .labels = f->labels.v,
	                     .target = f->target,
	                     .platform = f->platform,
	                     .network = f->network,
	                     .secrets = f->secrets.v,
	                     .ssh = f->ssh.v,
	                     .iidfile = f->iidfile,
	                     .cache_report = f->cache_report,
	                     .no_cache_filter = f->no_cache_filter.v,
	                     .cache_to = f->cache_to.v,
	                     .cache_from = f->cache_from.v,
	                     .outputs = outs,
	                     .n_outputs = f->outputs.n,
	                     .no_cache = f->no_cache,
	                     .pull = f->pull};
	/* quiet: the plain log is held in a temp file and shown only if the
	 * build fails, as docker's CLI shows the log it held back */
	FILE *held = mode == BLD_PROGRESS_QUIET ? tmpfile() : NULL;
	struct bld_progress *p =
	    held ? bld_progress_new(BLD_PROGRESS_PLAIN, held) : bld_progress_new(mode, stderr);
	struct bld_result res;
	struct kiln_err err = KILN_ERR_INIT;
	int r = bld_build(ctx->store, &o, p, &res, &err);
	bld_progress_free(p);
	if (held && r < 0)
		show_held(held);
	if (held)
		fclose(held);
	bool to_stdout = false; /* an export on stdout: -q adds nothing to it */
	for (size_t i = 0; i < f->outputs.n; i++) {
		to_stdout |= outs[i].dest && !strcmp(outs[i].dest, "-");
		bld_output_release(&outs[i]);
	}
	free(outs);
	if (r < 0) {
		if (res.excerpt) { /* errno text first, the excerpt under it */
			_cleanup_free_ char *head = kiln_err_format(&err);
			kiln_err_set(&err, 0, "%s\n%s", head, res.excerpt);
		}
		bld_result_release(&res);
		return kiln_cmd_fail(ctx, &err);
	}
	for (size_t i = 0; i < res.warnings.n && !f->quiet; i++)
		fprintf(stderr, "[Warning] %s\n", res.warnings.v[i]);
	if (f->quiet && !to_stdout) /* -o alone keeps no image: an empty line, as docker's */
		printf("%s\n", res.export_only ? "" : res.image_id);
	else if (mode != BLD_PROGRESS_QUIET)
		print_summary(&res, f);
	bld_result_release(&res);
	return 0;
}

/* docker checks every -t before it builds: a usage error (125) */
static int bad_tag(struct kiln_ctx *ctx, const struct kiln_strv *tags)
{
	for (size_t i = 0; i < tags->n; i++) {
		struct kiln_err e = KILN_ERR_INIT;
		char *n = img_ref_normalize(tags->v[i], &e);
		free(n);
		if (n)
			continue;
		kiln_err_set(&ctx->err, KILN_E_USAGE,
		             "invalid argument \"%s\" for \"-t, --tag\" flag: %s", tags->v[i],
		             e.msg ? e.msg : "invalid reference format");
		kiln_err_release(&e);
		return -1;
	}
	return 0;
}

/* `kiln build history VERB ...` is cmd_builder_history (docker's `buildx
 * history`); a context directory named "history" still builds. */
static bool history_verb(int argc, char **argv)
{
	static const char *const verbs[] = {"ls", "inspect", "diff", "trace"};
	for (size_t i = 0; argc >= 3 && !strcmp(argv[1], "history") && i < 4; i++)
		if (!strcmp(argv[2], verbs[i]))
			return true;
	return false;
}

int cmd_build(int argc, char **argv, struct kiln_ctx *ctx)
{
	if (history_verb(argc, argv))
		return cmd_builder_history(argc - 1, argv + 1, ctx);
	struct build_flags f = {.progress = "auto"};
	const struct kiln_opt opts[] = {
	    OPT_STRV(0, "build-arg", &f.build_args, "list", "Set build-time variables"),
	    OPT_STRV(0, "cache-from", &f.cache_from, "stringArray",
	             "External cache sources (e.g., \"user/app:cache\", \"type=registry,ref=R\")"),
	    OPT_STRING(0, "cache-report", &f.cache_report, "string",
	               "Write the cache hits, misses and their reasons as JSON to the file"),
	    OPT_STRV(0, "cache-to", &f.cache_to, "stringArray",
	             "Cache export destinations (e.g., \"type=registry,ref=R,mode=max\", "
	             "\"type=inline\")"),
	    OPT_STRING('f', "file", &f.file, "string",
	               "Name of the Dockerfile (default: \"PATH/Dockerfile\")"),
	    OPT_STRING(0, "iidfile", &f.iidfile, "string", "Write the image ID to the file"),
	    OPT_STRV(0, "label", &f.labels, "list", "Set metadata for an image"),
	    OPT_STRING(0, "network", &f.network, "string",
	               "Set the networking mode for the RUN instructions during build"),
	    OPT_BOOL(0, "no-cache", &f.no_cache, "Do not use cache when building the image"),
	    OPT_STRV(0, "no-cache-filter", &f.no_cache_filter, "stringArray",
	             "Do not cache specified stages"),
	    OPT_STRV('o', "output", &f.outputs, "stringArray",
	             "Output destination (format: \"type=local,dest=path\")"),
	    OPT_STRING(0, "platform", &f.platform, "string",
	               "Set platform if server is multi-platform capable"),
	    OPT_STRING(0, "progress", &f.progress, "string",
	               "Set type of progress output (auto, plain, tty, json, quiet)"),
	    OPT_BOOL(0, "pull", &f.pull, "Always attempt to pull a newer version of the image"),
	    OPT_STRV(0, "secret", &f.secrets, "stringArray",
	             "Secret to expose to the build (format: \"id=mysecret[,src=/local/secret]\")"),
	    OPT_STRV(0, "ssh", &f.ssh, "stringArray",
	             "SSH agent socket or keys to expose to the build (format: "
	             "\"default|<id>[=<socket>|<key>[,<key>]]\")"),
	    OPT_BOOL('q', "quiet", &f.quiet,
	             "Suppress the build output and print image ID on success"),
	    OPT_STRV('t', "tag", &f.tags, "list",
	             "Name and optionally a tag in the \"name:tag\" format"),
	    OPT_STRING(0, "target", &f.target, "string", "Set the target build stage to build"),
	    OPT_END};
	const struct kiln_usage usage = {"[OPTIONS] PATH | -", "Build an image from a Dockerfile",
	                                 1, 1, 0};
	KILN_OPTS_PARSE(ctx, opts, &usage, &argc, &argv);
	int r = 0;
	if (!strcmp(argv[1], "-") && isatty(0)) {
		kiln_err_set(&ctx->err, KILN_E_USAGE, "refusing to read a context from a terminal");
		r = 125;
	}
	if (r == 0 && bad_tag(ctx, &f.tags) < 0)
		r = 125;
	if (r == 0)
		r = run_build(ctx, argv[1], &f);
	kiln_strv_release(&f.tags);
	kiln_strv_release(&f.build_args);
	kiln_strv_release(&f.labels);
	kiln_strv_release(&f.outputs);
	kiln_strv_release(&f.secrets);
	kiln_strv_release(&f.ssh);
	kiln_strv_release(&f.no_cache_filter);
	kiln_strv_release(&f.cache_to);
	kiln_strv_release(&f.cache_from);
	return r;
}
