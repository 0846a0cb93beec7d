/* Private to builder/: the stage state, the step executors' seams, the
 * read-only views of a rootfs and of the context. */
#ifndef KILN_BUILDER_INTERNAL_H
#define KILN_BUILDER_INTERNAL_H

#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>

#include "builder.h"
#include "cache.h"

/* --- a stage's filesystem, read through its layer snapshots (rootfs.c) -----
 * Lookups resolve like a path in the mounted overlay would, without
 * mounting: topmost layer first, whiteouts (0/0 char devices) hide what is
 * below, an opaque directory hides the lower layers' entries under it,
 * symlinks are followed inside the rootfs (never out of it). Snapshots are
 * made when the first lookup needs them (a COPY layer just written is not
 * unpacked unless a later step looks into it). */
struct bld_rootfs {
	struct img_store *store;
	struct img_layer *layers; /* bottom first */
	size_t n, cap;
	char **dirs; /* snapshot dirs, bottom first, made lazily (n_dirs of n) */
	size_t n_dirs;
	struct bld_vindex **vidx; /* per layer: its entries in memory, or NULL */
	pthread_mutex_t *mu;      /* held while snapshots are made (shared rootfs), or NULL */
};
/* A layer this build wrote, described in memory (the entries as in the
 * tar, each with the host file it was read from), so that lookups into it
 * need no snapshot: a COPY of 20,000 files is not unpacked again because
 * a later step resolves a path. Only for layers whose every file is still
 * where it was read (context files, snapshots); shared by reference. */
struct bld_ventry {
	char *path;     /* "a/b" */
	char *host;     /* NULL for directories the step made */
	struct stat st; /* mode, owner, size, mtime as in the layer */
};
struct bld_vindex {
	struct bld_ventry *v; /* sorted by path */
	size_t n, cap;
	unsigned refs;
};
void bld_vindex_unref(struct bld_vindex *x);
void bld_rootfs_init(struct bld_rootfs *r, struct img_store *s);
void bld_rootfs_add(struct bld_rootfs *r, const struct img_layer *l);
/* Adds the layers of a stored image, bottom first (as many as both its
 * manifest and its config list). */
void bld_rootfs_add_image(struct bld_rootfs *r, const struct img_image *img);
/* Adds a layer with its in-memory index (a reference is taken; may be NULL). */
void bld_rootfs_add_indexed(struct bld_rootfs *r, const struct img_layer *l, struct bld_vindex *x);
void bld_rootfs_copy(struct bld_rootfs *dst, const struct bld_rootfs *src);
void bld_rootfs_release(struct bld_rootfs *r);

/* One entry found in a rootfs or the context. */
struct bld_node {
	char *real; /* path inside the tree after following symlinks: "a/b" ("" = root) */
	char *host; /* host path to read it from */
	struct stat st;
};
void bld_node_release(struct bld_node *n);

/* The source of COPY/ADD: the context or a rootfs. */
struct bld_context;
struct bld_tree {
	struct bld_context *ctx; /* exactly one of ctx, fs */
	struct bld_rootfs *fs;
};
/* Resolves path (relative to the tree's root, '/'-separated; ".." clamps
 * at the root). follow_last: follow a symlink in the last component.
 * *found false when it does not exist (no error). */
int bld_tree_resolve(const struct bld_tree *t, const char *path, bool follow_last,
                     struct bld_node *out, bool *found, struct kiln_err *err);
/* The entry `name` of directory parent (a real path), not followed. */
int bld_tree_child(const struct bld_tree *t, const char *parent, const char *name,
                   struct bld_node *out, bool *found, struct kiln_err *err);
/* Names in directory real (sorted bytewise, visible ones only). */
int bld_tree_list(const struct bld_tree *t, const char *real, struct kiln_strv *names,
                  struct kiln_err *err);

/* Reads a small file of a rootfs (/etc/passwd); *found false if absent. */
int bld_rootfs_read(struct bld_rootfs *r, const char *path, char **data, size_t *len, bool *found,
                    struct kiln_err *err);
/* "user[:group]" by name or number through the rootfs's /etc/passwd and
 * /etc/group. A user given alone takes its passwd group (a number alone:
 * the same number). */
int bld_rootfs_user(struct bld_rootfs *r, const char *spec, uint32_t *uid, uint32_t *gid,
                    struct kiln_err *err);

/* --- the context (context.c) ----------------------------------------------- */
struct bld_context {
	char *dir; /* read where it lies */
	struct df_ignore *ignore;
	char *tmp; /* extracted stdin tar (removed on release), or NULL */
};
/* Opens dir with the ignore file that applies to dockerfile (see
 * df_ignore_candidates). */
int bld_context_open(struct bld_context *c, const char *dir, const char *dockerfile,
                     struct kiln_err *err);
void bld_context_release(struct bld_context *c);
/* open(path, O_RDONLY); in a tar context a path under c->dir is resolved
 * inside it (RESOLVE_IN_ROOT): its Dockerfile and .dockerignore, read as
 * docker's daemon and BuildKit read them, never lead onto the host. */
int bld_context_open_file(const struct bld_context *c, const char *path);
bool bld_context_visible(const struct bld_context *c, const char *rel, bool is_dir);
/* The same for a walk of the context (cache.h): an excluded directory an
 * exception may reach into is CACHE_SEL_IF_ANY, kept only if something
 * under it is (BuildKit copies no empty excluded directories). */
enum cache_sel bld_context_select(const struct bld_context *c, const char *rel, bool is_dir);

/* --- a stage being built --------------------------------------------------- */
struct bld_build;
struct bld_stage {
	struct bld_build *b;
	const struct df_stage *st;
	int index;
	struct img_config *cfg;    /* being accumulated (base config first) */
	struct bld_rootfs fs;      /* base layers + layers made so far */
	struct kiln_strv args;     /* visible ARGs "K=V" */
	struct kiln_strv arg_decl; /* names of the stage's ARGs, valued or not, in order */
	/* names of ARGs given a value after the last ENV of that name: in the
	 * build's env (expansion, RUN) they win over that ENV until the next
	 * one, as BuildKit's state env; the image's config keeps the ENV */
	struct kiln_strv arg_over;
	struct kiln_strv used_args; /* names of build args consumed */
	bool cmd_set;
	char key[65];               /* the current cache key (hex), "" when none */
	bool started, done, failed; /* under bld_build.mu */
	int err_line;               /* Dockerfile line of its failing instruction */
	int n_steps, step_no;       /* every instruction (cache history) */
	int n_ops, op_no;           /* "[stage i/n]": FROM, RUN, COPY, ADD, WORKDIR */
	bool dated;                 /* a RUN, COPY, ADD or WORKDIR has set its time */
	size_t n_undated;           /* history entries (the last ones) waiting for it */
	struct rt_netns *net;       /* the default network made ahead for its next RUN */
};

/* One step with its words expanded. */
struct bld_step {
	const struct df_instr *in; /* as written */
	struct df_instr x;         /* expanded */
	int id;                    /* progress vertex */
	char *name;                /* "[build 2/5] COPY . /app" */
	char *created_by;          /* history */
	bool empty_layer;
	struct img_layer layer;    /* the layer made (diff_id "" when none) */
	struct bld_vindex *vindex; /* its entries, or NULL (see bld_vindex) */
};

struct bld_build {
	struct img_store *s;
	const struct bld_opts *o;
	const struct bld_progress *p;
	struct df_graph g;
	struct bld_context ctx;
	char *dockerfile_text;
	size_t dockerfile_len;
	struct bld_stage *stages;
	int next_id;
	int64_t epoch; /* SOURCE_DATE_EPOCH or -1 */
	char *created; /* RFC 3339 time of this build */
	struct bld_result *res;
	int err_line; /* Dockerfile line of the failing instruction (0: none) */
	/* Stages that do not depend on each other build on worker threads.
	 * mu guards the progress sink, the counters, the store handle's
	 * parsed-blob cache (img_image_load) and the stage states; cv
	 * signals a stage done or failed; fs_mu guards making snapshots of a
	 * rootfs that several stages read. */
	/* ROOT/tmp/build-XXXXXX: this build's temp dirs (extracted tars, a
	 * stdin context, --output scratch), made on first use and flock'ed
	 * while the build runs; a later build removes those a killed build
	 * left */
	char *tmpdir;
	int tmp_lock;
	int tmp_slot; /* interrupt.c's slot for tmpdir (-1: none) */
	pthread_mutex_t mu, fs_mu;
	pthread_mutex_t pull_mu;       /* pull.c: one image load or pull at a time */
	struct kiln_strv pulled;       /* names pulled in this build (under pull_mu) */
	struct kiln_strv loaded_names; /* pull.c: images loaded, by name (under pull_mu) */
	struct img_image **loaded;     /* the image of each loaded name */
	pthread_cond_t cv;
	bool failed;
	struct kiln_err first_err; /* the first stage failure */
	struct bld_cache *cache;   /* step_cache.c */
	struct bld_remote *remote; /* cache_remote.c (--cache-from, --cache-to), or NULL */
};

/* stage.c */
int bld_stage_build(struct bld_build *b, int index, struct kiln_err *err);
void bld_stage_release(struct bld_stage *st);
/* A --platform other than the host's is refused (no emulation). */
int bld_platform_check(const char *platform, struct kiln_err *err);
/* Looks a variable up in the stage's env, then its ARGs (ENV wins). */
const char *bld_stage_lookup(void *ud, const char *name, size_t len);
/* A path in the stage's rootfs as BuildKit reads a COPY dest or a --mount
 * target: a relative one under the WORKDIR, cleaned (".." stops at the
 * root), without the leading '/'. Allocated. */
char *bld_stage_path(const struct bld_stage *st, const char *path);
/* An image reference as BuildKit 0.8 shows it in progress (FROM, "naming
 * to"): normalized, no tag added (busybox -> docker.io/library/busybox);
 * as written if it does not parse. Allocated. */
char *bld_ref_shown(const char *ref);
/* Whether the ARG `name` wins over the stage's ENV of that name (arg_over). */
bool bld_stage_arg_wins(const struct bld_stage *st, const char *name, size_t len);
/* Progress helpers (thread-safe). */
int bld_vertex_start(struct bld_build *b, const char *name);
void bld_vertex_log(struct bld_build *b, int id, const char *line);
void bld_vertex_done(struct bld_build *b, int id, double secs, bool cached);
void bld_vertex_bytes(struct bld_build *b, int id, uint64_t n);
void bld_count_step(struct bld_build *b, bool cached);
/* msg NULL: the step was canceled (another stage failed: BuildKit's CANCELED) */
void bld_vertex_error(struct bld_build *b, int id, double secs, const char *msg);
/* Whether a stage failed: the others stop before their next step. */
bool bld_build_failed(struct bld_build *b);
/* pull.c: img_image_load under the build's lock (the store handle's cache
 * is not thread-safe); an image the store lacks, or any with --pull, is
 * pulled from its registry first (once per build). */
int bld_image_load(struct bld_build *b, const char *name, struct img_image **out,
                   struct kiln_err *err);
/* interrupt.c: SIGINT/SIGTERM/SIGHUP/SIGQUIT outside a RUN remove the
 * registered scratch dirs, then end the process as before. begin/end pair
 * up around a build; add returns a slot for forget (-1 when full). */
void bld_interrupt_begin(void);
void bld_interrupt_end(void);
int bld_scratch_add(const char *path);
void bld_scratch_forget(int slot);
/* tmpdir (ROOT/tmp): a signal also removes the snapshots this process is
 * unpacking there (IMG_EXTRACT_PREFIX "<pid>-*", image.h). */
void bld_scratch_sweep_own(const char *tmpdir);
/* A new dir parent/prefix-<64 random bits in hex>, registered before it
 * is made (the random name can be no one else's); *slot for
 * bld_scratch_remove, which removes it, then forgets it. */
char *bld_scratch_mkdir(const char *parent, const char *prefix, int *slot, struct kiln_err *err);
void bld_scratch_remove(const char *path, int slot);
/* KILN_TEST_STOP=POINT: the build stops itself (SIGSTOP) at POINT, so a
 * test can change the context or send a signal exactly there. */
void bld_test_stop(const char *point);
/* pull.c: the images the needed stages name (FROM, COPY --from, RUN
 * --mount=from=, words without variables) loaded or pulled up front. */
int bld_pull_images(struct bld_build *b, struct kiln_err *err);
/* Frees what pull.c kept for the build (names pulled, images loaded). */
void bld_pull_release(struct bld_build *b);
/* Stage `index` built: already done, being built by another thread (wait),
 * or built now on this thread. */
int bld_stage_need(struct bld_build *b, int index, struct kiln_err *err);
/* This build's temp dir under ROOT/tmp (made on first use). */
const char *bld_tmpdir(struct bld_build *b, struct kiln_err *err);
/* The clock for mtimes of entries a step creates. */
int64_t bld_now(const struct bld_build *b);

/* Step executors: each fills step->layer (or leaves it empty) and may edit
 * the stage config. */
int bld_step_copy(struct bld_stage *st, struct bld_step *step, struct kiln_err *err);
int bld_step_workdir(struct bld_stage *st, struct bld_step *step, struct kiln_err *err);
int bld_step_run(struct bld_stage *st, struct bld_step *step, struct kiln_err *err);
/* Once a step of the stage misses (every later one will run), the default
 * network of the stage's next RUN after `in` that uses it is made ahead
 * (rt_netns_prepare), on this thread; bld_step_run takes it. */
void bld_run_net_ahead(struct bld_stage *st, const struct df_instr *in);
/* Lets the network made ahead and not used go (at the stage's end). */
void bld_run_net_drop(struct bld_stage *st);
/* RUN's history entry as BuildKit writes it: "RUN |1 A=b /bin/sh -c cmd # buildkit". */
char *bld_run_created_by(struct bld_stage *st, const struct bld_step *step);
/* ADD of a URL: downloads into a temp file under the store (path out);
 * mtime: the Last-Modified time the server sent, else 0 (BuildKit's). */
int bld_fetch_url(struct bld_build *b, const char *url, const char *checksum, char **path_out,
                  time_t *mtime, struct kiln_err *err);
/* The file name a URL's download gets (BuildKit's): the last component
 * of its percent-decoded path ("%2F" separates, trailing slashes
 * dropped), else "__unnamed__" (also for a malformed escape). */
char *bld_url_file_name(const char *url);
/* run_mounts.c: every --secret and --ssh checked before the build starts,
 * as docker does (fields, id, a src or agent socket that exists), whether
 * or not a RUN mounts it. */
int bld_check_secrets_ssh(const struct bld_opts *o, struct kiln_err *err);

/* step_key.c, step_cache.c: the cache seam (ARCHITECTURE.md decision 2).
 * bld_cache_open after the graph is built, bld_cache_finish once the build
 * is over (the build record, --cache-report, the stat cache). A step's
 * history entry and the image take bld_stage_created(). */
int bld_cache_open(struct bld_build *b, struct kiln_err *err);
void bld_cache_finish(struct bld_build *b, bool ok);
const char *bld_stage_created(const struct bld_stage *st);
/* defer (when bld_step_key_deferrable: a COPY or ADD of the context that
 * cannot hit): the context is walked but not read, key stays "" and the
 * COPY hashes the files as it copies them; bld_cache_deferred_key
 * (step_cache-internal.h) then gives the key, the same as without defer. */
bool bld_step_key_deferrable(struct bld_stage *st, const struct bld_step *step);
int bld_step_key(struct bld_stage *st, const struct bld_step *step, bool defer, char key[65],
                 struct kiln_err *err);
bool bld_cache_lookup(struct bld_stage *st, const char *key, struct bld_step *step);
void bld_cache_record(struct bld_stage *st, const char *key, const struct bld_step *step);

/* output.c */
int bld_export(struct bld_build *b, const struct bld_output *out, const char *image_id,
               struct kiln_err *err);

#endif
