/* Push: every blob the registry lacks (HEAD first; a cross-repository
 * mount when another repository of the same registry is known to hold
 * it; else an upload: monolithic POST + PUT ?digest=, or PATCH chunks for
 * big blobs), then the manifest, whose digest the registry returns. Local
 * uncompressed layers are compressed once (img_layer_compressed). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reg-internal.h"

#define CHUNK_THRESHOLD (64ull << 20) /* blobs above this go up in PATCH chunks */
#define CHUNK_SIZE      (32ull << 20)

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
                       const char *location_in, struct kiln_err *err)
{
	_cleanup_free_ char *path = img_store_blob_path(s, digest);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kiln_err_set(err, errno, "open blob `%s`", digest);
	_cleanup_free_ char *location = xstrdup(location_in);
	_cleanup_free_ char *dq = xasprintf("digest=%s", digest);
	if (size <= CHUNK_THRESHOLD) {
		reg_emit(c, REG_EV_PUSHING, digest, 0, size, NULL);
		return send_part(c, "PUT", upload_url(c, location, dq), fd, 0, size, false, NULL,
		                 201, err);
	}
	for (uint64_t off = 0; off < size; off += CHUNK_SIZE) {
		uint64_t n = size - off < CHUNK_SIZE ? size - off : CHUNK_SIZE;
		reg_emit(c, REG_EV_PUSHING, digest, off, size, NULL);
		if (send_part(c, "PATCH", upload_url(c, location, NULL), fd, (off_t)off, n, true,
		              &location, 202, err) < 0)
			return -1;
	}
	reg_emit(c, REG_EV_PUSHING, digest, size, size, NULL);
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
                     const char *from, bool layer, struct kiln_err *err)
{
	int ex = blob_exists(c, d->digest, err);
	if (ex < 0)
		return -1;
	if (ex) {
		if (layer)
			reg_emit(c, REG_EV_PUSH_EXISTS, d->digest, 0, 0, NULL);
		return 0;
	}
	_cleanup_free_ char *location = NULL;
	int st = upload_start(c, d->digest, from, &location, err);
	if (st < 0)
		return -1;
	if (st == 1) {
		if (layer)
			reg_emit(c, REG_EV_MOUNTED, d->digest, 0, 0, from);
		return 0;
	}
	if (upload_blob(c, s, d->digest, (uint64_t)d->size, location, err) < 0)
		return kiln_err_wrap(err, "pushing blob %s", d->digest);
	if (layer)
		reg_emit(c, REG_EV_PUSHED, d->digest, 0, 0, NULL);
	return 0;
}

/* The manifest as pushed: layers compressed (once) where stored uncompressed. */
static int push_manifest_layers(struct img_store *s, const struct img_image *img,
                                enum img_compression comp, struct img_manifest *out,
                                struct kiln_err *err)
{
	const struct img_manifest *m = img->manifest;
	memset(out, 0, sizeof(*out));
	out->schema_version = 2;
	out->media_type = xstrdup(m->media_type ? m->media_type : IMG_MT_OCI_MANIFEST);
	img_descriptor_copy(&out->config, &m->config);
	out->layers = xcalloc(m->n_layers + 1, sizeof(*out->layers));
	for (size_t i = 0; i < m->n_layers; i++) {
		enum img_compression have;
		if (img_compression_from_media_type(m->layers[i].media_type, &have, err) < 0)
			return -1;
		out->n_layers = i + 1;
		if (have != IMG_COMPRESS_NONE || comp == IMG_COMPRESS_NONE) {
			img_descriptor_copy(&out->layers[i], &m->layers[i]);
			continue;
		}
		struct img_layer in = {0}, z = {0};
		snprintf(in.diff_id, sizeof(in.diff_id), "%s", img->config->diff_ids[i]);
		snprintf(in.digest, sizeof(in.digest), "%s", m->layers[i].digest);
		in.size = (uint64_t)m->layers[i].size;
		in.media_type = m->layers[i].media_type; /* borrowed, never released */
		if (img_layer_compressed(s, &in, comp, &z, err) < 0)
			return -1;
		img_layer_descriptor(&z, &out->layers[i]);
		img_layer_release(&z);
	}
	bool docker = !strcmp(out->media_type, IMG_MT_DOCKER_MANIFEST);
	for (size_t i = 0; docker && i < out->n_layers; i++)
		if (!strcmp(out->layers[i].media_type, IMG_MT_LAYER_GZIP)) {
			free(out->layers[i].media_type);
			out->layers[i].media_type = xstrdup(IMG_MT_DOCKER_LAYER);
		}
	return 0;
}

static int put_manifest(struct reg_client *c, const char *tag, const struct img_manifest *m,
                        struct reg_push_result *res, char **json_out, struct kiln_err *err)
{
	size_t len;
	char *json = img_manifest_to_json(m, &len);
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
	if (ret < 0) {
		free(json);
		return -1;
	}
	snprintf(res->digest, sizeof(res->digest), "%s", digest);
	res->size = (int64_t)len;
	*json_out = json;
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
	_cleanup_free_ char *fam = img_ref_familiar(&r);
	struct img_image *img = NULL;
	if (r.digest || img_image_load(s, full, &img, NULL) < 0) {
		img_ref_release(&r);
		return kiln_err_set(err, KILN_E_NOTFOUND,
		                    "An image does not exist locally with the tag: %s", fam);
	}
	struct reg_client c;
	int ret = reg_client_open(&c, r.domain, r.path, true, o, err);
	if (ret < 0) {
		img_image_free(img);
		img_ref_release(&r);
		return -1;
	}
	c.cb = cb;
	c.cb_ud = ud;
	_cleanup_free_ char *name = img_ref_name(&r);
	_cleanup_free_ char *line = xasprintf("The push refers to repository [%s]", c.familiar);
	reg_emit(&c, REG_EV_STATUS, NULL, 0, 0, line);
	struct img_manifest pm;
	ret = push_manifest_layers(s, img, o ? o->compression : IMG_COMPRESS_GZIP, &pm, err);
	_cleanup_free_ char *from = mount_source(img, &r);
	for (size_t i = pm.n_layers; ret == 0 && i-- > 0;)
		reg_emit(&c, REG_EV_PUSH_PREPARING, pm.layers[i].digest, 0, 0, NULL);
	for (size_t i = pm.n_layers; ret == 0 && i-- > 0;)
		ret = push_blob(&c, s, &pm.layers[i], from, true, err);
	if (ret == 0)
		ret = push_blob(&c, s, &pm.config, NULL, false, err);
	_cleanup_free_ char *json = NULL;
	if (ret == 0)
		ret = put_manifest(&c, r.tag, &pm, res, &json, err);
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
