/* The build context, read where it lies: a directory and the .dockerignore
 * that decides what a COPY can see. A context given on stdin (a tar) is
 * extracted once into the store's tmp with the secure extractor, and its
 * Dockerfile and .dockerignore are resolved inside it. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "build-internal.h"

#define IGNORE_MAX (4u << 20)

static int load_ignore(struct bld_context *c, const char *dockerfile, struct kiln_err *err)
{
	struct kiln_strv cands = KILN_STRV_INIT;
	df_ignore_candidates(dockerfile, c->dir, &cands);
	int r = 0;
	for (size_t i = 0; i < cands.n; i++) {
		_cleanup_close_ int fd = bld_context_open_file(c, cands.v[i]);
		if (fd < 0)
			continue;
		_cleanup_free_ char *data = NULL, *what = xasprintf("`%s`", cands.v[i]);
		size_t len;
		r = kiln_read_fd(fd, IGNORE_MAX, what, &data, &len, err);
		if (r == 0 && df_ignore_parse(data, len, &c->ignore, err) < 0)
			r = kiln_err_wrap(err, "`%s`", cands.v[i]);
		break;
	}
	kiln_strv_release(&cands);
	return r;
}

int bld_context_open_file(const struct bld_context *c, const char *path)
{
	size_t n = strlen(c->dir);
	if (!c->tmp || strncmp(path, c->dir, n) || (path[n] && path[n] != '/'))
		return open(path, O_RDONLY | O_CLOEXEC);
	_cleanup_close_ int root = open(c->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return -1;
	return kiln_open_in_root(root, path[n] ? path + n + 1 : ".", O_RDONLY);
}

/* What docker would fetch as a context: an http(s) URL or a git remote. */
static bool remote_context(const char *s)
{
	static const char *const prefix[] = {"http://", "https://", "git://", "git@",
	                                     "github.com/"};
	for (size_t i = 0; i < sizeof(prefix) / sizeof(*prefix); i++)
		if (!strncmp(s, prefix[i], strlen(prefix[i])))
			return true;
	return false;
}

int bld_context_open(struct bld_context *c, const char *dir, const char *dockerfile,
                     struct kiln_err *err)
{
	struct stat st;
	if (stat(dir, &st) < 0) {
		if (remote_context(dir))
			return kiln_err_set(
			    err, KILN_E_UNSUPPORTED,
			    "unable to prepare context: `%s` is a remote context, which kiln does "
			    "not "
			    "fetch: build from a local directory or `-` (a tar on stdin)",
			    dir);
		return kiln_err_set(err, errno, "unable to prepare context: path `%s` not found",
		                    dir);
	}
	if (!S_ISDIR(st.st_mode))
		return kiln_err_set(err, ENOTDIR, "unable to prepare context: `%s`", dir);
	c->dir = realpath(dir, NULL);
	if (!c->dir)
		return kiln_err_set(err, errno, "context `%s`", dir);
	return load_ignore(c, dockerfile, err);
}

void bld_context_release(struct bld_context *c)
{
	df_ignore_free(c->ignore);
	free(c->dir);
	if (c->tmp) {
		struct kiln_err e = KILN_ERR_INIT;
		kiln_rm_rf(c->tmp, &e);
		kiln_err_release(&e);
		free(c->tmp);
	}
	memset(c, 0, sizeof(*c));
}

bool bld_context_visible(const struct bld_context *c, const char *rel, bool is_dir)
{
	return bld_context_select(c, rel, is_dir) != CACHE_SEL_NO;
}

enum cache_sel bld_context_select(const struct bld_context *c, const char *rel, bool is_dir)
{
	if (!c->ignore || !df_ignore_match(c->ignore, rel))
		return CACHE_SEL_YES;
	return is_dir && df_ignore_may_reinclude_under(c->ignore, rel) ? CACHE_SEL_IF_ANY
	                                                               : CACHE_SEL_NO;
}
