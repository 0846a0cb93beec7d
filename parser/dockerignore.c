/* The .dockerignore matcher: BuildKit's ignorefile.ReadAll followed by
 * moby/patternmatcher (New, MatchesOrParentMatches), plus fsutil's rule for
 * walking into excluded directories. Pure: the caller reads the file.
 *
 * patternmatcher does not match with filepath.Match: it only uses it to
 * reject malformed patterns, then turns each pattern into a Go regular
 * expression (`*` becomes `[^/]*`, `?` `[^/]`, `**` `(.*\/)?`, `.+()|{}$`
 * escaped, `\x` kept as a regexp escape, `[` `]` `^` passed through) or
 * into an exact, prefix or suffix comparison. This file builds the same
 * regular-expression text and runs it with a small engine for the subset of
 * Go's syntax that text can hold (ignore_regexp.c). */
#include <string.h>

#include "parser-expand-internal.h"
#include "parser-ignore-internal.h"
#include "parser.h"

/* bufio.Scanner's default limit: a longer line fails ReadAll. */
#define IGNORE_MAX_LINE 65536

/* ------------------------------------------------------------ strings */

/* Go's strings.TrimSpace (Unicode white space) on s[*b, *e). */
static void trim_space(const char *s, size_t *b, size_t *e)
{
	*b += df_uni_space_prefix(s + *b, *e - *b);
	*e = *b + df_uni_trim_right(s + *b, *e - *b);
}

/* Go's filepath.Clean on Unix. Allocated. */
static char *path_clean(const char *p, size_t n, size_t *outlen)
{
	if (n == 0) {
		*outlen = 1;
		return xstrdup(".");
	}
	bool rooted = p[0] == '/';
	char *out = xmalloc(n + 2);
	size_t o = 0, i = 0, dotdot = 0; /* out[0..dotdot) cannot be backtracked */
	if (rooted) {
		out[o++] = '/';
		i = 1;
		dotdot = 1;
	}
	while (i < n) {
		if (p[i] == '/') {
			i++;
		} else if (p[i] == '.' && (i + 1 == n || p[i + 1] == '/')) {
			i++;
		} else if (p[i] == '.' && p[i + 1] == '.' && (i + 2 == n || p[i + 2] == '/')) {
			i += 2;
			if (o > dotdot) {
				o--;
				while (o > dotdot && out[o] != '/')
					o--;
			} else if (!rooted) {
				if (o > 0)
					out[o++] = '/';
				out[o++] = '.';
				out[o++] = '.';
				dotdot = o;
			}
		} else {
			if ((rooted && o != 1) || (!rooted && o != 0))
				out[o++] = '/';
			while (i < n && p[i] != '/')
				out[o++] = p[i++];
		}
	}
	if (o == 0)
		out[o++] = '.';
	out[o] = '\0';
	*outlen = o;
	return out;
}

/* ----------------------------------------------------- filepath.Match */

/* getEsc of Go's filepath.Match: one class character, maybe escaped. */
static bool class_char(const char *p, size_t n, size_t *i)
{
	size_t w;
	if (*i >= n || p[*i] == '-' || p[*i] == ']')
		return false;
	if (p[*i] == '\\') {
		(*i)++;
		if (*i >= n)
			return false;
	}
	int32_t r = df_utf8_decode(p + *i, n - *i, &w);
	if (r == DF_RUNE_ERROR && w == 1)
		return false;
	*i += w;
	return *i < n;
}

/* Whether filepath.Match(p, ".") fails with ErrBadPattern. */
static bool match_syntax_ok(const char *p, size_t n)
{
	for (size_t i = 0; i < n;) {
		if (p[i] == '\\') {
			if (i + 1 >= n)
				return false;
			i += 2;
		} else if (p[i] == '[') {
			i++;
			if (i < n && p[i] == '^')
				i++;
			for (int nrange = 0;; nrange++) {
				if (i < n && p[i] == ']' && nrange > 0) {
					i++;
					break;
				}
				if (!class_char(p, n, &i))
					return false;
				if (p[i] == '-') {
					i++;
					if (!class_char(p, n, &i))
						return false;
				}
			}
		} else {
			i++;
		}
	}
	return true;
}

/* -------------------------------------------- patternmatcher.compile */

static bool should_escape(int32_t r)
{
	return r > 0 && r < 0x80 && strchr(".+()|{}$", (int)r);
}

/* `**`: Pattern.compile's doublestar branch. */
static enum ig_type doublestar(const char *p, size_t n, size_t *pos, int i, enum ig_type type,
                               struct kiln_buf *re)
{
	df_utf8_next(p, n, pos);
	if (df_utf8_peek(p, n, *pos) == '/')
		df_utf8_next(p, n, pos);
	if (df_utf8_peek(p, n, *pos) == DF_RUNE_EOF) {
		if (type == IG_EXACT) {
			type = IG_PREFIX;
		} else {
			kiln_buf_addstr(re, ".*", NULL);
			type = IG_REGEXP;
		}
	} else {
		kiln_buf_addstr(re, "(.*/)?", NULL);
		type = IG_REGEXP;
	}
	return i == 0 ? IG_SUFFIX : type;
}

/* Builds the regexp text and the match type of a cleaned pattern, as
 * patternmatcher's Pattern.compile does. */
static enum ig_type pattern_regexp(const char *p, size_t n, struct kiln_buf *re)
{
	enum ig_type type = IG_EXACT;
	size_t pos = 0;
	kiln_buf_addch(re, '^', NULL);
	if (df_utf8_peek(p, n, 0) == 0xFEFF)
		df_utf8_next(p, n, &pos); /* text/scanner drops a leading BOM */
	for (int i = 0; df_utf8_peek(p, n, pos) != DF_RUNE_EOF; i++) {
		int32_t ch = df_utf8_next(p, n, &pos);
		if (ch == '*' && df_utf8_peek(p, n, pos) == '*') {
			type = doublestar(p, n, &pos, i, type, re);
		} else if (ch == '*') {
			kiln_buf_addstr(re, "[^/]*", NULL);
			type = IG_REGEXP;
		} else if (ch == '?') {
			kiln_buf_addstr(re, "[^/]", NULL);
			type = IG_REGEXP;
		} else if (should_escape(ch)) {
			kiln_buf_addch(re, '\\', NULL);
			df_utf8_add(re, ch);
		} else if (ch == '\\') {
			kiln_buf_addch(re, '\\', NULL);
			if (df_utf8_peek(p, n, pos) != DF_RUNE_EOF) {
				df_utf8_add(re, df_utf8_next(p, n, &pos));
				type = IG_REGEXP;
			}
		} else if (ch == '[' || ch == ']') {
			df_utf8_add(re, ch);
			type = IG_REGEXP;
		} else {
			df_utf8_add(re, ch);
		}
	}
	kiln_buf_addch(re, '$', NULL);
	return type;
}

/* ------------------------------------------------------------- reader */

static void pattern_release(struct ig_pattern *pt)
{
	free(pt->text);
	ig_regexp_free(pt->re);
}

/* patternmatcher.New for one pattern as ReadAll produced it. */
static int add_pattern(struct df_ignore *ig, const char *s, size_t n, int line,
                       struct kiln_err *err)
{
	size_t b = 0, e = n, clen;
	trim_space(s, &b, &e);
	if (b == e)
		return 0;
	char *p = path_clean(s + b, e - b, &clen), *body = p;
	struct ig_pattern pt = {.line = line};
	if (p[0] == '!') {
		if (clen == 1) {
			free(p);
			return kiln_err_set(err, KILN_E_INVALID,
			                    "line %d: illegal exclusion pattern: \"!\"", line);
		}
		pt.exclusion = true;
		body++;
		clen--;
	}
	if (!match_syntax_ok(body, clen)) {
		kiln_err_set(err, KILN_E_INVALID, "line %d: syntax error in pattern `%.*s`", line,
		             (int)clen, body);
		free(p);
		return -1;
	}
	pt.text = xmemdup(body, clen + 1);
	pt.len = clen;
	free(p);
	struct kiln_buf re;
	kiln_buf_init(&re, KILN_BUF_NOLIMIT, NULL);
	pt.type = pattern_regexp(pt.text, pt.len, &re);
	if (pt.type == IG_REGEXP && ig_regexp_compile(re.data, re.len, &pt.re, err) < 0) {
		kiln_err_wrap(err, "line %d: invalid pattern `%s`", line, pt.text);
		kiln_buf_release(&re);
		pattern_release(&pt);
		return -1;
	}
	kiln_buf_release(&re);
	KILN_GROW(ig->pats, ig->cap, ig->n + 1);
	ig->pats[ig->n++] = pt;
	if (pt.exclusion)
		ig->has_exclusions = true;
	return 0;
}

/* ReadAll's per-line normalisation, then add_pattern. */
static int read_line(struct df_ignore *ig, const char *s, size_t n, int line, struct kiln_err *err)
{
	if (line == 1 && n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
		s += 3, n -= 3;
	if (n > 0 && s[0] == '#')
		return 0;
	size_t b = 0, e = n;
	trim_space(s, &b, &e);
	if (b == e)
		return 0;
	bool invert = s[b] == '!';
	if (invert) {
		b++;
		trim_space(s, &b, &e);
	}
	struct kiln_buf pat;
	kiln_buf_init(&pat, KILN_BUF_NOLIMIT, NULL);
	if (invert)
		kiln_buf_addch(&pat, '!', NULL);
	if (e > b) {
		size_t clen;
		char *c = path_clean(s + b, e - b, &clen);
		size_t skip = clen > 1 && c[0] == '/' ? 1 : 0;
		kiln_buf_add(&pat, c + skip, clen - skip, NULL);
		free(c);
	}
	int r = add_pattern(ig, kiln_buf_str(&pat), pat.len, line, err);
	kiln_buf_release(&pat);
	return r;
}

int df_ignore_parse(const char *text, size_t len, struct df_ignore **out, struct kiln_err *err)
{
	struct df_ignore *ig = xcalloc(1, sizeof(*ig));
	int line = 0;
	for (size_t i = 0; i < len;) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - text) : len;
		line++;
		if (end - i >= IGNORE_MAX_LINE) {
			df_ignore_free(ig);
			return kiln_err_set(err, KILN_E_LIMIT, "line %d: longer than %d bytes",
			                    line, IGNORE_MAX_LINE - 1);
		}
		size_t n = end - i;
		if (n > 0 && text[end - 1] == '\r')
			n--;
		if (read_line(ig, text + i, n, line, err) < 0) {
			df_ignore_free(ig);
			return -1;
		}
		i = nl ? end + 1 : len;
	}
	/* fsutil walks into an excluded directory only for exceptions that
	 * are plain prefixes, unless some exception has wildcards */
	ig->only_prefix_exceptions = true;
	for (size_t k = 0; k < ig->n; k++) {
		struct ig_pattern *pt = &ig->pats[k];
		if (!pt->exclusion)
			continue;
		size_t plen = ig_prefix_len(pt);
		for (size_t j = 0; j < plen; j++)
			if (strchr("*[]?^\\", pt->text[j]) && pt->text[j])
				ig->only_prefix_exceptions = false;
	}
	*out = ig;
	return 0;
}

void df_ignore_free(struct df_ignore *ig)
{
	if (!ig)
		return;
	for (size_t i = 0; i < ig->n; i++)
		pattern_release(&ig->pats[i]);
	free(ig->pats);
	free(ig);
}

size_t df_ignore_count(const struct df_ignore *ig)
{
	return ig->n;
}

const char *df_ignore_pattern(const struct df_ignore *ig, size_t i, bool *exclusion, int *line)
{
	if (i >= ig->n)
		return NULL;
	if (exclusion)
		*exclusion = ig->pats[i].exclusion;
	if (line)
		*line = ig->pats[i].line;
	return ig->pats[i].text;
}

/* ------------------------------------------------------------ matching */

static bool has_suffix(const char *s, size_t n, const char *suf, size_t sn)
{
	return n >= sn && memcmp(s + n - sn, suf, sn) == 0;
}

/* Pattern.match. */
static bool pattern_match(const struct ig_pattern *pt, const char *path, size_t n)
{
	switch (pt->type) {
	case IG_EXACT: return n == pt->len && memcmp(path, pt->text, n) == 0;
	case IG_PREFIX: return n >= pt->len - 2 && memcmp(path, pt->text, pt->len - 2) == 0;
	case IG_SUFFIX: {
		const char *suf = pt->text + 2;
		size_t sn = pt->len - 2;
		if (has_suffix(path, n, suf, sn))
			return true;
		return sn > 0 && suf[0] == '/' && n == sn - 1 && memcmp(path, suf + 1, n) == 0;
	}
	case IG_REGEXP: return ig_regexp_match(pt->re, path, n);
	}
	return false;
}

/* filepath.Dir(path) split at '/': returns the length of the cleaned
 * parent in *plen, allocated (NULL when the parent is "."). */
static char *parent_of(const char *path, size_t n, size_t *plen)
{
	size_t i = n;
	while (i > 0 && path[i - 1] != '/')
		i--;
	char *d = path_clean(path, i, plen);
	if (*plen == 1 && d[0] == '.') {
		free(d);
		return NULL;
	}
	return d;
}

bool df_ignore_match(const struct df_ignore *ig, const char *relpath)
{
	size_t n = strlen(relpath), plen = 0;
	if (!ig || n == 0 || (n == 1 && relpath[0] == '.'))
		return false;
	char *parent = parent_of(relpath, n, &plen);
	bool matched = false;
	for (size_t k = 0; k < ig->n; k++) {
		const struct ig_pattern *pt = &ig->pats[k];
		if (pt->exclusion != matched)
			continue;
		bool m = pattern_match(pt, relpath, n);
		/* MatchesOrParentMatches: each parent "a", "a/b", ... */
		for (size_t j = 0; !m && parent && j <= plen; j++)
			if (j == plen || parent[j] == '/')
				m = pattern_match(pt, parent, j);
		if (m)
			matched = !pt->exclusion;
	}
	free(parent);
	return matched;
}

bool df_ignore_may_reinclude_under(const struct df_ignore *ig, const char *reldir)
{
	if (!ig || !ig->has_exclusions)
		return false;
	if (!ig->only_prefix_exceptions)
		return true;
	size_t dn = strlen(reldir);
	for (size_t k = 0; k < ig->n; k++) {
		const struct ig_pattern *pt = &ig->pats[k];
		if (!pt->exclusion)
			continue;
		/* HasPrefix(prefix + "/", reldir + "/") */
		size_t pl = ig_prefix_len(pt);
		if (pl + 1 >= dn + 1 && memcmp(pt->text, reldir, dn) == 0 &&
		    (pl == dn ? true : pt->text[dn] == '/'))
			return true;
	}
	return false;
}

int df_ignore_candidates(const char *dockerfile, const char *context_dir, struct kiln_strv *out)
{
	if (dockerfile && *dockerfile && strcmp(dockerfile, "-") != 0)
		kiln_strv_pushf(out, "%s.dockerignore", dockerfile);
	if (context_dir && *context_dir) {
		size_t n = strlen(context_dir);
		kiln_strv_pushf(out, "%s%s.dockerignore", context_dir,
		                context_dir[n - 1] == '/' ? "" : "/");
	} else {
		kiln_strv_push(out, ".dockerignore");
	}
	return 0;
}
