/* Images a build names (FROM, COPY --from, RUN --mount=from=) come from the
 * store, or from their registry when the store lacks them or --pull is
 * given. Each is pulled at most once per build, under a progress vertex of
 * its own ("[internal] load metadata for REF", then BuildKit's plain status
 * lines: resolve, each layer's bytes, extracting). Pulls are serialized: two
 * stages naming one base wait for a single download. */
#include <string.h>
#include <strings.h>
#include <time.h>

#include "build-internal.h"
#include "registry.h"

struct pull_ctx {
	struct bld_build *b;
	int id;
	struct {
		char id[16];
		uint64_t total;
	} sizes[64]; /* a layer's size from its Downloading events */
	size_t n_sizes;
};

static void human(uint64_t n, char *buf, size_t len)
{
	static const char *const unit[] = {"kB", "MB", "GB", "TB"};
	if (n < 1000) {
		snprintf(buf, len, "%lluB", (unsigned long long)n);
		return;
	}
	double v = (double)n / 1000;
	size_t u = 0;
	for (; v >= 1000 && u + 1 < sizeof(unit) / sizeof(*unit); u++)
		v /= 1000;
	snprintf(buf, len, "%.2f%s", v, unit[u]);
}

static uint64_t *size_of(struct pull_ctx *p, const char *id)
{
	for (size_t i = 0; i < p->n_sizes; i++)
		if (!strcmp(p->sizes[i].id, id))
			return &p->sizes[i].total;
	if (p->n_sizes == sizeof(p->sizes) / sizeof(*p->sizes))
		return NULL;
	snprintf(p->sizes[p->n_sizes].id, sizeof(p->sizes[0].id), "%s", id);
	p->sizes[p->n_sizes].total = 0;
	return &p->sizes[p->n_sizes++].total;
}

static void on_event(const struct reg_event *ev, void *ud)
{
	struct pull_ctx *p = ud;
	const char *id = ev->id ? ev->id : "";
	uint64_t *total = *id ? size_of(p, id) : NULL;
	char line[256], a[32];
	switch (ev->kind) {
	case REG_EV_DOWNLOADING:
		if (total && ev->total)
			*total = ev->total;
		return;
	case REG_EV_DOWNLOAD_COMPLETE:
		human(total ? *total : 0, a, sizeof(a));
		snprintf(line, sizeof(line), "sha256:%s %s / %s done", id, a, a);
		break;
	case REG_EV_EXTRACTING: snprintf(line, sizeof(line), "extracting sha256:%s", id); break;
	case REG_EV_PULL_COMPLETE:
		snprintf(line, sizeof(line), "extracting sha256:%s done", id);
		break;
	case REG_EV_RETRYING:
		snprintf(line, sizeof(line), "retrying: %s", ev->detail ? ev->detail : "");
		break;
	default: return;
	}
	bld_vertex_log(p->b, p->id, line);
}

static double since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static int pull(struct bld_build *b, const char *ref, struct kiln_err *err)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	_cleanup_free_ char *full = img_ref_normalize(ref, NULL);
	_cleanup_free_ char *name = xasprintf("[internal] load metadata for %s", full ? full : ref);
	struct pull_ctx p = {.b = b, .id = bld_vertex_start(b, name)};
	_cleanup_free_ char *l = xasprintf("resolve %s", full ? full : ref);
	bld_vertex_log(b, p.id, l);
	struct reg_opts o = {.platform = b->o->platform};
	struct reg_pull_result res;
	if (reg_pull(b->s, ref, &o, on_event, &p, &res, err) < 0) {
		_cleanup_free_ char *m = kiln_err_format(err);
		bld_vertex_error(b, p.id, since(&t0), m);
		return kiln_err_wrap(err, "pulling `%s`", ref);
	}
	_cleanup_free_ char *done = xasprintf("resolve %s@%s done", res.ref, res.digest);
	bld_vertex_log(b, p.id, done);
	reg_pull_result_release(&res);
	bld_vertex_done(b, p.id, since(&t0), false);
	return 0;
}

/* A name is loaded once per build (FROM's pull check, the stage and its
 * key each ask): later calls get a copy. Tags are looked up through the
 * index (IMG_FIND_CONTENT), so the other stored images are never read.
 * Under pull_mu; a pull of the name comes before its first load. */
static int load(struct bld_build *b, const char *name, struct img_image **out, struct kiln_err *err)
{
	for (size_t i = 0; i < b->loaded_names.n; i++)
		if (!strcmp(b->loaded_names.v[i], name)) {
			*out = img_image_dup(b->loaded[i]);
			return 0;
		}
	pthread_mutex_lock(&b->mu);
	int r = img_image_find(b->s, name, IMG_FIND_CONTENT, out, err);
	pthread_mutex_unlock(&b->mu);
	if (r == 0) {
		b->loaded = xreallocarray(b->loaded, b->loaded_names.n + 1, sizeof(*b->loaded));
		b->loaded[b->loaded_names.n] = img_image_dup(*out);
		kiln_strv_push(&b->loaded_names, name);
	}
	return r;
}

void bld_pull_release(struct bld_build *b)
{
	for (size_t i = 0; i < b->loaded_names.n; i++)
		img_image_free(b->loaded[i]);
	free(b->loaded);
	kiln_strv_release(&b->loaded_names);
	kiln_strv_release(&b->pulled);
}

int bld_image_load(struct bld_build *b, const char *name, struct img_image **out,
                   struct kiln_err *err)
{
	pthread_mutex_lock(&b->pull_mu);
	bool pulled = kiln_strv_contains(&b->pulled, name);
	int r = 0;
	if (!b->o->pull || pulled) {
		struct kiln_err e = KILN_ERR_INIT;
		r = load(b, name, out, &e);
		/* pulled already in this build: what the store says stands */
		if (r == 0 || e.code != KILN_E_NOTFOUND || pulled) {
			if (r < 0)
				kiln_err_move(err, &e);
			pthread_mutex_unlock(&b->pull_mu);
			return r;
		}
		kiln_err_release(&e);
	}
	r = pull(b, name, err);
	if (r == 0) {
		kiln_strv_push(&b->pulled, name);
		r = load(b, name, out, err);
	}
	pthread_mutex_unlock(&b->pull_mu);
	return r;
}

static int ensure(struct bld_build *b, const char *name, struct kiln_err *err)
{
	if (!name || strchr(name, '$') || !strcasecmp(name, "scratch"))
		return 0; /* words with variables wait for their step */
	struct img_image *img = NULL;
	if (bld_image_load(b, name, &img, err) < 0)
		return -1;
	img_image_free(img);
	return 0;
}

/* The images of the stages the target needs, before any step runs, as
 * BuildKit loads their metadata first. */
int bld_pull_images(struct bld_build *b, struct kiln_err *err)
{
	for (size_t i = 0; i < b->g.n_stages; i++) {
		const struct df_stage *ds = &b->g.stages[i];
		if (!ds->needed)
			continue;
		int line = ds->start_line;
		const char *what = ds->original;
		int r = ds->base_stage < 0 ? ensure(b, ds->base_expanded, err) : 0;
		for (size_t k = 0; k < ds->n_instrs && r == 0; k++) {
			const struct df_instr *in = &ds->instrs[k];
			line = in->start_line;
			what = in->original;
			if ((in->kind == DF_I_COPY || in->kind == DF_I_ADD) &&
			    in->u.copy.from_stage < 0)
				r = ensure(b, in->u.copy.from, err);
			for (size_t m = 0; in->kind == DF_I_RUN && m < in->u.run.n_mounts && r == 0;
			     m++)
				if (in->u.run.mounts[m].from_stage < 0)
					r = ensure(b, in->u.run.mounts[m].from, err);
		}
		if (r < 0) {
			b->err_line = line;
			return kiln_err_wrap(err, "%s:%d: %s", b->g.filename, line, what);
		}
	}
	return 0;
}
