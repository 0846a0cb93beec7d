/* ADD of an http(s) URL: downloaded through libcurl into a temp file in the
 * store, hashed on the way and checked against --checksum. */
#include <curl/curl.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "build-internal.h"

struct dl {
	int fd;
	struct kiln_sha256 h;
	struct kiln_err err;
};

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
	struct dl *d = ud;
	size_t len = size * n;
	if (kiln_write_all(d->fd, p, len, &d->err) < 0)
		return 0;
	kiln_sha256_update(&d->h, p, len);
	return len;
}

static int check_sum(const char *url, const char *want, const char *got, struct kiln_err *err)
{
	if (!want)
		return 0;
	if (strncmp(want, "sha256:", 7) != 0)
		return kiln_err_set(err, KILN_E_INVALID,
		                    "--checksum `%s`: only sha256:<hex> is supported", want);
	if (strcmp(want, got) != 0)
		return kiln_err_set(err, KILN_E_INVALID,
		                    "digest mismatch for `%s`: expected %s, got %s", url, want,
		                    got);
	return 0;
}

static int hex_val(char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
	                              : -1;
}

/* Whether every escape of the URL's path is '%' and two hex digits, as
 * Go's url.Parse requires (BuildKit fails the fetch of any other). */
static bool url_escapes_ok(const char *url)
{
	const char *p = strstr(url, "://");
	p = p ? p + 3 : url;
	p += strcspn(p, "/?#");
	for (size_t n = strcspn(p, "?#"), i = 0; i < n; i++)
		if (p[i] == '%' && (i + 2 >= n || hex_val(p[i + 1]) < 0 || hex_val(p[i + 2]) < 0))
			return false;
	return true;
}

/* The URL's path (after the host, before '?' or '#') percent-decoded
 * into a new string, or NULL where an escape is malformed (Go's url.Parse
 * fails there) or decodes to NUL. */
static char *url_path_decoded(const char *url)
{
	const char *p = strstr(url, "://");
	p = p ? p + 3 : url;
	p += strcspn(p, "/?#"); /* past the host */
	size_t n = strcspn(p, "?#");
	char *out = xmalloc(n + 1), *o = out;
	for (size_t i = 0; i < n; i++) {
		if (p[i] != '%') {
			*o++ = p[i];
			continue;
		}
		int hi = i + 2 < n ? hex_val(p[i + 1]) : -1;
		int lo = hi >= 0 ? hex_val(p[i + 2]) : -1;
		if (lo < 0 || (hi == 0 && lo == 0)) {
			free(out);
			return NULL;
		}
		*o++ = (char)(hi << 4 | lo);
		i += 2;
	}
	*o = '\0';
	return out;
}

char *bld_url_file_name(const char *url)
{
	/* BuildKit's dockerfile2llb: path.Base(u.Path) of the parsed URL, so
	 * "%2F" separates components, trailing slashes are dropped, and "",
	 * "/" or "." name nothing */
	char *path = url_path_decoded(url);
	size_t n = path ? strlen(path) : 0;
	while (n > 0 && path[n - 1] == '/')
		n--;
	size_t start = n;
	while (start > 0 && path[start - 1] != '/')
		start--;
	char *name = path ? xstrndup(path + start, n - start) : NULL;
	free(path);
	if (!name || !*name || !strcmp(name, ".") || !strcmp(name, "..")) {
		free(name);
		name = xstrdup("__unnamed__");
	}
	return name;
}

int bld_fetch_url(struct bld_build *b, const char *url, const char *checksum, char **path_out,
                  time_t *mtime, struct kiln_err *err)
{
	if (!url_escapes_ok(url))
		return kiln_err_set(err, KILN_E_INVALID, "`%s`: invalid URL escape in its path",
		                    url);
	char *path = NULL;
	struct dl d = {.err = KILN_ERR_INIT};
	d.fd = kiln_tempfile_create(img_store_tmpdir(b->s), "add-url-", &path, err);
	if (d.fd < 0)
		return -1;
	kiln_sha256_init(&d.h);
	CURL *c = curl_easy_init();
	char ebuf[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &d);
	curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FILETIME, 1L);
	CURLcode rc = curl_easy_perform(c);
	curl_off_t ft = -1;
	if (rc != CURLE_OK || curl_easy_getinfo(c, CURLINFO_FILETIME_T, &ft) != CURLE_OK || ft < 0)
		ft = 0;
	*mtime = (time_t)ft;
	curl_easy_cleanup(c);
	char got[KILN_DIGEST_LEN];
	kiln_sha256_final(&d.h, got);
	close(d.fd);
	int r = 0;
	if (d.err.msg) {
		kiln_err_move(err, &d.err);
		r = kiln_err_wrap(err, "downloading `%s`", url);
	} else if (rc != CURLE_OK) {
		r = kiln_err_set(err, KILN_E_NOTFOUND, "downloading `%s`: %s", url,
		                 *ebuf ? ebuf : curl_easy_strerror(rc));
	} else {
		r = check_sum(url, checksum, got, err);
	}
	if (r < 0) {
		unlink(path);
		kiln_tempfile_forget(path);
		free(path);
		return -1;
	}
	*path_out = path;
	return 0;
}
