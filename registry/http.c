/* HTTP through libcurl: one multi handle (its connection cache is shared by
 * every request of a client, so connections are reused), a share handle for
 * DNS and TLS sessions, bounded bodies, timeouts, streaming sinks. */
#include <ctype.h>
#include <errno.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "reg-internal.h"

void reg_req_init(struct reg_req *r, const char *method, char *url)
{
	memset(r, 0, sizeof(*r));
	r->method = method;
	r->url = url;
	r->body_fd = -1;
	r->max_body = REG_MAX_SMALL;
	r->resp.retry_after = -1;
	r->resp.content_length = -1;
}

void reg_req_header(struct reg_req *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *h = xvasprintf(fmt, ap);
	va_end(ap);
	r->headers = curl_slist_append(r->headers, h);
	free(h);
}

static void resp_release(struct reg_resp *p)
{
	kiln_buf_release(&p->body);
	free(p->content_type);
	free(p->digest);
	free(p->location);
	free(p->www_auth);
	memset(p, 0, sizeof(*p));
	p->retry_after = -1;
	p->content_length = -1;
}

void reg_req_reset(struct reg_req *r)
{
	if (r->easy)
		curl_easy_cleanup(r->easy);
	r->easy = NULL;
	resp_release(&r->resp);
	kiln_err_release(&r->err);
	r->result = CURLE_OK;
	r->errbuf[0] = '\0';
	r->sent = 0;
}

void reg_req_release(struct reg_req *r)
{
	reg_req_reset(r);
	curl_slist_free_all(r->headers);
	r->headers = NULL;
	free(r->url);
	r->url = NULL;
}

int reg_req_transport_err(const struct reg_req *r, struct kiln_err *err)
{
	if (r->err.msg) {
		kiln_err_set(err, r->err.code, "%s", r->err.msg);
		return -1;
	}
	if (r->result == CURLE_OK)
		return 0;
	/* the URL holds no credentials (they travel in headers only) */
	return kiln_err_set(err, 0, "%s %s: %s", r->method, r->url,
	                    r->errbuf[0] ? r->errbuf : curl_easy_strerror(r->result));
}

/* --- callbacks ---------------------------------------------------------- */

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud)
{
	struct reg_req *r = ud;
	size_t n = size * nmemb;
	if (!r->resp.status)
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->resp.status);
	bool ok = r->resp.status >= 200 && r->resp.status < 300;
	if (ok && r->sink)
		return r->sink(r->sink_ud, p, n, &r->err) < 0 ? 0 : n;
	if (kiln_buf_add(&r->resp.body, p, n, &r->err) < 0)
		return 0;
	return n;
}

static char *header_value(const char *line, size_t n, const char *name)
{
	size_t nl = strlen(name);
	if (n <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return NULL;
	const char *v = line + nl + 1;
	const char *end = line + n;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && isspace((unsigned char)end[-1]))
		end--;
	return xstrndup(v, (size_t)(end - v));
}

static void set_hdr(char **slot, char *v)
{
	if (!v)
		return;
	free(*slot);
	*slot = v;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
	struct reg_req *r = ud;
	size_t n = size * nmemb;
	if (n >= 5 && !strncmp(p, "HTTP/", 5)) { /* a new response (redirect, 100) */
		resp_release(&r->resp);
		kiln_buf_init(&r->resp.body, r->max_body, "registry response body");
		return n;
	}
	set_hdr(&r->resp.content_type, header_value(p, n, "Content-Type"));
	set_hdr(&r->resp.digest, header_value(p, n, "Docker-Content-Digest"));
	set_hdr(&r->resp.location, header_value(p, n, "Location"));
	set_hdr(&r->resp.www_auth, header_value(p, n, "WWW-Authenticate"));
	char *v = header_value(p, n, "Retry-After");
	if (v) {
		char *end;
		long s = strtol(v, &end, 10);
		r->resp.retry_after = (*v && !*end && s >= 0) ? s : -1;
		free(v);
	}
	v = header_value(p, n, "Content-Length");
	if (v) {
		r->resp.content_length = strtoll(v, NULL, 10);
		free(v);
	}
	return n;
}

static size_t on_read(char *buf, size_t size, size_t nmemb, void *ud)
{
	struct reg_req *r = ud;
	size_t want = size * nmemb;
	uint64_t left = r->fd_len - r->sent;
	if (want > left)
		want = (size_t)left;
	if (!want)
		return 0;
	ssize_t got = pread(r->body_fd, buf, want, r->body_off + (off_t)r->sent);
	if (got <= 0) {
		kiln_err_set(&r->err, got < 0 ? errno : EIO, "reading the upload body");
		return CURL_READFUNC_ABORT;
	}
	r->sent += (uint64_t)got;
	return (size_t)got;
}

static int on_seek(void *ud, curl_off_t off, int origin)
{
	struct reg_req *r = ud;
	if (origin != SEEK_SET || off < 0 || (uint64_t)off > r->fd_len)
		return CURL_SEEKFUNC_FAIL;
	r->sent = (uint64_t)off;
	return CURL_SEEKFUNC_OK;
}

/* Adds the certs.d CAs to the system store curl already loaded. */
static CURLcode on_ssl_ctx(CURL *curl, void *sslctx, void *ud)
{
	(void)curl;
	const struct reg_tls *t = ud;
	X509_STORE *store = SSL_CTX_get_cert_store((SSL_CTX *)sslctx);
	for (char **f = t->ca_files; f && *f; f++)
		if (X509_STORE_load_file(store, *f) != 1)
			kiln_debug("certs.d: cannot load CA `%s`", *f);
	return CURLE_OK;
}

/* --- handles ------------------------------------------------------------- */

void reg_http_init(struct reg_http *h)
{
	static bool global_done;
	if (!global_done) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		global_done = true;
	}
	h->multi = curl_multi_init();
	h->share = curl_share_init();
	curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 8L);
	h->running = 0;
}

void reg_http_release(struct reg_http *h)
{
	if (h->multi)
		curl_multi_cleanup(h->multi);
	if (h->share)
		curl_share_cleanup(h->share);
	h->multi = NULL;
	h->share = NULL;
}

static void setup_tls(CURL *e, const struct reg_tls *t)
{
	if (!t)
		return;
	if (t->no_verify) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (t->ca_files) {
		curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
		curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, (void *)t);
	}
	if (t->cert && t->key) {
		curl_easy_setopt(e, CURLOPT_SSLCERT, t->cert);
		curl_easy_setopt(e, CURLOPT_SSLKEY, t->key);
	}
}

static void setup_body(CURL *e, struct reg_req *r)
{
	bool head = !strcmp(r->method, "HEAD");
	if (head)
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	else if (strcmp(r->method, "GET") != 0)
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
	if (r->source || r->body_fd >= 0) /* fewer read callbacks and sends (curl clamps it) */
		curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, REG_UPLOAD_BUFFER);
	if (r->source) {
		curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(e, CURLOPT_READFUNCTION, r->source);
		curl_easy_setopt(e, CURLOPT_READDATA, r->source_ud);
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
	} else if (r->body_fd >= 0) {
		curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(e, CURLOPT_READDATA, r);
		curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(e, CURLOPT_SEEKDATA, r);
		curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->fd_len);
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
	} else if (r->body || !strcmp(r->method, "POST") || !strcmp(r->method, "PUT") ||
	           !strcmp(r->method, "PATCH")) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
		curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, r->body ? (const char *)r->body : "");
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
	}
}

int reg_http_start(struct reg_http *h, struct reg_req *r, struct kiln_err *err)
{
	reg_req_reset(r);
	kiln_buf_init(&r->resp.body, r->max_body, "registry response body");
	CURL *e = curl_easy_init();
	if (!e)
		return kiln_err_set(err, ENOMEM, "curl_easy_init");
	r->easy = e;
	curl_easy_setopt(e, CURLOPT_URL, r->url);
	curl_easy_setopt(e, CURLOPT_SHARE, h->share);
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "kiln/" KILN_VERSION);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, REG_CONNECT_TIMEOUT);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, REG_LOW_SPEED_TIME);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 256L * 1024);
	setup_tls(e, r->tls);
	setup_body(e, r);
	if (curl_multi_add_handle(h->multi, e) != CURLM_OK)
		return kiln_err_set(err, EIO, "curl_multi_add_handle");
	h->running++;
	return 0;
}

/* A request curl has finished, taken off the multi handle, or NULL. */
static struct reg_req *take_done(struct reg_http *h)
{
	int q = 0;
	CURLMsg *m;
	while ((m = curl_multi_info_read(h->multi, &q))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		struct reg_req *r = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		r->result = m->data.result;
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->resp.status);
		curl_multi_remove_handle(h->multi, r->easy);
		h->running--;
		return r;
	}
	return NULL;
}

struct reg_req *reg_http_poll(struct reg_http *h, int timeout_ms)
{
	if (h->running <= 0)
		return NULL;
	int still = 0;
	curl_multi_perform(h->multi, &still);
	struct reg_req *r = take_done(h);
	if (!r && timeout_ms > 0)
		curl_multi_poll(h->multi, NULL, 0, timeout_ms, NULL);
	return r;
}

struct reg_req *reg_http_next(struct reg_http *h)
{
	while (h->running > 0) {
		struct reg_req *r = reg_http_poll(h, 1000);
		if (r)
			return r;
	}
	return NULL;
}

int reg_http_do(struct reg_http *h, struct reg_req *r, struct kiln_err *err)
{
	if (h->running)
		return kiln_err_set(err, EBUSY, "http: a synchronous request while others run");
	if (reg_http_start(h, r, err) < 0)
		return -1;
	while (reg_http_next(h) != r)
		;
	return 0;
}
