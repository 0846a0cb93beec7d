/* builder: Dockerfile + context -> image (layer 3: uses parser, image,
 * and later cache, runtime, registry).
 *
 * Files: build.c (bld_build: graph, stages in order, the result),
 * stage.c (one stage: FROM, the step loop key -> lookup -> execute ->
 * record, history), step_meta.c (metadata instructions, shared with
 * `import --change`), step_copy.c and copy_src.c (COPY/ADD streamed from
 * the context or another rootfs into a layer), step_add.c (ADD of tars and
 * URLs), step_workdir.c, step_run.c (RUN: the runtime seam), rootfs.c
 * (read-only lookups through a stage's layer snapshots: passwd, group,
 * destination paths), context.c (the context where it lies, .dockerignore),
 * step_key.c and step_cache.c (cache keys, lookups, records, the build's
 * history and --cache-report), output.c (--output exporters),
 * progress.c (plain and json printers), progress_tty.c (the live tty
 * frame). */
#ifndef KILN_BUILDER_H
#define KILN_BUILDER_H

#include <stdio.h>

#include "common.h"
#include "image.h"
#include "parser.h"

/* Applies one metadata instruction, words already expanded, to cfg the way
 * BuildKit's dispatchers do: ENV (replace or append K=V), LABEL, CMD and
 * ENTRYPOINT (shell form runs through cfg's Shell, default /bin/sh -c),
 * EXPOSE (port specs, ranges expanded, /tcp default), USER, WORKDIR
 * (relative to the previous one), VOLUME, STOPSIGNAL, HEALTHCHECK,
 * ONBUILD, SHELL, MAINTAINER. *cmd_set tracks whether CMD was given in
 * this build or change list: ENTRYPOINT resets an inherited CMD unless it
 * was. Other kinds fail with KILN_E_INVALID. */
int bld_config_apply(struct img_config *cfg, const struct df_instr *in, bool *cmd_set,
                     struct kiln_err *err);

/* Parses each line of a `--change` list (import, commit) as a Dockerfile
 * instruction, expands its words with cfg's Env, and applies it. Only the
 * instructions docker allows there: CMD, ENTRYPOINT, ENV, EXPOSE,
 * HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR. */
int bld_apply_changes(struct img_config *cfg, char *const *changes, struct kiln_err *err);

/* --- progress: what a build reports while it runs ---------------------- */
/* A step ("vertex" in BuildKit's words) is numbered from 1 in the order it
 * starts. The sink's functions may be NULL. */
struct bld_progress {
	void (*start)(void *ud, int id, const char *name);
	void (*log)(void *ud, int id, const char *line);
	void (*done)(void *ud, int id, double secs, bool cached);
	/* msg NULL: canceled because another stage failed (BuildKit's CANCELED) */
	void (*error)(void *ud, int id, double secs, const char *msg);
	void *ud;
	/* the bytes a COPY or ADD step has written so far, every MiB or so
	 * (tty shows them; may be NULL) */
	void (*bytes)(void *ud, int id, uint64_t n);
	/* the fd the sink writes to, which the forked reader of a RUN's
	 * output keeps open (0, 1 or 2 are kept anyway) */
	int fd;
};
enum bld_progress_mode {
	BLD_PROGRESS_PLAIN,
	BLD_PROGRESS_JSON,
	BLD_PROGRESS_QUIET,
	BLD_PROGRESS_TTY,
	BLD_PROGRESS_AUTO, /* tty when out is a terminal, else plain */
};
/* A printer writing to out (plain: BuildKit's `--progress=plain` layout;
 * json: one event object a line; tty: a frame redrawn in place with
 * timers). Free with bld_progress_free. */
struct bld_progress *bld_progress_new(enum bld_progress_mode mode, FILE *out);
void bld_progress_free(struct bld_progress *p);
/* "auto", "plain", "tty", "json", "quiet" */
int bld_progress_parse(const char *name, enum bld_progress_mode *mode, struct kiln_err *err);

/* --- the build ----------------------------------------------------------- */
enum bld_output_type { BLD_OUT_LOCAL, BLD_OUT_TAR, BLD_OUT_OCI, BLD_OUT_DOCKER };
struct bld_output {
	enum bld_output_type type;
	char *dest; /* directory (local) or file ("-": stdout) */
};
/* "type=local,dest=DIR", "type=tar,dest=F", "type=oci,dest=F",
 * "type=docker,dest=F", or a bare "DIR" (local), as docker build -o. */
int bld_output_parse(const char *spec, struct bld_output *out, struct kiln_err *err);
void bld_output_release(struct bld_output *o);

struct bld_opts {
	const char *context;     /* a directory, or "-": a tar or a lone Dockerfile on stdin */
	const char *dockerfile;  /* path, "-" (stdin), or NULL: CONTEXT/Dockerfile */
	char *const *tags;       /* -t, NULL-terminated (may be NULL) */
	char *const *build_args; /* "K=V" ("K" alone: taken from the environment) */
	char *const *labels;     /* "K=V" added to the final image */
	const char *target;      /* --target stage, NULL: the last */
	const char *platform;    /* --platform, NULL: the host's */
	const char *network;     /* default, none, host (RUN) */
	/* --secret "id=ID[,src=PATH|,env=VAR]" and --ssh "default[=SOCKET]",
	 * for RUN --mount=type=secret|ssh (never stored anywhere) */
	char *const *secrets;
	char *const *ssh;
	const char *iidfile; /* write the image ID there */
	/* --cache-report: the cache's story (hits, misses, reasons) as JSON there */
	const char *cache_report;
	char *const *no_cache_filter; /* stages (names or indexes) built without the cache */
	/* --cache-to "type=registry,ref=R[,mode=min|max][,compression=gzip|zstd]
	 * [,mounts=true]" or "type=inline"; --cache-from "type=registry,ref=R" or
	 * "R" (docs/cache-format.md). NULL-terminated, may be NULL. */
	char *const *cache_to;
	char *const *cache_from;
	const struct bld_output *outputs;
	size_t n_outputs;
	bool no_cache, pull;
};
struct bld_result {
	char image_id[KILN_DIGEST_LEN];
	/* -o without -t: the image was exported only, no image is kept (as
	 * docker's -o), so -q prints and --iidfile holds no ID */
	bool export_only;
	size_t steps, cached; /* steps that ran, steps from the cache */
	double secs;
	double saved; /* what the cached steps took when they ran */
	/* on failure: BuildKit's framed excerpt of the failing instruction's
	 * lines (or NULL), for the CLI to print under the error */
	char *excerpt;
	/* warnings for the CLI to print: "One or more build-args [X] were not
	 * consumed" */
	struct kiln_strv warnings;
};
/* Builds, stores and tags the image (nothing tagged on failure; temp files
 * removed), writes --iidfile and --output. Errors about an instruction read
 * "Dockerfile:LINE: INSTRUCTION: what". progress may be NULL. */
int bld_build(struct img_store *s, const struct bld_opts *o, const struct bld_progress *progress,
              struct bld_result *res, struct kiln_err *err);
void bld_result_release(struct bld_result *res);

#endif
