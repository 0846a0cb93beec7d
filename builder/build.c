/* bld_build: Dockerfile and context -> the graph -> the needed stages in
 * order -> the target stage's config and layers stored, tagged, exported. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "build-internal.h"
#include "cache_remote-internal.h"
#include "runtime.h"

#define DOCKERFILE_MAX (16u << 20)

int bld_vertex_start(struct bld_build *b, const char *name)
{
	pthread_mutex_lock(&b->mu);
	int id = ++b->next_id;
	if (b->p && b->p->start)
		b->p->start(b->p->ud, id, name);
	pthread_mutex_unlock(&b->mu);
	return id;
}

void bld_vertex_log(struct bld_build *b, int id, const char *line)
{
	pthread_mutex_lock(&b->mu);
	if (b->p && b->p->log)
		b->p->log(b->p->ud, id, line);
	pthread_mutex_unlock(&b->mu);
}

void bld_vertex_done(struct bld_build *b, int id, double secs, bool cached)
{
	pthread_mutex_lock(&b->mu);
	if (b->p && b->p->done)
		b->p->done(b->p->ud, id, secs, cached);
	pthread_mutex_unlock(&b->mu);
}

void bld_vertex_bytes(struct bld_build *b, int id, uint64_t n)
{
	pthread_mutex_lock(&b->mu);
	if (b->p && b->p->bytes)
		b->p->bytes(b->p->ud, id, n);
	pthread_mutex_unlock(&b->mu);
}

void bld_count_step(struct bld_build *b, bool cached)
{
	pthread_mutex_lock(&b->mu);
	if (cached)
		b->res->cached++;
	else
		b->res->steps++;
	pthread_mutex_unlock(&b->mu);
}

bool bld_build_failed(struct bld_build *b)
{
	pthread_mutex_lock(&b->mu);
	bool f = b->failed;
	pthread_mutex_unlock(&b->mu);
	return f;
}

void bld_vertex_error(struct bld_build *b, int id, double secs, const char *msg)
{
	pthread_mutex_lock(&b->mu);
	if (b->p && b->p->error)
		b->p->error(b->p->ud, id, secs, msg);
	pthread_mutex_unlock(&b->mu);
}

int64_t bld_now(const struct bld_build *b)
{
	return b->epoch >= 0 ? b->epoch : (int64_t)time(NULL);
}

static void vertex_done(struct bld_build *b, int id)
{
	bld_vertex_done(b, id, 0, false);
}

static int parse_epoch(int64_t *out, struct kiln_err *err)
{
	const char *s = getenv("SOURCE_DATE_EPOCH");
	*out = -1;
	if (!s || !*s)
		return 0;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (*end || errno || v < 0)
		return kiln_err_set(err, KILN_E_INVALID, "invalid SOURCE_DATE_EPOCH `%s`", s);
	*out = v;
	return 0;
}

static bool magic_archive(const unsigned char *p, size_t n)
{
	return (n >= 2 && p[0] == 0x1f && p[1] == 0x8b) || (n >= 3 && !memcmp(p, "BZh", 3)) ||
	       (n >= 6 && !memcmp(p,
	                          "\xfd"
	                          "7zXZ\0",
	                          6)) ||
	       (n >= 4 && !memcmp(p, "\x28\xb5\x2f\xfd", 4)) ||
	       (n >= 262 && !memcmp(p + 257, "ustar", 5));
}

/* CONTEXT "-": a tar (extracted into the store's tmp, removed at the end)
 * or a lone Dockerfile (the context is then empty). */
static int stdin_context(struct bld_build *b, char **dockerfile_text, size_t *len,
                         struct kiln_err *err)
{
	const char *tmp = bld_tmpdir(b, err);
	if (!tmp)
		return -1;
	_cleanup_free_ char *tmpl = kiln_path_join(tmp, "ctx-XXXXXX");
	if (!mkdtemp(tmpl))
		return kiln_err_set(err, errno, "mkdtemp `%s`", tmpl);
	b->ctx.tmp = xstrdup(tmpl);
	_cleanup_free_ char *file = kiln_path_join(tmpl, "stdin");
	_cleanup_free_ char *root = kiln_path_join(tmpl, "context");
	{
		_cleanup_close_ int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0)
			return kiln_err_set(err, errno, "create `%s`", file);
		char buf[1 << 16];
		for (;;) {
			ssize_t n = read(0, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return kiln_err_set(err, errno, "read the context from stdin");
			if (n == 0)
				break;
			if (kiln_write_all(fd, buf, (size_t)n, err) < 0)
				return -1;
		}
	}
	unsigned char head[512];
	_cleanup_close_ int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kiln_err_set(err, errno, "open `%s`", file);
	ssize_t n = read(fd, head, sizeof(head));
	if (n < 0)
		return kiln_err_set(err, errno, "read `%s`", file);
	lseek(fd, 0, SEEK_SET);
	if (!magic_archive(head, (size_t)n)) {
		if (kiln_read_file(file, DOCKERFILE_MAX, dockerfile_text, len, err) < 0)
			return -1;
		if (kiln_mkdir_p(root, 0755, err) < 0)
			return -1;
	} else if (img_layer_extract_fd(fd, root, tmpl, 0, NULL, err) < 0) {
		return kiln_err_wrap(err, "reading the context tar from stdin");
	}
	return bld_context_open(&b->ctx, root, NULL, err);
}

static int read_dockerfile(struct bld_build *b, char **path_out, struct kiln_err *err)
{
	const char *df = b->o->dockerfile;
	if (df && !strcmp(df, "-")) {
		*path_out = xstrdup("-");
		return kiln_read_fd(0, DOCKERFILE_MAX, "Dockerfile", &b->dockerfile_text,
		                    &b->dockerfile_len, err);
	}
	char *path;
	if (!df)
		path = kiln_path_join(b->ctx.dir, "Dockerfile");
	else if (df[0] == '/' || kiln_path_exists(df))
		path = xstrdup(df);
	else
		path = kiln_path_join(b->ctx.dir, df);
	*path_out = path;
	_cleanup_close_ int fd = bld_context_open_file(&b->ctx, path);
	if (fd < 0 && (errno == ENOENT || errno == ENOTDIR))
		return kiln_err_set(
		    err, KILN_E_NOTFOUND,
		    "failed to read dockerfile: open `%s`: no such file or directory",
		    df ? df : "Dockerfile");
	if (fd < 0)
		return kiln_err_set(err, errno, "open `%s`", path);
	_cleanup_free_ char *what = xasprintf("`%s`", path);
	return kiln_read_fd(fd, DOCKERFILE_MAX, what, &b->dockerfile_text, &b->dockerfile_len, err);
}

#define BUILD_TMP_PREFIX "build-"
#define BUILD_TMP_LOCK   ".lock"

/* Removes the temp dirs of builds that are gone (their lock is free). */
static void sweep_build_tmp(struct bld_build *b)
{
	const char *tmp = img_store_tmpdir(b->s);
	_cleanup_closedir_ DIR *d = opendir(tmp);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (strncmp(de->d_name, BUILD_TMP_PREFIX, strlen(BUILD_TMP_PREFIX)))
			continue;
		_cleanup_free_ char *dir = kiln_path_join(tmp, de->d_name);
		if (b->tmpdir && !strcmp(dir, b->tmpdir))
			continue;
		_cleanup_free_ char *lock = kiln_path_join(dir, BUILD_TMP_LOCK);
		_cleanup_close_ int fd = open(lock, O_RDONLY | O_CLOEXEC);
		if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0)
			continue; /* a running build */
		struct stat st;
		if (fd < 0 && (lstat(dir, &st) < 0 || time(NULL) - st.st_mtime < 60))
			continue; /* a build starting: its lock is not made yet */
		struct kiln_err e = KILN_ERR_INIT;
		kiln_rm_rf(dir, &e);
		kiln_err_release(&e);
	}
}

/* This build's temp dir, made on first use (a build that needs none
 * leaves nothing behind even when killed). */
const char *bld_tmpdir(struct bld_build *b, struct kiln_err *err)
{
	pthread_mutex_lock(&b->mu);
	if (b->tmpdir) {
		pthread_mutex_unlock(&b->mu);
		return b->tmpdir;
	}
	char *tmpl = kiln_path_join(img_store_tmpdir(b->s), BUILD_TMP_PREFIX "XXXXXX");
	const char *r = NULL;
	if (!mkdtemp(tmpl)) {
		kiln_err_set(err, errno, "mkdtemp `%s`", tmpl);
		free(tmpl);
	} else {
		b->tmpdir = tmpl;
		b->tmp_slot = bld_scratch_add(tmpl);
		_cleanup_free_ char *lock = kiln_path_join(tmpl, BUILD_TMP_LOCK);
		b->tmp_lock = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (b->tmp_lock < 0 || flock(b->tmp_lock, LOCK_EX) < 0)
			kiln_err_set(err, errno, "lock `%s`", lock);
		else
			r = b->tmpdir;
	}
	pthread_mutex_unlock(&b->mu);
	return r;
}

static void remove_build_tmp(struct bld_build *b)
{
	if (b->tmpdir) {
		struct kiln_err e = KILN_ERR_INIT;
		kiln_rm_rf(b->tmpdir, &e);
		kiln_err_release(&e);
		bld_scratch_forget(b->tmp_slot);
		free(b->tmpdir);
	}
	if (b->tmp_lock >= 0)
		close(b->tmp_lock);
}

/* The Dockerfile (and a context from stdin), parsed, and the graph. */
static int load_definition(struct bld_build *b, bool from_stdin, struct kiln_err *err)
{
	const struct bld_opts *o = b->o;
	_cleanup_free_ char *df_path = NULL;
	int r;
	if (from_stdin) {
		r = stdin_context(b, &b->dockerfile_text, &b->dockerfile_len, err);
		if (r == 0 && !b->dockerfile_text)
			r = read_dockerfile(b, &df_path, err);
	} else {
		r = read_dockerfile(b, &df_path, err);
	}
	if (r < 0)
		return -1;
	struct df_ast ast = {0};
	_cleanup_free_ char *base =
	    xstrdup(df_path && strcmp(df_path, "-") ? df_path : "Dockerfile");
	if (df_parse(b->dockerfile_text, b->dockerfile_len, basename(base), &ast, err) < 0)
		return -1;
	struct kiln_strv args = KILN_STRV_INIT;
	for (size_t i = 0; o->build_args && o->build_args[i]; i++) {
		const char *a = o->build_args[i];
		if (strchr(a, '='))
			kiln_strv_push(&args, a);
		else if (getenv(a))
			kiln_strv_pushf(&args, "%s=%s", a, getenv(a));
	}
	struct df_graph_opts go = {.target = o->target,
	                           .build_args = (const char *const *)args.v,
	                           .target_platform = o->platform};
	r = df_graph_build(&ast, &go, &b->g, err);
	kiln_strv_release(&args);
	df_ast_release(&ast);
	return r;
}

/* Dockerfile, context and graph. What docker's CLI checks (a context
 * directory that is not there, stdin asked for twice) fails before any
 * progress; the rest ends the definition's vertex, DONE or ERROR. */
static int prepare(struct bld_build *b, struct kiln_err *err)
{
	const struct bld_opts *o = b->o;
	bool from_stdin = !strcmp(o->context, "-");
	if (from_stdin && o->dockerfile && !strcmp(o->dockerfile, "-"))
		return kiln_err_set(err, KILN_E_USAGE,
		                    "the context and the Dockerfile cannot both come from stdin");
	if (!from_stdin &&
	    bld_context_open(&b->ctx, o->context,
	                     o->dockerfile && strcmp(o->dockerfile, "-") ? o->dockerfile : NULL,
	                     err) < 0)
		return -1;
	int id = bld_vertex_start(b, "[internal] load build definition from Dockerfile");
	if (load_definition(b, from_stdin, err) < 0) {
		_cleanup_free_ char *m = kiln_err_format(err);
		bld_vertex_error(b, id, 0, m);
		return -1;
	}
	vertex_done(b, id);
	return 0;
}

/* --- stages on worker threads --------------------------------------------- */

#define MAX_JOBS 4

static bool deps_done(const struct bld_build *b, size_t i)
{
	for (size_t k = 0; k < b->g.n_deps; k++) {
		const struct df_dep *d = &b->g.deps[k];
		if (d->stage == (int)i && d->on_stage >= 0 && !b->stages[d->on_stage].done)
			return false;
	}
	return true;
}

/* Records how a stage ended; the first failure is the build's error. */
static void stage_finished(struct bld_build *b, int i, int r, const struct kiln_err *e)
{
	pthread_mutex_lock(&b->mu);
	struct bld_stage *st = &b->stages[i];
	if (r == 0) {
		st->done = true;
	} else {
		st->failed = true;
		if (!b->failed) {
			b->failed = true;
			rt_run_cancel(true); /* the other stages' RUNs stop (BuildKit's CANCELED) */
			kiln_err_set(&b->first_err, e->code, "%s",
			             e->msg ? e->msg : "stage failed");
			b->err_line = st->err_line;
		}
	}
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
}

static int build_one(struct bld_build *b, int i, struct kiln_err *err)
{
	int r = bld_stage_build(b, i, err);
	stage_finished(b, i, r, err);
	return r;
}

int bld_stage_need(struct bld_build *b, int i, struct kiln_err *err)
{
	struct bld_stage *st = &b->stages[i];
	pthread_mutex_lock(&b->mu);
	while (st->started && !st->done && !st->failed && !b->failed)
		pthread_cond_wait(&b->cv, &b->mu);
	bool done = st->done, busy = st->started || b->failed;
	if (!done && !busy)
		st->started = true;
	pthread_mutex_unlock(&b->mu);
	if (done)
		return 0;
	if (busy)
		return kiln_err_set(err, KILN_E_CONFLICT, "stage %d failed", i);
	return build_one(b, i, err);
}

/* Takes any needed stage whose dependencies are built, until none is left
 * or one failed. */
static void *worker(void *arg)
{
	struct bld_build *b = arg;
	pthread_mutex_lock(&b->mu);
	while (!b->failed) {
		int pick = -1;
		bool pending = false;
		for (size_t i = 0; i < b->g.n_stages && pick < 0; i++) {
			if (!b->g.stages[i].needed || b->stages[i].started)
				continue;
			pending = true;
			if (deps_done(b, i))
				pick = (int)i;
		}
		if (pick < 0 && !pending)
			break;
		if (pick < 0) {
			pthread_cond_wait(&b->cv, &b->mu);
			continue;
		}
		b->stages[pick].started = true;
		pthread_mutex_unlock(&b->mu);
		struct kiln_err e = KILN_ERR_INIT;
		build_one(b, pick, &e);
		kiln_err_release(&e);
		pthread_mutex_lock(&b->mu);
	}
	pthread_mutex_unlock(&b->mu);
	return NULL;
}

static long build_jobs(size_t needed)
{
	const char *env = getenv("KILN_BUILD_JOBS");
	long jobs = env && *env ? strtol(env, NULL, 10) : sysconf(_SC_NPROCESSORS_ONLN);
	if (jobs < 1)
		jobs = 1;
	if (jobs > MAX_JOBS)
		jobs = MAX_JOBS;
	return jobs > (long)needed ? (long)needed : jobs;
}

/* Builds the needed stages: independent ones at the same time on worker
 * threads (the calling thread is one of them). */
static int run_stages(struct bld_build *b, struct kiln_err *err)
{
	b->stages = xcalloc(b->g.n_stages, sizeof(*b->stages));
	size_t needed = 0;
	for (size_t i = 0; i < b->g.n_stages; i++)
		needed += b->g.stages[i].needed;
	pthread_t th[MAX_JOBS];
	int n = 0;
	for (long k = 1; k < build_jobs(needed); k++)
		if (pthread_create(&th[n], NULL, worker, b) == 0)
			n++;
	worker(b);
	for (int k = 0; k < n; k++)
		pthread_join(th[k], NULL);
	if (b->failed) {
		kiln_err_move(err, &b->first_err);
		return -1;
	}
	return 0;
}

/* Whether the image cfg makes is in the store already (by its ID). */
static bool image_stored(struct img_store *s, const struct img_config *cfg)
{
	size_t len;
	_cleanup_free_ char *json = img_config_to_json(cfg, &len);
	char id[KILN_DIGEST_LEN];
	kiln_sha256_digest(json, len, id);
	struct img_image *img = NULL;
	struct kiln_err e = KILN_ERR_INIT;
	bool found = img_image_find(s, id, IMG_FIND_CONTENT, &img, &e) == 0;
	img_image_free(img);
	kiln_err_release(&e);
	return found;
}

/* *export_only_new: the image is made for --output only (no -t) and was not
 * stored before: removed from the index once exported (docker build -o
 * stores no image). */
static int commit_image(struct bld_build *b, struct bld_stage *st, bool *export_only_new,
                        struct kiln_err *err)
{
	const struct bld_opts *o = b->o;
	struct img_config *c = st->cfg;
	for (size_t i = 0; o->labels && o->labels[i]; i++) {
		_cleanup_free_ char *k = xstrdup(o->labels[i]);
		char *eq = strchr(k, '=');
		if (eq)
			*eq++ = '\0';
		img_map_set(&c->config.labels, k, eq ? eq : "");
		c->has_config = true;
	}
	char *created = xstrdup(bld_stage_created(st)); /* may be c->created */
	free(c->created);
	c->created = created;
	if (!c->rootfs_type)
		c->rootfs_type = xstrdup("layers");
	size_t n_tags = 0;
	while (o->tags && o->tags[n_tags])
		n_tags++;
	bld_remote_inline(b, c); /* --cache-to type=inline */
	/* remote-hit layers are pulled now: the manifest needs every blob */
	if (bld_remote_need(b, st->fs.layers, st->fs.n, false, err) < 0)
		return -1;
	int id = bld_vertex_start(b, "exporting to image");
	*export_only_new = o->n_outputs && !n_tags && !image_stored(b->s, c);
	int r = img_image_commit(b->s, c, st->fs.layers, st->fs.n, (const char *const *)o->tags,
	                         n_tags, b->res->image_id, err);
	if (r < 0)
		return -1;
	_cleanup_free_ char *line = xasprintf("writing image %s done", b->res->image_id);
	bld_vertex_log(b, id, line);
	for (size_t i = 0; i < n_tags; i++) {
		_cleanup_free_ char *full = bld_ref_shown(o->tags[i]);
		_cleanup_free_ char *l = xasprintf("naming to %s done", full);
		bld_vertex_log(b, id, l);
	}
	vertex_done(b, id);
	return 0;
}

static bool arg_declared(const struct bld_build *b, const char *name)
{
	for (size_t i = 0; i < b->g.n_meta_args; i++)
		for (size_t k = 0; k < b->g.meta_args[i].u.kv.n_kvs; k++)
			if (!strcmp(b->g.meta_args[i].u.kv.kvs[k].key, name))
				return true;
	for (size_t i = 0; i < b->g.n_stages; i++)
		if (b->stages[i].b && kiln_strv_contains(&b->stages[i].used_args, name))
			return true;
	return false;
}

/* BuildKit warns about build args no ARG of the built stages took. */
static void unused_args(struct bld_build *b)
{
	struct kiln_buf list;
	kiln_buf_init(&list, KILN_BUF_NOLIMIT, NULL);
	for (size_t i = 0; i < b->g.build_args.n; i++) {
		_cleanup_free_ char *name =
		    xstrndup(b->g.build_args.v[i], strcspn(b->g.build_args.v[i], "="));
		if (!df_arg_is_predefined(name) && !arg_declared(b, name))
			kiln_buf_addf(&list, NULL, "%s%s", list.len ? " " : "", name);
	}
	if (list.len)
		kiln_strv_pushf(&b->res->warnings, "One or more build-args [%s] were not consumed",
		                kiln_buf_str(&list));
	kiln_buf_release(&list);
}

static int finish(struct bld_build *b, struct kiln_err *err)
{
	unused_args(b);
	bool export_only_new = false;
	if (commit_image(b, &b->stages[b->g.target], &export_only_new, err) < 0)
		return -1;
	const struct bld_opts *o = b->o;
	b->res->export_only = o->n_outputs && !(o->tags && o->tags[0]);
	const char *iid = b->res->export_only ? "" : b->res->image_id;
	if (o->iidfile && kiln_write_file_atomic(o->iidfile, iid, strlen(iid), 0644, err) < 0)
		return kiln_err_wrap(err, "--iidfile");
	int r = 0;
	for (size_t i = 0; i < o->n_outputs && r == 0; i++)
		if (bld_export(b, &o->outputs[i], b->res->image_id, err) < 0)
			r = kiln_err_wrap(err, "--output");
	struct kiln_err e = KILN_ERR_INIT;
	if (export_only_new && img_store_remove_dangling(b->s, b->res->image_id, &e) < 0)
		kiln_strv_pushf(&b->res->warnings, "the exported image stays stored: %s", e.msg);
	kiln_err_release(&e);
	return r;
}

static int check_tags(const struct bld_opts *o, struct kiln_err *err)
{
	for (size_t i = 0; o->tags && o->tags[i]; i++) {
		_cleanup_free_ char *n = img_ref_normalize(o->tags[i], err);
		if (!n)
			return kiln_err_wrap(err, "invalid tag `%s`", o->tags[i]);
	}
	if (o->platform && bld_platform_check(o->platform, err) < 0)
		return kiln_err_wrap(err, "--platform");
	if (o->network && strcmp(o->network, "default") && strcmp(o->network, "none") &&
	    strcmp(o->network, "host"))
		return kiln_err_set(err, KILN_E_INVALID,
		                    "network mode `%s` not supported by buildkit (default, none, "
		                    "host)",
		                    o->network);
	return 0;
}

/* One build; *retry set when an imported cache layer failed verification
 * (the build then runs again without --cache-from). */
static int build_once(struct img_store *s, const struct bld_opts *o,
                      const struct bld_progress *progress, struct bld_result *res, bool no_remote,
                      bool *retry, struct kiln_err *err)
{
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(res, 0, sizeof(*res));
	struct bld_build b = {
	    .s = s, .o = o, .p = progress, .res = res, .tmp_lock = -1, .tmp_slot = -1};
	bld_interrupt_begin();
	pthread_mutex_init(&b.mu, NULL);
	pthread_mutex_init(&b.fs_mu, NULL);
	pthread_mutex_init(&b.pull_mu, NULL);
	pthread_cond_init(&b.cv, NULL);
	/* group commit: blobs and cache records are flushed together when the
	 * image is published, or at the end (docs/design-notes.md) */
	img_store_batch_begin(s);
	bld_scratch_sweep_own(img_store_tmpdir(s));
	rt_run_cancel(false);
	int r = check_tags(o, err);
	if (r == 0)
		r = bld_check_secrets_ssh(o, err);
	if (r == 0)
		r = parse_epoch(&b.epoch, err);
	if (r == 0)
		sweep_build_tmp(&b);
	if (r == 0) {
		b.created = img_time_rfc3339(b.epoch);
		r = prepare(&b, err);
	}
	if (r == 0)
		r = bld_remote_open(&b, no_remote, err);
	if (r == 0)
		r = bld_cache_open(&b, err);
	if (r == 0)
		r = bld_pull_images(&b, err);
	if (r == 0)
		r = run_stages(&b, err);
	if (r == 0)
		r = finish(&b, err);
	*retry = r < 0 && bld_remote_failed(&b);
	if (r == 0) /* --cache-to: a failure fails the build (the image is tagged) */
		r = bld_remote_export(&b, err);
	bld_remote_free(&b);
	struct kiln_err e = KILN_ERR_INIT;
	if (img_store_batch_end(s, &e) < 0) { /* the image, if any, is stored */
		kiln_strv_pushf(&res->warnings, "build cache not stored: %s", e.msg);
		kiln_err_release(&e);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	res->secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	bld_cache_finish(&b, r == 0);
	rt_netns_reap(); /* the RUN steps' network helpers, let go without waiting */
	if (r < 0 && b.err_line > 0)
		res->excerpt =
		    df_source_excerpt(b.dockerfile_text, b.dockerfile_len, b.err_line, b.err_line);
	for (size_t i = 0; b.stages && i < b.g.n_stages; i++)
		if (b.stages[i].b)
			bld_stage_release(&b.stages[i]);
	free(b.stages);
	df_graph_release(&b.g);
	bld_context_release(&b.ctx);
	remove_build_tmp(&b);
	bld_interrupt_end();
	free(b.dockerfile_text);
	free(b.created);
	kiln_err_release(&b.first_err);
	pthread_cond_destroy(&b.cv);
	pthread_mutex_destroy(&b.fs_mu);
	pthread_mutex_destroy(&b.pull_mu);
	bld_pull_release(&b);
	pthread_mutex_destroy(&b.mu);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	res->secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	return r;
}

int bld_build(struct img_store *s, const struct bld_opts *o, const struct bld_progress *progress,
              struct bld_result *res, struct kiln_err *err)
{
	bool retry = false;
	int r = build_once(s, o, progress, res, false, &retry, err);
	if (r == 0 || !retry)
		return r;
	_cleanup_free_ char *why = kiln_err_format(err);
	kiln_err_release(err);
	bld_result_release(res);
	r = build_once(s, o, progress, res, true, &retry, err);
	kiln_strv_pushf(&res->warnings, "the imported build cache was ignored: %s", why);
	return r;
}

void bld_result_release(struct bld_result *res)
{
	free(res->excerpt);
	res->excerpt = NULL;
	kiln_strv_release(&res->warnings);
}
