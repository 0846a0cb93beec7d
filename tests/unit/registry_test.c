/* registry/ internals: config.json credentials, server keys, loopback
 * detection, the registry's JSON documents. No network. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reg-internal.h"
#include "tap.h"

static void test_server_key(void)
{
	char *k = reg_server_key(NULL);
	T_STREQ(k, "https://index.docker.io/v1/", "no registry is Docker Hub's key");
	free(k);
	k = reg_server_key("docker.io");
	T_STREQ(k, "https://index.docker.io/v1/", "docker.io is Docker Hub's key");
	free(k);
	k = reg_server_key("https://localhost:5000/v2/");
	T_STREQ(k, "localhost:5000", "scheme and path dropped");
	free(k);
	k = reg_server_key("myreg:5000");
	T_STREQ(k, "myreg:5000", "host:port kept");
	free(k);
}

static void test_loopback(void)
{
	T_OK(reg_host_is_loopback("localhost:5000"), "localhost");
	T_OK(reg_host_is_loopback("127.0.0.1:5000"), "127.0.0.1");
	T_OK(reg_host_is_loopback("127.8.9.10"), "127.0.0.0/8");
	T_OK(reg_host_is_loopback("[::1]:5000"), "::1");
	T_OK(!reg_host_is_loopback("128.0.0.1:5000"), "128.0.0.1 is not");
	T_OK(!reg_host_is_loopback("localhost.example.com"),
	     "a name that starts with localhost is not");
	T_OK(!reg_host_is_loopback("registry-1.docker.io"), "docker hub is not");
}

static void test_json(void)
{
	const char *e = "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"manifest "
	                "unknown\",\"detail\":{}}]}";
	char *code, *msg;
	reg_json_error(e, strlen(e), &code, &msg);
	T_STREQ(code, "MANIFEST_UNKNOWN", "error code");
	T_STREQ(msg, "manifest unknown", "error message");
	free(code);
	free(msg);
	reg_json_error("not json", 8, &code, &msg);
	T_OK(!code && !msg, "a malformed error body gives nothing");

	char *tok = NULL;
	long exp = 60;
	struct kiln_err err = KILN_ERR_INIT;
	const char *t = "{\"access_token\":\"abc\",\"expires_in\":300}";
	T_OK(reg_json_token(t, strlen(t), &tok, &exp, &err) == 0, "access_token accepted");
	T_STREQ(tok, "abc", "token value");
	T_INTEQ(exp, 300, "expires_in");
	free(tok);
	T_OK(reg_json_token("{}", 2, &tok, &exp, &err) < 0, "no token is an error");
	kiln_err_release(&err);

	const char *m = "{\"schemaVersion\":2,\"mediaType\":\"" IMG_MT_DOCKER_LIST "\"}";
	T_STREQ(reg_media_type_of(m, strlen(m)), IMG_MT_DOCKER_LIST, "manifest list type");
	const char *x = "{\"schemaVersion\":2,\"manifests\":[]}";
	T_STREQ(reg_media_type_of(x, strlen(x)), IMG_MT_OCI_INDEX, "untyped index");
	const char *bad = "{\"schemaVersion\":1,\"mediaType\":\"application/x-other\"}";
	T_OK(reg_media_type_of(bad, strlen(bad)) == NULL, "unknown media type refused");
}

static void test_creds(void)
{
	char dir[] = "/tmp/kiln-creds-XXXXXX";
	if (!mkdtemp(dir)) {
		T_OK(0, "mkdtemp");
		return;
	}
	struct kiln_err err = KILN_ERR_INIT;
	_cleanup_free_ char *cfg = kiln_path_join(dir, "config.json");
	const char *other = "{\"psFormat\":\"table {{.ID}}\"}";
	kiln_write_file_atomic(cfg, other, strlen(other), 0644, &err);
	T_OK(reg_creds_store("localhost:5000", dir, "bob", "p:w", NULL, &err) == 0, "store");
	struct stat st;
	T_OK(stat(cfg, &st) == 0 && (st.st_mode & 0777) == 0600, "config.json is 0600");
	char *data = NULL;
	size_t len;
	kiln_read_file(cfg, 1 << 20, &data, &len, &err);
	T_OK(data && strstr(data, "\"auth\": \"Ym9iOnA6dw==\""), "base64 auth as docker writes it");
	T_OK(data && strstr(data, "psFormat"), "other settings kept");
	free(data);
	char *u = NULL, *p = NULL;
	T_OK(reg_creds_get("localhost:5000", dir, &u, &p, &err) == 0, "get");
	T_STREQ(u, "bob", "user read back");
	T_STREQ(p, "p:w", "password with a colon read back");
	free(u);
	free(p);
	T_OK(reg_creds_get("other:1", dir, &u, &p, &err) == 0 && !u && !p, "no entry: anonymous");
	T_OK(reg_creds_erase("localhost:5000", dir, &err) == 0, "erase");
	T_OK(reg_creds_get("localhost:5000", dir, &u, &p, &err) == 0 && !u, "erased");
	T_OK(reg_creds_erase("localhost:5000", dir, &err) < 0 && err.code == KILN_E_NOTFOUND,
	     "erase again: not found");
	kiln_err_release(&err);
	unlink(cfg);
	rmdir(dir);
}

int main(void)
{
	test_server_key();
	test_loopback();
	test_json();
	test_creds();
	return tap_done();
}
