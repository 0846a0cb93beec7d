/* Stored credentials, as docker keeps them: DIR/config.json (DIR =
 * $DOCKER_CONFIG, else ~/.docker), `auths` entries with a base64 `auth`,
 * or a credential helper (`credHelpers` per registry, else `credsStore`):
 * the docker-credential-NAME program, spoken to on stdin/stdout (get,
 * store, erase), so a password never appears in a process's arguments. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "reg-internal.h"

#define HUB_KEY "https://index.docker.io/v1/"

char *reg_server_key(const char *registry)
{
	if (!registry || !*registry || !strcmp(registry, IMG_DEFAULT_DOMAIN) ||
	    !strcmp(registry, "index.docker.io") || !strcmp(registry, "registry-1.docker.io") ||
	    !strcmp(registry, HUB_KEY))
		return xstrdup(HUB_KEY);
	const char *p = registry;
	if (!strncmp(p, "https://", 8))
		p += 8;
	else if (!strncmp(p, "http://", 7))
		p += 7;
	size_t n = strcspn(p, "/");
	return xstrndup(p, n);
}

static char *config_dir(const char *dir)
{
	if (dir && *dir)
		return xstrdup(dir);
	const char *env = getenv("DOCKER_CONFIG");
	if (env && *env)
		return xstrdup(env);
	const char *home = getenv("HOME");
	return xasprintf("%s/.docker", home && *home ? home : "/root");
}

/* config.json as an object (empty when absent). */
static json_t *config_load(const char *path, struct kiln_err *err)
{
	if (!kiln_path_exists(path))
		return json_object();
	_cleanup_free_ char *data = NULL;
	size_t len;
	if (kiln_read_file(path, 4u << 20, &data, &len, err) < 0)
		return NULL;
	json_t *j = len ? json_loadb(data, len, 0, NULL) : json_object();
	if (!json_is_object(j)) {
		json_decref(j);
		kiln_err_set(err, KILN_E_INVALID, "`%s` is not a JSON object", path);
		return NULL;
	}
	return j;
}

/* The file a save replaces: config.json itself, or when it is a symlink
 * (dotfile managers link it) the file it names, as docker writes through
 * the link rather than over it. A dangling link's target is taken relative
 * to the link's directory. */
static char *save_target(const char *path)
{
	char buf[4096];
	ssize_t n = readlink(path, buf, sizeof(buf) - 1);
	if (n <= 0)
		return xstrdup(path);
	char *real = realpath(path, NULL);
	if (real)
		return real;
	buf[n] = '\0';
	const char *slash = strrchr(path, '/');
	if (buf[0] == '/' || !slash)
		return xstrdup(buf);
	return xasprintf("%.*s/%s", (int)(slash - path), path, buf);
}

static int config_save(const char *dir, const char *path, json_t *j, struct kiln_err *err)
{
	if (kiln_mkdir_p(dir, 0700, err) < 0)
		return -1;
	_cleanup_free_ char *target = save_target(path);
	char *data = json_dumps(j, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	size_t n = strlen(data);
	char *nl = xasprintf("%s\n", data);
	OPENSSL_cleanse(data, n);
	free(data);
	int r = kiln_write_file_atomic(target, nl, n + 1, 0600, err);
	OPENSSL_cleanse(nl, n + 1);
	free(nl);
	return r;
}

static const char *helper_for(json_t *cfg, const char *server)
{
	const char *h =
	    json_string_value(json_object_get(json_object_get(cfg, "credHelpers"), server));
	if (!h || !*h)
		h = json_string_value(json_object_get(cfg, "credsStore"));
	return h && *h ? h : NULL;
}

/* Runs docker-credential-NAME VERB with input on stdin; *out gets stdout. */
static int run_helper(const char *name, const char *verb, const char *input, char **out,
                      struct kiln_err *err)
{
	_cleanup_free_ char *prog = xasprintf("docker-credential-%s", name);
	int in[2], outp[2];
	if (pipe2(in, O_CLOEXEC) < 0)
		return kiln_err_set(err, errno, "pipe");
	if (pipe2(outp, O_CLOEXEC) < 0) {
		close(in[0]), close(in[1]);
		return kiln_err_set(err, errno, "pipe");
	}
	pid_t pid = fork();
	if (pid < 0)
		return kiln_err_set(err, errno, "fork");
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(outp[1], 1);
		execlp(prog, prog, verb, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(outp[1]);
	/* a helper may exit without reading its input: EPIPE, not SIGPIPE */
	struct sigaction ign = {.sa_handler = SIG_IGN}, old;
	sigemptyset(&ign.sa_mask);
	sigaction(SIGPIPE, &ign, &old);
	struct kiln_err e = KILN_ERR_INIT;
	kiln_write_all(in[1], input, strlen(input), &e);
	kiln_err_release(&e);
	close(in[1]);
	sigaction(SIGPIPE, &old, NULL);
	char *data = NULL;
	size_t len = 0;
	int r = kiln_read_fd(outp[0], 1u << 20, "credential helper output", &data, &len, err);
	close(outp[0]);
	int st = 0;
	waitpid(pid, &st, 0);
	if (r < 0)
		return -1;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		/* the helper's stdout is its message (never a secret on failure) */
		while (len && (data[len - 1] == '\n'))
			data[--len] = '\0';
		kiln_err_set(err, 0, "error %s credentials with `%s`: %s", verb, prog,
		             WIFEXITED(st) && WEXITSTATUS(st) == 127 ? "not found" : data);
		free(data);
		return -1;
	}
	*out = data;
	return 0;
}

static int decode_auth(const char *b64, char **user, char **pass)
{
	size_t n = strlen(b64);
	unsigned char *raw = xmalloc(n + 4);
	int m = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)n);
	if (m < 0) {
		free(raw);
		return -1;
	}
	while (m > 0 && n > 0 && b64[n - 1] == '=') /* DecodeBlock counts padding */
		m--, n--;
	raw[m] = '\0';
	char *colon = strchr((char *)raw, ':');
	if (!colon) {
		free(raw);
		return -1;
	}
	*colon = '\0';
	*user = xstrdup((char *)raw);
	*pass = xstrdup(colon + 1);
	OPENSSL_cleanse(raw, (size_t)m);
	free(raw);
	return 0;
}

int reg_creds_get(const char *server, const char *docker_config, char **user, char **pass,
                  struct kiln_err *err)
{
	*user = *pass = NULL;
	_cleanup_free_ char *dir = config_dir(docker_config);
	_cleanup_free_ char *path = kiln_path_join(dir, "config.json");
	json_t *cfg = config_load(path, err);
	if (!cfg)
		return -1;
	int ret = 0;
	const char *helper = helper_for(cfg, server);
	if (helper) {
		char *out = NULL;
		struct kiln_err e = KILN_ERR_INIT;
		if (run_helper(helper, "get", server, &out, &e) == 0) {
			json_t *j = json_loads(out, 0, NULL);
			const char *u = json_string_value(json_object_get(j, "Username"));
			const char *s = json_string_value(json_object_get(j, "Secret"));
			if (u && s && *s) {
				*user = xstrdup(u);
				*pass = xstrdup(s);
			}
			json_decref(j);
			OPENSSL_cleanse(out, strlen(out));
			free(out);
		} else {
			kiln_debug("no credentials from helper `%s`", helper); /* anonymous */
			kiln_err_release(&e);
		}
	} else {
		json_t *a = json_object_get(json_object_get(cfg, "auths"), server);
		const char *b64 = json_string_value(json_object_get(a, "auth"));
		if (b64 && *b64 && decode_auth(b64, user, pass) < 0)
			ret = kiln_err_set(err, KILN_E_INVALID, "invalid `auth` for `%s` in `%s`",
			                   server, path);
	}
	json_decref(cfg);
	return ret;
}

int reg_creds_store(const char *server, const char *docker_config, const char *user,
                    const char *pass, char **plain_path, struct kiln_err *err)
{
	_cleanup_free_ char *dir = config_dir(docker_config);
	_cleanup_free_ char *path = kiln_path_join(dir, "config.json");
	json_t *cfg = config_load(path, err);
	if (!cfg)
		return -1;
	int ret;
	const char *helper = helper_for(cfg, server);
	if (helper) {
		json_t *in = json_pack("{s:s,s:s,s:s}", "ServerURL", server, "Username", user,
		                       "Secret", pass);
		char *s = json_dumps(in, JSON_COMPACT);
		char *out = NULL;
		ret = run_helper(helper, "store", s, &out, err);
		OPENSSL_cleanse(s, strlen(s));
		free(s);
		free(out);
		json_decref(in);
		/* docker keeps an empty entry so `auths` lists the registry */
		json_t *auths = json_object_get(cfg, "auths");
		if (!auths)
			json_object_set_new(cfg, "auths", auths = json_object());
		if (ret == 0 && !json_object_get(auths, server)) {
			json_object_set_new(auths, server, json_object());
			ret = config_save(dir, path, cfg, err);
		}
	} else {
		_cleanup_free_ char *plain = xasprintf("%s:%s", user, pass);
		size_t n = strlen(plain);
		char *b64 = xmalloc(4 * ((n + 2) / 3) + 1);
		EVP_EncodeBlock((unsigned char *)b64, (unsigned char *)plain, (int)n);
		OPENSSL_cleanse(plain, n);
		json_t *auths = json_object_get(cfg, "auths");
		if (!auths)
			json_object_set_new(cfg, "auths", auths = json_object());
		json_object_set_new(auths, server, json_pack("{s:s}", "auth", b64));
		ret = config_save(dir, path, cfg, err);
		if (ret == 0 && plain_path)
			*plain_path = xstrdup(path);
		OPENSSL_cleanse(b64, strlen(b64));
		free(b64);
	}
	json_decref(cfg);
	return ret;
}

int reg_creds_erase(const char *server, const char *docker_config, struct kiln_err *err)
{
	_cleanup_free_ char *dir = config_dir(docker_config);
	_cleanup_free_ char *path = kiln_path_join(dir, "config.json");
	json_t *cfg = config_load(path, err);
	if (!cfg)
		return -1;
	int ret = 0;
	const char *helper = helper_for(cfg, server);
	bool found = false;
	if (helper) {
		char *out = NULL;
		found = run_helper(helper, "erase", server, &out, NULL) == 0;
		free(out);
	}
	json_t *auths = json_object_get(cfg, "auths");
	if (json_object_get(auths, server)) {
		json_object_del(auths, server);
		found = true;
		ret = config_save(dir, path, cfg, err);
	}
	json_decref(cfg);
	if (ret == 0 && !found)
		ret = kiln_err_set(err, KILN_E_NOTFOUND, "not logged in to %s", server);
	return ret;
}
