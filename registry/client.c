/* A client of one repository on one registry: URLs, the scheme (HTTPS, or
 * plain HTTP for loopback and --insecure-registry hosts that do not speak
 * TLS), requests with authentication and bounded retries, docker's error
 * messages, and the manifest GET every command needs. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "reg-internal.h"

#define ACCEPT_MANIFEST IMG_MT_OCI_MANIFEST ", " IMG_MT_DOCKER_MANIFEST
#define ACCEPT_INDEX    IMG_MT_OCI_INDEX ", " IMG_MT_DOCKER_LIST

static bool in_list(char **v, const char *host)
{
	for (; v && *v; v++)
		if (!strcmp(*v, host))
			return true;
	return false;
}

int reg_client_open(struct reg_client *c, const char *domain, const char *repo, bool push,
                    const struct reg_opts *o, struct kiln_err *err)
{
	memset(c, 0, sizeof(*c));
	bool hub = !strcmp(domain, IMG_DEFAULT_DOMAIN);
	c->host = xstrdup(hub ? "registry-1.docker.io" : domain);
	c->repo = xstrdup(repo);
	c->familiar = hub ? xstrdup(!strncmp(repo, "library/", 8) ? repo + 8 : repo)
	                  : xasprintf("%s/%s", domain, repo);
	bool insecure = in_list(o ? o->insecure : NULL, domain) || reg_config_insecure(domain);
	c->may_plain = insecure || reg_host_is_loopback(domain);
	c->scheme = "https";
	reg_tls_load(domain, insecure, &c->tls);
	c->scope = xasprintf("repository:%s:%s", repo, push ? "pull,push" : "pull");
	reg_http_init(&c->http);
	_cleanup_free_ char *key = reg_server_key(domain);
	struct kiln_err e = KILN_ERR_INIT;
	if (reg_creds_get(key, o ? o->docker_config : NULL, &c->auth.user, &c->auth.pass, &e) < 0) {
		kiln_err_move(err, &e);
		reg_client_close(c);
		return -1;
	}
	return 0;
}

/* A copy of c with its own connections (for a thread): same scheme, TLS
 * settings, credentials and tokens. */
void reg_client_clone(struct reg_client *dst, const struct reg_client *c)
{
	memset(dst, 0, sizeof(*dst));
	dst->host = xstrdup(c->host);
	dst->repo = xstrdup(c->repo);
	dst->familiar = xstrdup(c->familiar);
	dst->scheme = c->scheme;
	dst->may_plain = c->may_plain;
	dst->tls.no_verify = c->tls.no_verify;
	dst->tls.cert = c->tls.cert ? xstrdup(c->tls.cert) : NULL;
	dst->tls.key = c->tls.key ? xstrdup(c->tls.key) : NULL;
	size_t n = 0;
	while (c->tls.ca_files && c->tls.ca_files[n])
		n++;
	dst->tls.ca_files = n ? xcalloc(n + 1, sizeof(char *)) : NULL;
	for (size_t i = 0; i < n; i++)
		dst->tls.ca_files[i] = xstrdup(c->tls.ca_files[i]);
	dst->scope = xstrdup(c->scope);
	dst->cancel = c->cancel;
	const struct reg_auth *a = &c->auth;
	struct reg_auth *b = &dst->auth;
	b->user = a->user ? xstrdup(a->user) : NULL;
	b->pass = a->pass ? xstrdup(a->pass) : NULL;
	b->basic = a->basic;
	b->no_basic_creds = a->no_basic_creds;
	b->realm = a->realm ? xstrdup(a->realm) : NULL;
	b->service = a->service ? xstrdup(a->service) : NULL;
	b->tokens = a->n_tokens ? xcalloc(a->n_tokens, sizeof(*b->tokens)) : NULL;
	for (size_t i = 0; i < a->n_tokens; i++, b->n_tokens++) {
		b->tokens[i].scope = xstrdup(a->tokens[i].scope);
		b->tokens[i].token = xstrdup(a->tokens[i].token);
		b->tokens[i].expires = a->tokens[i].expires;
	}
	reg_http_init(&dst->http);
}

void reg_client_close(struct reg_client *c)
{
	reg_http_release(&c->http);
	reg_tls_release(&c->tls);
	reg_auth_release(&c->auth);
	free(c->host);
	free(c->repo);
	free(c->familiar);
	free(c->scope);
	memset(c, 0, sizeof(*c));
}

char *reg_url(struct reg_client *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *tail = xvasprintf(fmt, ap);
	va_end(ap);
	return xasprintf("%s://%s/v2/%s%s", c->scheme, c->host, c->repo ? c->repo : "", tail);
}

void reg_short_id(const char *digest, char out[REG_SHORT_ID_LEN + 1])
{
	snprintf(out, REG_SHORT_ID_LEN + 1, "%s", kiln_digest_hex(digest));
}

void reg_emit(struct reg_client *c, enum reg_event_kind k, const char *digest, uint64_t cur,
              uint64_t total, const char *detail)
{
	if (!c->cb)
		return;
	char id[REG_SHORT_ID_LEN + 1] = "";
	if (digest)
		reg_short_id(digest, id);
	struct reg_event ev = {k, id, cur, total, detail};
	c->cb(&ev, c->cb_ud);
}

/* "https://host/..." -> "http://host/..." after the host refused TLS. */
static void downgrade(struct reg_client *c, struct reg_req *r)
{
	c->scheme = "http";
	if (!strncmp(r->url, "https://", 8)) {
		char *u = xasprintf("http://%s", r->url + 8);
		free(r->url);
		r->url = u;
	}
}

static bool transient_status(long st)
{
	return st == 429 || st == 500 || st == 502 || st == 503 || st == 504;
}

static void backoff(int attempt, long retry_after)
{
	long ms = 200L << attempt;
	if (retry_after >= 0)
		ms = (retry_after > 5 ? 5 : retry_after) * 1000L;
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Whether url is on the registry's own origin (scheme, host and port, a
 * default port written or not): its credentials and tokens go there only,
 * as docker's challenge manager keys them by host. An upload Location or
 * a 401 elsewhere (a storage service) gets none and starts no token flow. */
static bool own_origin(const struct reg_client *c, const char *url)
{
	size_t sl = strlen(c->scheme), hl = strlen(c->host);
	if (strncasecmp(url, c->scheme, sl) || strncmp(url + sl, "://", 3))
		return false;
	const char *h = url + sl + 3;
	size_t n = strcspn(h, "/?#");
	if (n == hl)
		return !strncasecmp(h, c->host, hl);
	const char *port = strcmp(c->scheme, "https") ? ":80" : ":443";
	return n == hl + strlen(port) && !strchr(c->host, ']') && !strchr(c->host, ':') &&
	       !strncasecmp(h, c->host, hl) && !strncmp(h + hl, port, strlen(port));
}

int reg_client_send(struct reg_client *c, struct reg_req *r, struct kiln_err *err)
{
	struct curl_slist *base = r->headers;
	bool reauthed = false;
	for (int attempt = 0;; attempt++) {
		/* per attempt: the caller's headers plus the current auth */
		if (c->cancel && atomic_load(c->cancel))
			return kiln_err_set(err, ECANCELED, "cancelled");
		struct curl_slist *h = NULL;
		for (struct curl_slist *s = base; s; s = s->next)
			h = curl_slist_append(h, s->data);
		r->headers = h;
		bool own = own_origin(c, r->url);
		if (own)
			reg_auth_apply(&c->auth, r, c->scope);
		r->tls = &c->tls;
		int ret = reg_http_do(&c->http, r, err);
		kiln_debug("registry: %s %s -> %ld", r->method, r->url, r->resp.status);
		curl_slist_free_all(r->headers);
		r->headers = base;
		if (ret < 0)
			return -1;
		if (r->result == CURLE_SSL_CONNECT_ERROR && c->may_plain && !r->source &&
		    !strcmp(c->scheme, "https")) {
			kiln_debug("registry %s does not speak TLS: using plain HTTP", c->host);
			downgrade(c, r);
			attempt--;
			continue;
		}
		bool transport = r->result != CURLE_OK && !r->err.msg;
		if (r->err.msg && r->err.code != KILN_E_CORRUPT && r->err.code != KILN_E_LIMIT)
			transport = true;
		if (!transport && r->err.msg)
			return reg_req_transport_err(r, err);
		if (transport || transient_status(r->resp.status)) {
			if (attempt + 1 >= REG_MAX_ATTEMPTS || r->source)
				return transport ? reg_req_transport_err(r, err) : 0;
			kiln_debug("%s %s: %s, retrying", r->method, r->url,
			           transport ? curl_easy_strerror(r->result) : "server busy");
			reg_emit(c, REG_EV_RETRYING, NULL, (uint64_t)attempt + 1, REG_MAX_ATTEMPTS,
			         transport ? curl_easy_strerror(r->result) : "server error");
			backoff(attempt, r->resp.retry_after);
			continue;
		}
		if (r->resp.status == 401 && own && !reauthed && !r->source) {
			reauthed = true;
			_cleanup_free_ char *wa =
			    r->resp.www_auth ? xstrdup(r->resp.www_auth) : NULL;
			struct kiln_err e = KILN_ERR_INIT;
			if (reg_auth_challenge(&c->auth, &c->http, &c->tls, wa, c->scope, &e) < 0) {
				kiln_debug("authentication: %s", e.msg);
				kiln_err_release(&e);
				return 0; /* the 401 stands */
			}
			attempt--;
			continue;
		}
		return 0;
	}
}

static const char *code_text(const char *code, struct kiln_buf *b)
{
	/* docker: lower case, underscores as spaces ("MANIFEST_UNKNOWN" -> "manifest unknown") */
	kiln_buf_reset(b);
	for (const char *p = code; *p; p++)
		kiln_buf_addch(b, *p == '_' ? ' ' : (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p),
		               NULL);
	return kiln_buf_str(b);
}

/* "GET" -> "et" (Go's url.Error prints "Get"), bounded to the known methods */
static const char *go_method_tail(const char *m)
{
	static const char *const tails[][2] = {{"GET", "et"},     {"HEAD", "ead"},
	                                       {"POST", "ost"},   {"PUT", "ut"},
	                                       {"PATCH", "atch"}, {"DELETE", "elete"}};
	for (size_t i = 0; i < KILN_ARRAY_SIZE(tails); i++)
		if (!strcmp(m, tails[i][0]))
			return tails[i][1];
	return "";
}

int reg_resp_error(struct reg_client *c, const struct reg_req *r, const char *what,
                   struct kiln_err *err)
{
	char *code = NULL, *msg = NULL;
	reg_json_error(r->resp.body.data, r->resp.body.len, &code, &msg);
	struct kiln_buf cb;
	kiln_buf_init(&cb, 256, NULL);
	_cleanup_free_ char *cause =
	    code ? xasprintf("%s: %s", code_text(code, &cb), msg ? msg : "")
	         : xasprintf("unexpected HTTP status %ld from %s", r->resp.status, c->host);
	kiln_buf_release(&cb);
	int kc = 0;
	if (code && !strcmp(code, "MANIFEST_UNKNOWN"))
		kc = KILN_E_NOTFOUND, kiln_err_set(err, kc, "%s not found: %s", what, cause);
	else if (code && !strcmp(code, "NAME_UNKNOWN"))
		kc = KILN_E_NOTFOUND,
		kiln_err_set(err, kc, "repository %s not found: %s", c->familiar, cause);
	else if (code && !strcmp(code, "DENIED"))
		kiln_err_set(err, 0,
		             "pull access denied for %s, repository does not exist or may require "
		             "'docker login': %s",
		             c->familiar, cause);
	else if (r->resp.status == 401 && c->auth.no_basic_creds)
		kiln_err_set(err, 0, "%c%s \"%s\": no basic auth credentials", r->method[0],
		             go_method_tail(r->method), r->url);
	else if (!code && r->resp.status == 401)
		kiln_err_set(err, 0, "unauthorized: authentication required");
	else if (!code && r->resp.status == 404)
		kiln_err_set(err, KILN_E_NOTFOUND, "%s not found", what);
	else
		kiln_err_set(err, 0, "%s", cause);
	free(code);
	free(msg);
	return -1;
}

int reg_get_manifest(struct reg_client *c, const char *reference, bool accept_index, char **data,
                     size_t *len, char **media_type, char digest[KILN_DIGEST_LEN],
                     struct kiln_err *err)
{
	struct reg_req r;
	reg_req_init(&r, "GET", reg_url(c, "/manifests/%s", reference));
	r.max_body = REG_MAX_MANIFEST;
	reg_req_header(&r, "Accept: %s%s%s", ACCEPT_MANIFEST, accept_index ? ", " : "",
	               accept_index ? ACCEPT_INDEX : "");
	_cleanup_free_ char *what = xasprintf("manifest for %s%s%s", c->familiar,
	                                      strchr(reference, ':') ? "@" : ":", reference);
	int ret = reg_client_send(c, &r, err);
	if (ret < 0)
		kiln_err_wrap(err, "%s", what);
	else if (r.resp.status != 200)
		ret = reg_resp_error(c, &r, what, err);
	if (ret < 0) {
		reg_req_release(&r);
		return -1;
	}
	kiln_sha256_digest(r.resp.body.data ? r.resp.body.data : "", r.resp.body.len, digest);
	bool by_digest = kiln_digest_valid(reference);
	if ((by_digest && strcmp(reference, digest) != 0) ||
	    (r.resp.digest && kiln_digest_valid(r.resp.digest) && strcmp(r.resp.digest, digest))) {
		ret =
		    kiln_err_set(err, KILN_E_CORRUPT,
		                 "%s: content hashes to %s, not the digest the registry named (%s)",
		                 what, digest, by_digest ? reference : r.resp.digest);
		reg_req_release(&r);
		return ret;
	}
	const char *mt = reg_media_type_of(r.resp.body.data, r.resp.body.len);
	if (!mt) {
		reg_req_release(&r);
		return kiln_err_set(err, KILN_E_UNSUPPORTED, "%s: unsupported manifest", what);
	}
	*media_type = xstrdup(mt);
	*data = kiln_buf_detach(&r.resp.body, len);
	reg_req_release(&r);
	return 0;
}
