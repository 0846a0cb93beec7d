/* Authentication: anonymous, basic, and the bearer-token flow
 * (WWW-Authenticate: Bearer realm=...,service=...,scope=...). Tokens are
 * kept per scope until they expire. Credentials travel in headers only:
 * never in URLs, messages or debug output. */
#include <curl/curl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "reg-internal.h"

void reg_auth_release(struct reg_auth *a)
{
	if (a->pass)
		OPENSSL_cleanse(a->pass, strlen(a->pass));
	free(a->user);
	free(a->pass);
	free(a->realm);
	free(a->service);
	for (size_t i = 0; i < a->n_tokens; i++) {
		free(a->tokens[i].scope);
		OPENSSL_cleanse(a->tokens[i].token, strlen(a->tokens[i].token));
		free(a->tokens[i].token);
	}
	free(a->tokens);
	memset(a, 0, sizeof(*a));
}

static char *basic_value(const char *user, const char *pass)
{
	_cleanup_free_ char *plain = xasprintf("%s:%s", user, pass);
	size_t n = strlen(plain);
	char *out = xmalloc(4 * ((n + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)plain, (int)n);
	OPENSSL_cleanse(plain, n);
	return out;
}

static struct reg_token *find_token(struct reg_auth *a, const char *scope)
{
	for (size_t i = 0; i < a->n_tokens; i++)
		if (!strcmp(a->tokens[i].scope, scope) && a->tokens[i].expires > time(NULL))
			return &a->tokens[i];
	return NULL;
}

void reg_auth_apply(struct reg_auth *a, struct reg_req *r, const char *scope)
{
	struct reg_token *t = a->realm ? find_token(a, scope ? scope : "") : NULL;
	if (t) {
		reg_req_header(r, "Authorization: Bearer %s", t->token);
	} else if (a->basic && a->user && a->pass) {
		_cleanup_free_ char *v = basic_value(a->user, a->pass);
		reg_req_header(r, "Authorization: Basic %s", v);
	}
}

/* One `key="value"` or `key=value` parameter of a challenge; advances *p. */
static bool next_param(const char **p, char **key, char **value)
{
	const char *s = *p;
	while (*s == ' ' || *s == ',')
		s++;
	const char *eq = strchr(s, '=');
	if (!*s || !eq)
		return false;
	*key = xstrndup(s, (size_t)(eq - s));
	s = eq + 1;
	struct kiln_buf v;
	kiln_buf_init(&v, 8192, "challenge");
	if (*s == '"') {
		for (s++; *s && *s != '"'; s++) {
			if (*s == '\\' && s[1])
				s++;
			kiln_buf_addch(&v, *s, NULL);
		}
		if (*s == '"')
			s++;
	} else {
		for (; *s && *s != ','; s++)
			kiln_buf_addch(&v, *s, NULL);
	}
	*value = kiln_buf_detach(&v, NULL);
	*p = s;
	return true;
}

static void parse_bearer(struct reg_auth *a, const char *params)
{
	char *k, *v;
	while (next_param(&params, &k, &v)) {
		if (!strcasecmp(k, "realm")) {
			free(a->realm);
			a->realm = v;
			v = NULL;
		} else if (!strcasecmp(k, "service")) {
			free(a->service);
			a->service = v;
			v = NULL;
		}
		free(k);
		free(v);
	}
}

static int fetch_token(struct reg_auth *a, struct reg_http *h, const struct reg_tls *tls,
                       const char *scope, struct kiln_err *err)
{
	CURL *esc = curl_easy_init();
	struct kiln_buf url;
	kiln_buf_init(&url, KILN_BUF_NOLIMIT, NULL);
	kiln_buf_addf(&url, NULL, "%s%c", a->realm, strchr(a->realm, '?') ? '&' : '?');
	const char *sep = "";
	if (a->service) {
		char *e = curl_easy_escape(esc, a->service, 0);
		kiln_buf_addf(&url, NULL, "service=%s", e);
		curl_free(e);
		sep = "&";
	}
	if (scope && *scope) {
		char *e = curl_easy_escape(esc, scope, 0);
		kiln_buf_addf(&url, NULL, "%sscope=%s", sep, e);
		curl_free(e);
	}
	curl_easy_cleanup(esc);
	struct reg_req r;
	reg_req_init(&r, "GET", kiln_buf_detach(&url, NULL));
	r.tls = tls;
	if (a->user && a->pass) {
		_cleanup_free_ char *v = basic_value(a->user, a->pass);
		reg_req_header(&r, "Authorization: Basic %s", v);
	}
	/* blob downloads may be running on h (a token that expired in the
	 * middle of a pull): the token request then goes on a handle of its own */
	struct reg_http own;
	bool busy = h->running > 0;
	if (busy) {
		reg_http_init(&own);
		h = &own;
	}
	int ret = reg_http_do(h, &r, err);
	if (busy)
		reg_http_release(&own);
	if (ret == 0)
		ret = reg_req_transport_err(&r, err);
	if (ret == 0 && r.resp.status != 200)
		ret = kiln_err_set(err, 0, "%s",
		                   r.resp.status == 401 || r.resp.status == 403
		                       ? "unauthorized: authentication required"
		                       : "token server answered with an error");
	char *token = NULL;
	long expires_in = 60;
	if (ret == 0)
		ret = reg_json_token(r.resp.body.data, r.resp.body.len, &token, &expires_in, err);
	reg_req_release(&r);
	if (ret < 0)
		return kiln_err_wrap(err, "getting a token from `%s`", a->realm);
	time_t expires = time(NULL) + (expires_in > 10 ? expires_in - 5 : 55);
	for (size_t i = 0; i < a->n_tokens; i++) /* a renewal replaces the refused token */
		if (!strcmp(a->tokens[i].scope, scope ? scope : "")) {
			OPENSSL_cleanse(a->tokens[i].token, strlen(a->tokens[i].token));
			free(a->tokens[i].token);
			a->tokens[i].token = token;
			a->tokens[i].expires = expires;
			return 0;
		}
	a->tokens = xreallocarray(a->tokens, a->n_tokens + 1, sizeof(*a->tokens));
	a->tokens[a->n_tokens++] = (struct reg_token){xstrdup(scope ? scope : ""), token, expires};
	return 0;
}

int reg_auth_challenge(struct reg_auth *a, struct reg_http *h, const struct reg_tls *tls,
                       const char *www_auth, const char *scope, struct kiln_err *err)
{
	if (!www_auth)
		return kiln_err_set(err, 0, "unauthorized: authentication required");
	if (!strncasecmp(www_auth, "Basic", 5)) {
		if (!a->user) {
			a->no_basic_creds = true;
			return kiln_err_set(err, 0, "no basic auth credentials");
		}
		if (a->basic)
			return kiln_err_set(err, 0, "unauthorized: authentication required");
		a->basic = true;
		return 0;
	}
	if (strncasecmp(www_auth, "Bearer", 6) != 0)
		return kiln_err_set(err, 0, "unsupported authentication scheme in `%s`", www_auth);
	parse_bearer(a, www_auth + 6);
	if (!a->realm)
		return kiln_err_set(err, 0, "bearer challenge without a realm");
	return fetch_token(a, h, tls, scope, err);
}
