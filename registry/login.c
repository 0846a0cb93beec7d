/* login / logout, manifest inspect and search: the small requests that
 * are not a repository's pull or push. */
#include <stdio.h>
#include <string.h>

#include "reg-internal.h"

/* A client of the registry itself (no repository): /v2/ and /v2/_catalog. */
static int open_registry(struct reg_client *c, const char *registry, const struct reg_opts *o,
                         struct kiln_err *err)
{
	_cleanup_free_ char *key = reg_server_key(registry);
	const char *domain = !strcmp(key, "https://index.docker.io/v1/") ? IMG_DEFAULT_DOMAIN : key;
	if (reg_client_open(c, domain, "", false, o, err) < 0)
		return -1;
	free(c->scope);
	c->scope = xstrdup("");
	return 0;
}

int reg_login(const char *registry, const char *user, const char *password,
              const struct reg_opts *o, char **plain_path, struct kiln_err *err)
{
	struct reg_client c;
	if (open_registry(&c, registry, o, err) < 0)
		return -1;
	/* the credentials being checked, not the stored ones */
	reg_auth_release(&c.auth);
	c.auth.user = xstrdup(user);
	c.auth.pass = xstrdup(password);
	struct reg_req r;
	reg_req_init(&r, "GET", xasprintf("%s://%s/v2/", c.scheme, c.host));
	int ret = reg_client_send(&c, &r, err);
	if (ret == 0 && r.resp.status == 401)
		ret = kiln_err_set(err, 0,
		                   "login attempt to %s://%s/v2/ failed with status: 401 "
		                   "Unauthorized",
		                   c.scheme, c.host);
	else if (ret == 0 && r.resp.status != 200)
		ret = kiln_err_set(err, 0, "login attempt to %s://%s/v2/ failed with status: %ld",
		                   c.scheme, c.host, r.resp.status);
	reg_req_release(&r);
	_cleanup_free_ char *key = reg_server_key(registry);
	if (ret == 0)
		ret = reg_creds_store(key, o ? o->docker_config : NULL, user, password, plain_path,
		                      err);
	reg_client_close(&c);
	return ret;
}

int reg_logout(const char *registry, const struct reg_opts *o, struct kiln_err *err)
{
	_cleanup_free_ char *key = reg_server_key(registry);
	return reg_creds_erase(key, o ? o->docker_config : NULL, err);
}

int reg_manifest_fetch(const char *ref, const struct reg_opts *o, char **data, size_t *len,
                       char **media_type, struct kiln_err *err)
{
	struct img_ref r;
	if (img_ref_parse(ref, IMG_REF_DEFAULT_TAG, &r, err) < 0)
		return -1;
	struct reg_client c;
	int ret = reg_client_open(&c, r.domain, r.path, false, o, err);
	char digest[KILN_DIGEST_LEN];
	if (ret == 0) {
		ret = reg_get_manifest(&c, r.digest ? r.digest : r.tag, true, data, len, media_type,
		                       digest, err);
		reg_client_close(&c);
	}
	img_ref_release(&r);
	return ret;
}

int reg_search(const char *registry, const char *term, const struct reg_opts *o,
               struct kiln_strv *names, struct kiln_err *err)
{
	struct reg_client c;
	if (open_registry(&c, registry, o, err) < 0)
		return -1;
	free(c.scope);
	c.scope = xstrdup("registry:catalog:*");
	struct reg_req r;
	reg_req_init(&r, "GET", xasprintf("%s://%s/v2/_catalog?n=1000", c.scheme, c.host));
	int ret = reg_client_send(&c, &r, err);
	if (ret == 0 && r.resp.status != 200)
		ret = reg_resp_error(&c, &r, "_catalog", err);
	struct kiln_strv all = KILN_STRV_INIT;
	if (ret == 0)
		ret =
		    reg_json_strings(r.resp.body.data, r.resp.body.len, "repositories", &all, err);
	for (size_t i = 0; ret == 0 && i < all.n; i++)
		if (strstr(all.v[i], term))
			kiln_strv_push(names, all.v[i]);
	kiln_strv_release(&all);
	reg_req_release(&r);
	reg_client_close(&c);
	return ret;
}

int reg_list_tags(const char *repo, const struct reg_opts *o, struct kiln_strv *tags,
                  struct kiln_err *err)
{
	struct img_ref r;
	if (img_ref_parse(repo, 0, &r, err) < 0)
		return -1;
	if (r.tag || r.digest) {
		img_ref_release(&r);
		return kiln_err_set(err, KILN_E_USAGE, "tag can't be used with --all-tags/-a");
	}
	struct reg_client c;
	int ret = reg_client_open(&c, r.domain, r.path, false, o, err);
	img_ref_release(&r);
	if (ret < 0)
		return -1;
	struct reg_req q;
	reg_req_init(&q, "GET", reg_url(&c, "/tags/list?n=10000"));
	_cleanup_free_ char *what = xasprintf("tags of %s", c.familiar);
	ret = reg_client_send(&c, &q, err);
	if (ret == 0 && q.resp.status != 200)
		ret = reg_resp_error(&c, &q, what, err);
	if (ret == 0)
		ret = reg_json_strings(q.resp.body.data, q.resp.body.len, "tags", tags, err);
	reg_req_release(&q);
	reg_client_close(&c);
	if (ret == 0)
		kiln_strv_sort(tags);
	return ret;
}
