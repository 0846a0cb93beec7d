/* TLS settings per registry host, as docker reads them: every *.crt in
 * CERTS_DIR/HOST[:PORT]/ is an extra CA (beside the system store), and a
 * client.cert with its client.key is the client certificate. CERTS_DIR is
 * $KILN_CERTS_DIR, else /etc/docker/certs.d. */
#include <arpa/inet.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "reg-internal.h"

static bool has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);
	return n > m && !strcmp(s + n - m, suf);
}

void reg_tls_load(const char *host, bool no_verify, struct reg_tls *t)
{
	memset(t, 0, sizeof(*t));
	t->no_verify = no_verify;
	const char *base = getenv("KILN_CERTS_DIR");
	if (!base || !*base)
		base = "/etc/docker/certs.d";
	_cleanup_free_ char *dir = kiln_path_join(base, host);
	_cleanup_closedir_ DIR *d = opendir(dir);
	if (!d)
		return;
	struct kiln_strv cas = KILN_STRV_INIT;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (has_suffix(de->d_name, ".crt"))
			kiln_strv_push_take(&cas, kiln_path_join(dir, de->d_name));
		else if (has_suffix(de->d_name, ".cert") && !t->cert) {
			char *key = xstrdup(de->d_name);
			strcpy(key + strlen(key) - 5, ".key");
			char *kp = kiln_path_join(dir, key);
			free(key);
			if (kiln_path_exists(kp)) {
				t->cert = kiln_path_join(dir, de->d_name);
				t->key = kp;
			} else {
				free(kp);
			}
		}
	}
	kiln_strv_sort(&cas);
	t->ca_files = cas.v;
}

void reg_tls_release(struct reg_tls *t)
{
	kiln_strv_free(t->ca_files);
	free(t->cert);
	free(t->key);
	memset(t, 0, sizeof(*t));
}

/* host without its port: "[::1]:5000" -> "::1", "localhost:5000" -> "localhost" */
static char *host_only(const char *host)
{
	if (host[0] == '[') {
		const char *e = strchr(host, ']');
		return e ? xstrndup(host + 1, (size_t)(e - host - 1)) : xstrdup(host);
	}
	const char *c = strrchr(host, ':');
	return c && strchr(host, ':') == c ? xstrndup(host, (size_t)(c - host)) : xstrdup(host);
}

bool reg_host_is_loopback(const char *host)
{
	_cleanup_free_ char *h = host_only(host);
	if (!strcmp(h, "localhost"))
		return true;
	struct in_addr a4;
	struct in6_addr a6;
	if (inet_pton(AF_INET, h, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, h, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false;
}
