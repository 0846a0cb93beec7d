/* Push: every blob the registry lacks (HEAD first; a cross-repository
 * mount when another repository of the same registry is known to hold
 * it; else an upload: monolithic POST + PUT ?digest=, or PATCH chunks for
 * big blobs), then the manifest, whose digest the registry returns. Local
 * uncompressed layers are compressed once (img_layer_compressed). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reg-internal.h"

/* Blobs above CHUNK_SIZE go up in PATCH chunks of that size (tests set
 * KILN_PUSH_CHUNK_SIZE to see it happen on small blobs). */
#define CHUNK_SIZE_DEFAULT (64ull << 20)

static uint64_t chunk_size(void)
{
	const char *e = getenv("KILN_PUSH_CHUNK_SIZE");
	unsigned long long v = e ? strtoull(e, NULL, 10) : 0;
	return v >= 4096 ? v : CHUNK_SIZE_DEFAULT;
}

void reg_push_result_release(struct reg_push_result *r)
{
	free(r->tag);
	r->tag = NULL;
}

/* HEAD /blobs/D: 1 present, 0 absent, -1 error. */
static int blob_exists(struct reg_client *c, const char *digest, struct kiln_err *err)
{
	struct reg_req r;
	reg_req_init(&r, "HEAD", reg_url(c, "/blobs/%s", digest));
	int ret = reg_client_send(c, &r, err);
	if (ret == 0) {
		if (r.resp.status == 200)
			ret = 1;
		else if (r.resp.status != 404)
			ret = reg_resp_error(c, &r, digest, err);
	}
	reg_req_release(&r);
	return ret;
}

/* An absolute upload URL from a Location header (relative or absolute). */
static char *upload_url(struct reg_client *c, const char *loc, const char *extra)
{
	const char *sep = strchr(loc, '?') ? "&" : "?";
	if (!strncmp(loc, "http://", 7) || !strncmp(loc, "https://", 8))
		return xasprintf("%s%s%s", loc, extra ? sep : "", extra ? extra : "");
	return xasprintf("%s://%s%s%s%s", c->scheme, c->host, loc, extra ? sep : "",
	                 extra ? extra : "");
}

/* POST /blobs/uploads/ (with ?mount=&from= when from is set): 1 mounted
 * (201), 0 upload started (*location), -1 error. */
static int upload_start(struct reg_client *c, const char *digest, const char *from, char **location,
                        struct kiln_err *err)
{
	struct reg_req r;
	reg_req_init(&r, "POST",
	             from ? reg_url(c, "/blobs/uploads/?mount=%s&from=%s", digest, from)
	                  : reg_url(c, "/blobs/uploads/"));
	int ret = reg_client_send(c, &r, err);
	if (ret == 0 && r.resp.status == 201 && from)
		ret = 1;
	else if (ret == 0 && r.resp.status == 202 && r.resp.location)
		*location = xstrdup(r.resp.location);
	else if (ret == 0)
		ret = reg_resp_error(c, &r, "blob upload", err);
	reg_req_release(&r);
	return ret;
}

struct up_progress {
	struct reg_client *c;
	const char *digest;
	uint64_t base, total;
};

/* One request carrying [off, off+len) of fd; *location updated from the answer. */
static int send_part(struct reg_client *c, const char *method, char *url, int fd, off_t off,
                     uint64_t len, bool range, char **location, long want, struct kiln_err *err)
{
	struct reg_req r;
	reg_req_init(&r, method, url);
	r.body_fd = fd;
	r.body_off = off;
	r.fd_len = len;
	reg_req_header(&r, "Content-Type: application/octet-stream");
	if (range && len)
		reg_req_header(&r, "Content-Range: %lld-%lld", (long long)off,
		               (long long)(off + (off_t)len - 1));
	int ret = reg_client_send(c, &r, err);
	if (ret == 0 && r.resp.status != want)
		ret = reg_resp_error(c, &r, "blob upload", err);
	if (ret == 0 && location && r.resp.location) {
		free(*location);
		*location = xstrdup(r.resp.location);
	}
	reg_req_release(&r);
	return ret;
}

static int upload_blob(struct reg_client *c, struct img_store *s, const char *digest, uint64_t size,
                       const char *location_in, const char *id, struct kiln_err *err)
{
	_cleanup_close_ int fd = img_store_open_blob(s, digest, err);
	if (fd < 0)
		return -1;
	_cleanup_free_ char *location = xstrdup(location_in);
	_cleanup_free_ char *dq = xasprintf("digest=%s", digest);
	uint64_t chunk = chunk_size();
	if (size <= chunk) {
		if (id)
			reg_emit(c, REG_EV_PUSHING, id, 0, size, NULL);
		return send_part(c, "PUT", upload_url(c, location, dq), fd, 0, size, false, NULL,
		                 201, err);
	}
	for (uint64_t off = 0; off < size; off += chunk) {
		uint64_t n = size - off < chunk ? size - off : chunk;
		if (id)
			reg_emit(c, REG_EV_PUSHING, id, off, size, NULL);
		if (send_part(c, "PATCH", upload_url(c, location, NULL), fd, (off_t)off, n, true,
		              &location, 202, err) < 0)
			return -1;
	}
	if (id)
		reg_emit(c, REG_EV_PUSHING, id, size, size, NULL);
	return send_part(c, "PUT", upload_url(c, location, dq), fd, 0, 0, false, NULL, 201, err);
}

/* Another repository of the same registry known to hold the image's blobs
 * (from its RepoDigests), or NULL. */
static char *mount_source(const struct img_image *img, const struct img_ref *dst)
{
	for (size_t i = 0; i < img->n_repo_digests; i++) {
		struct img_ref r;
		if (img_ref_parse(img->repo_digests[i], 0, &r, NULL) < 0)
			continue;
		char *from = NULL;
		if (!strcmp(r.domain, dst->domain) && strcmp(r.path, dst->path))
			from = xstrdup(r.path);
		img_ref_release(&r);
		if (from)
			return from;
	}
	return NULL;
}

/* Makes sure the registry holds blob d: exists, mounted or uploaded. */
static int push_blob(struct reg_client *c, struct img_store *s, const struct img_descriptor *d,
                     const char *from, const char *layer, struct kiln_err *err)
{
	int ex = blob_exists(c, d->digest, err);
	if (ex < 0)
		return -1;
	if (ex) {
		if (layer)
			reg_emit(c, REG_EV_PUSH_EXISTS, layer, 0, 0, NULL);
		return 0;
	}
	_cleanup_free_ char *location = NULL;
	int st = upload_start(c, d->digest, from, &location, err);
	if (st < 0)
		return -1;
	if (st == 1) {
		if (layer)
			reg_emit(c, REG_EV_MOUNTED, layer, 0, 0, from);
		return 0;
	}
	if (upload_blob(c, s, d->digest, (uint64_t)d->size, location, layer, err) < 0)
		return kiln_err_wrap(err, "pushing blob %s", d->digest);
	if (layer)
		reg_emit(c, REG_EV_PUSHED, layer, 0, 0, NULL);
	return 0;
}

/* --- streaming: upload a layer while it is compressed ----------------------
 * The compressor hands over pieces (a bounded queue); an uploader thread
 * sends them as the body of ONE chunked PATCH (the distribution spec's
 * streamed upload), then the PUT ?digest= closes the upload. */

#define STREAM_QUEUE 3

struct stream_up {
	struct reg_client *c;
	const char *diff_id;
	uint64_t total; /* uncompressed size, for progress */
	char *location;
	uint64_t sent;
	pthread_t th;
	bool started, closed, abort, failed;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct {
		void *p;
		size_t n;
	} q[STREAM_QUEUE];
	size_t head, count, head_off;
	struct kiln_err err; /* the uploader's failure */
	/* pieces sent, for the next ones (fresh big allocations cost page faults) */
	void *spare[STREAM_QUEUE];
	size_t spare_cap[STREAM_QUEUE], n_spare;
	size_t cap[STREAM_QUEUE]; /* of the queued pieces */
};

/* Under mu: piece p (cap bytes) is sent. */
static void piece_done(struct stream_up *u, void *p, size_t cap)
{
	if (u->n_spare < STREAM_QUEUE) {
		u->spare[u->n_spare] = p;
		u->spare_cap[u->n_spare++] = cap;
	} else {
		free(p);
	}
}

/* Under mu: a buffer for n bytes, and its capacity. */
static void *piece_buf(struct stream_up *u, size_t n, size_t *cap)
{
	while (u->n_spare) {
		u->n_spare--;
		if (u->spare_cap[u->n_spare] >= n) {
			*cap = u->spare_cap[u->n_spare];
			return u->spare[u->n_spare];
		}
		free(u->spare[u->n_spare]);
	}
	*cap = n;
	return xmalloc(n ? n : 1);
}

/* curl's read callback for the PATCH body: waits for the next piece. */
static size_t stream_source(char *buf, size_t size, size_t nmemb, void *ud)
{
	struct stream_up *u = ud;
	size_t want = size * nmemb, got = 0;
	pthread_mutex_lock(&u->mu);
	while (!u->count && !u->closed)
		pthread_cond_wait(&u->cv, &u->mu);
	if (u->abort) {
		pthread_mutex_unlock(&u->mu);
		return CURL_READFUNC_ABORT;
	}
	if (u->count) {
		size_t left = u->q[u->head].n - u->head_off;
		got = left < want ? left : want;
		memcpy(buf, (char *)u->q[u->head].p + u->head_off, got);
		u->head_off += got;
		if (u->head_off == u->q[u->head].n) {
			piece_done(u, u->q[u->head].p, u->cap[u->head]);
			u->head = (u->head + 1) % STREAM_QUEUE;
			u->count--;
			u->head_off = 0;
			pthread_cond_broadcast(&u->cv);
		}
	}
	pthread_mutex_unlock(&u->mu);
	u->sent += got;
	return got;
}

static void *uploader(void *arg)
{
	struct stream_up *u = arg;
	struct reg_req r;
	reg_req_init(&r, "PATCH", upload_url(u->c, u->location, NULL));
	reg_req_header(&r, "Content-Type: application/octet-stream");
	r.source = stream_source;
	r.source_ud = u;
	struct kiln_err e = KILN_ERR_INIT;
	int ret = reg_client_send(u->c, &r, &e); /* a streamed body is never retried */
	if (ret == 0 && r.resp.status != 202)
		ret = reg_resp_error(u->c, &r, "blob upload", &e);
	if (ret == 0 && r.resp.location) {
		free(u->location);
		u->location = xstrdup(r.resp.location);
	}
	reg_req_release(&r);
	pthread_mutex_lock(&u->mu);
	if (ret < 0 || !u->closed || u->count) {
		if (ret == 0)
			kiln_err_set(&e, EIO, "the registry ended the upload early");
		kiln_err_move(&u->err, &e);
		u->failed = true;
	}
	pthread_cond_broadcast(&u->cv);
	pthread_mutex_unlock(&u->mu);
	kiln_err_release(&e);
	return NULL;
}

/* img_chunk_fn: the first piece opens the upload and starts the uploader. */
static int stream_sink(void *ud, const void *p, size_t n, struct kiln_err *err)
{
	struct stream_up *u = ud;
	if (u->c->cancel && atomic_load(u->c->cancel))
		return kiln_err_set(err, ECANCELED, "cancelled");
	if (!u->started) {
		if (upload_start(u->c, "", NULL, &u->location, err) < 0)
			return -1;
		pthread_mutex_init(&u->mu, NULL);
		pthread_cond_init(&u->cv, NULL);
		if (pthread_create(&u->th, NULL, uploader, u) != 0)
			return kiln_err_set(err, EAGAIN, "starting the upload thread");
		u->started = true;
	}
	pthread_mutex_lock(&u->mu);
	while (u->count == STREAM_QUEUE && !u->failed)
		pthread_cond_wait(&u->cv, &u->mu);
	if (u->failed) {
		pthread_mutex_unlock(&u->mu);
		return kiln_err_set(err, u->err.code, "%s", u->err.msg);
	}
	size_t cap;
	void *buf = piece_buf(u, n, &cap);
	pthread_mutex_unlock(&u->mu);
	memcpy(buf, p, n); /* the one producer: the free slot stays free meanwhile */
	pthread_mutex_lock(&u->mu);
	size_t tail = (u->head + u->count) % STREAM_QUEUE;
	u->q[tail].p = buf;
	u->cap[tail] = cap;
	u->q[tail].n = n;
	u->count++;
	pthread_cond_broadcast(&u->cv);
	pthread_mutex_unlock(&u->mu);
	reg_emit(u->c, REG_EV_PUSHING, u->diff_id, u->sent, u->total, NULL);
	return 0;
}

/* Ends the body and waits for the uploader, then completes the upload as
 * digest; with digest NULL (compression failed) the upload is aborted. */
static int stream_finish(struct stream_up *u, const char *digest, struct kiln_err *err)
{
	int ret = 0;
	if (u->started) {
		pthread_mutex_lock(&u->mu);
		u->closed = true;
		u->abort = !digest;
		pthread_cond_broadcast(&u->cv);
		pthread_mutex_unlock(&u->mu);
		pthread_join(u->th, NULL);
		for (; u->count; u->count--, u->head = (u->head + 1) % STREAM_QUEUE)
			free(u->q[u->head].p);
		while (u->n_spare)
			free(u->spare[--u->n_spare]);
		pthread_mutex_destroy(&u->mu);
		pthread_cond_destroy(&u->cv);
		if (u->failed && digest)
			ret = kiln_err_set(err, u->err.code, "%s", u->err.msg);
	}
	if (ret == 0 && digest && u->location) {
		_cleanup_free_ char *dq = xasprintf("digest=%s", digest);
		ret = send_part(u->c, "PUT", upload_url(u->c, u->location, dq), -1, 0, 0, false,
		                NULL, 201, err);
	}
	kiln_err_release(&u->err);
	free(u->location);
	u->location = NULL;
	return ret;
}

/* --- layers ------------------------------------------------------------------- */

/* Pushes layer i of img and fills its descriptor as pushed: an
 * uncompressed local layer is compressed once (remembered in the store),
 * uploading while it compresses the first time. */
static int push_layer(struct reg_client *c, struct img_store *s, const struct img_image *img,
                      size_t i, enum img_compression comp, const char *from,
                      struct img_descriptor *out, struct kiln_err *err)
{
	const struct img_descriptor *d = &img->manifest->layers[i];
	const char *diff = img->config->diff_ids[i];
	enum img_compression have;
	if (img_compression_from_media_type(d->media_type, &have, err) < 0)
		return -1;
	if (have != IMG_COMPRESS_NONE || comp == IMG_COMPRESS_NONE) {
		img_descriptor_copy(out, d);
		return push_blob(c, s, out, from, diff, err);
	}
	struct img_layer in = {0}, z = {0};
	snprintf(in.diff_id, sizeof(in.diff_id), "%s", diff);
	snprintf(in.digest, sizeof(in.digest), "%s", d->digest);
	in.size = (uint64_t)d->size;
	in.media_type = d->media_type; /* borrowed, never released */
	struct stream_up u = {.c = c, .diff_id = diff, .total = in.size};
	bool streamed = false;
	int ret = img_layer_compressed_stream(s, &in, comp, &z, stream_sink, &u, &streamed, err);
	if (ret < 0) {
		stream_finish(&u, NULL, NULL);
		return -1;
	}
	img_layer_descriptor(&z, out);
	if (!strcmp(img->manifest->media_type ? img->manifest->media_type : "",
	            IMG_MT_DOCKER_MANIFEST) &&
	    !strcmp(out->media_type, IMG_MT_LAYER_GZIP)) {
		free(out->media_type);
		out->media_type = xstrdup(IMG_MT_DOCKER_LAYER);
	}
	img_layer_release(&z);
	if (!streamed)
		return push_blob(c, s, out, from, diff, err);
	if (stream_finish(&u, out->digest, err) < 0)
		return kiln_err_wrap(err, "pushing layer %s", diff);
	reg_emit(c, REG_EV_PUSHED, diff, 0, 0, NULL);
	return 0;
}

/* The manifest bytes to push: the stored ones, verbatim, when every layer
 * goes up as stored (a pulled image keeps its digest, as with docker),
 * else pm serialized. */
static char *manifest_bytes(struct img_store *s, const struct img_image *img,
                            const struct img_manifest *pm, size_t *len)
{
	const struct img_manifest *m = img->manifest;
	bool same = true;
	for (size_t i = 0; i < m->n_layers && same; i++)
		same = !strcmp(m->layers[i].digest, pm->layers[i].digest) &&
		       !strcmp(m->layers[i].media_type, pm->layers[i].media_type);
	char *data = NULL;
	if (same &&
	    img_store_read_blob(s, img->manifest_digest, IMG_MAX_JSON, &data, len, NULL) == 0)
		return data;
	return img_manifest_to_json(pm, len);
}

static int put_manifest(struct reg_client *c, const char *tag, const struct img_manifest *m,
                        char *json, size_t len, struct reg_push_result *res, struct kiln_err *err)
{
	char digest[KILN_DIGEST_LEN];
	kiln_sha256_digest(json, len, digest);
	struct reg_req r;
	reg_req_init(&r, "PUT", reg_url(c, "/manifests/%s", tag));
	r.body = json;
	r.body_len = len;
	reg_req_header(&r, "Content-Type: %s", m->media_type);
	_cleanup_free_ char *what = xasprintf("manifest for %s:%s", c->familiar, tag);
	int ret = reg_client_send(c, &r, err);
	if (ret == 0 && r.resp.status != 201)
		ret = reg_resp_error(c, &r, what, err);
	if (ret == 0 && r.resp.digest && strcmp(r.resp.digest, digest) != 0)
		ret = kiln_err_set(err, KILN_E_CORRUPT,
		                   "the registry stored %s as %s, kiln computed %s", what,
		                   r.resp.digest, digest);
	reg_req_release(&r);
	if (ret < 0)
		return -1;
	snprintf(res->digest, sizeof(res->digest), "%s", digest);
	res->size = (int64_t)len;
	return 0;
}

/* The first index whose layer blob is layer i's. */
static size_t first_of(const struct img_manifest *m, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (!strcmp(m->layers[j].digest, m->layers[i].digest))
			return j;
	return i;
}

/* --- layers in parallel ---------------------------------------------------
 * PUSH_THREADS threads (docker's max-concurrent-uploads) take the layers in
 * order, each on a client of its own (its own connections); progress events
 * are serialized. The first failure sets cancel: the other threads' next
 * request (or compressed piece) fails with ECANCELED, so nothing more goes
 * up, and no manifest is pushed. */

#define PUSH_THREADS 3

struct push_pool {
	struct reg_client *c;
	struct img_store *s;
	const struct img_image *img;
	struct img_manifest *pm;
	const char *from;
	enum img_compression comp;
	pthread_mutex_t mu; /* next, err, and the progress callback */
	size_t next;
	atomic_bool cancel;
	struct kiln_err err; /* the first failure */
};

static void pool_emit(const struct reg_event *ev, void *ud)
{
	struct push_pool *p = ud;
	pthread_mutex_lock(&p->mu);
	p->c->cb(ev, p->c->cb_ud);
	pthread_mutex_unlock(&p->mu);
}

/* The next layer to push (not a repeat of an earlier one), or SIZE_MAX. */
static size_t pool_take(struct push_pool *p)
{
	const struct img_manifest *m = p->img->manifest;
	size_t i = SIZE_MAX;
	pthread_mutex_lock(&p->mu);
	while (p->next < m->n_layers && !atomic_load(&p->cancel)) {
		size_t k = p->next++;
		if (first_of(m, k) == k) {
			i = k;
			break;
		}
	}
	pthread_mutex_unlock(&p->mu);
	return i;
}

static void *push_worker(void *arg)
{
	struct push_pool *p = arg;
	struct reg_client wc;
	reg_client_clone(&wc, p->c);
	wc.cb = p->c->cb ? pool_emit : NULL;
	wc.cb_ud = p;
	wc.cancel = &p->cancel;
	for (size_t i; (i = pool_take(p)) != SIZE_MAX;) {
		struct kiln_err e = KILN_ERR_INIT;
		if (push_layer(&wc, p->s, p->img, i, p->comp, p->from, &p->pm->layers[i], &e) < 0) {
			pthread_mutex_lock(&p->mu);
			if (!atomic_exchange(&p->cancel, true))
				kiln_err_move(&p->err, &e);
			pthread_mutex_unlock(&p->mu);
		}
		kiln_err_release(&e);
	}
	reg_client_close(&wc);
	return NULL;
}

static int push_layers(struct push_pool *p, struct kiln_err *err)
{
	const struct img_manifest *m = p->img->manifest;
	pthread_mutex_init(&p->mu, NULL);
	atomic_init(&p->cancel, false);
	pthread_t th[PUSH_THREADS];
	size_t n = 0;
	for (; n < PUSH_THREADS && n < m->n_layers; n++)
		if (pthread_create(&th[n], NULL, push_worker, p) != 0)
			break;
	if (n == 0 && m->n_layers)
		push_worker(p); /* no thread: push them here */
	for (size_t i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&p->mu);
	if (atomic_load(&p->cancel)) {
		kiln_err_move(err, &p->err);
		return -1;
	}
	for (size_t i = 0; i < m->n_layers; i++) /* a layer listed twice went up once */
		if (first_of(m, i) != i)
			img_descriptor_copy(&p->pm->layers[i], &p->pm->layers[first_of(m, i)]);
	return 0;
}

int reg_push(struct img_store *s, const char *ref, const struct reg_opts *o, reg_progress_fn cb,
             void *ud, struct reg_push_result *res, struct kiln_err *err)
{
	memset(res, 0, sizeof(*res));
	struct img_ref r;
	if (img_ref_parse(ref, IMG_REF_DEFAULT_TAG, &r, err) < 0)
		return -1;
	_cleanup_free_ char *full = img_ref_string(&r);
	_cleanup_free_ char *fam = img_ref_familiar_name(&r);
	struct reg_client c;
	if (reg_client_open(&c, r.domain, r.path, true, o, err) < 0) {
		img_ref_release(&r);
		return -1;
	}
	c.cb = cb;
	c.cb_ud = ud;
	_cleanup_free_ char *name = img_ref_name(&r);
	/* docker's daemon says this before it looks for the image */
	_cleanup_free_ char *line = xasprintf("The push refers to repository [%s]", c.familiar);
	reg_emit(&c, REG_EV_STATUS, NULL, 0, 0, line);
	res->started = true;
	struct img_image *img = NULL;
	if (r.digest || img_image_load(s, full, &img, NULL) < 0) {
		reg_client_close(&c);
		img_ref_release(&r);
		return kiln_err_set(err, KILN_E_NOTFOUND,
		                    "An image does not exist locally with the tag: %s", fam);
	}
	int ret = 0;
	const struct img_manifest *m = img->manifest;
	struct img_manifest pm = {.schema_version = 2};
	pm.media_type = xstrdup(m->media_type ? m->media_type : IMG_MT_OCI_MANIFEST);
	img_descriptor_copy(&pm.config, &m->config);
	pm.layers = xcalloc(m->n_layers + 1, sizeof(*pm.layers));
	pm.n_layers = m->n_layers;
	_cleanup_free_ char *from = mount_source(img, &r);
	for (size_t i = m->n_layers; i-- > 0;)
		if (first_of(m, i) == i)
			reg_emit(&c, REG_EV_PUSH_PREPARING, img->config->diff_ids[i], 0, 0, NULL);
	/* the config first, on this client: it settles the scheme and the
	 * token the layer threads' clients start from */
	ret = push_blob(&c, s, &pm.config, NULL, NULL, err);
	struct push_pool pool = {.c = &c, .s = s, .img = img, .pm = &pm, .from = from};
	pool.comp = o ? o->compression : IMG_COMPRESS_GZIP;
	if (ret == 0)
		ret = push_layers(&pool, err);
	_cleanup_free_ char *json = NULL;
	size_t jlen = 0;
	if (ret == 0) {
		json = manifest_bytes(s, img, &pm, &jlen);
		ret = put_manifest(&c, r.tag, &pm, json, jlen, res, err);
	}
	if (ret == 0) {
		_cleanup_free_ char *rd = xasprintf("%s@%s", name, res->digest);
		ret = img_image_add_repo_digest(s, img->id, rd, err);
		res->tag = xstrdup(r.tag);
	}
	img_manifest_release(&pm);
	reg_client_close(&c);
	img_image_free(img);
	img_ref_release(&r);
	return ret;
}

/* --- for artifact.c: blobs and manifests named by the caller --------------- */

int reg_push_stored_blob(struct reg_client *c, struct img_store *s, const struct img_descriptor *d,
                         struct kiln_err *err)
{
	return push_blob(c, s, d, NULL, NULL, err);
}

int reg_blob_exists(struct reg_client *c, const char *digest, struct kiln_err *err)
{
	return blob_exists(c, digest, err);
}

int reg_put_manifest_raw(struct reg_client *c, const char *tag, const char *media_type, char *json,
                         size_t len, char digest[KILN_DIGEST_LEN], struct kiln_err *err)
{
	struct img_manifest m = {.media_type = (char *)media_type};
	struct reg_push_result res = {0};
	if (put_manifest(c, tag, &m, json, len, &res, err) < 0)
		return -1;
	snprintf(digest, KILN_DIGEST_LEN, "%s", res.digest);
	return 0;
}
