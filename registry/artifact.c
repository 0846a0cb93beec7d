/* One repository, blob by blob: what the builder's shared cache needs
 * (registry.h, reg_repo_*), on top of the client, pull and push. */
#include <string.h>

#include "reg-internal.h"

struct reg_repo {
	struct reg_client c;
	struct img_ref ref;
	char *name;
};

int reg_repo_open(const char *ref, bool push, const struct reg_opts *o, struct reg_repo **out,
                  struct kiln_err *err)
{
	struct reg_repo *r = xcalloc(1, sizeof(*r));
	if (img_ref_parse(ref, IMG_REF_DEFAULT_TAG, &r->ref, err) < 0) {
		free(r);
		return -1;
	}
	if (reg_client_open(&r->c, r->ref.domain, r->ref.path, push, o, err) < 0) {
		img_ref_release(&r->ref);
		free(r);
		return -1;
	}
	r->name = img_ref_string(&r->ref);
	*out = r;
	return 0;
}

void reg_repo_close(struct reg_repo *r)
{
	if (!r)
		return;
	reg_client_close(&r->c);
	img_ref_release(&r->ref);
	free(r->name);
	free(r);
}

const char *reg_repo_name(const struct reg_repo *r)
{
	return r->name;
}

int reg_repo_manifest(struct reg_repo *r, char **data, size_t *len, char **media_type,
                      char digest[KILN_DIGEST_LEN], struct kiln_err *err)
{
	const char *reference = r->ref.digest ? r->ref.digest : r->ref.tag;
	return reg_get_manifest(&r->c, reference, true, data, len, media_type, digest, err);
}

int reg_repo_blob(struct reg_repo *r, const char *digest, int64_t size, size_t max, char **data,
                  size_t *len, struct kiln_err *err)
{
	if (!kiln_digest_valid(digest) || size < 0 || (uint64_t)size > max)
		return kiln_err_set(err, KILN_E_LIMIT, "blob %s: %lld bytes (at most %zu)", digest,
		                    (long long)size, max);
	struct reg_req q;
	reg_req_init(&q, "GET", reg_url(&r->c, "/blobs/%s", digest));
	q.max_body = max;
	_cleanup_free_ char *what = xasprintf("blob %s", digest);
	int ret = reg_client_send(&r->c, &q, err);
	if (ret == 0 && q.resp.status != 200)
		ret = reg_resp_error(&r->c, &q, what, err);
	if (ret == 0) {
		char got[KILN_DIGEST_LEN];
		*data = kiln_buf_detach(&q.resp.body, len);
		kiln_sha256_digest(*data ? *data : "", *len, got);
		if (strcmp(got, digest) || (int64_t)*len != size) {
			free(*data);
			*data = NULL;
			ret = kiln_err_set(err, KILN_E_CORRUPT,
			                   "%s: content hashes to %s (%zu bytes)", what, got, *len);
		}
	}
	reg_req_release(&q);
	return ret;
}

int reg_repo_pull_layers(struct reg_repo *r, struct img_store *s, const struct img_layer *layers,
                         size_t n, bool unpack, struct kiln_err *err)
{
	return reg_download_layers(&r->c, s, layers, n, unpack, err);
}

int reg_repo_has_blob(struct reg_repo *r, const char *digest, struct kiln_err *err)
{
	return reg_blob_exists(&r->c, digest, err);
}

int reg_repo_push_blob(struct reg_repo *r, struct img_store *s, const struct img_descriptor *d,
                       struct kiln_err *err)
{
	return reg_push_stored_blob(&r->c, s, d, err);
}

int reg_repo_put_manifest(struct reg_repo *r, const char *media_type, char *data, size_t len,
                          char digest[KILN_DIGEST_LEN], struct kiln_err *err)
{
	if (r->ref.digest)
		return kiln_err_set(err, KILN_E_INVALID, "`%s`: a cache is pushed to a tag",
		                    r->name);
	return reg_put_manifest_raw(&r->c, r->ref.tag, media_type, data, len, digest, err);
}
