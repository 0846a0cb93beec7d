/* Go's lexical path rules (path/filepath on Linux) and the helpers of
 * docker's pkg/archive built on them: docker cp's behaviour is defined in
 * these terms (trailing "/" and "/.", rebase names), so kiln follows them
 * literally. */
#include <string.h>

#include "cp-internal.h"

char *rt_go_clean(const char *path)
{
	if (!*path)
		return xstrdup(".");
	bool rooted = path[0] == '/';
	size_t n = strlen(path);
	char *out = xmalloc(n + 2);
	size_t w = 0, dotdot = 0; /* out[0..dotdot) cannot be backtracked */
	if (rooted)
		out[w++] = '/', dotdot = 1;
	for (size_t r = rooted; r < n;) {
		if (path[r] == '/') {
			r++;
		} else if (path[r] == '.' && (r + 1 == n || path[r + 1] == '/')) {
			r++;
		} else if (path[r] == '.' && path[r + 1] == '.' &&
		           (r + 2 == n || path[r + 2] == '/')) {
			r += 2;
			if (w > dotdot) {
				for (w--; w > dotdot && out[w] != '/'; w--)
					;
			} else if (!rooted) {
				if (w > 0)
					out[w++] = '/';
				out[w++] = '.', out[w++] = '.';
				dotdot = w;
			}
		} else {
			if ((rooted && w != 1) || (!rooted && w != 0))
				out[w++] = '/';
			for (; r < n && path[r] != '/'; r++)
				out[w++] = path[r];
		}
	}
	if (w == 0)
		out[w++] = '.';
	out[w] = 0;
	return out;
}

char *rt_go_base(const char *path)
{
	if (!*path)
		return xstrdup(".");
	size_t n = strlen(path);
	while (n > 0 && path[n - 1] == '/')
		n--;
	if (n == 0)
		return xstrdup("/");
	size_t i = n;
	while (i > 0 && path[i - 1] != '/')
		i--;
	return xstrndup(path + i, n - i);
}

char *rt_go_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	_cleanup_free_ char *d = xstrndup(path, slash ? (size_t)(slash - path + 1) : 0);
	return rt_go_clean(d);
}

char *rt_go_join(const char *a, const char *b)
{
	if (!*a)
		return rt_go_clean(b);
	if (!*b)
		return rt_go_clean(a);
	_cleanup_free_ char *j = xasprintf("%s/%s", a, b);
	return rt_go_clean(j);
}

bool rt_go_trailing_sep(const char *path)
{
	size_t n = strlen(path);
	return n > 0 && path[n - 1] == '/';
}

bool rt_go_current_dir(const char *path)
{
	_cleanup_free_ char *b = rt_go_base(path);
	return !strcmp(b, ".");
}

char *rt_go_preserve_trailing(const char *cleaned, const char *original)
{
	if (rt_go_current_dir(original) && !rt_go_current_dir(cleaned))
		return rt_go_trailing_sep(cleaned) ? xasprintf("%s.", cleaned)
		                                   : xasprintf("%s/.", cleaned);
	if (rt_go_trailing_sep(original) && !rt_go_trailing_sep(cleaned))
		return xasprintf("%s/", cleaned);
	return xstrdup(cleaned);
}

void rt_go_split_dir_entry(const char *path, char **dir, char **base)
{
	_cleanup_free_ char *c = rt_go_clean(path);
	if (rt_go_current_dir(path)) {
		char *t = !strcmp(c, "/") ? xstrdup("/.") : xasprintf("%s/.", c);
		free(c);
		c = t;
	}
	*dir = rt_go_dir(c);
	*base = rt_go_base(c);
}

char *rt_go_rebase_name(const char *path, char **resolved)
{
	if (rt_go_current_dir(path) && !rt_go_current_dir(*resolved)) {
		char *t = xasprintf("%s/.", *resolved);
		free(*resolved);
		*resolved = t;
	}
	if (rt_go_trailing_sep(path) && !rt_go_trailing_sep(*resolved)) {
		char *t = xasprintf("%s/", *resolved);
		free(*resolved);
		*resolved = t;
	}
	_cleanup_free_ char *a = rt_go_base(path);
	_cleanup_free_ char *b = rt_go_base(*resolved);
	return strcmp(a, b) ? xstrdup(a) : NULL;
}
