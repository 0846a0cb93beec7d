/* Private to registry/. */
#ifndef KILN_REG_INTERNAL_H
#define KILN_REG_INTERNAL_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>

#include "registry.h"

#define REG_MAX_MANIFEST    (4u << 20) /* manifests and indexes */
#define REG_MAX_SMALL       (1u << 20) /* error bodies, tokens, catalogs */
#define REG_MAX_ATTEMPTS    4          /* tries of one request (transient failures) */
#define REG_CONNECT_TIMEOUT 30L        /* seconds */
#define REG_LOW_SPEED_TIME  60L        /* seconds under 1 byte/s before giving up */
#define REG_SHORT_ID_LEN    12
#define REG_UPLOAD_BUFFER   (1L << 20) /* curl's upload buffer: bytes per read callback */

/* --- http.c ---------------------------------------------------------------- */
struct reg_tls {
	char **ca_files; /* extra CA PEM files (certs.d *.crt), NULL-terminated or NULL */
	char *cert, *key;
	bool no_verify; /* --insecure-registry */
};

struct reg_resp {
	long status;
	struct kiln_buf body;
	char *content_type, *digest, *location, *www_auth;
	long retry_after; /* seconds, -1 absent */
	int64_t content_length;
};

/* Receives a 2xx body; returns 0, or -1 with *err set to abort the request. */
typedef int (*reg_sink_fn)(void *ud, const void *p, size_t n, struct kiln_err *err);

struct reg_req {
	const char *method;
	char *url;
	struct curl_slist *headers;
	const void *body; /* in-memory request body */
	size_t body_len;
	int body_fd; /* request body from a file (-1: none), body_len bytes from body_off */
	off_t body_off;
	uint64_t fd_len;
	/* request body produced as it is sent (chunked transfer encoding):
	 * curl's read callback; such a request is never retried */
	size_t (*source)(char *buf, size_t size, size_t nmemb, void *ud);
	void *source_ud;
	size_t max_body; /* bound on a body kept in resp.body */
	reg_sink_fn sink;
	void *sink_ud;
	const struct reg_tls *tls;
	void *ud; /* caller's */
	/* results */
	struct reg_resp resp;
	CURLcode result;
	struct kiln_err err; /* a sink or limit failure */
	char errbuf[CURL_ERROR_SIZE];
	/* private */
	CURL *easy;
	uint64_t sent;
};
void reg_req_init(struct reg_req *r, const char *method, char *url /* taken */);
void reg_req_header(struct reg_req *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Frees the response and curl state so the request can be sent again. */
void reg_req_reset(struct reg_req *r);
void reg_req_release(struct reg_req *r);
/* The transport failure of a finished request as an error (0 if none). */
int reg_req_transport_err(const struct reg_req *r, struct kiln_err *err);

struct reg_http {
	CURLM *multi;
	CURLSH *share;
	int running;
};
void reg_http_init(struct reg_http *h);
void reg_http_release(struct reg_http *h);
int reg_http_start(struct reg_http *h, struct reg_req *r, struct kiln_err *err);
/* Waits for the next finished request (NULL when none are in flight). */
struct reg_req *reg_http_next(struct reg_http *h);
/* One turn of the transfers: moves them on, returns a finished request,
 * else waits up to timeout_ms (0: not at all) for activity and returns
 * NULL (as when none are in flight). */
struct reg_req *reg_http_poll(struct reg_http *h, int timeout_ms);
/* start + wait for r alone. Returns 0 when the exchange happened (any status). */
int reg_http_do(struct reg_http *h, struct reg_req *r, struct kiln_err *err);

/* tls.c */
void reg_tls_load(const char *host, bool no_verify, struct reg_tls *t);
void reg_tls_release(struct reg_tls *t);
bool reg_host_is_loopback(const char *host);

/* --- auth.c --------------------------------------------------------------- */
struct reg_token {
	char *scope, *token;
	time_t expires;
};
struct reg_auth {
	char *user, *pass;   /* credentials, or NULL (anonymous) */
	bool basic;          /* the registry asked for basic auth */
	bool no_basic_creds; /* ... and there were no credentials to give */
	char *realm, *service;
	struct reg_token *tokens;
	size_t n_tokens;
};
void reg_auth_release(struct reg_auth *a);
/* Adds the Authorization header for scope when one is known. */
void reg_auth_apply(struct reg_auth *a, struct reg_req *r, const char *scope);
/* After a 401: reads the challenge and fetches a token for scope (or
 * switches to basic). Returns 0 if a retry makes sense. */
int reg_auth_challenge(struct reg_auth *a, struct reg_http *h, const struct reg_tls *tls,
                       const char *www_auth, const char *scope, struct kiln_err *err);

/* --- creds.c -------------------------------------------------------------- */
/* Credentials stored for a registry (docker config.json or a helper). */
int reg_creds_get(const char *server, const char *docker_config, char **user, char **pass,
                  struct kiln_err *err);
/* *plain_path (allocated, when not NULL): the config.json that now holds
 * them, left NULL when a credential helper took them. */
int reg_creds_store(const char *server, const char *docker_config, const char *user,
                    const char *pass, char **plain_path, struct kiln_err *err);
int reg_creds_erase(const char *server, const char *docker_config, struct kiln_err *err);

/* --- client.c ------------------------------------------------------------- */
struct reg_client {
	struct reg_http http;
	char *host; /* as in the reference: "localhost:5000"; docker.io -> registry-1.docker.io */
	char *repo; /* "library/busybox" */
	char *familiar;     /* for messages: "localhost:5000/x" */
	const char *scheme; /* "https", or "http" once HTTPS was refused by a plain host */
	bool may_plain;
	struct reg_tls tls;
	struct reg_auth auth;
	char *scope; /* "repository:NAME:pull" or ":pull,push" */
	reg_progress_fn cb;
	void *cb_ud;
	const atomic_bool *cancel; /* set: every later request fails (a parallel push stopping) */
};
int reg_client_open(struct reg_client *c, const char *domain, const char *repo, bool push,
                    const struct reg_opts *o, struct kiln_err *err);
void reg_client_close(struct reg_client *c);
void reg_client_clone(struct reg_client *dst, const struct reg_client *c);
/* "SCHEME://HOST/v2/REPO/<fmt...>" (allocated). */
char *reg_url(struct reg_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Sends r with auth, retrying transient failures (a 401 once after a new
 * token). 0: an HTTP answer is in r->resp (any status); -1: transport. */
int reg_client_send(struct reg_client *c, struct reg_req *r, struct kiln_err *err);
/* Turns a non-2xx answer into docker's error: what names the object
 * ("manifest for x:y"). Returns -1. */
int reg_resp_error(struct reg_client *c, const struct reg_req *r, const char *what,
                   struct kiln_err *err);
void reg_emit(struct reg_client *c, enum reg_event_kind k, const char *digest, uint64_t cur,
              uint64_t total, const char *detail);
void reg_short_id(const char *digest, char out[REG_SHORT_ID_LEN + 1]);

/* Manifest GET (bounded, digest-checked). accept_index: also ask for indexes. */
int reg_get_manifest(struct reg_client *c, const char *reference, bool accept_index, char **data,
                     size_t *len, char **media_type, char digest[KILN_DIGEST_LEN],
                     struct kiln_err *err);

/* unpack.c: a layer's snapshot unpacked by a thread from the chunks of
 * blob bytes handed to it while they download. finish(complete=false)
 * abandons it (nothing is published); finish(complete=true) returns the
 * unpacking's result. */
#define REG_UNPACK_QUEUE 8          /* chunks waiting for the unpacker */
#define REG_CHUNK        (1u << 20) /* bytes a downloader gathers per write and hand-over */
struct reg_unpack {
	struct img_store *s;
	struct img_layer layer;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct {
		void *p;
		size_t n;
	} q[REG_UNPACK_QUEUE];
	size_t head, count;
	void *reading;                 /* the chunk the unpacker reads */
	void *spare[REG_UNPACK_QUEUE]; /* chunks read, for the downloader to fill again */
	size_t n_spare;
	bool running, closed, abandoned, stopped;
	int ret;
	struct kiln_err err;
};
int reg_unpack_start(struct reg_unpack *u, struct img_store *s, const struct img_layer *l,
                     struct kiln_err *err);
/* An empty REG_CHUNK buffer: one the unpacker is done with, or a new one. */
void *reg_unpack_chunk(struct reg_unpack *u);
/* Hands over chunk p (malloc'ed, n bytes): always taken, freed once read. */
int reg_unpack_give(struct reg_unpack *u, void *p, size_t n);
int reg_unpack_finish(struct reg_unpack *u, bool complete, struct kiln_err *err);

/* pull.c, push.c: the pieces artifact.c reuses. Layers are downloaded
 * (digest verified while streaming) and unpacked (diffID verified). */
int reg_download_layers(struct reg_client *c, struct img_store *s, const struct img_layer *layers,
                        size_t n, bool unpack, struct kiln_err *err);
int reg_push_stored_blob(struct reg_client *c, struct img_store *s, const struct img_descriptor *d,
                         struct kiln_err *err);
int reg_blob_exists(struct reg_client *c, const char *digest, struct kiln_err *err); /* 1, 0, -1 */
int reg_put_manifest_raw(struct reg_client *c, const char *tag, const char *media_type, char *json,
                         size_t len, char digest[KILN_DIGEST_LEN], struct kiln_err *err);

/* json.c (jansson) */
int reg_json_token(const char *body, size_t len, char **token, long *expires_in,
                   struct kiln_err *err);
/* First error of a registry error body: code and message (allocated, may be NULL). */
void reg_json_error(const char *body, size_t len, char **code, char **message);
/* The strings of the array `key` ("repositories" of _catalog, "tags" of tags/list). */
int reg_json_strings(const char *body, size_t len, const char *key, struct kiln_strv *out,
                     struct kiln_err *err);
const char *reg_media_type_of(const char *body, size_t len); /* static string or NULL */
/* host is listed in kiln's config file ($KILN_CONFIG, else
 * /etc/kiln/config.json for root, else $XDG_CONFIG_HOME/kiln/config.json or
 * ~/.config/kiln/config.json) under "insecure-registries", as in docker's
 * daemon.json. */
bool reg_config_insecure(const char *host);

#endif
