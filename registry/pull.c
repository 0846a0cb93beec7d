/* Pull: manifest (an index picks a platform), config, then the missing
 * layer blobs, o->parallel at a time on the client's curl multi handle.
 * Every blob streams into a store blob writer that hashes as it writes;
 * the size is checked while streaming (a longer body is cut off) and the
 * digest at the end, before the blob is renamed into the store. The same
 * bytes feed a thread that unpacks the layer's snapshot (unpack.c),
 * published only once its digest and diffID are verified. The manifest is
 * stored verbatim and tagged last, so a failure leaves at most
 * unreferenced blobs. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "reg-internal.h"

struct dl {
	struct reg_client *c;
	struct img_store *s;
	const struct img_descriptor *d;
	struct img_blob_writer *w;
	unsigned char *chunk; /* bytes gathered for the next write and hand-over */
	size_t chunk_len;
	uint64_t got, last_emit, resume_from;
	uint64_t replayed; /* bytes of a partial an earlier pull left, read back */
	int attempts;
	bool resumable; /* the last attempt broke off after good bytes */
	bool reauthed;  /* a 401 got a new token once (it expired mid-pull) */
	bool replaying; /* reading back a kept partial, a chunk a turn (dl_replay_step) */
	bool done;
	struct reg_req req;
	struct img_layer layer; /* for the snapshot (diff_id empty: none to unpack) */
	struct reg_unpack unpack;
};

void reg_pull_result_release(struct reg_pull_result *r)
{
	free(r->ref);
	r->ref = NULL;
}

/* --- platform ------------------------------------------------------------ */

struct platform {
	char *os, *arch, *variant;
};

static int platform_parse(const char *s, struct platform *p, struct kiln_err *err)
{
	memset(p, 0, sizeof(*p));
	if (!s || !*s)
		s = "linux/" KILN_HOST_ARCH;
	char *dup = xstrdup(s), *save = NULL;
	char *os = strtok_r(dup, "/", &save), *arch = strtok_r(NULL, "/", &save);
	char *var = strtok_r(NULL, "/", &save);
	if (!os || !arch || strtok_r(NULL, "/", &save)) {
		free(dup);
		return kiln_err_set(err, KILN_E_INVALID,
		                    "invalid platform `%s`: want os/arch[/variant]", s);
	}
	p->os = xstrdup(os);
	p->arch = xstrdup(arch);
	p->variant = var ? xstrdup(var) : NULL;
	free(dup);
	return 0;
}

static void platform_release(struct platform *p)
{
	free(p->os);
	free(p->arch);
	free(p->variant);
}

static bool platform_match(const struct platform *want, const struct img_platform *have)
{
	if (!have || !have->os || !have->architecture || strcmp(want->os, have->os) ||
	    strcmp(want->arch, have->architecture))
		return false;
	return !want->variant || (have->variant && !strcmp(want->variant, have->variant)) ||
	       (!have->variant && !strcmp(want->variant, "v8"));
}

static int pick_manifest(const char *data, size_t len, const struct platform *want,
                         char digest[KILN_DIGEST_LEN], struct kiln_err *err)
{
	struct img_index *x = NULL;
	if (img_index_from_json(data, len, &x, err) < 0)
		return -1;
	int ret = -1;
	for (size_t i = 0; i < x->n_manifests && ret < 0; i++) {
		const struct img_descriptor *d = &x->manifests[i];
		if (platform_match(want, d->platform) && kiln_digest_valid(d->digest)) {
			snprintf(digest, KILN_DIGEST_LEN, "%s", d->digest);
			ret = 0;
		}
	}
	img_index_free(x);
	if (ret < 0)
		kiln_err_set(err, KILN_E_NOTFOUND,
		             "no matching manifest for %s/%s%s%s in the manifest list entries",
		             want->os, want->arch, want->variant ? "/" : "",
		             want->variant ? want->variant : "");
	return ret;
}

/* --- blobs ---------------------------------------------------------------- */

/* A fresh unpacking for a download that starts from byte 0. */
static int unpack_restart(struct dl *x, struct kiln_err *err)
{
	reg_unpack_finish(&x->unpack, false, NULL);
	if (!x->layer.diff_id[0])
		return 0;
	return reg_unpack_start(&x->unpack, x->s, &x->layer, err);
}

/* Writes the gathered bytes to the blob and hands them to the unpacker
 * (curl delivers 16 KiB at a time: one write and hand-over per REG_CHUNK). */
static int dl_flush(struct dl *x, struct kiln_err *err)
{
	if (!x->chunk_len)
		return 0;
	if (img_blob_writer_write(x->w, x->chunk, x->chunk_len, err) < 0)
		return -1;
	if (x->unpack.running) {
		reg_unpack_give(&x->unpack, x->chunk, x->chunk_len);
		x->chunk = NULL;
	}
	x->chunk_len = 0;
	return 0;
}

/* A blob writer from byte 0: the partial file of the digest (kept if
 * this process dies), its old bytes left unread (the first write drops them). */
static int dl_fresh(struct dl *x, struct kiln_err *err)
{
	img_blob_writer_free(x->w);
	x->got = x->last_emit = x->replayed = 0;
	x->chunk_len = 0;
	x->w = img_blob_writer_resume(x->s, x->d->digest, err);
	if (!x->w || unpack_restart(x, err) < 0)
		return -1;
	return 0;
}

/* The next chunk of the partial an earlier (killed) pull left: hashed
 * again and handed to the unpacker; the download goes on after those
 * bytes. The last byte is always fetched again (an empty Range is not
 * asked for). One chunk a turn of the transfer loop (download_all), so a
 * large partial does not hold the other downloads for its length. 1 while
 * bytes remain, 0 once all are read (x->replaying cleared), -1. */
static int dl_replay_step(struct dl *x, struct kiln_err *err)
{
	uint64_t max = x->d->size > 0 ? (uint64_t)x->d->size - 1 : 0;
	if (!x->chunk)
		x->chunk = reg_unpack_chunk(&x->unpack);
	size_t room = REG_CHUNK;
	if (max - x->got < room)
		room = (size_t)(max - x->got);
	ssize_t n = room ? img_blob_writer_replay(x->w, x->chunk, room, err) : 0;
	if (n < 0)
		return -1;
	if (n > 0) {
		x->got += (uint64_t)n;
		if (x->unpack.running) {
			reg_unpack_give(&x->unpack, x->chunk, (size_t)n);
			x->chunk = NULL;
		}
		return 1;
	}
	x->replaying = false;
	x->replayed = x->got;
	if (x->got)
		kiln_debug("registry: %s: %llu bytes of an earlier pull kept", x->d->digest,
		           (unsigned long long)x->got);
	return 0;
}

static int dl_sink(void *ud, const void *p, size_t n, struct kiln_err *err)
{
	struct dl *x = ud;
	if (x->resume_from && x->req.resp.status != 206) {
		/* the registry ignored the Range: start the blob over */
		kiln_debug("registry: %s: no range support, downloading again", x->d->digest);
		x->resume_from = 0;
		if (dl_fresh(x, err) < 0)
			return -1;
	}
	x->resume_from = 0;
	if (x->got + n > (uint64_t)x->d->size)
		return kiln_err_set(err, KILN_E_CORRUPT,
		                    "blob %s is larger than the %lld bytes its descriptor names",
		                    x->d->digest, (long long)x->d->size);
	x->got += n;
	for (const unsigned char *c = p; n;) {
		if (!x->chunk)
			x->chunk = reg_unpack_chunk(&x->unpack);
		size_t take = REG_CHUNK - x->chunk_len < n ? REG_CHUNK - x->chunk_len : n;
		memcpy(x->chunk + x->chunk_len, c, take);
		x->chunk_len += take;
		c += take;
		n -= take;
		if (x->chunk_len == REG_CHUNK && dl_flush(x, err) < 0)
			return -1;
	}
	if (x->got - x->last_emit >= (512u << 10) || x->got == (uint64_t)x->d->size) {
		x->last_emit = x->got;
		reg_emit(x->c, REG_EV_DOWNLOADING, x->d->digest, x->got, (uint64_t)x->d->size,
		         NULL);
	}
	return 0;
}

/* The GET of the blob, from x->resume_from (HTTP Range) when not 0. */
static int dl_request(struct dl *x, struct kiln_err *err)
{
	reg_req_release(&x->req);
	reg_req_init(&x->req, "GET", reg_url(x->c, "/blobs/%s", x->d->digest));
	if (x->resume_from) {
		kiln_debug("registry: resuming %s at byte %llu", x->d->digest,
		           (unsigned long long)x->resume_from);
		reg_req_header(&x->req, "Range: bytes=%llu-", (unsigned long long)x->resume_from);
	}
	x->req.sink = dl_sink;
	x->req.sink_ud = x;
	x->req.ud = x;
	x->req.tls = &x->c->tls;
	reg_auth_apply(&x->c->auth, &x->req, x->c->scope);
	x->attempts++;
	return reg_http_start(&x->c->http, &x->req, err);
}

/* (Re)starts the download; after a transfer that broke off, from where it
 * stopped (HTTP Range) when the bytes so far are kept. The first start
 * reads back a partial an earlier pull kept: x->replaying, and the GET
 * waits until download_all has replayed it. */
static int dl_start(struct dl *x, bool resume, struct kiln_err *err)
{
	bool first = !x->w;
	x->resume_from = resume && x->w && x->got ? x->got : 0;
	if (!x->resume_from) {
		if (dl_fresh(x, err) < 0)
			return -1;
		x->replaying = first;
		int r = first ? dl_replay_step(x, err) : 0;
		if (r < 0)
			x->replaying = false;
		if (r != 0)
			return r < 0 ? -1 : 0;
		x->resume_from = x->got;
	}
	return dl_request(x, err);
}

/* A 401 in the middle of a pull (the token expired since the manifest
 * came): one new token, and the blob goes on from where it was. */
static bool reauth(struct dl *x)
{
	struct reg_req *r = &x->req;
	x->reauthed = true;
	_cleanup_free_ char *wa = r->resp.www_auth ? xstrdup(r->resp.www_auth) : NULL;
	struct kiln_err e = KILN_ERR_INIT;
	if (reg_auth_challenge(&x->c->auth, &x->c->http, &x->c->tls, wa, x->c->scope, &e) < 0) {
		kiln_debug("registry: %s: authentication: %s", x->d->digest, e.msg);
		kiln_err_release(&e);
		return false; /* the 401 stands */
	}
	kiln_debug("registry: %s: new token after a 401", x->d->digest);
	x->resumable = x->got > 0;
	x->attempts--; /* not a failed attempt */
	return true;
}

/* A finished transfer: 1 to retry, 0 stored, -1 failed. */
static int dl_finish(struct dl *x, struct kiln_err *err)
{
	struct reg_req *r = &x->req;
	bool corrupt = r->err.msg && (r->err.code == KILN_E_CORRUPT || r->err.code == KILN_E_LIMIT);
	bool transient =
	    !corrupt && (r->result != CURLE_OK || r->resp.status == 429 || r->resp.status >= 500);
	if (r->resp.status == 401 && !x->reauthed && reauth(x))
		return 1;
	if (transient && x->attempts < REG_MAX_ATTEMPTS) {
		/* bytes that arrived with a good status are kept: resume there */
		x->resumable =
		    r->result != CURLE_OK && (r->resp.status == 200 || r->resp.status == 206);
		reg_emit(x->c, REG_EV_RETRYING, x->d->digest, (uint64_t)x->attempts,
		         REG_MAX_ATTEMPTS,
		         r->result != CURLE_OK ? curl_easy_strerror(r->result) : "server error");
		return 1;
	}
	_cleanup_free_ char *what = xasprintf("blob %s", x->d->digest);
	if (reg_req_transport_err(r, err) < 0)
		return -1;
	if (r->resp.status != 200 && r->resp.status != 206)
		return reg_resp_error(x->c, r, what, err);
	if (x->got != (uint64_t)x->d->size)
		return kiln_err_set(
		    err, KILN_E_CORRUPT, "blob %s: got %llu bytes, its descriptor names %lld",
		    x->d->digest, (unsigned long long)x->got, (long long)x->d->size);
	if (dl_flush(x, err) < 0)
		return -1;
	reg_emit(x->c, REG_EV_VERIFYING, x->d->digest, 0, 0, NULL);
	struct kiln_err e = KILN_ERR_INIT;
	if (img_blob_writer_commit(x->w, x->d->digest, NULL, NULL, &e) < 0) {
		if (x->replayed && e.code == KILN_E_CORRUPT && x->attempts < REG_MAX_ATTEMPTS) {
			/* the kept bytes were bad (a crash tore them): the whole blob again */
			kiln_debug("registry: %s: %s; downloading it whole", x->d->digest, e.msg);
			kiln_err_release(&e);
			img_blob_writer_free(x->w);
			x->w = NULL;
			x->resumable = false;
			return 1;
		}
		kiln_err_move(err, &e);
		return kiln_err_wrap(err, "filesystem layer verification failed for digest %s",
		                     x->d->digest);
	}
	reg_emit(x->c, REG_EV_DOWNLOAD_COMPLETE, x->d->digest, 0, 0, NULL);
	if (x->unpack.running) {
		reg_emit(x->c, REG_EV_EXTRACTING, x->d->digest, 0, (uint64_t)x->d->size, NULL);
		if (reg_unpack_finish(&x->unpack, true, err) < 0)
			return -1;
		reg_emit(x->c, REG_EV_PULL_COMPLETE, x->d->digest, 0, 0, NULL);
	}
	x->done = true;
	return 0;
}

static void dl_release(struct dl *x)
{
	reg_unpack_finish(&x->unpack, false, NULL);
	img_blob_writer_free(x->w);
	free(x->chunk);
	reg_req_release(&x->req);
}

/* A chunk of each partial being replayed (the first n of v); one replayed
 * whole starts its GET. One that fails, or any once the pull failed (ret
 * set), stops and leaves the active ones. True while replays remain. */
static bool replay_turn(struct dl *v, size_t n, size_t *active, int *ret, struct kiln_err *err)
{
	bool more = false;
	for (size_t i = 0; i < n; i++) {
		struct dl *x = &v[i];
		if (!x->replaying)
			continue;
		struct kiln_err e = KILN_ERR_INIT;
		int r = *ret == 0 ? dl_replay_step(x, &e) : -1;
		if (r == 0) {
			x->resume_from = x->got;
			r = dl_request(x, &e);
		}
		more |= r == 1;
		if (r < 0) {
			x->replaying = false;
			(*active)--;
		}
		if (r < 0 && *ret == 0) {
			kiln_err_move(err, &e);
			*ret = -1;
		}
		kiln_err_release(&e);
	}
	return more;
}

/* Downloads every blob of v not yet stored, `parallel` at a time. Kept
 * partials are read back a chunk a turn between the transfers' turns. */
static int download_all(struct reg_client *c, struct img_store *s, struct dl *v, size_t n,
                        int parallel, struct kiln_err *err)
{
	size_t next = 0, active = 0;
	int ret = 0;
	for (;;) {
		while (ret == 0 && active < (size_t)parallel && next < n) {
			struct dl *x = &v[next++];
			if (x->done)
				continue;
			x->c = c;
			x->s = s;
			if (dl_start(x, false, err) < 0)
				ret = -1;
			else
				active++;
		}
		bool replaying = active && replay_turn(v, next, &active, &ret, err);
		if (!active)
			break;
		struct reg_req *r =
		    replaying ? reg_http_poll(&c->http, 0) : reg_http_next(&c->http);
		if (!r && replaying)
			continue;
		if (!r)
			break;
		active--;
		struct dl *x = r->ud;
		struct kiln_err e = KILN_ERR_INIT;
		int f = dl_finish(x, &e);
		if (f == 1 && ret == 0) {
			if (dl_start(x, x->resumable, &e) < 0)
				f = -1;
			else
				active++;
		}
		if (f < 0 && ret == 0) {
			kiln_err_move(err, &e);
			ret = -1;
		}
		kiln_err_release(&e);
	}
	return ret;
}

/* The config blob: small, fetched whole, verified, stored. */
static int fetch_config(struct reg_client *c, struct img_store *s, const struct img_descriptor *d,
                        struct img_config **cfg, struct kiln_err *err)
{
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	int ret = 0;
	if (img_store_has_blob(s, d->digest)) {
		ret = img_store_read_blob(s, d->digest, IMG_MAX_JSON, &data, &len, err);
	} else {
		struct reg_req r;
		reg_req_init(&r, "GET", reg_url(c, "/blobs/%s", d->digest));
		r.max_body = IMG_MAX_JSON;
		_cleanup_free_ char *what = xasprintf("config blob %s", d->digest);
		ret = reg_client_send(c, &r, err);
		if (ret == 0 && r.resp.status != 200)
			ret = reg_resp_error(c, &r, what, err);
		char got[KILN_DIGEST_LEN];
		if (ret == 0) {
			data = kiln_buf_detach(&r.resp.body, &len);
			kiln_sha256_digest(data, len, got);
			if (strcmp(got, d->digest) != 0 || (int64_t)len != d->size)
				ret = kiln_err_set(err, KILN_E_CORRUPT,
				                   "%s: content hashes to %s (%zu bytes)", what,
				                   got, len);
		}
		if (ret == 0)
			ret = img_store_put_blob(s, data, len, got, err);
		reg_req_release(&r);
	}
	return ret < 0 ? -1 : img_config_from_json(data, len, cfg, err);
}

/* --- the pull --------------------------------------------------------------- */

struct pull {
	struct reg_client c;
	struct img_store *s;
	struct img_ref ref;
	char *reference; /* tag or digest */
	char top_digest[KILN_DIGEST_LEN];
	char *mdata, *mtype;
	size_t mlen;
	char mdigest[KILN_DIGEST_LEN];
	struct img_manifest *m;
	struct img_config *cfg;
	bool image_known; /* the image (its config) was stored before the pull */
};

static void pull_release(struct pull *p)
{
	reg_client_close(&p->c);
	img_ref_release(&p->ref);
	free(p->mdata);
	free(p->mtype);
	img_manifest_free(p->m);
	img_config_free(p->cfg);
}

static bool is_index(const char *mt)
{
	return !strcmp(mt, IMG_MT_OCI_INDEX) || !strcmp(mt, IMG_MT_DOCKER_LIST);
}

/* The manifest (or index) reference names, from the store when it holds
 * it: a digest is looked up directly, a tag through a HEAD (the digest
 * the registry has for it) so an image already pulled costs no GET. Else
 * the GET. */
static int get_manifest(struct pull *p, const char *reference, bool accept_index, char **data,
                        size_t *len, char **media_type, char digest[KILN_DIGEST_LEN],
                        struct kiln_err *err)
{
	char have[KILN_DIGEST_LEN] = "";
	if (kiln_digest_valid(reference)) {
		snprintf(have, sizeof(have), "%s", reference);
	} else {
		struct reg_req r;
		reg_req_init(&r, "HEAD", reg_url(&p->c, "/manifests/%s", reference));
		reg_req_header(&r, "Accept: %s, %s%s%s", IMG_MT_OCI_MANIFEST,
		               IMG_MT_DOCKER_MANIFEST,
		               accept_index ? ", " IMG_MT_OCI_INDEX ", " : "",
		               accept_index ? IMG_MT_DOCKER_LIST : "");
		struct kiln_err e = KILN_ERR_INIT;
		if (reg_client_send(&p->c, &r, &e) == 0 && r.resp.status == 200 && r.resp.digest &&
		    kiln_digest_valid(r.resp.digest))
			snprintf(have, sizeof(have), "%s", r.resp.digest);
		kiln_err_release(&e); /* the GET says what is wrong */
		reg_req_release(&r);
	}
	const char *mt = NULL;
	if (have[0] && img_store_has_blob(p->s, have) &&
	    img_store_read_blob(p->s, have, REG_MAX_MANIFEST, data, len, NULL) == 0) {
		mt = reg_media_type_of(*data, *len);
		if (mt && (accept_index || !is_index(mt))) {
			kiln_debug("registry: manifest %s is stored: no GET", have);
			*media_type = xstrdup(mt);
			memcpy(digest, have, KILN_DIGEST_LEN);
			return 0;
		}
		free(*data);
		*data = NULL;
	}
	return reg_get_manifest(&p->c, reference, accept_index, data, len, media_type, digest, err);
}

static int resolve(struct pull *p, const struct reg_opts *o, struct kiln_err *err)
{
	struct platform want;
	if (platform_parse(o ? o->platform : NULL, &want, err) < 0)
		return -1;
	const char *reference = p->ref.digest ? p->ref.digest : p->ref.tag;
	int ret =
	    get_manifest(p, reference, true, &p->mdata, &p->mlen, &p->mtype, p->top_digest, err);
	memcpy(p->mdigest, p->top_digest, KILN_DIGEST_LEN);
	if (ret == 0 && is_index(p->mtype)) {
		char pick[KILN_DIGEST_LEN];
		ret = pick_manifest(p->mdata, p->mlen, &want, pick, err);
		free(p->mdata);
		free(p->mtype);
		p->mdata = p->mtype = NULL;
		if (ret == 0)
			ret = get_manifest(p, pick, false, &p->mdata, &p->mlen, &p->mtype,
			                   p->mdigest, err);
	}
	if (ret == 0)
		ret = img_manifest_from_json(p->mdata, p->mlen, &p->m, err);
	for (size_t i = 0; ret == 0 && p->m && i < p->m->n_layers; i++) {
		enum img_compression comp;
		if (!kiln_digest_valid(p->m->layers[i].digest) || p->m->layers[i].size < 0)
			ret = kiln_err_set(err, KILN_E_UNSUPPORTED,
			                   "layer %zu: unsupported digest `%s`", i,
			                   p->m->layers[i].digest);
		else
			ret =
			    img_compression_from_media_type(p->m->layers[i].media_type, &comp, err);
	}
	if (ret == 0 && !kiln_digest_valid(p->m->config.digest))
		ret = kiln_err_set(err, KILN_E_UNSUPPORTED, "unsupported config digest `%s`",
		                   p->m->config.digest);
	platform_release(&want);
	return ret;
}

/* Downloads the missing layers, then unpacks every snapshot. */
static int fetch_layers(struct pull *p, const struct reg_opts *o, bool *downloaded,
                        struct kiln_err *err)
{
	const struct img_manifest *m = p->m;
	if (p->cfg->n_diff_ids != m->n_layers)
		return kiln_err_set(err, KILN_E_CORRUPT,
		                    "manifest lists %zu layers but the image config %zu diff_ids",
		                    m->n_layers, p->cfg->n_diff_ids);
	struct dl *v = xcalloc(m->n_layers + 1, sizeof(*v));
	_cleanup_free_ bool *fresh = xcalloc(m->n_layers + 1, sizeof(bool));
	for (size_t i = 0; i < m->n_layers; i++) {
		v[i].d = &m->layers[i];
		v[i].req.body_fd = -1;
		v[i].done = img_store_has_blob(p->s, m->layers[i].digest);
		bool dup = false; /* the same blob twice (empty layers): one download */
		for (size_t j = 0; j < i && !dup; j++)
			dup = !strcmp(m->layers[j].digest, m->layers[i].digest);
		if (dup) {
			v[i].done = true;
			continue;
		}
		if (!v[i].done && !img_snapshot_exists(p->s, p->cfg->diff_ids[i])) {
			img_layer_of_image(m, p->cfg, i, &v[i].layer);
			v[i].layer.media_type = NULL; /* not needed: the stream says */
		}
		if (!v[i].done || !p->image_known) /* docker: no layer lines for a known image */
			reg_emit(&p->c, v[i].done ? REG_EV_LAYER_EXISTS : REG_EV_LAYER_WAIT,
			         m->layers[i].digest, 0, 0, NULL);
		fresh[i] = !v[i].done;
		*downloaded |= fresh[i];
	}
	int parallel = o && o->parallel > 0 ? o->parallel : 3;
	int ret = download_all(&p->c, p->s, v, m->n_layers, parallel, err);
	_cleanup_free_ bool *unpacked = xcalloc(m->n_layers + 1, sizeof(bool));
	for (size_t i = 0; i < m->n_layers; i++) {
		unpacked[i] = v[i].layer.diff_id[0] != '\0';
		dl_release(&v[i]);
	}
	free(v);
	for (size_t i = 0; ret == 0 && i < m->n_layers; i++) {
		struct img_layer l;
		img_layer_of_image(m, p->cfg, i, &l);
		char *path = NULL; /* unpacked while downloading, or before, or now */
		bool now = !img_snapshot_exists(p->s, l.diff_id);
		if (now && fresh[i])
			reg_emit(&p->c, REG_EV_EXTRACTING, l.digest, 0, (uint64_t)l.size, NULL);
		ret = img_snapshot_ensure(p->s, &l, &path, err);
		free(path);
		if (ret == 0 && fresh[i] && (now || !unpacked[i]))
			reg_emit(&p->c, REG_EV_PULL_COMPLETE, l.digest, 0, 0, NULL);
	}
	return ret;
}

/* The ID of the image ref names (a reference or an image ID), or "" */
static void previous_id(struct img_store *s, const char *ref, char id[KILN_DIGEST_LEN])
{
	struct img_image *img = NULL;
	id[0] = '\0';
	if (img_image_load(s, ref, &img, NULL) == 0) {
		snprintf(id, KILN_DIGEST_LEN, "%s", img->id);
		img_image_free(img);
	}
}

static int publish(struct pull *p, const char *full, struct kiln_err *err)
{
	char got[KILN_DIGEST_LEN];
	if (img_store_put_blob(p->s, p->mdata, p->mlen, got, err) < 0)
		return -1;
	if (strcmp(got, p->mdigest) != 0)
		return kiln_err_set(err, KILN_E_CORRUPT, "stored manifest hashes to %s, not %s",
		                    got, p->mdigest);
	_cleanup_free_ char *name = img_ref_name(&p->ref);
	_cleanup_free_ char *rd = xasprintf("%s@%s", name, p->top_digest);
	if (img_image_publish_manifest(p->s, p->mtype, p->mdigest, (int64_t)p->mlen,
	                               p->ref.digest ? NULL : full, err) < 0)
		return -1;
	return img_image_add_repo_digest(p->s, p->m->config.digest, rd, err);
}

int reg_pull(struct img_store *s, const char *ref, const struct reg_opts *o, reg_progress_fn cb,
             void *ud, struct reg_pull_result *res, struct kiln_err *err)
{
	struct pull p = {.s = s};
	memset(res, 0, sizeof(*res));
	if (img_ref_parse(ref, IMG_REF_DEFAULT_TAG, &p.ref, err) < 0)
		return -1;
	_cleanup_free_ char *full = img_ref_string(&p.ref);
	int ret = reg_client_open(&p.c, p.ref.domain, p.ref.path, false, o, err);
	if (ret < 0) {
		img_ref_release(&p.ref);
		return -1;
	}
	p.c.cb = cb;
	p.c.cb_ud = ud;
	char before[KILN_DIGEST_LEN];
	previous_id(s, full, before);
	bool downloaded = false;
	ret = resolve(&p, o, err);
	if (ret == 0) { /* docker's first line comes once the manifest is there */
		_cleanup_free_ char *line = xasprintf(
		    "%s: Pulling from %s", p.ref.digest ? p.ref.digest : p.ref.tag, p.ref.path);
		reg_emit(&p.c, REG_EV_STATUS, NULL, 0, 0, line);
		res->started = true;
		char known[KILN_DIGEST_LEN];
		previous_id(s, p.m->config.digest, known);
		p.image_known = known[0] != '\0';
		ret = fetch_config(&p.c, p.s, &p.m->config, &p.cfg, err);
	}
	if (ret == 0)
		ret = fetch_layers(&p, o, &downloaded, err);
	if (ret == 0)
		ret = publish(&p, full, err);
	if (ret == 0) {
		snprintf(res->image_id, sizeof(res->image_id), "%s", p.m->config.digest);
		snprintf(res->digest, sizeof(res->digest), "%s", p.top_digest);
		res->ref = xstrdup(full);
		res->updated = downloaded || strcmp(before, res->image_id) != 0;
	}
	pull_release(&p);
	return ret;
}

/* --- pull by policy (run, create) ------------------------------------------ */

int reg_pull_policy_parse(const char *s, enum reg_pull_policy *p, struct kiln_err *err)
{
	static const char *const names[] = {"missing", "always", "never"};
	for (size_t i = 0; i < KILN_ARRAY_SIZE(names); i++)
		if (!s || !strcmp(s, names[i])) {
			*p = s ? (enum reg_pull_policy)i : REG_PULL_MISSING;
			return 0;
		}
	return kiln_err_set(err, KILN_E_USAGE,
	                    "invalid pull option: '%s': must be one of \"always\", \"missing\" "
	                    "or \"never\"",
	                    s);
}

/* 1 stored, 0 not, -1 error (a damaged image, an unreadable store). */
static int image_stored(struct img_store *s, const char *ref, struct kiln_err *err)
{
	struct img_image *img = NULL;
	struct kiln_err e = KILN_ERR_INIT;
	if (img_image_load(s, ref, &img, &e) == 0) {
		img_image_free(img);
		return 1;
	}
	if (e.code == KILN_E_NOTFOUND) {
		kiln_err_release(&e);
		return 0;
	}
	kiln_err_move(err, &e);
	return -1;
}

int reg_pull_by_policy(struct img_store *s, const char *ref, enum reg_pull_policy policy,
                       const struct reg_opts *o, reg_progress_fn cb, void *ud,
                       struct reg_pull_result *res, struct kiln_err *err)
{
	memset(res, 0, sizeof(*res));
	int have = policy == REG_PULL_ALWAYS ? 0 : image_stored(s, ref, err);
	if (have != 0)
		return have < 0 ? -1 : 0;
	_cleanup_free_ char *norm = img_ref_normalize(ref, err);
	if (!norm)
		return -1;
	_cleanup_free_ char *fam = img_ref_familiarize(norm);
	if (policy == REG_PULL_NEVER)
		return kiln_err_set(err, KILN_E_NOTFOUND, "No such image: %s", fam);
	if (policy == REG_PULL_MISSING && cb) {
		_cleanup_free_ char *line = xasprintf("Unable to find image '%s' locally", fam);
		struct reg_event ev = {REG_EV_STATUS, "", 0, 0, line};
		cb(&ev, ud);
	}
	return reg_pull(s, ref, o, cb, ud, res, err) < 0 ? -1 : 1;
}

/* --- for artifact.c: layers named by the caller (the build cache) --------- */

int reg_download_layers(struct reg_client *c, struct img_store *s, const struct img_layer *layers,
                        size_t n, bool unpack, struct kiln_err *err)
{
	struct dl *v = xcalloc(n + 1, sizeof(*v));
	struct img_descriptor *d = xcalloc(n + 1, sizeof(*d));
	for (size_t i = 0; i < n; i++) {
		img_layer_descriptor(&layers[i], &d[i]);
		v[i].d = &d[i];
		v[i].req.body_fd = -1;
		v[i].done = img_store_has_blob(s, layers[i].digest);
		if (unpack && !v[i].done && !img_snapshot_exists(s, layers[i].diff_id)) {
			v[i].layer = layers[i];
			v[i].layer.media_type = NULL; /* borrowed fields only */
		}
	}
	int ret = download_all(c, s, v, n, 3, err);
	_cleanup_free_ bool *fresh = xcalloc(n + 1, sizeof(bool));
	for (size_t i = 0; i < n; i++) {
		fresh[i] = !v[i].done;
		dl_release(&v[i]);
		img_descriptor_release(&d[i]);
	}
	free(v);
	free(d);
	for (size_t i = 0; ret == 0 && i < n; i++) {
		char *path = NULL; /* verifies the diffID when it unpacks */
		if (unpack)
			ret = img_snapshot_ensure(s, &layers[i], &path, err);
		else if (fresh[i])
			ret = img_layer_verify(s, &layers[i], err);
		free(path);
	}
	return ret;
}
