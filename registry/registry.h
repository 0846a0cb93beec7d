/* registry: the OCI distribution protocol client (pull, push, login).
 * Layer 2: uses image/ and common/ only, never a container or a Dockerfile.
 *
 * HTTP goes through libcurl: one multi handle per client (connections are
 * reused across requests, blob downloads run 3 at a time on it), bounded
 * response bodies, connect and low-speed timeouts. Plain HTTP only for
 * localhost, 127.0.0.0/8, ::1 (after HTTPS was refused) and the hosts in
 * reg_opts.insecure or kiln's config file ("insecure-registries" in
 * $KILN_CONFIG, /etc/kiln/config.json or ~/.config/kiln/config.json); everything else is HTTPS with
 * the system CA store plus DIR/HOST:PORT/ *.crt (CAs) and client.cert/client.key (DIR =
 * $KILN_CERTS_DIR, else /etc/docker/certs.d), as docker does.
 *
 * Files: http.c (libcurl), tls.c (certs.d), auth.c (challenges, tokens),
 * creds.c (config.json, credential helpers), client.c (requests with auth,
 * retries, error mapping), json.c (jansson: tokens, errors, lists, kiln's
 * config file), pull.c, unpack.c (snapshots unpacked while downloading),
 * push.c (uploads, streamed while compressing), login.c (login, logout,
 * manifest inspect, search, tags), artifact.c (raw manifests and blobs of
 * one repository: the shared build cache). */
#ifndef KILN_REGISTRY_H
#define KILN_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>

#include "common.h"
#include "image.h"

struct reg_opts {
	const char *platform; /* "os/arch[/variant]"; NULL: the host's */
	char **insecure;      /* NULL-terminated "host[:port]" list, or NULL */
	/* push: compression of local uncompressed layers; IMG_COMPRESS_NONE
	 * (0) pushes them as stored; the CLI passes gzip, docker's default */
	enum img_compression compression;
	int parallel;              /* concurrent blob transfers (0: 3) */
	const char *docker_config; /* NULL: $DOCKER_CONFIG or ~/.docker */
};

/* Progress events (the CLI prints docker's lines from them). id is the
 * 12-hex short form of a layer digest; current/total in bytes. */
enum reg_event_kind {
	REG_EV_LAYER_WAIT,        /* "Pulling fs layer" */
	REG_EV_LAYER_EXISTS,      /* pull: "Already exists" */
	REG_EV_DOWNLOADING,       /* "Downloading" (current/total) */
	REG_EV_VERIFYING,         /* "Verifying Checksum" */
	REG_EV_DOWNLOAD_COMPLETE, /* "Download complete" */
	REG_EV_EXTRACTING,        /* "Extracting" */
	REG_EV_PULL_COMPLETE,     /* "Pull complete" */
	REG_EV_RETRYING,          /* detail: the failure */
	REG_EV_PUSH_PREPARING,    /* "Preparing" */
	REG_EV_PUSH_WAITING,      /* "Waiting" */
	REG_EV_PUSHING,           /* "Pushing" (current/total) */
	REG_EV_PUSHED,            /* "Pushed" */
	REG_EV_PUSH_EXISTS,       /* "Layer already exists" */
	REG_EV_MOUNTED,           /* "Mounted from REPO" (detail) */
	REG_EV_STATUS,            /* a whole line (detail), e.g. "latest: Pulling from x" */
};
struct reg_event {
	enum reg_event_kind kind;
	const char *id;
	uint64_t current, total;
	const char *detail;
};
typedef void (*reg_progress_fn)(const struct reg_event *ev, void *ud);

struct reg_pull_result {
	char image_id[KILN_DIGEST_LEN]; /* config digest */
	char digest[KILN_DIGEST_LEN];   /* what the registry returned for the reference */
	char *ref;                      /* the normalized reference pulled */
	bool updated;                   /* false: "Image is up to date" */
	/* set even on failure: the pull got past the manifest and printed its
	 * first line (docker's daemon streams from there: a later error is a
	 * stream error, an earlier one an "Error response from daemon") */
	bool started;
};
void reg_pull_result_release(struct reg_pull_result *r);

/* Pulls ref (tag or digest; default ":latest") into the store: resolves the
 * manifest (an index picks o->platform or the host's), downloads the
 * missing blobs (o->parallel at a time), verifying digest and size while
 * streaming, unpacks each layer's snapshot, stores the manifest verbatim
 * and tags it; the registry's digest becomes a RepoDigest. */
int reg_pull(struct img_store *s, const char *ref, const struct reg_opts *o, reg_progress_fn cb,
             void *ud, struct reg_pull_result *res, struct kiln_err *err);

/* --pull of run and create (docker's policies). */
enum reg_pull_policy {
	REG_PULL_MISSING, /* pull only when the image is not stored (the default) */
	REG_PULL_ALWAYS,  /* pull every time (an up-to-date image downloads nothing) */
	REG_PULL_NEVER,   /* never: a missing image is "No such image" */
};
/* "always", "missing" or "never" (NULL: missing); a usage error otherwise. */
int reg_pull_policy_parse(const char *s, enum reg_pull_policy *p, struct kiln_err *err);

/* Makes sure ref is stored, as run and create do before they create a
 * container: by policy, pulls it (through reg_pull, its events to cb;
 * a missing image first gets a REG_EV_STATUS "Unable to find image 'REF'
 * locally", docker's line). Returns 1 when it pulled (res filled), 0 when
 * the stored image is used, -1 on error (KILN_E_NOTFOUND "No such image:
 * REF" for a missing image under REG_PULL_NEVER). */
int reg_pull_by_policy(struct img_store *s, const char *ref, enum reg_pull_policy policy,
                       const struct reg_opts *o, reg_progress_fn cb, void *ud,
                       struct reg_pull_result *res, struct kiln_err *err);

struct reg_push_result {
	char digest[KILN_DIGEST_LEN]; /* manifest digest (the registry's) */
	int64_t size;                 /* manifest size */
	char *tag;                    /* "latest" */
	bool started;                 /* set even on failure: "The push refers to..." was emitted */
};
void reg_push_result_release(struct reg_push_result *r);

/* Pushes the image ref names (tagged locally) to its registry: blobs the
 * registry lacks (HEAD first; cross-repository mount when possible;
 * uncompressed local layers compressed once with o->compression and the
 * result remembered in the store), then the manifest. */
int reg_push(struct img_store *s, const char *ref, const struct reg_opts *o, reg_progress_fn cb,
             void *ud, struct reg_push_result *res, struct kiln_err *err);

/* The tags of repository repo (no tag or digest), sorted (pull -a). */
int reg_list_tags(const char *repo, const struct reg_opts *o, struct kiln_strv *tags,
                  struct kiln_err *err);

/* The raw manifest or index ref names (docker manifest inspect). */
int reg_manifest_fetch(const char *ref, const struct reg_opts *o, char **data, size_t *len,
                       char **media_type, struct kiln_err *err);

/* "localhost:5000" -> "localhost:5000"; NULL/"docker.io" -> docker's
 * "https://index.docker.io/v1/" (the config.json key). Allocated. */
char *reg_server_key(const char *registry);

/* Checks user/password against the registry (its /v2/ endpoint, through
 * the same auth flow as pull), then stores them in config.json or its
 * credential helper. *plain_path (allocated; NULL for a helper, may be
 * NULL): the config.json holding the password, for docker's warning. */
int reg_login(const char *registry, const char *user, const char *password,
              const struct reg_opts *o, char **plain_path, struct kiln_err *err);
/* Removes the stored credentials; KILN_E_NOTFOUND when there were none. */
int reg_logout(const char *registry, const struct reg_opts *o, struct kiln_err *err);

/* Repository names from the registry's _catalog containing term. */
int reg_search(const char *registry, const char *term, const struct reg_opts *o,
               struct kiln_strv *names, struct kiln_err *err);

/* --- one repository, blob by blob (artifact.c) ------------------------------
 * For artifacts that are not images (the builder's shared cache,
 * docs/cache-format.md). A handle keeps its connections and tokens; it is
 * not thread-safe (the caller serializes). */
struct reg_repo;
/* ref: "name[:tag|@digest]" (default ":latest"); push: ask for push rights. */
int reg_repo_open(const char *ref, bool push, const struct reg_opts *o, struct reg_repo **out,
                  struct kiln_err *err);
void reg_repo_close(struct reg_repo *r);
/* "host/name:tag" as normalized, for messages. */
const char *reg_repo_name(const struct reg_repo *r);
/* The manifest or index the ref names (bounded, digest checked). */
int reg_repo_manifest(struct reg_repo *r, char **data, size_t *len, char **media_type,
                      char digest[KILN_DIGEST_LEN], struct kiln_err *err);
/* A small blob, whole (at most max bytes), its digest and size checked. */
int reg_repo_blob(struct reg_repo *r, const char *digest, int64_t size, size_t max, char **data,
                  size_t *len, struct kiln_err *err);
/* Layer blobs into the store (those not stored yet): digest and size
 * verified while streaming; the diffID too (a mismatch is KILN_E_CORRUPT,
 * no snapshot published): with unpack, while each layer's snapshot
 * unpacks as it downloads, else by reading the new blob once more. */
int reg_repo_pull_layers(struct reg_repo *r, struct img_store *s, const struct img_layer *layers,
                         size_t n, bool unpack, struct kiln_err *err);
/* 1 when the repository holds the blob, 0 when not, -1 on error. */
int reg_repo_has_blob(struct reg_repo *r, const char *digest, struct kiln_err *err);
/* Makes sure the registry holds a stored blob (HEAD first, then upload). */
int reg_repo_push_blob(struct reg_repo *r, struct img_store *s, const struct img_descriptor *d,
                       struct kiln_err *err);
/* PUTs a manifest under the ref's tag; digest receives its digest. */
int reg_repo_put_manifest(struct reg_repo *r, const char *media_type, char *data, size_t len,
                          char digest[KILN_DIGEST_LEN], struct kiln_err *err);

#endif
